//! Reading incoming e-mail (pure: bytes in, values out): the sender, subject, text and attachments of an RFC 5322
//! message (`mail-parser`), whether it is automatic mail that must not make a ticket, the ticket number a reply's
//! subject names, the new text of a reply without its quoted history, and the address arguments of SMTP commands.
//! The service stores what this reads (`lingxi-service::inbound`); the SMTP listener speaks the protocol
//! (`lingxi-server::smtp`).

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// What a message says, as a ticket needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadEmail {
    /// The sender's address, lower-case.
    pub sender: String,
    /// The sender's display name (or the address's local part), at most 100 characters.
    pub name: String,
    /// The subject without control characters.
    pub subject: String,
    /// The text part, or the HTML part as text; line ends as `\n`.
    pub body: String,
    /// The Message-ID, or a digest of the bytes when there is none.
    pub key: String,
    /// Why it is automatic mail (auto-reply, bounce, list, our own), if it is.
    pub automatic: Option<String>,
    /// The attachments: file name, declared media type, bytes.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// Why a message cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailError {
    /// Not an RFC 5322 message.
    NotEmail,
    /// No From (or Sender) address.
    NoSender,
    /// The From address is not an e-mail address.
    BadSender,
}

impl std::fmt::Display for EmailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EmailError::NotEmail => "the message is not an e-mail (RFC 5322)",
            EmailError::NoSender => "the e-mail has no From address",
            EmailError::BadSender => "the From address is not an e-mail address",
        })
    }
}

impl std::error::Error for EmailError {}

/// A plausible e-mail address, lower-cased: one `@`, a dotted domain, no spaces, quotes, brackets or separators.
pub fn clean_address(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    let ok = s.len() <= 254
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.contains('@'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"()[],;:\\`".contains(c));
    ok.then_some(s)
}

/// Reads a message. `own` is this server's sender address (mail from it is automatic: our own coming back).
pub fn read_email(raw: &[u8], own: Option<&str>) -> Result<ReadEmail, EmailError> {
    let m = MessageParser::default().parse(raw).ok_or(EmailError::NotEmail)?;
    let from =
        m.from().and_then(|a| a.first()).or_else(|| m.sender().and_then(|a| a.first())).ok_or(EmailError::NoSender)?;
    let sender = from.address().and_then(clean_address).ok_or(EmailError::BadSender)?;
    let name: String = from
        .name()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| sender.split('@').next().unwrap_or(&sender))
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let subject: String = m.subject().map(str::trim).unwrap_or_default().chars().filter(|c| !c.is_control()).collect();
    // The text part, or the HTML part as text (mail-parser converts it).
    let body = m.body_text(0).map(|b| b.into_owned()).unwrap_or_default().replace("\r\n", "\n");
    let attachments = m
        .attachments()
        .enumerate()
        .map(|(i, part)| {
            let name = part
                .attachment_name()
                .map(|n| n.replace(['/', '\\'], "_"))
                .unwrap_or_else(|| format!("attachment-{}", i + 1));
            let declared = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_default()
                .to_ascii_lowercase();
            (name, declared, part.contents().to_vec())
        })
        .collect();
    Ok(ReadEmail {
        automatic: automatic(&m, &sender, own),
        key: message_key(&m, raw),
        sender,
        name,
        subject,
        body,
        attachments,
    })
}

/// `FROM:<a@b> SIZE=10` → (`a@b`, `SIZE=10`): the path of an SMTP `MAIL` or `RCPT` command after its keyword. The
/// null sender `<>` reads as an empty address.
pub fn smtp_path<'a>(arg: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let address = rest[..end].trim();
    if address.len() > 254 || address.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    Some((address.to_owned(), rest[end + 1..].trim()))
}

/// The `SIZE=` parameter of an SMTP `MAIL` command, if given.
pub fn smtp_size(params: &str) -> Option<usize> {
    params.split_whitespace().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.eq_ignore_ascii_case("SIZE") { v.parse().ok() } else { None }
    })
}

/// The ticket number a subject names: the first `[#123]`.
pub fn ticket_number_in(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(i) = rest.find("[#") {
        let after = &rest[i + 2..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && digits.len() <= 12 && after[digits.len()..].starts_with(']') {
            return digits.parse().ok();
        }
        rest = after;
    }
    None
}

/// The new text of a reply: the quoted history below it (`> …` lines, "On … wrote:", "在 … 写道：", an
/// "Original Message" divider, Outlook's `From:` block) cut off.
pub fn reply_text(body: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_lowercase();
        // "On Mon, 7 Dec 2026 at 10:00, Shop <s@x.com> wrote:" as one line or wrapped over up to three.
        let wrapped = |start: &str, end: &[&str]| {
            lower.starts_with(start)
                && lines[i..lines.len().min(i + 3)].iter().any(|l| {
                    let l = l.trim().to_lowercase();
                    end.iter().any(|e| l.ends_with(e))
                })
        };
        let divider = wrapped("on ", &["wrote:"])
            || (t.starts_with('在') && wrapped("在", &["写道：", "写道:"]))
            || lower.contains("-----original message-----")
            || (t.starts_with("---") && t.contains("原始邮件"));
        if divider {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    let text = kept.join("\n");
    let text = text.trim();
    if text.is_empty() { body.trim().to_owned() } else { text.to_owned() }
}

/// Why a message is automatic mail that must not make a ticket, if it is.
fn automatic(m: &mail_parser::Message<'_>, sender: &str, own: Option<&str>) -> Option<String> {
    let header = |name: &str| m.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = header("Auto-Submitted")
        && v != "no"
    {
        return Some(format!("Auto-Submitted: {v}"));
    }
    if let Some(v) = header("Precedence")
        && matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply")
    {
        return Some(format!("Precedence: {v}"));
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id"] {
        if header(h).is_some_and(|v| h != "X-Auto-Response-Suppress" || v.contains("all") || v.contains("autoreply")) {
            return Some(format!("{h} header"));
        }
    }
    let local = sender.split('@').next().unwrap_or_default();
    if matches!(local, "mailer-daemon" | "postmaster" | "noreply" | "no-reply" | "do-not-reply" | "donotreply") {
        return Some(format!("sent by {local}"));
    }
    if own.is_some_and(|o| o == sender) {
        return Some("sent by this server's own address".into());
    }
    None
}

/// The Message-ID, or a digest of the bytes when a message has none (a re-delivery is still recognised).
fn message_key(m: &mail_parser::Message<'_>, raw: &[u8]) -> String {
    match m.message_id().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) if id.len() <= 300 => id.to_owned(),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ticket_number_in_a_subject() {
        assert_eq!(ticket_number_in("Re: [#42] 退款"), Some(42));
        assert_eq!(ticket_number_in("回复：[#7]"), Some(7));
        assert_eq!(ticket_number_in("[#] x [#12a] [#9]"), Some(9));
        assert_eq!(ticket_number_in("#42 no brackets"), None);
        assert_eq!(ticket_number_in("[#1234567890123] too long"), None);
    }

    #[test]
    fn cuts_the_quoted_history_off_a_reply() {
        let en = "Thanks, it works now.\n\nOn Mon, 7 Dec 2026 at 10:00, Shop <s@x.com> wrote:\n> old text\n";
        assert_eq!(reply_text(en), "Thanks, it works now.");
        let zh = "还是没收到退款\n\n在 2026年12月7日 10:00，客服 写道：\n> 已处理\n";
        assert_eq!(reply_text(zh), "还是没收到退款");
        let wrapped =
            "Got it.\n\nOn Mon, 7 Dec 2026 at 10:00, Very Long Shop Name\n<support@shop.example> wrote:\n> old\n";
        assert_eq!(reply_text(wrapped), "Got it.");
        assert_eq!(reply_text("On time delivery please.\nThanks"), "On time delivery please.\nThanks");
        let outlook = "OK\n\n-----Original Message-----\nFrom: a\n";
        assert_eq!(reply_text(outlook), "OK");
        assert_eq!(reply_text("> only quoted\n> text"), "> only quoted\n> text");
        assert_eq!(reply_text("line one\n> quoted inline\nline two"), "line one\nline two");
    }

    #[test]
    fn reads_a_message_and_its_sender() {
        let raw = b"From: =?UTF-8?B?546L5aWz5aOr?= <Wang@Example.COM>\r\nSubject: Re: [#3] x\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n";
        let e = read_email(raw, None).expect("readable");
        assert_eq!((e.sender.as_str(), e.name.as_str(), e.key.as_str()), ("wang@example.com", "王女士", "a@b"));
        assert_eq!((e.subject.as_str(), e.body.trim(), e.automatic), ("Re: [#3] x", "hi", None));
        assert_eq!(read_email(b"Subject: x\r\n\r\nno sender", None), Err(EmailError::NoSender));
        let own = read_email(b"From: noreply@shop.test\r\n\r\nx", Some("noreply@shop.test")).expect("readable");
        assert!(own.automatic.is_some());
        let bounce = read_email(b"From: MAILER-DAEMON@mx.test\r\n\r\nx", None).expect("readable");
        assert!(bounce.automatic.is_some());
        let no_id = read_email(b"From: a@b.cn\r\n\r\nx", None).expect("readable");
        assert!(no_id.key.starts_with("sha256:"));
    }

    #[test]
    fn reads_smtp_paths_and_sizes() {
        assert_eq!(smtp_path("FROM:<a@b.cn> SIZE=10", "FROM:"), Some(("a@b.cn".into(), "SIZE=10")));
        assert_eq!(smtp_path("from: <A@B.cn>", "FROM:"), Some(("A@B.cn".into(), "")));
        assert_eq!(smtp_path("FROM:<>", "FROM:"), Some((String::new(), "")));
        assert_eq!(smtp_path("TO:a@b.cn", "TO:"), None);
        assert_eq!(smtp_path("TO:<a b@c.cn>", "TO:"), None);
        assert_eq!(smtp_path("T", "TO:"), None);
        assert_eq!(smtp_size("SIZE=2048 BODY=8BITMIME"), Some(2048));
        assert_eq!(smtp_size("BODY=8BITMIME"), None);
        assert_eq!(clean_address(" A@B.cn "), Some("a@b.cn".into()));
        assert_eq!(clean_address("a@b"), None);
        assert_eq!(clean_address("a<b@c.cn"), None);
    }
}
