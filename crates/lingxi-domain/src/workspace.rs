//! Pure rules of the agent workspace: a customer's value tier, masking contact details by role, canned-reply
//! variables, and which files may be attached.

use std::collections::BTreeMap;

/// How valuable a customer is, from what they spent on orders that were not cancelled or refunded.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ValueTier {
    /// No order yet.
    None,
    /// One order.
    New,
    /// Two or more orders, or 500 spent.
    Regular,
    /// 2,000 spent.
    Valued,
    /// 10,000 spent.
    Top,
}

/// The tier of a customer with `orders` counted orders and `spent_cents` spent (minor units of one currency).
pub fn value_tier(orders: i64, spent_cents: i64) -> ValueTier {
    match (orders, spent_cents) {
        (o, _) if o <= 0 => ValueTier::None,
        (_, s) if s >= 1_000_000 => ValueTier::Top,
        (_, s) if s >= 200_000 => ValueTier::Valued,
        (o, s) if o >= 2 || s >= 50_000 => ValueTier::Regular,
        _ => ValueTier::New,
    }
}

/// `zhang@example.com` → `z***@example.com`; something that is not an address is masked whole.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// `13812345678` → `138****5678`: the first three and last four digits stay, the rest is masked.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len().max(3));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// The variables a canned reply may use.
pub const CANNED_VARIABLES: &[&str] = &["visitor.name", "visitor.email", "visitor.phone", "agent.name", "tenant.name"];

fn placeholders(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("{{").map(|i| i + from) {
        let Some(end) = text[start + 2..].find("}}").map(|i| i + start + 2) else { break };
        out.push((start, end + 2, text[start + 2..end].trim().to_owned()));
        from = end + 2;
    }
    out
}

/// The `{{variables}}` of a text that are not among [`CANNED_VARIABLES`].
pub fn unknown_variables(text: &str) -> Vec<String> {
    placeholders(text)
        .into_iter()
        .map(|(_, _, name)| name)
        .filter(|n| !CANNED_VARIABLES.contains(&n.as_str()))
        .collect()
}

/// Fills in the variables; a variable without a value becomes empty.
pub fn expand(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, name) in placeholders(text) {
        out.push_str(&text[last..start]);
        match values.get(name.as_str()) {
            Some(v) => out.push_str(v),
            None if CANNED_VARIABLES.contains(&name.as_str()) => {}
            None => out.push_str(&text[start..end]),
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Largest attachment, in bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// The media types that may be attached.
pub const ATTACHMENT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/zip",
];

/// Types shown inline in the browser; everything else is served as a download.
pub const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Why a file cannot be attached.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentRefusal {
    /// Empty or too big.
    #[error("attachments must be 1 byte to {max} bytes, this one is {size}")]
    Size {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The declared type is not allowed, or the bytes are not of that type.
    #[error("{0}")]
    Type(String),
}

/// Checks a file: its declared type must be allowed and its bytes must carry that type's signature (text types
/// must be UTF-8 without NUL bytes). Returns the normalised media type.
pub fn check_attachment(declared: &str, data: &[u8]) -> Result<&'static str, AttachmentRefusal> {
    if data.is_empty() || data.len() > MAX_ATTACHMENT_BYTES {
        return Err(AttachmentRefusal::Size { size: data.len(), max: MAX_ATTACHMENT_BYTES });
    }
    let declared = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let declared = if declared == "image/jpg" { "image/jpeg".to_owned() } else { declared };
    let Some(kind) = ATTACHMENT_TYPES.iter().find(|t| **t == declared) else {
        return Err(AttachmentRefusal::Type(format!(
            "files of type {declared:?} cannot be attached; allowed: {}",
            ATTACHMENT_TYPES.join(", ")
        )));
    };
    let ok = match *kind {
        "text/plain" | "text/csv" => std::str::from_utf8(data).is_ok() && !data.contains(&0),
        expected => infer::get(data).is_some_and(|t| t.mime_type() == expected),
    };
    if ok { Ok(kind) } else { Err(AttachmentRefusal::Type(format!("the file's content is not {kind}"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_orders_and_spend() {
        assert_eq!(value_tier(0, 0), ValueTier::None);
        assert_eq!(value_tier(1, 9_900), ValueTier::New);
        assert_eq!(value_tier(2, 1_000), ValueTier::Regular);
        assert_eq!(value_tier(1, 50_000), ValueTier::Regular);
        assert_eq!(value_tier(3, 200_000), ValueTier::Valued);
        assert_eq!(value_tier(1, 1_000_000), ValueTier::Top);
    }

    #[test]
    fn contact_details_are_masked() {
        assert_eq!(mask_email("zhang@example.com"), "z***@example.com");
        assert_eq!(mask_email("not-an-address"), "***");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "+86*******5678");
        assert_eq!(mask_phone("12345"), "*****");
    }

    #[test]
    fn variables_expand_and_unknown_ones_are_named() {
        let mut v = BTreeMap::new();
        v.insert("visitor.name", "王芳".to_owned());
        v.insert("agent.name", "Li Na".to_owned());
        assert_eq!(expand("您好 {{visitor.name}}，我是{{ agent.name }}。", &v), "您好 王芳，我是Li Na。");
        assert_eq!(expand("mail: {{visitor.email}}!", &v), "mail: !");
        assert_eq!(expand("{{oops}} {{", &v), "{{oops}} {{");
        assert_eq!(unknown_variables("Hi {{visitor.name}} {{order.id}}"), vec!["order.id".to_owned()]);
    }

    #[test]
    fn attachments_must_be_what_they_claim() {
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R'];
        assert_eq!(check_attachment("image/png", &png), Ok("image/png"));
        assert!(matches!(check_attachment("image/jpeg", &png), Err(AttachmentRefusal::Type(_))));
        assert!(matches!(check_attachment("image/svg+xml", b"<svg/>"), Err(AttachmentRefusal::Type(_))));
        assert!(matches!(check_attachment("text/html", b"<b>x</b>"), Err(AttachmentRefusal::Type(_))));
        assert_eq!(check_attachment("text/plain; charset=utf-8", "你好".as_bytes()), Ok("text/plain"));
        assert!(matches!(check_attachment("text/plain", &[0, 1, 2]), Err(AttachmentRefusal::Type(_))));
        assert!(matches!(check_attachment("text/plain", b""), Err(AttachmentRefusal::Size { .. })));
        assert_eq!(check_attachment("application/pdf", b"%PDF-1.7\n..."), Ok("application/pdf"));
    }
}
