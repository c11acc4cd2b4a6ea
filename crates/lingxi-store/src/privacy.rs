//! A customer's data on request (privacy law): everything stored about a visitor (and the visitors merged into
//! them), and its erasure. Erasure keeps the records' skeleton (counts, times, statuses) so reports stay whole, and
//! removes what identifies or was written by the person: profile, contact data, identities, message and ticket
//! texts, files, browsing events and the bot's copies of their words. Orders stay as the business's accounting
//! records, unlinked from the person.

use crate::{Store, StoreResult, tid};
use lingxi_types::{TenantId, VisitorId};
use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;
use sqlx::{Column, Row};

/// What replaces an erased text.
pub const ERASED_TEXT: &str = "[已删除 / erased]";
/// The name an erased visitor keeps.
pub const ERASED_NAME: &str = "已删除访客 Erased visitor";

/// How much an erasure removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// Conversations whose texts were erased.
    pub conversations: u64,
    /// Messages whose text was erased.
    pub messages: u64,
    /// Tickets whose texts were erased.
    pub tickets: u64,
    /// Browsing events deleted.
    pub events: u64,
    /// Identities (e-mail, phone, ids) deleted.
    pub identities: u64,
    /// Files deleted (conversation and ticket attachments).
    pub attachments: u64,
    /// Imported marketplace records (refunds, reviews) of the person's orders or tickets whose buyer, contact and
    /// texts were erased.
    pub intake_records: u64,
}

/// A row as JSON: each column as a number, text or null; JSON texts (columns named like `attributes`) parsed.
fn row_json(r: &AnyRow) -> Value {
    let mut m = Map::new();
    for (i, c) in r.columns().iter().enumerate() {
        let name = c.name();
        let v = if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
            v.map_or(Value::Null, Value::from)
        } else if let Ok(v) = r.try_get::<Option<String>, _>(i) {
            match v {
                Some(s)
                    if matches!(
                        name,
                        "attributes"
                            | "tags"
                            | "items"
                            | "properties"
                            | "custom_fields"
                            | "context"
                            | "attachment"
                            | "meta"
                            | "record"
                    ) =>
                {
                    serde_json::from_str(&s).unwrap_or(Value::String(s))
                }
                Some(s) => Value::String(s),
                None => Value::Null,
            }
        } else if let Ok(v) = r.try_get::<Option<f64>, _>(i) {
            v.map_or(Value::Null, Value::from)
        } else {
            Value::Null
        };
        m.insert(name.to_owned(), v);
    }
    Value::Object(m)
}

/// `IN (...)` of `n` placeholders starting at `$from`.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// The visitor and the visitors merged into them (their ids), if the visitor exists in the tenant.
    async fn person(&self, tenant_id: TenantId, visitor_id: VisitorId) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM visitors WHERE tenant_id = $1 AND (id = $2 OR merged_into = $2)")
            .bind(tid(tenant_id))
            .bind(visitor_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let ids: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("id").ok()).collect();
        if !ids.contains(&visitor_id.to_string()) {
            return Err(crate::StoreError::NotFound("visitor"));
        }
        Ok(ids)
    }

    async fn json_rows(&self, sql: &str, tenant_id: TenantId, ids: &[String]) -> StoreResult<Vec<Value>> {
        let mut q = sqlx::query(sql).bind(tid(tenant_id));
        for id in ids {
            q = q.bind(id.clone());
        }
        Ok(q.fetch_all(&self.pool).await?.iter().map(row_json).collect())
    }

    /// Everything stored about a visitor (and the visitors merged into them), as one JSON document.
    pub async fn visitor_export(&self, tenant_id: TenantId, visitor_id: VisitorId) -> StoreResult<Value> {
        let ids = self.person(tenant_id, visitor_id).await?;
        let v = placeholders(2, ids.len());
        let conv = format!("SELECT id FROM conversations WHERE tenant_id = $1 AND visitor_id IN ({v})");
        let tickets = format!(
            "SELECT id FROM tickets WHERE tenant_id = $1 AND (requester_id IN ({v}) OR conversation_id IN ({conv}))"
        );
        let visitors = self
            .json_rows(
                &format!(
                    "SELECT id, external_id, name, email, phone, attributes, tags, vip, merged_into, created_at, \
                     last_seen_at FROM visitors WHERE tenant_id = $1 AND id IN ({v}) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let identities = self
            .json_rows(
                &format!(
                    "SELECT kind, value, visitor_id, created_at FROM visitor_identities WHERE tenant_id = $1 \
                     AND visitor_id IN ({v}) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let mut conversations = self
            .json_rows(
                &format!(
                    "SELECT id, channel, status, language, entry_page, category, context, created_at FROM \
                     conversations WHERE tenant_id = $1 AND visitor_id IN ({v}) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let messages = self
            .json_rows(
                &format!(
                    "SELECT conversation_id, seq, author, author_name, text, attachment, created_at FROM messages \
                     WHERE tenant_id = $1 AND conversation_id IN ({conv}) \
                     ORDER BY conversation_id, seq"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        for c in &mut conversations {
            let id = c["id"].clone();
            let mine: Vec<Value> = messages
                .iter()
                .filter(|m| m["conversation_id"] == id)
                .map(|m| {
                    let mut m = m.clone();
                    if let Some(o) = m.as_object_mut() {
                        o.remove("conversation_id");
                    }
                    m
                })
                .collect();
            c["messages"] = Value::Array(mine);
        }
        let attachments = self
            .json_rows(
                &format!(
                    "SELECT conversation_id, uploaded_by, name, content_type, size, created_at FROM attachments \
                     WHERE tenant_id = $1 AND conversation_id IN ({conv}) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let mut ticket_rows = self
            .json_rows(
                &format!(
                    "SELECT id, number, title, description, requester_name, requester_contact, source, status, \
                     priority, category, custom_fields, created_at, solved_at, closed_at FROM tickets \
                     WHERE tenant_id = $1 AND id IN ({tickets}) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let comments = self
            .json_rows(
                &format!(
                    "SELECT ticket_id, author_name, public, body, created_at FROM ticket_comments \
                     WHERE tenant_id = $1 AND ticket_id IN ({tickets}) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        for t in &mut ticket_rows {
            let id = t["id"].clone();
            t["comments"] = Value::Array(comments.iter().filter(|c| c["ticket_id"] == id).cloned().collect());
        }
        let orders = self
            .json_rows(
                &format!(
                    "SELECT external_id, status, amount_cents, currency, items, placed_at FROM orders \
                     WHERE tenant_id = $1 AND visitor_id IN ({v}) ORDER BY placed_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let marketplace = self
            .json_rows(
                &format!(
                    "SELECT platform, kind, external_id, order_id, record, created_at FROM intake_records \
                     WHERE tenant_id = $1 AND (ticket_id IN ({tickets}) OR order_id IN (SELECT external_id FROM \
                     orders WHERE tenant_id = $1 AND visitor_id IN ({v}))) ORDER BY created_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        let events = self
            .json_rows(
                &format!(
                    "SELECT kind, name, url, title, product_id, product_name, amount_cents, currency, properties, \
                     occurred_at FROM visitor_events WHERE tenant_id = $1 AND visitor_id IN ({v}) \
                     ORDER BY occurred_at"
                ),
                tenant_id,
                &ids,
            )
            .await?;
        Ok(json!({
            "visitor_id": visitor_id,
            "visitors": visitors,
            "identities": identities,
            "conversations": conversations,
            "attachments": attachments,
            "tickets": ticket_rows,
            "orders": orders,
            "marketplace_records": marketplace,
            "events": events,
            "times": "milliseconds since 1970-01-01 UTC",
        }))
    }

    /// Erases a visitor's personal data (and that of the visitors merged into them) in one transaction.
    pub async fn erase_visitor(&self, tenant_id: TenantId, visitor_id: VisitorId) -> StoreResult<Erased> {
        let ids = self.person(tenant_id, visitor_id).await?;
        let v = placeholders(2, ids.len());
        let conv = format!("SELECT id FROM conversations WHERE tenant_id = $1 AND visitor_id IN ({v})");
        let tickets = format!(
            "SELECT id FROM tickets WHERE tenant_id = $1 AND (requester_id IN ({v}) OR conversation_id IN ({conv}))"
        );
        let mut tx = self.pool.begin().await?;
        let mut out = Erased::default();
        // Each statement: its SQL, with $1 the tenant and $2.. the visitor ids; extra text binds go after them.
        macro_rules! run {
            ($sql:expr $(, $extra:expr)*) => {{
                let sql = $sql;
                let mut q = sqlx::query(&sql).bind(tid(tenant_id));
                for id in &ids {
                    q = q.bind(id.clone());
                }
                $(q = q.bind($extra);)*
                q.execute(&mut *tx).await?.rows_affected()
            }};
        }
        let n = ids.len() + 2;
        // Tickets first (they are found through the conversations and requester).
        out.attachments +=
            run!(format!("DELETE FROM ticket_attachments WHERE tenant_id = $1 AND ticket_id IN ({tickets})"));
        run!(
            format!("UPDATE ticket_comments SET body = ${n} WHERE tenant_id = $1 AND ticket_id IN ({tickets})"),
            ERASED_TEXT
        );
        run!(format!(
            "UPDATE ticket_changes SET old_value = NULL, new_value = NULL WHERE tenant_id = $1 AND ticket_id IN \
             ({tickets}) AND field NOT IN ('status', 'priority', 'assignee', 'group', 'category', 'ticket_type', \
             'created', 'sla_policy')"
        ));
        out.tickets += run!(
            format!(
                "UPDATE tickets SET title = ${n}, description = '', requester_name = NULL, requester_contact = NULL, \
                 custom_fields = '{{}}' WHERE tenant_id = $1 AND id IN ({tickets})"
            ),
            ERASED_TEXT
        );
        // Conversations: texts, files, the bot's copies, the page context, the event log's details.
        out.attachments +=
            run!(format!("DELETE FROM attachments WHERE tenant_id = $1 AND conversation_id IN ({conv})"));
        out.messages += run!(
            format!(
                "UPDATE messages SET text = ${n}, attachment = NULL, meta = NULL, author_name = CASE WHEN author = \
                 'visitor' THEN NULL ELSE author_name END WHERE tenant_id = $1 AND conversation_id IN ({conv})"
            ),
            ERASED_TEXT
        );
        run!(
            format!(
                "UPDATE bot_decisions SET text = ${n}, resolved_text = NULL WHERE tenant_id = $1 AND \
                 conversation_id IN ({conv})"
            ),
            ERASED_TEXT
        );
        run!(format!(
            "UPDATE events SET detail = '{{\"erased\":true}}' WHERE tenant_id = $1 AND conversation_id IN ({conv})"
        ));
        run!(format!("DELETE FROM widget_sessions WHERE tenant_id = $1 AND visitor_id IN ({v})"));
        out.conversations += run!(format!(
            "UPDATE conversations SET context = NULL, entry_page = NULL, bot_state = NULL WHERE tenant_id = $1 AND \
             visitor_id IN ({v})"
        ));
        // The person.
        out.events += run!(format!("DELETE FROM visitor_events WHERE tenant_id = $1 AND visitor_id IN ({v})"));
        out.identities += run!(format!("DELETE FROM visitor_identities WHERE tenant_id = $1 AND visitor_id IN ({v})"));
        // Imported marketplace records about the person's orders or tickets (found before the orders are unlinked).
        let records_sql = format!(
            "SELECT id, record FROM intake_records WHERE tenant_id = $1 AND (ticket_id IN ({tickets}) OR order_id IN \
             (SELECT external_id FROM orders WHERE tenant_id = $1 AND visitor_id IN ({v})))"
        );
        let mut q = sqlx::query(&records_sql).bind(tid(tenant_id));
        for id in &ids {
            q = q.bind(id.clone());
        }
        let records = q.fetch_all(&mut *tx).await?;
        for r in records {
            let id: String = r.try_get("id")?;
            let record: String = r.try_get("record")?;
            let mut value: Value = serde_json::from_str(&record).unwrap_or_else(|_| Value::Object(Map::new()));
            if let Some(m) = value.as_object_mut() {
                for key in ["customer", "contact"] {
                    m.insert(key.into(), Value::Null);
                }
                for key in ["reason", "content"] {
                    if m.get(key).is_some_and(|v| !v.is_null()) {
                        m.insert(key.into(), Value::from(ERASED_TEXT));
                    }
                }
                m.insert("extra".into(), Value::Object(Map::new()));
            }
            out.intake_records +=
                sqlx::query("UPDATE intake_records SET customer = NULL, record = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tid(tenant_id))
                    .bind(id)
                    .bind(value.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        run!(format!("UPDATE orders SET visitor_id = NULL WHERE tenant_id = $1 AND visitor_id IN ({v})"));
        run!(
            format!(
                "UPDATE visitors SET name = ${n}, external_id = NULL, email = NULL, phone = NULL, attributes = '{{}}', \
                 tags = '[]', vip = 0 WHERE tenant_id = $1 AND id IN ({v})"
            ),
            ERASED_NAME
        );
        tx.commit().await?;
        Ok(out)
    }
}
