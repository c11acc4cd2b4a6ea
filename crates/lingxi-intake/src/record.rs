//! A normalised record, its idempotency key, and the facts a ticket rule engine needs.

use crate::mapping::{Lang, Mapping, RecordKind};
use crate::value::parse_offset;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One valid row, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Where it came from: the row number as the file shows it (see [`crate::Format`] for JSON).
    pub row: usize,
    /// What it is.
    pub kind: RecordKind,
    /// The platform, from the mapping (`tmall`, `jd`, `own`…).
    pub platform: String,
    /// The shop: the row's shop column, else the mapping's fixed shop.
    pub shop: Option<String>,
    /// The platform's number: order no., refund no. or review id (spreadsheet wrappers such as `="…"` removed).
    pub external_id: String,
    /// The order a refund or review belongs to.
    pub order_id: Option<String>,
    /// Nickname or name.
    pub customer: Option<String>,
    /// Phone or other contact, as exported (often masked).
    pub contact: Option<String>,
    /// Amount in the currency's smallest unit (cents, 分).
    pub amount_cents: Option<i64>,
    /// ISO currency code (`CNY` by default).
    pub currency: String,
    /// Status, after the mapping's value map (`退款成功` → `refunded`), else as exported.
    pub status: Option<String>,
    /// The export's own classification (仅退款 / 退货退款, 追评…), after the value map.
    pub category: Option<String>,
    /// Refund or complaint reason.
    pub reason: Option<String>,
    /// Refund description or review text.
    pub content: Option<String>,
    /// Review rating, 1 to 5.
    pub rating: Option<u8>,
    /// When it was created / applied for.
    pub created_at: Option<DateTime<Utc>>,
    /// Product title(s).
    pub items: Option<String>,
    /// The unmapped columns the mapping keeps, by header as written in the file.
    pub extra: BTreeMap<String, String>,
}

/// What makes a record the same record on a re-import: platform + kind + external id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordKey {
    /// The platform.
    pub platform: String,
    /// The kind.
    pub kind: RecordKind,
    /// The platform's number.
    pub external_id: String,
}

impl fmt::Display for RecordKey {
    /// `tmall:refund:R2026111100001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.platform, self.kind, self.external_id)
    }
}

/// What a record tells the ticket rule engine (`lingxi_domain::ticket::TicketFacts` takes these fields as they are).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketHints {
    /// The record the ticket is about: create at most one ticket per key.
    pub key: RecordKey,
    /// The subject line.
    pub subject: String,
    /// The description.
    pub body: String,
    /// `high` (1-star review, refund at or above the mapping's amount) or `normal`.
    pub priority: &'static str,
    /// The category path.
    pub category: Option<String>,
    /// The ticket type.
    pub ticket_type: Option<String>,
    /// The shop.
    pub shop: Option<String>,
    /// The platform.
    pub platform: String,
    /// Always `import`.
    pub source: &'static str,
    /// `import`, the kind (`refund`, `review`), `negative_review` for reviews, then the mapping's tags.
    pub tags: Vec<String>,
}

/// `129950` → `1299.50`; negative amounts keep their sign.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

fn clip(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max { one_line } else { one_line.chars().take(max).chain(['…']).collect() }
}

impl Record {
    /// The idempotency key.
    pub fn key(&self) -> RecordKey {
        RecordKey { platform: self.platform.clone(), kind: self.kind, external_id: self.external_id.clone() }
    }

    /// Whether this is a review rated `negative_rating_max` or lower.
    pub fn is_negative_review(&self, negative_rating_max: u8) -> bool {
        self.kind == RecordKind::Review && self.rating.is_some_and(|r| r <= negative_rating_max)
    }

    /// The ticket facts of a refund or of a negative review ([`crate::TicketRules::negative_rating_max`]); `None`
    /// for orders and other reviews. Whether a ticket is created stays the rule engine's decision. `mapping` is the
    /// one the record was read with (its ticket rules and UTC offset shape the text).
    pub fn ticket_facts(&self, mapping: &Mapping) -> Option<TicketHints> {
        let rules = &mapping.ticket;
        let negative = self.is_negative_review(rules.negative_rating_max);
        if !(self.kind == RecordKind::Refund || negative) {
            return None;
        }
        let zh = rules.lang == Lang::Zh;
        let offset = parse_offset(&mapping.utc_offset).unwrap_or(FixedOffset::east_opt(0)?);
        let order =
            self.order_id.as_deref().map(|o| if zh { format!("（订单 {o}）") } else { format!(" (order {o})") });
        let subject = match self.kind {
            RecordKind::Review => {
                let stars =
                    self.rating.map_or(String::new(), |r| if zh { format!("（{r} 星）") } else { format!(" ({r}★)") });
                let text = self.content.as_deref().map(|c| clip(c, 40)).unwrap_or_default();
                if zh { format!("差评{stars}：{text}") } else { format!("Negative review{stars}: {text}") }
            }
            _ => {
                let reason = self.reason.as_deref().map(|r| clip(r, 40)).unwrap_or_else(|| self.external_id.clone());
                if zh { format!("退款申请：{reason}") } else { format!("Refund request: {reason}") }
            }
        } + order.as_deref().unwrap_or_default();
        let mut lines: Vec<(&str, &str, String)> = vec![(
            match self.kind {
                RecordKind::Review => "评价编号",
                _ => "退款编号",
            },
            match self.kind {
                RecordKind::Review => "Review",
                _ => "Refund",
            },
            self.external_id.clone(),
        )];
        let mut push = |zh_label, en_label, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                lines.push((zh_label, en_label, v));
            }
        };
        push("订单号", "Order", self.order_id.clone());
        push("平台", "Platform", Some(self.platform.clone()));
        push("店铺", "Shop", self.shop.clone());
        push("客户", "Customer", self.customer.clone());
        push("联系方式", "Contact", self.contact.clone());
        push("金额", "Amount", self.amount_cents.map(|c| format!("{} {}", format_cents(c), self.currency)));
        push("评分", "Rating", self.rating.map(|r| format!("{r}/5")));
        push("类型", "Type", self.category.clone());
        push("状态", "Status", self.status.clone());
        push("原因", "Reason", self.reason.clone());
        push("商品", "Items", self.items.clone());
        push(
            "时间",
            "Time",
            self.created_at.map(|t| t.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S %:z").to_string()),
        );
        push(if self.kind == RecordKind::Review { "评价内容" } else { "说明" }, "Text", self.content.clone());
        let body = lines
            .iter()
            .map(|(z, e, v)| if zh { format!("{z}：{v}") } else { format!("{e}: {v}") })
            .collect::<Vec<_>>()
            .join("\n");
        let high = match self.kind {
            RecordKind::Review => self.rating == Some(1),
            _ => rules.high_priority_amount_cents.is_some_and(|min| self.amount_cents.is_some_and(|a| a >= min)),
        };
        let category = rules.category.clone().unwrap_or_else(|| {
            match (self.kind, zh) {
                (RecordKind::Review, true) => "评价/差评",
                (RecordKind::Review, false) => "Reviews/Negative",
                (_, true) => "售后/退款",
                (_, false) => "Refunds",
            }
            .to_owned()
        });
        let mut tags = vec!["import".to_owned(), self.kind.as_str().to_owned()];
        if negative {
            tags.push("negative_review".into());
        }
        for t in &rules.tags {
            if !t.trim().is_empty() && !tags.contains(t) {
                tags.push(t.trim().to_owned());
            }
        }
        Some(TicketHints {
            key: self.key(),
            subject,
            body,
            priority: if high { "high" } else { "normal" },
            category: Some(category),
            ticket_type: rules.ticket_type.clone(),
            shop: self.shop.clone(),
            platform: self.platform.clone(),
            source: "import",
            tags,
        })
    }
}
