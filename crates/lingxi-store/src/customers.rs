//! Who a visitor is across channels and visits: identities and merges, contact details and attributes, the
//! browsing track and the orders the business reports.

use crate::conversations::{VISITOR_COLUMNS, visitor};
use crate::rows::{id, int, millis, now, opt_int, opt_text, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::*;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// How a visitor is known, strongest first: a merge keeps the visitor known by the strongest identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdentityKind {
    /// The business's own customer id (a login).
    User,
    /// An e-mail address (lower-cased).
    Email,
    /// A phone number (digits and a leading `+`).
    Phone,
    /// The tracker's anonymous browser id.
    Anonymous,
}

impl IdentityKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "user",
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Anonymous => "anonymous",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => IdentityKind::User,
            "email" => IdentityKind::Email,
            "phone" => IdentityKind::Phone,
            "anonymous" => IdentityKind::Anonymous,
            _ => return None,
        })
    }
}

/// One identity claim.
pub type Identity = (IdentityKind, String);

/// A tracked event to store.
#[derive(Clone, Debug, Default)]
pub struct NewVisitorEvent {
    /// `page_view`, `product_view`, `add_to_cart`, `order` or `custom`.
    pub kind: String,
    /// The custom event's name.
    pub name: Option<String>,
    /// Page URL.
    pub url: Option<String>,
    /// Page title.
    pub title: Option<String>,
    /// Product id.
    pub product_id: Option<String>,
    /// Product name.
    pub product_name: Option<String>,
    /// Amount in minor units (cents, 分).
    pub amount_cents: Option<i64>,
    /// Currency code.
    pub currency: Option<String>,
    /// Other properties (JSON object).
    pub properties: serde_json::Value,
    /// When it happened (the client's clock, bounded by the caller).
    pub occurred_at: DateTime<Utc>,
}

/// A stored tracked event.
#[derive(Clone, Debug, PartialEq)]
pub struct VisitorEvent {
    /// Kind.
    pub kind: String,
    /// Custom name.
    pub name: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Product id.
    pub product_id: Option<String>,
    /// Product name.
    pub product_name: Option<String>,
    /// Minor units.
    pub amount_cents: Option<i64>,
    /// Currency.
    pub currency: Option<String>,
    /// Properties.
    pub properties: serde_json::Value,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// An order line.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OrderItem {
    /// The product's id.
    #[serde(default)]
    pub product_id: Option<String>,
    /// The product's name.
    pub name: String,
    /// How many.
    #[serde(default = "one")]
    pub quantity: i64,
    /// Unit price, a decimal string.
    #[serde(default)]
    pub price: Option<String>,
}

fn one() -> i64 {
    1
}

/// An order as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    /// Id.
    pub id: OrderId,
    /// The business's order number.
    pub external_id: String,
    /// The customer.
    pub visitor_id: Option<VisitorId>,
    /// Status as the business names it (`paid`, `shipped`, `cancelled`, `refunded`, …).
    pub status: String,
    /// Total in minor units.
    pub amount_cents: i64,
    /// Currency code.
    pub currency: String,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Stored at.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An order to store (upsert by `external_id`).
#[derive(Clone, Debug, PartialEq)]
pub struct NewOrder {
    /// The business's order number.
    pub external_id: String,
    /// Status.
    pub status: String,
    /// Total in minor units.
    pub amount_cents: i64,
    /// Currency code.
    pub currency: String,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Placed at.
    pub placed_at: DateTime<Utc>,
}

/// What an order upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderUpsert {
    /// A new order.
    Created,
    /// An existing order changed.
    Updated,
    /// The same order was already stored.
    Unchanged,
}

/// Changes to a visitor's contact and attributes.
#[derive(Clone, Debug, Default)]
pub struct VisitorPatch {
    /// New name.
    pub name: Option<String>,
    /// New e-mail (`Some(None)` clears).
    pub email: Option<Option<String>>,
    /// New phone (`Some(None)` clears).
    pub phone: Option<Option<String>>,
    /// Attributes to set (`None` value removes the key).
    pub attributes: BTreeMap<String, Option<String>>,
}

/// Money spent and orders placed, the basis of the value tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderTotals {
    /// Orders not cancelled or refunded.
    pub orders: i64,
    /// Their total in minor units (in `currency`).
    pub spent_cents: i64,
    /// The currency of most orders.
    pub currency: Option<String>,
}

const ORDER_COLUMNS: &str =
    "id, external_id, visitor_id, status, amount_cents, currency, items, placed_at, created_at, updated_at";

fn order(row: &AnyRow) -> StoreResult<Order> {
    Ok(Order {
        id: id(row, "id")?,
        external_id: text(row, "external_id")?,
        visitor_id: crate::rows::opt_id(row, "visitor_id")?,
        status: text(row, "status")?,
        amount_cents: int(row, "amount_cents")?,
        currency: text(row, "currency")?,
        items: serde_json::from_str(&text(row, "items")?)
            .map_err(|e| StoreError::Corrupt(format!("bad items: {e}")))?,
        placed_at: ts(row, "placed_at")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Cancelled and refunded orders do not count towards the value tier.
pub const NOT_COUNTED_STATUSES: &[&str] = &["cancelled", "canceled", "refunded", "closed"];

impl Store {
    /// The visitor known by these identities: the one holding the strongest of them; a new visitor (named `name`)
    /// when none is known. Other visitors holding some of them are merged into it, unless they are known by another
    /// `user` id (two customer accounts are never merged: their identity stays where it is). The identities not yet
    /// held are attached to the visitor.
    pub async fn resolve_visitor(
        &self,
        tenant_id: TenantId,
        identities: &[Identity],
        name: &str,
    ) -> StoreResult<Visitor> {
        if identities.is_empty() {
            return Box::pin(self.upsert_visitor(tenant_id, None, name)).await;
        }
        // Fast path: everything is already known and held by one visitor — no write, no lock.
        let held = self.identity_holders(tenant_id, identities).await?;
        if held.len() == identities.len() {
            let first = held[0].1;
            if held.iter().all(|(_, v)| *v == first) {
                return self.visitor(tenant_id, first).await;
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.resolve_slow(tenant_id, identities, name).await {
                Err(StoreError::Database(e)) if attempt < 4 && is_unique_violation(&e) => continue,
                other => return other,
            }
        }
    }

    async fn identity_holders(
        &self,
        tenant_id: TenantId,
        identities: &[Identity],
    ) -> StoreResult<Vec<(Identity, VisitorId)>> {
        let mut out = Vec::new();
        for (kind, value) in identities {
            let row = sqlx::query(
                "SELECT visitor_id FROM visitor_identities WHERE tenant_id = $1 AND kind = $2 AND value = $3",
            )
            .bind(tid(tenant_id))
            .bind(kind.as_str())
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                out.push(((*kind, value.clone()), id(&row, "visitor_id")?));
            }
        }
        Ok(out)
    }

    async fn resolve_slow(&self, tenant_id: TenantId, identities: &[Identity], name: &str) -> StoreResult<Visitor> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        // Serialise identity changes of a tenant (and take SQLite's write lock at once).
        sqlx::query("UPDATE tenants SET slug = slug WHERE id = $1").bind(tid(tenant_id)).execute(&mut *tx).await?;
        let mut held: Vec<(IdentityKind, String, VisitorId)> = Vec::new();
        for (kind, value) in identities {
            let row = sqlx::query(
                "SELECT visitor_id FROM visitor_identities WHERE tenant_id = $1 AND kind = $2 AND value = $3",
            )
            .bind(tid(tenant_id))
            .bind(kind.as_str())
            .bind(value)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                held.push((*kind, value.clone(), id(&row, "visitor_id")?));
            }
        }
        held.sort_by_key(|(k, _, _)| *k);
        let user_claim = identities.iter().find(|(k, _)| *k == IdentityKind::User).map(|(_, v)| v.clone());
        // The target: the holder of the strongest identity; with a user id claimed, only its holder (or a new one).
        let target = match (&user_claim, held.first()) {
            (Some(_), Some((IdentityKind::User, _, v))) => Some(*v),
            (Some(_), _) => None,
            (None, Some((_, _, v))) => Some(*v),
            (None, None) => None,
        };
        let target = match target {
            Some(v) => v,
            None => {
                let v = VisitorId::generate();
                sqlx::query(
                    "INSERT INTO visitors (id, tenant_id, external_id, name, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(v.to_string())
                .bind(tid(tenant_id))
                .bind(user_claim.clone())
                .bind(name)
                .bind(millis(at))
                .execute(&mut *tx)
                .await?;
                v
            }
        };
        let target_user = self.user_identity(&mut tx, tenant_id, target).await?;
        let mut merged = Vec::new();
        for (_, _, holder) in &held {
            if *holder == target {
                continue;
            }
            let holder_user = self.user_identity(&mut tx, tenant_id, *holder).await?;
            let conflicting = holder_user.is_some() && holder_user != target_user.clone().or(user_claim.clone());
            if conflicting {
                // Another customer account holds it: leave it there.
                continue;
            }
            if !merged.contains(holder) {
                merge_into(&mut tx, tenant_id, *holder, target, at).await?;
                merged.push(*holder);
            }
        }
        for (kind, value) in identities {
            if held.iter().any(|(k, v, _)| k == kind && v == value) {
                continue;
            }
            sqlx::query(
                "INSERT INTO visitor_identities (tenant_id, kind, value, visitor_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tid(tenant_id))
            .bind(kind.as_str())
            .bind(value)
            .bind(target.to_string())
            .bind(millis(at))
            .execute(&mut *tx)
            .await?;
        }
        // Contact columns follow the identities when not set yet.
        for (kind, value) in identities {
            let col = match kind {
                IdentityKind::Email => "email",
                IdentityKind::Phone => "phone",
                IdentityKind::User => "external_id",
                IdentityKind::Anonymous => continue,
            };
            sqlx::query(&format!("UPDATE visitors SET {col} = $1 WHERE tenant_id = $2 AND id = $3 AND {col} IS NULL"))
                .bind(value)
                .bind(tid(tenant_id))
                .bind(target.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!("SELECT {VISITOR_COLUMNS} FROM visitors WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(target.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let v = visitor(&row)?;
        tx.commit().await?;
        Ok(v)
    }

    async fn user_identity(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant_id: TenantId,
        visitor_id: VisitorId,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT value FROM visitor_identities WHERE tenant_id = $1 AND visitor_id = $2 AND kind = 'user' \
             ORDER BY created_at LIMIT 1",
        )
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(|r| text(r, "value")).transpose()
    }

    /// The identities of a visitor, strongest first.
    pub async fn visitor_identities(&self, tenant_id: TenantId, visitor_id: VisitorId) -> StoreResult<Vec<Identity>> {
        let rows = sqlx::query("SELECT kind, value FROM visitor_identities WHERE tenant_id = $1 AND visitor_id = $2")
            .bind(tid(tenant_id))
            .bind(visitor_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let kind = IdentityKind::parse(&text(r, "kind")?)
                .ok_or_else(|| StoreError::Corrupt("bad identity kind".into()))?;
            out.push((kind, text(r, "value")?));
        }
        out.sort();
        Ok(out)
    }

    /// The visitor, following merges to the one that holds everything now.
    pub async fn live_visitor(&self, tenant_id: TenantId, id: VisitorId) -> StoreResult<Visitor> {
        let mut v = self.visitor(tenant_id, id).await?;
        for _ in 0..8 {
            match v.merged_into {
                Some(next) => v = self.visitor(tenant_id, next).await?,
                None => break,
            }
        }
        Ok(v)
    }

    /// Changes a visitor's name, contact and attributes.
    pub async fn patch_visitor(
        &self,
        tenant_id: TenantId,
        id: VisitorId,
        patch: &VisitorPatch,
    ) -> StoreResult<Visitor> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE visitors SET name = name WHERE tenant_id = $1 AND id = $2 RETURNING {VISITOR_COLUMNS}"
        ))
        .bind(tid(tenant_id))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let mut v = visitor(&row.ok_or(StoreError::NotFound("visitor"))?)?;
        if let Some(name) = &patch.name {
            v.name = name.clone();
        }
        if let Some(email) = &patch.email {
            v.email = email.clone();
        }
        if let Some(phone) = &patch.phone {
            v.phone = phone.clone();
        }
        for (k, val) in &patch.attributes {
            match val {
                Some(val) => v.attributes.insert(k.clone(), val.clone()),
                None => v.attributes.remove(k),
            };
        }
        sqlx::query(
            "UPDATE visitors SET name = $1, email = $2, phone = $3, attributes = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(&v.name)
        .bind(v.email.clone())
        .bind(v.phone.clone())
        .bind(serde_json::to_string(&v.attributes).unwrap_or_else(|_| "{}".into()))
        .bind(tid(tenant_id))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Stores tracked events of a visitor and marks them seen.
    pub async fn record_visitor_events(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        events: &[NewVisitorEvent],
    ) -> StoreResult<()> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE visitors SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(millis(at))
            .bind(tid(tenant_id))
            .bind(visitor_id.to_string())
            .execute(&mut *tx)
            .await?;
        for e in events {
            sqlx::query(
                "INSERT INTO visitor_events (id, tenant_id, visitor_id, kind, name, url, title, product_id, \
                 product_name, amount_cents, currency, properties, occurred_at, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(EventId::generate().to_string())
            .bind(tid(tenant_id))
            .bind(visitor_id.to_string())
            .bind(&e.kind)
            .bind(e.name.clone())
            .bind(e.url.clone())
            .bind(e.title.clone())
            .bind(e.product_id.clone())
            .bind(e.product_name.clone())
            .bind(e.amount_cents)
            .bind(e.currency.clone())
            .bind(e.properties.to_string())
            .bind(millis(e.occurred_at))
            .bind(millis(at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` tracked events of a visitor, oldest first.
    pub async fn visitor_track(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        limit: i64,
    ) -> StoreResult<Vec<VisitorEvent>> {
        let rows = sqlx::query(
            "SELECT kind, name, url, title, product_id, product_name, amount_cents, currency, properties, \
             occurred_at FROM visitor_events WHERE tenant_id = $1 AND visitor_id = $2 \
             ORDER BY occurred_at DESC, received_at DESC, id DESC LIMIT $3",
        )
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(VisitorEvent {
                    kind: text(r, "kind")?,
                    name: opt_text(r, "name")?,
                    url: opt_text(r, "url")?,
                    title: opt_text(r, "title")?,
                    product_id: opt_text(r, "product_id")?,
                    product_name: opt_text(r, "product_name")?,
                    amount_cents: opt_int(r, "amount_cents")?,
                    currency: opt_text(r, "currency")?,
                    properties: serde_json::from_str(&text(r, "properties")?).unwrap_or(serde_json::Value::Null),
                    occurred_at: ts(r, "occurred_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Creates or updates an order (by its `external_id`) of a visitor.
    pub async fn upsert_order(
        &self,
        tenant_id: TenantId,
        visitor_id: Option<VisitorId>,
        o: &NewOrder,
    ) -> StoreResult<(Order, OrderUpsert)> {
        let at = now();
        let items = serde_json::to_string(&o.items).unwrap_or_else(|_| "[]".into());
        let existing =
            sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND external_id = $2"))
                .bind(tid(tenant_id))
                .bind(&o.external_id)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(row) = existing {
            let old = order(&row)?;
            let same = old.status == o.status
                && old.amount_cents == o.amount_cents
                && old.currency == o.currency
                && old.items == o.items
                && old.placed_at.timestamp_millis() == o.placed_at.timestamp_millis()
                && (visitor_id.is_none() || old.visitor_id == visitor_id);
            if same {
                return Ok((old, OrderUpsert::Unchanged));
            }
            sqlx::query(
                "UPDATE orders SET status = $1, amount_cents = $2, currency = $3, items = $4, placed_at = $5, \
                 visitor_id = COALESCE($6, visitor_id), updated_at = $7 WHERE tenant_id = $8 AND id = $9",
            )
            .bind(&o.status)
            .bind(o.amount_cents)
            .bind(&o.currency)
            .bind(&items)
            .bind(millis(o.placed_at))
            .bind(visitor_id.map(|v| v.to_string()))
            .bind(millis(at))
            .bind(tid(tenant_id))
            .bind(old.id.to_string())
            .execute(&self.pool)
            .await?;
            let updated = Order {
                status: o.status.clone(),
                amount_cents: o.amount_cents,
                currency: o.currency.clone(),
                items: o.items.clone(),
                placed_at: o.placed_at,
                visitor_id: visitor_id.or(old.visitor_id),
                updated_at: at,
                ..old
            };
            return Ok((updated, OrderUpsert::Updated));
        }
        let new = Order {
            id: OrderId::generate(),
            external_id: o.external_id.clone(),
            visitor_id,
            status: o.status.clone(),
            amount_cents: o.amount_cents,
            currency: o.currency.clone(),
            items: o.items.clone(),
            placed_at: o.placed_at,
            created_at: at,
            updated_at: at,
        };
        let inserted = sqlx::query(&format!(
            "INSERT INTO orders ({ORDER_COLUMNS}, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(new.id.to_string())
        .bind(&new.external_id)
        .bind(visitor_id.map(|v| v.to_string()))
        .bind(&new.status)
        .bind(new.amount_cents)
        .bind(&new.currency)
        .bind(&items)
        .bind(millis(new.placed_at))
        .bind(millis(at))
        .bind(millis(at))
        .bind(tid(tenant_id))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok((new, OrderUpsert::Created)),
            // The same order arrived twice at once: the other insert won, apply ours as an update.
            Err(e) if is_unique_violation(&e) => Box::pin(self.upsert_order(tenant_id, visitor_id, o)).await,
            Err(e) => Err(e.into()),
        }
    }

    /// The order with this external id.
    pub async fn order_by_external_id(&self, tenant_id: TenantId, external_id: &str) -> StoreResult<Option<Order>> {
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND external_id = $2"))
            .bind(tid(tenant_id))
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order).transpose()
    }

    /// A visitor's orders, newest first.
    pub async fn visitor_orders(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        limit: i64,
    ) -> StoreResult<Vec<Order>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND visitor_id = $2 \
             ORDER BY placed_at DESC, id LIMIT $3"
        ))
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(order).collect()
    }

    /// Orders and money spent by a visitor, cancelled and refunded orders left out, in the most used currency.
    pub async fn visitor_order_totals(&self, tenant_id: TenantId, visitor_id: VisitorId) -> StoreResult<OrderTotals> {
        let rows = sqlx::query(
            "SELECT currency, status, COUNT(*) AS n, CAST(SUM(amount_cents) AS BIGINT) AS spent FROM orders \
             WHERE tenant_id = $1 AND visitor_id = $2 GROUP BY currency, status",
        )
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut per_currency: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for r in &rows {
            let status = text(r, "status")?.to_lowercase();
            if NOT_COUNTED_STATUSES.contains(&status.as_str()) {
                continue;
            }
            let entry = per_currency.entry(text(r, "currency")?).or_default();
            entry.0 += int(r, "n")?;
            entry.1 += opt_int(r, "spent")?.unwrap_or(0);
        }
        let best = per_currency.into_iter().max_by_key(|(_, (n, spent))| (*n, *spent));
        Ok(match best {
            Some((currency, (orders, spent_cents))) => OrderTotals { orders, spent_cents, currency: Some(currency) },
            None => OrderTotals::default(),
        })
    }

    /// A visitor's conversations, newest first.
    pub async fn visitor_conversations(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>> {
        let rows = sqlx::query(&format!(
            "{} WHERE c.tenant_id = $1 AND c.visitor_id = $2 ORDER BY c.created_at DESC, c.id LIMIT $3",
            crate::conversations::CONVERSATION_SELECT
        ))
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::conversations::conversation).collect()
    }
}

/// A ticket as the visitor card lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketBrief {
    /// Id.
    pub id: TicketId,
    /// Per-tenant number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Tickets a visitor asked for or that came from their conversations, newest first.
    pub async fn visitor_tickets(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        limit: i64,
    ) -> StoreResult<Vec<TicketBrief>> {
        let rows = sqlx::query(
            "SELECT t.id, t.number, t.title, t.status, t.created_at FROM tickets t WHERE t.tenant_id = $1 \
             AND (t.requester_id = $2 OR t.conversation_id IN \
                  (SELECT c.id FROM conversations c WHERE c.tenant_id = $1 AND c.visitor_id = $2)) \
             ORDER BY t.created_at DESC LIMIT $3",
        )
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(limit.clamp(1, 200))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketBrief {
                    id: id(r, "id")?,
                    number: int(r, "number")?,
                    title: text(r, "title")?,
                    status: text(r, "status")?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }
}

/// Moves everything of `source` to `target` and marks `source` merged.
async fn merge_into(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: TenantId,
    source: VisitorId,
    target: VisitorId,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    for (table, col) in [
        ("conversations", "visitor_id"),
        ("widget_sessions", "visitor_id"),
        ("visitor_events", "visitor_id"),
        ("orders", "visitor_id"),
        ("tickets", "requester_id"),
        ("assignments", "visitor_id"),
        ("visitor_identities", "visitor_id"),
    ] {
        sqlx::query(&format!("UPDATE {table} SET {col} = $1 WHERE tenant_id = $2 AND {col} = $3"))
            .bind(target.to_string())
            .bind(tid(tenant_id))
            .bind(source.to_string())
            .execute(&mut **tx)
            .await?;
    }
    let sql = format!("SELECT {VISITOR_COLUMNS} FROM visitors WHERE tenant_id = $1 AND id = $2");
    let load = |v: VisitorId| sqlx::query(&sql).bind(tid(tenant_id)).bind(v.to_string());
    let src = visitor(&load(source).fetch_one(&mut **tx).await?)?;
    let mut dst = visitor(&load(target).fetch_one(&mut **tx).await?)?;
    for t in src.tags {
        if !dst.tags.contains(&t) {
            dst.tags.push(t);
        }
    }
    for (k, v) in src.attributes {
        dst.attributes.entry(k).or_insert(v);
    }
    let last_seen = match (src.last_seen_at, dst.last_seen_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    sqlx::query(
        "UPDATE visitors SET tags = $1, vip = $2, attributes = $3, email = $4, phone = $5, last_seen_at = $6, \
         created_at = $7 WHERE tenant_id = $8 AND id = $9",
    )
    .bind(serde_json::to_string(&dst.tags).unwrap_or_else(|_| "[]".into()))
    .bind(i64::from(dst.vip || src.vip))
    .bind(serde_json::to_string(&dst.attributes).unwrap_or_else(|_| "{}".into()))
    .bind(dst.email.or(src.email))
    .bind(dst.phone.or(src.phone))
    .bind(last_seen.map(millis))
    .bind(millis(src.created_at.min(dst.created_at)))
    .bind(tid(tenant_id))
    .bind(target.to_string())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE visitors SET merged_into = $1, last_seen_at = $2 WHERE tenant_id = $3 AND id = $4")
        .bind(target.to_string())
        .bind(millis(at))
        .bind(tid(tenant_id))
        .bind(source.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
