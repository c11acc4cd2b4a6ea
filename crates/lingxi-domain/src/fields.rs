//! Custom ticket fields a tenant defines: typed (text, number, select, date), optionally required, checked wherever a
//! ticket is created or changed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a custom field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text, at most 2,000 characters.
    Text,
    /// A number.
    Number,
    /// One of `options`.
    Select,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

/// One custom field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDef {
    /// The key values are stored under: 1–40 lower-case letters, digits or `_`.
    pub key: String,
    /// Chinese label.
    pub label_zh: String,
    /// English label.
    pub label_en: String,
    /// Type.
    pub kind: FieldKind,
    /// The choices of a `select` field.
    #[serde(default)]
    pub options: Vec<String>,
    /// Required on tickets agents create.
    #[serde(default)]
    pub required: bool,
}

/// At most this many fields per tenant.
pub const MAX_FIELDS: usize = 50;

/// Checks a tenant's definitions; the message names the field at fault.
pub fn check_defs(defs: &[FieldDef]) -> Result<(), String> {
    if defs.len() > MAX_FIELDS {
        return Err(format!("at most {MAX_FIELDS} custom fields"));
    }
    for (i, d) in defs.iter().enumerate() {
        let key_ok = (1..=40).contains(&d.key.len())
            && d.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err(format!("custom field key \"{}\": 1 to 40 lower-case letters, digits or _", d.key));
        }
        if defs[..i].iter().any(|o| o.key == d.key) {
            return Err(format!("custom field key \"{}\" is defined twice", d.key));
        }
        for label in [&d.label_zh, &d.label_en] {
            if label.trim().is_empty() || label.chars().count() > 60 {
                return Err(format!("custom field \"{}\": labels have 1 to 60 characters", d.key));
            }
        }
        match d.kind {
            FieldKind::Select if d.options.is_empty() || d.options.len() > 100 => {
                return Err(format!("custom field \"{}\": a select field has 1 to 100 options", d.key));
            }
            FieldKind::Select if d.options.iter().any(|o| o.trim().is_empty() || o.chars().count() > 100) => {
                return Err(format!("custom field \"{}\": options have 1 to 100 characters", d.key));
            }
            FieldKind::Text | FieldKind::Number | FieldKind::Date if !d.options.is_empty() => {
                return Err(format!("custom field \"{}\": only select fields have options", d.key));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks values against the definitions: every key must be defined and every value of its type (`null` clears a
/// field). With `require`, required fields must have a value.
pub fn check_values(defs: &[FieldDef], values: &serde_json::Map<String, Value>, require: bool) -> Result<(), String> {
    for (k, v) in values {
        let Some(d) = defs.iter().find(|d| &d.key == k) else {
            return Err(format!("\"{k}\" is not a custom field of this tenant"));
        };
        let ok = match (d.kind, v) {
            (_, Value::Null) => true,
            (FieldKind::Text, Value::String(s)) => s.chars().count() <= 2000,
            (FieldKind::Number, Value::Number(_)) => true,
            (FieldKind::Select, Value::String(s)) => d.options.iter().any(|o| o == s),
            (FieldKind::Date, Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            _ => false,
        };
        if !ok {
            let want = match d.kind {
                FieldKind::Text => "text of at most 2000 characters".to_owned(),
                FieldKind::Number => "a number".to_owned(),
                FieldKind::Select => format!("one of {}", d.options.join(", ")),
                FieldKind::Date => "a date (YYYY-MM-DD)".to_owned(),
            };
            return Err(format!("custom field \"{k}\" must be {want}"));
        }
    }
    if require {
        for d in defs.iter().filter(|d| d.required) {
            if values.get(&d.key).is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())) {
                return Err(format!("custom field \"{}\" ({}) is required", d.key, d.label_en));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Vec<FieldDef> {
        serde_json::from_value(json!([
            {"key": "order_no", "label_zh": "订单号", "label_en": "Order no.", "kind": "text", "required": true},
            {"key": "amount", "label_zh": "金额", "label_en": "Amount", "kind": "number"},
            {"key": "channel", "label_zh": "渠道", "label_en": "Channel", "kind": "select", "options": ["天猫", "京东"]},
            {"key": "bought_on", "label_zh": "购买日期", "label_en": "Bought on", "kind": "date"}
        ]))
        .unwrap_or_default()
    }

    fn map(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn values_are_typed_and_required_ones_present() {
        let d = defs();
        assert_eq!(d.len(), 4);
        assert_eq!(check_defs(&d), Ok(()));
        let good = map(json!({"order_no": "T1", "amount": 12.5, "channel": "京东", "bought_on": "2026-11-11"}));
        assert_eq!(check_values(&d, &good, true), Ok(()));
        assert!(check_values(&d, &map(json!({"amount": "12"})), false).is_err());
        assert!(check_values(&d, &map(json!({"channel": "拼多多"})), false).is_err());
        assert!(check_values(&d, &map(json!({"bought_on": "11/11/2026"})), false).is_err());
        assert!(check_values(&d, &map(json!({"nope": 1})), false).is_err());
        assert!(check_values(&d, &map(json!({"amount": 1})), true).is_err(), "order_no is required");
        assert_eq!(check_values(&d, &map(json!({"order_no": null})), false), Ok(()), "null clears");
    }

    #[test]
    fn definitions_are_checked() {
        let mut d = defs();
        d[1].key = "Amount!".into();
        assert!(check_defs(&d).is_err());
        let mut d = defs();
        d[2].options.clear();
        assert!(check_defs(&d).is_err());
        let mut d = defs();
        d[3].key = "order_no".into();
        assert!(check_defs(&d).is_err());
    }
}
