//! Rules the whole code base keeps, checked on its sources so that new code is held to them without anyone
//! remembering:
//!
//! - **Logs carry no personal data.** Every `tracing` event names its fields from a short allow-list (ids, error,
//!   counts…), never a visitor's e-mail, phone, name, address or text. A new field is a conscious addition here.
//! - **Secrets stay out of `Debug`.** A struct with a password, token or key field does not derive `Debug` (it
//!   writes its own that redacts them), so neither a log line nor a panic message can print one.
//!
//! The live half of the first rule is `logs_of_a_busy_server_hold_no_personal_data` in `serve_logs.rs`.

use std::path::{Path, PathBuf};

/// Field names a log event may carry.
const LOG_FIELDS: &[&str] = &["error", "tenant", "user", "flow", "url", "attempt", "node", "count", "elapsed_ms"];

/// Field names that hold a secret.
const SECRET_FIELDS: &[&str] =
    &["password", "password_hash", "token", "token_hash", "secret", "api_key", "private_key", "csrf"];

fn sources() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut stack = vec![crates];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                // The black-box suites and benches are not the product.
                if !matches!(name.as_str(), "tests" | "benches" | "target") {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The text of a macro call from its opening parenthesis to the matching close (strings skipped).
fn call_args(text: &str, open: usize) -> &str {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut in_str) = (0usize, open, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'(' if !in_str => depth += 1,
            b')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    &text[open..]
}

/// The field names of a `tracing` event's arguments: `name = …`, `%name`, `?name`, `name` before the message.
fn log_fields(args: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut depth = 0usize;
    let mut part = String::new();
    let mut parts = Vec::new();
    let mut in_str = false;
    let mut prev = ' ';
    for c in args.chars() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '(' | '[' | '{' if !in_str => depth += 1,
            ')' | ']' | '}' if !in_str => depth = depth.saturating_sub(1),
            ',' if !in_str && depth == 0 => {
                parts.push(std::mem::take(&mut part));
                prev = c;
                continue;
            }
            _ => {}
        }
        part.push(c);
        prev = c;
    }
    parts.push(part);
    for p in parts {
        let p = p.trim();
        if p.starts_with('"') || p.is_empty() {
            break; // the message and its format arguments
        }
        let name = match p.split_once('=') {
            Some((name, _)) if !name.contains('"') => name.trim(),
            _ => p.trim_start_matches(['%', '?']).trim(),
        };
        fields.push(name.to_owned());
    }
    fields
}

#[test]
fn log_events_carry_only_allowed_fields() {
    let mut bad = Vec::new();
    let mut events = 0;
    for path in sources() {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for macro_name in ["trace!(", "debug!(", "info!(", "warn!(", "error!("] {
            for (at, _) in text.match_indices(macro_name) {
                let before = &text[..at];
                if !before.ends_with("tracing::") {
                    continue;
                }
                events += 1;
                let args = call_args(&text, at + macro_name.len() - 1);
                for field in log_fields(args) {
                    if !LOG_FIELDS.contains(&field.as_str()) {
                        let line = before.lines().count();
                        bad.push(format!("{}:{line}: field `{field}`", path.display()));
                    }
                }
            }
        }
    }
    assert!(events > 10, "the scan found only {events} log events: is it reading the sources?");
    assert!(
        bad.is_empty(),
        "log events with fields outside the allow-list (personal data must not be logged):\n{}",
        bad.join("\n")
    );
}

#[test]
fn structs_holding_secrets_do_not_derive_debug() {
    let mut bad = Vec::new();
    let mut structs = 0;
    for path in sources() {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for (at, _) in text.match_indices("pub struct ") {
            structs += 1;
            // The attributes right above the struct.
            let head: Vec<&str> = text[..at]
                .lines()
                .rev()
                .take_while(|l| {
                    let l = l.trim();
                    l.starts_with("#[")
                        || l.starts_with("///")
                        || l.starts_with("//")
                        || l.is_empty()
                        || l.ends_with(")]")
                })
                .collect();
            let derives_debug = head.iter().any(|l| l.contains("derive(") && l.contains("Debug"));
            if !derives_debug {
                continue;
            }
            let Some(body_start) = text[at..].find(['{', ';', '(']).map(|i| at + i) else { continue };
            if text.as_bytes()[body_start] != b'{' {
                continue;
            }
            let Some(body_len) = text[body_start..].find("\n}") else { continue };
            let body = &text[body_start..body_start + body_len];
            for line in body.lines() {
                let line = line.trim().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
                if let Some((field, _)) = line.split_once(':')
                    && SECRET_FIELDS.contains(&field.trim())
                {
                    let name: String =
                        text[at + 11..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    bad.push(format!("{}: {name}.{}", path.display(), field.trim()));
                }
            }
        }
    }
    assert!(structs > 100, "the scan found only {structs} structs");
    assert!(
        bad.is_empty(),
        "structs with secrets that derive Debug (write a redacting Debug instead):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_field_reader_reads_tracing_arguments() {
    assert_eq!(log_fields(r#"tenant = %t, error = ?e, "a {} b", x"#), ["tenant", "error"]);
    assert_eq!(log_fields(r#"%flow, %error, "task flow webhook failed""#), ["flow", "error"]);
    assert_eq!(log_fields(r#""shutting down""#), Vec::<String>::new());
    assert_eq!(log_fields(r#"email = %v.email, "x""#), ["email"]);
    assert_eq!(call_args("warn!(a = f(b), \")\")", 5), "a = f(b), \")\"");
}
