//! The customer behind a conversation: the visitor card, tracked events and identity merges, orders.

use crate::{Authenticated, ServiceError, ServiceResult, Services};
use chrono::{DateTime, Duration, Utc};
use lingxi_domain::workspace::{ValueTier, mask_email, mask_phone, value_tier};
use lingxi_store::{
    Identity, IdentityKind, NewOrder, NewVisitorEvent, Order, OrderItem, OrderTotals, OrderUpsert, TicketBrief,
    VisitorEvent, VisitorPatch,
};
use lingxi_types::*;
use std::collections::BTreeMap;

/// Everything the workspace shows beside a chat.
#[derive(Clone, Debug)]
pub struct VisitorCard {
    /// The visitor, contact details masked for agents.
    pub visitor: Visitor,
    /// Orders and spend.
    pub totals: OrderTotals,
    /// The value tier.
    pub tier: ValueTier,
    /// The newest tracked events, oldest first.
    pub track: Vec<VisitorEvent>,
    /// Newest orders.
    pub orders: Vec<Order>,
    /// Conversations, newest first.
    pub conversations: Vec<Conversation>,
    /// Tickets, newest first.
    pub tickets: Vec<TicketBrief>,
}

/// One tracked event as a client sends it.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackInput {
    /// `page_view`, `product_view`, `add_to_cart`, `order` or `custom`.
    pub kind: String,
    /// The custom event's name (required for `custom`).
    #[serde(default)]
    pub name: Option<String>,
    /// Page URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Page title.
    #[serde(default)]
    pub title: Option<String>,
    /// Product id.
    #[serde(default)]
    pub product_id: Option<String>,
    /// Product name.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Amount, a decimal (`"12.50"`, `"¥1,299"`).
    #[serde(default)]
    pub amount: Option<String>,
    /// Currency code.
    #[serde(default)]
    pub currency: Option<String>,
    /// Other properties (a JSON object of at most 2 KiB).
    #[serde(default)]
    pub properties: Option<serde_json::Value>,
    /// When it happened (RFC 3339); the server's time when absent or implausible.
    #[serde(default)]
    pub at: Option<String>,
}

/// Who a customer is, as far as the caller knows.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRef {
    /// The business's customer id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// An order as the business reports it.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// The business's order number (unique per tenant).
    pub external_id: String,
    /// The customer.
    #[serde(default)]
    pub customer: CustomerRef,
    /// `paid`, `shipped`, `completed`, `cancelled`, `refunded`, …
    pub status: String,
    /// Total, a decimal string (`"12.50"`).
    pub amount: String,
    /// Currency code (default `CNY`).
    #[serde(default)]
    pub currency: Option<String>,
    /// Lines.
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// When it was placed (RFC 3339 or `YYYY-MM-DD HH:MM:SS`); now when absent.
    #[serde(default)]
    pub placed_at: Option<String>,
}

/// What an orders import did, or why it did nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct OrderImportReport {
    /// New orders.
    pub created: usize,
    /// Changed orders.
    pub updated: usize,
    /// Orders already stored as they are.
    pub unchanged: usize,
    /// Bad rows; when there is any, nothing was imported.
    pub errors: Vec<OrderRowError>,
}

/// A bad row of an orders file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct OrderRowError {
    /// Row number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The column.
    pub column: String,
    /// In English.
    pub message: String,
    /// In Chinese.
    pub message_zh: String,
}

/// The kinds of tracked events.
pub const TRACK_KINDS: &[&str] = &["page_view", "product_view", "add_to_cart", "order", "custom"];

/// At most this many events per call.
pub const MAX_TRACK_BATCH: usize = 50;

/// At most this many rows per orders file.
pub const MAX_ORDER_ROWS: usize = 100_000;

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(m.into())
}

fn opt_len(field: &str, v: &Option<String>, max: usize) -> ServiceResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.chars().count() > max => Err(invalid(format!("{field} is longer than {max} characters"))),
        Some(s) if s.chars().any(char::is_control) => Err(invalid(format!("{field} contains control characters"))),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// A lower-cased e-mail address, or an error.
pub fn normalise_email(s: &str) -> ServiceResult<String> {
    let s = s.trim().to_lowercase();
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && s.matches('@').count() == 1
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"()[],;:\\`".contains(c));
    if ok { Ok(s) } else { Err(invalid("email is not an e-mail address")) }
}

/// A phone number as digits with an optional leading `+` (spaces, dashes and brackets dropped), or an error.
pub fn normalise_phone(s: &str) -> ServiceResult<String> {
    let s = s.trim();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(invalid("phone must contain digits only")),
        }
    }
    let digits = out.trim_start_matches('+').len();
    if (5..=20).contains(&digits) { Ok(out) } else { Err(invalid("phone must have 5 to 20 digits")) }
}

/// An anonymous browser id: 8 to 64 letters, digits, `-` or `_`.
fn check_anonymous_id(s: &str) -> ServiceResult<&str> {
    let ok = (8..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(s) } else { Err(invalid("anonymous_id must be 8 to 64 letters, digits, '-' or '_'")) }
}

/// The identities a customer reference names.
pub fn identities_of(c: &CustomerRef, anonymous_id: Option<&str>) -> ServiceResult<Vec<Identity>> {
    let mut out = Vec::new();
    if let Some(u) = opt_len("user_id", &c.user_id, 200)? {
        out.push((IdentityKind::User, u));
    }
    if let Some(e) = c.email.as_deref().filter(|e| !e.trim().is_empty()) {
        out.push((IdentityKind::Email, normalise_email(e)?));
    }
    if let Some(p) = c.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        out.push((IdentityKind::Phone, normalise_phone(p)?));
    }
    if let Some(a) = anonymous_id {
        out.push((IdentityKind::Anonymous, check_anonymous_id(a)?.to_owned()));
    }
    Ok(out)
}

fn parse_money(field: &str, s: &str) -> ServiceResult<(i64, Option<&'static str>)> {
    lingxi_intake::parse_amount(s).ok_or_else(|| invalid(format!("{field} must be an amount such as 12.50")))
}

fn parse_time(field: &str, s: &str) -> ServiceResult<DateTime<Utc>> {
    let utc = chrono::FixedOffset::east_opt(0).ok_or_else(|| invalid("offset"))?;
    lingxi_intake::parse_time(s, &[], utc)
        .ok_or_else(|| invalid(format!("{field} must be a time such as 2026-11-11 20:00:00")))
}

fn currency(code: Option<&str>, from_amount: Option<&'static str>) -> ServiceResult<String> {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => Ok(c.to_ascii_uppercase()),
        Some(_) => Err(invalid("currency must be a three-letter code such as CNY")),
        None => Ok(from_amount.unwrap_or("CNY").to_owned()),
    }
}

fn check_order(o: &OrderInput) -> ServiceResult<NewOrder> {
    let external_id = opt_len("external_id", &Some(o.external_id.clone()), 100)?
        .ok_or_else(|| invalid("external_id must not be empty"))?;
    let status = opt_len("status", &Some(o.status.clone()), 40)?
        .ok_or_else(|| invalid("status must not be empty"))?
        .to_lowercase();
    let (amount_cents, marked) = parse_money("amount", &o.amount)?;
    if amount_cents < 0 {
        return Err(invalid("amount must not be negative"));
    }
    if o.items.len() > 200 {
        return Err(invalid("an order has at most 200 items"));
    }
    for item in &o.items {
        if item.name.trim().is_empty() || item.name.chars().count() > 200 {
            return Err(invalid("every item needs a name of at most 200 characters"));
        }
        if !(1..=100_000).contains(&item.quantity) {
            return Err(invalid("item quantity must be 1 to 100000"));
        }
    }
    let placed_at = match o.placed_at.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_time("placed_at", s)?,
        None => Utc::now(),
    };
    Ok(NewOrder {
        external_id,
        status,
        amount_cents,
        currency: currency(o.currency.as_deref(), marked)?,
        items: o.items.clone(),
        placed_at,
    })
}

impl Services {
    /// The visitor card: identity (contact masked unless the caller is a supervisor or above), value, browsing
    /// track, orders, conversations and tickets.
    pub async fn visitor_card(&self, who: &Authenticated, id: VisitorId) -> ServiceResult<VisitorCard> {
        let t = who.tenant.id;
        let visitor = self.store.live_visitor(t, id).await?;
        let totals = self.store.visitor_order_totals(t, visitor.id).await?;
        let tier = value_tier(totals.orders, totals.spent_cents);
        Ok(VisitorCard {
            track: self.store.visitor_track(t, visitor.id, 100).await?,
            orders: self.store.visitor_orders(t, visitor.id, 20).await?,
            conversations: self.store.visitor_conversations(t, visitor.id, 20).await?,
            tickets: self.store.visitor_tickets(t, visitor.id, 20).await?,
            visitor: self.masked_for(who, visitor),
            totals,
            tier,
        })
    }

    /// The visitor with e-mail and phone masked unless the caller may view contact data.
    pub(crate) fn masked_for(&self, who: &Authenticated, mut v: Visitor) -> Visitor {
        if !who.can(lingxi_types::Permission::ViewPii) {
            v.email = v.email.as_deref().map(mask_email);
            v.phone = v.phone.as_deref().map(mask_phone);
        }
        v
    }

    /// Changes a visitor's name, contact and attributes; answers with the card's (masked) visitor.
    pub async fn update_visitor(
        &self,
        who: &Authenticated,
        id: VisitorId,
        name: Option<String>,
        email: Option<Option<String>>,
        phone: Option<Option<String>>,
        attributes: BTreeMap<String, Option<String>>,
    ) -> ServiceResult<Visitor> {
        let v = self.store.live_visitor(who.tenant.id, id).await?;
        let name = match name {
            Some(n) => Some(opt_len("name", &Some(n), 100)?.ok_or_else(|| invalid("name must not be empty"))?),
            None => None,
        };
        let email =
            email.map(|e| e.filter(|e| !e.trim().is_empty()).map(|e| normalise_email(&e)).transpose()).transpose()?;
        let phone =
            phone.map(|p| p.filter(|p| !p.trim().is_empty()).map(|p| normalise_phone(&p)).transpose()).transpose()?;
        if attributes.len() > 50 {
            return Err(invalid("at most 50 attributes"));
        }
        for (k, val) in &attributes {
            if k.trim().is_empty() || k.chars().count() > 40 || k.chars().any(char::is_control) {
                return Err(invalid("attribute names must be 1 to 40 characters"));
            }
            if val.as_ref().is_some_and(|v| v.chars().count() > 200 || v.chars().any(char::is_control)) {
                return Err(invalid(format!("attribute {k} is longer than 200 characters")));
            }
        }
        let merged: usize =
            v.attributes.keys().chain(attributes.keys()).collect::<std::collections::BTreeSet<_>>().len();
        if merged > 100 {
            return Err(invalid("a visitor has at most 100 attributes"));
        }
        let patch = VisitorPatch { name, email, phone, attributes };
        let updated = self.store.patch_visitor(who.tenant.id, v.id, &patch).await?;
        Ok(self.masked_for(who, updated))
    }

    /// Stores tracked events of an anonymous browser; returns the visitor they belong to and how many were stored.
    pub async fn track(
        &self,
        widget_key: &str,
        anonymous_id: &str,
        events: &[TrackInput],
    ) -> ServiceResult<(VisitorId, usize)> {
        let tenant = self.store.tenant_by_widget_key(widget_key).await?.ok_or(ServiceError::UnknownWidgetKey)?;
        check_anonymous_id(anonymous_id)?;
        if events.is_empty() || events.len() > MAX_TRACK_BATCH {
            return Err(invalid(format!("send 1 to {MAX_TRACK_BATCH} events at a time")));
        }
        let now = Utc::now();
        let mut stored = Vec::with_capacity(events.len());
        for e in events {
            if !TRACK_KINDS.contains(&e.kind.as_str()) {
                return Err(invalid(format!("kind must be one of {}", TRACK_KINDS.join(", "))));
            }
            let name = opt_len("name", &e.name, 100)?;
            if e.kind == "custom" && name.is_none() {
                return Err(invalid("a custom event needs a name"));
            }
            let (amount_cents, marked) = match e.amount.as_deref().filter(|a| !a.trim().is_empty()) {
                Some(a) => {
                    let (c, m) = parse_money("amount", a)?;
                    (Some(c), m)
                }
                None => (None, None),
            };
            let properties = e.properties.clone().unwrap_or(serde_json::Value::Object(Default::default()));
            if !properties.is_object() || properties.to_string().len() > 2048 {
                return Err(invalid("properties must be a JSON object of at most 2 KiB"));
            }
            // A client's clock may be wrong: keep its time only when plausible.
            let occurred_at =
                e.at.as_deref()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .filter(|t| *t > now - Duration::days(1) && *t < now + Duration::minutes(5))
                    .unwrap_or(now);
            stored.push(NewVisitorEvent {
                kind: e.kind.clone(),
                name,
                url: opt_len("url", &e.url, 2000)?,
                title: opt_len("title", &e.title, 300)?,
                product_id: opt_len("product_id", &e.product_id, 100)?,
                product_name: opt_len("product_name", &e.product_name, 200)?,
                currency: if amount_cents.is_some() { Some(currency(e.currency.as_deref(), marked)?) } else { None },
                amount_cents,
                properties,
                occurred_at,
            });
        }
        let visitor = self
            .store
            .resolve_visitor(tenant.id, &[(IdentityKind::Anonymous, anonymous_id.to_owned())], &default_name())
            .await?;
        self.store.record_visitor_events(tenant.id, visitor.id, &stored).await?;
        Ok((visitor.id, stored.len()))
    }

    /// A browser says who its visitor is: the identities are attached, and visitors holding them are merged.
    pub async fn identify(
        &self,
        widget_key: &str,
        anonymous_id: &str,
        customer: &CustomerRef,
        attributes: BTreeMap<String, Option<String>>,
    ) -> ServiceResult<VisitorId> {
        let tenant = self.store.tenant_by_widget_key(widget_key).await?.ok_or(ServiceError::UnknownWidgetKey)?;
        let ids = identities_of(customer, Some(anonymous_id))?;
        let name = opt_len("name", &customer.name, 100)?;
        let visitor = self.store.resolve_visitor(tenant.id, &ids, name.as_deref().unwrap_or(&default_name())).await?;
        if name.is_some() || !attributes.is_empty() {
            if attributes.len() > 50
                || attributes
                    .iter()
                    .any(|(k, v)| k.chars().count() > 40 || v.as_ref().is_some_and(|v| v.chars().count() > 200))
            {
                return Err(invalid("at most 50 attributes, names up to 40 and values up to 200 characters"));
            }
            let patch = VisitorPatch { name, attributes, ..Default::default() };
            self.store.patch_visitor(tenant.id, visitor.id, &patch).await?;
        }
        Ok(visitor.id)
    }

    fn order_admin(&self, who: &Authenticated) -> ServiceResult<()> {
        who.require(lingxi_types::Permission::ImportOrders)
    }

    /// Creates or updates an order (by `external_id`), linked to the customer's visitor.
    pub async fn upsert_order(&self, who: &Authenticated, input: &OrderInput) -> ServiceResult<(Order, OrderUpsert)> {
        self.order_admin(who)?;
        let order = check_order(input)?;
        let visitor = self.customer_visitor(who.tenant.id, &input.customer).await?;
        Ok(self.store.upsert_order(who.tenant.id, visitor, &order).await?)
    }

    async fn customer_visitor(&self, tenant_id: TenantId, c: &CustomerRef) -> ServiceResult<Option<VisitorId>> {
        let ids = identities_of(c, None)?;
        if ids.is_empty() {
            return Ok(None);
        }
        let name = opt_len("customer.name", &c.name, 100)?.unwrap_or_else(default_name);
        Ok(Some(self.store.resolve_visitor(tenant_id, &ids, &name).await?.id))
    }

    /// A visitor's orders, newest first.
    pub async fn orders_of(&self, who: &Authenticated, id: VisitorId) -> ServiceResult<Vec<Order>> {
        let v = self.store.live_visitor(who.tenant.id, id).await?;
        Ok(self.store.visitor_orders(who.tenant.id, v.id, 500).await?)
    }

    /// Imports orders from a CSV file (header `order_id,user_id,email,phone,name,status,amount,currency,items,
    /// placed_at`; `items` is `name x quantity` separated by `;`). A file with any bad row changes nothing.
    pub async fn import_orders(&self, who: &Authenticated, data: &[u8]) -> ServiceResult<OrderImportReport> {
        self.order_admin(who)?;
        self.import_orders_into(who.tenant.id, data, &mut |_, _| {}).await
    }

    /// [`Services::import_orders`] for the operator (the CLI): no role check; `progress(done, total)` is called as
    /// the valid rows are applied.
    pub async fn import_orders_into(
        &self,
        tenant_id: TenantId,
        data: &[u8],
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> ServiceResult<OrderImportReport> {
        let text = std::str::from_utf8(data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data))
            .map_err(|_| invalid("the file must be UTF-8 CSV"))?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| invalid(format!("unreadable header: {e}")))?
            .iter()
            .map(|h| h.trim().to_lowercase())
            .collect();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let (Some(id_col), Some(amount_col)) = (col("order_id"), col("amount")) else {
            return Err(invalid("the header needs at least order_id and amount"));
        };
        let mut report = OrderImportReport::default();
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            if rows.len() >= MAX_ORDER_ROWS {
                return Err(invalid(format!("a file has at most {MAX_ORDER_ROWS} rows")));
            }
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push(row_error(row, "", &e.to_string(), "无法读取此行"));
                    continue;
                }
            };
            let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::trim).filter(|s| !s.is_empty());
            let items = get(col("items")).map(parse_items).unwrap_or_default();
            let input = OrderInput {
                external_id: get(Some(id_col)).unwrap_or_default().to_owned(),
                customer: CustomerRef {
                    user_id: get(col("user_id")).map(str::to_owned),
                    email: get(col("email")).map(str::to_owned),
                    phone: get(col("phone")).map(str::to_owned),
                    name: get(col("name")).map(str::to_owned),
                },
                status: get(col("status")).unwrap_or("paid").to_owned(),
                amount: get(Some(amount_col)).unwrap_or_default().to_owned(),
                currency: get(col("currency")).map(str::to_owned),
                items,
                placed_at: get(col("placed_at")).map(str::to_owned),
            };
            let checked = check_order(&input).and_then(|o| identities_of(&input.customer, None).map(|_| o));
            match checked {
                Ok(o) => rows.push((input.customer, o)),
                Err(e) => {
                    let msg = e.to_string();
                    let column = msg.split_whitespace().next().unwrap_or("").to_owned();
                    report.errors.push(row_error(row, &column, &msg, &zh_message(&msg)));
                }
            }
            if report.errors.len() >= 100 {
                break;
            }
        }
        if !report.errors.is_empty() {
            return Ok(report);
        }
        let total = rows.len();
        for (done, (customer, order)) in rows.into_iter().enumerate() {
            let visitor = self.customer_visitor(tenant_id, &customer).await?;
            if done % 100 == 0 {
                progress(done, total);
            }
            match self.store.upsert_order(tenant_id, visitor, &order).await?.1 {
                OrderUpsert::Created => report.created += 1,
                OrderUpsert::Updated => report.updated += 1,
                OrderUpsert::Unchanged => report.unchanged += 1,
            }
        }
        progress(total, total);
        Ok(report)
    }
}

fn default_name() -> String {
    let suffix: String = crate::new_token().chars().take(4).collect();
    format!("访客 Visitor-{suffix}")
}

/// `T-shirt x 2; Mug` → two lines.
fn parse_items(s: &str) -> Vec<OrderItem> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, quantity) = match p.rsplit_once(" x ").or_else(|| p.rsplit_once(" × ")) {
                Some((n, q)) if q.trim().parse::<i64>().is_ok() => (n.trim(), q.trim().parse().unwrap_or(1)),
                _ => (p, 1),
            };
            OrderItem { product_id: None, name: name.to_owned(), quantity, price: None }
        })
        .collect()
}

fn row_error(row: usize, column: &str, message: &str, message_zh: &str) -> OrderRowError {
    OrderRowError { row, column: column.to_owned(), message: message.to_owned(), message_zh: message_zh.to_owned() }
}

fn zh_message(en: &str) -> String {
    let field = en.split_whitespace().next().unwrap_or("");
    let what = if en.contains("must not be empty") {
        "不能为空"
    } else if en.contains("amount such as") {
        "不是有效金额（如 12.50）"
    } else if en.contains("time such as") {
        "不是有效时间（如 2026-11-11 20:00:00）"
    } else if en.contains("e-mail") {
        "不是有效的邮箱地址"
    } else if en.contains("digits") {
        "不是有效的手机号"
    } else if en.contains("longer than") {
        "太长"
    } else {
        "无效"
    };
    format!("{field} {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_normalised() -> ServiceResult<()> {
        assert_eq!(normalise_email(" Li.Na@Example.COM ")?, "li.na@example.com");
        assert!(normalise_email("li.na").is_err());
        assert_eq!(normalise_email("o'brien+shop@example.co.uk")?, "o'brien+shop@example.co.uk");
        for bad in ["<img>@x.com", "a@b@c.com", "\"a\"@x.com", "a@x.com;b@y.com", "a(b)@x.com"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
        assert_eq!(normalise_phone("+86 138-1234-5678")?, "+8613812345678");
        assert!(normalise_phone("call me").is_err());
        Ok(())
    }

    #[test]
    fn order_rows_are_checked() -> ServiceResult<()> {
        let mut o = OrderInput {
            external_id: "T1".into(),
            customer: CustomerRef::default(),
            status: "Paid".into(),
            amount: "¥1,299.50".into(),
            currency: None,
            items: parse_items("T-shirt x 2; Mug"),
            placed_at: Some("2026-11-11 20:00:00".into()),
        };
        let n = check_order(&o)?;
        assert_eq!((n.amount_cents, n.currency.as_str(), n.status.as_str()), (129_950, "CNY", "paid"));
        assert_eq!(n.items.iter().map(|i| i.quantity).collect::<Vec<_>>(), vec![2, 1]);
        o.amount = "lots".into();
        assert!(check_order(&o).is_err());
        Ok(())
    }
}
