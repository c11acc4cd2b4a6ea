//! Task flows (多轮任务): data the supervisor defines — trigger phrases, slots to ask for, a webhook of the business
//! and a reply template — that the bot runs as a short dialogue. The bot collects the slots; the service calls the
//! webhook; [`Flow::render_reply`] renders its JSON answer.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One slot a flow asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotSpec {
    /// The slot's name, used in templates as `{{slots.NAME}}`.
    pub name: String,
    /// The question asking for it, in Chinese.
    pub prompt_zh: String,
    /// The question asking for it, in English.
    pub prompt_en: String,
    /// A regular expression the answer must contain; the first match is the value. Empty: any non-blank text.
    #[serde(default)]
    pub pattern: String,
    /// Said when the answer does not match, in Chinese (empty: a generic text).
    #[serde(default)]
    pub invalid_zh: String,
    /// Said when the answer does not match, in English.
    #[serde(default)]
    pub invalid_en: String,
}

/// A flow definition as stored and edited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// Unique per tenant: 1–40 letters, digits, `-` or `_`.
    pub name: String,
    /// The title shown to supervisors.
    #[serde(default)]
    pub title: String,
    /// Whether the bot runs it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Phrases that start it (trained like an entry's similar questions).
    pub triggers: Vec<String>,
    /// The slots, asked in order.
    #[serde(default)]
    pub slots: Vec<SlotSpec>,
    /// The business's webhook (HTTPS; HTTP only to loopback addresses).
    pub webhook_url: String,
    /// The reply template, Chinese.
    pub reply_zh: String,
    /// The reply template, English.
    pub reply_en: String,
    /// Said when the webhook fails, Chinese (empty: a generic text).
    #[serde(default)]
    pub failure_zh: String,
    /// Said when the webhook fails, English.
    #[serde(default)]
    pub failure_en: String,
}

fn yes() -> bool {
    true
}

/// Why a flow definition was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlowError(pub String);

/// A validated flow, with its patterns compiled.
#[derive(Clone, Debug)]
pub struct Flow {
    spec: FlowSpec,
    patterns: Vec<Option<Regex>>,
}

const MAX_TEXT: usize = 2000;

impl Flow {
    /// Validates a definition.
    pub fn new(mut spec: FlowSpec) -> Result<Flow, FlowError> {
        let err = |m: String| Err(FlowError(m));
        spec.name = spec.name.trim().to_owned();
        if spec.name.is_empty()
            || spec.name.chars().count() > 40
            || !spec.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return err("name must be 1–40 letters, digits, '-' or '_'".into());
        }
        spec.title = spec.title.trim().to_owned();
        if spec.title.chars().count() > 200 {
            return err("title must be at most 200 characters".into());
        }
        let mut triggers: Vec<String> = Vec::new();
        for t in &spec.triggers {
            let t = t.trim();
            if t.chars().count() > 500 {
                return err("triggers: each must be at most 500 characters".into());
            }
            if !t.is_empty() && !triggers.iter().any(|x| x == t) {
                triggers.push(t.to_owned());
            }
        }
        if triggers.is_empty() || triggers.len() > 50 {
            return err("triggers: 1–50 phrases are needed".into());
        }
        spec.triggers = triggers;
        if spec.slots.len() > 5 {
            return err("slots: at most 5".into());
        }
        let mut patterns = Vec::with_capacity(spec.slots.len());
        for (i, slot) in spec.slots.iter_mut().enumerate() {
            slot.name = slot.name.trim().to_owned();
            if slot.name.is_empty()
                || slot.name.len() > 40
                || !slot.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return err(format!("slots[{i}].name must be 1–40 letters, digits or '_'"));
            }
            for (field, text) in [("prompt_zh", &mut slot.prompt_zh), ("prompt_en", &mut slot.prompt_en)] {
                *text = text.trim().to_owned();
                if text.is_empty() || text.chars().count() > MAX_TEXT {
                    return err(format!("slots[{i}].{field} must be 1–{MAX_TEXT} characters"));
                }
            }
            for (field, text) in [("invalid_zh", &slot.invalid_zh), ("invalid_en", &slot.invalid_en)] {
                if text.chars().count() > MAX_TEXT {
                    return err(format!("slots[{i}].{field} must be at most {MAX_TEXT} characters"));
                }
            }
            let pattern = slot.pattern.trim();
            if pattern.len() > 200 {
                return err(format!("slots[{i}].pattern must be at most 200 characters"));
            }
            patterns.push(if pattern.is_empty() {
                None
            } else {
                Some(
                    regex::RegexBuilder::new(pattern)
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| FlowError(format!("slots[{i}].pattern is not a valid regular expression: {e}")))?,
                )
            });
        }
        let names: Vec<&str> = spec.slots.iter().map(|s| s.name.as_str()).collect();
        if names.iter().enumerate().any(|(i, n)| names[..i].contains(n)) {
            return err("slots: names must be distinct".into());
        }
        spec.webhook_url = spec.webhook_url.trim().to_owned();
        check_webhook_url(&spec.webhook_url)?;
        for (field, text, required) in [
            ("reply_zh", &spec.reply_zh, true),
            ("reply_en", &spec.reply_en, true),
            ("failure_zh", &spec.failure_zh, false),
            ("failure_en", &spec.failure_en, false),
        ] {
            if (required && text.trim().is_empty()) || text.chars().count() > MAX_TEXT {
                return err(format!(
                    "{field} must be {}at most {MAX_TEXT} characters",
                    if required { "1 to " } else { "" }
                ));
            }
            for var in variables(text) {
                let ok = match var.split_once('.') {
                    Some(("slots", slot)) => names.contains(&slot),
                    Some(("response", path)) => !path.is_empty(),
                    _ => false,
                };
                if !ok {
                    return err(format!(
                        "{field}: unknown variable {{{{{var}}}}} (use {{{{slots.NAME}}}} or {{{{response.PATH}}}})"
                    ));
                }
            }
        }
        Ok(Flow { spec, patterns })
    }

    /// The definition.
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The value for slot `index` in a visitor's text, if it holds one.
    pub fn extract(&self, index: usize, text: &str) -> Option<String> {
        let text = text.trim();
        match self.patterns.get(index)? {
            Some(re) => re.find(text).map(|m| m.as_str().to_owned()),
            None if !text.is_empty() => Some(text.chars().take(200).collect()),
            None => None,
        }
    }

    /// Fills the slots a triggering message already answers (only slots with a pattern: a free-text slot is
    /// always asked).
    pub fn prefill(&self, text: &str) -> BTreeMap<String, String> {
        self.spec
            .slots
            .iter()
            .enumerate()
            .filter(|(i, _)| self.patterns[*i].is_some())
            .filter_map(|(i, s)| self.extract(i, text).map(|v| (s.name.clone(), v)))
            .collect()
    }

    /// The first slot not yet filled.
    pub fn next_slot(&self, filled: &BTreeMap<String, String>) -> Option<(usize, &SlotSpec)> {
        self.spec.slots.iter().enumerate().find(|(_, s)| !filled.contains_key(&s.name))
    }

    /// Renders the reply template for the webhook's JSON answer.
    pub fn render_reply(&self, zh: bool, slots: &BTreeMap<String, String>, response: &serde_json::Value) -> String {
        let template = if zh { &self.spec.reply_zh } else { &self.spec.reply_en };
        render(template, slots, response)
    }

    /// What to say when the webhook failed.
    pub fn failure_text(&self, zh: bool) -> String {
        let own = if zh { &self.spec.failure_zh } else { &self.spec.failure_en };
        if !own.trim().is_empty() {
            return own.clone();
        }
        if zh {
            "抱歉，系统暂时无法完成查询。您可以稍后再试，或者转人工客服为您处理。".into()
        } else {
            "Sorry, I can't complete that right now. Please try again later, or talk to an agent.".into()
        }
    }
}

/// A webhook URL must be HTTPS, or plain HTTP to a loopback address (a business's local service, the demo).
pub fn check_webhook_url(url: &str) -> Result<(), FlowError> {
    let bad = || Err(FlowError("webhook_url must be an https:// URL (http:// only to 127.0.0.1 or localhost)".into()));
    if url.len() > 500 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() || rest.starts_with('/') { bad() } else { Ok(()) };
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let name = if host.starts_with('[') {
            host.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
        } else {
            host.split(':').next().unwrap_or_default().to_owned()
        };
        let loopback = name == "localhost" || name == "[::1]" || name.starts_with("127.");
        return if loopback { Ok(()) } else { bad() };
    }
    bad()
}

/// The `{{…}}` variables of a template.
fn variables(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// Replaces `{{slots.NAME}}` and `{{response.a.b}}`; a missing value renders as `-`. Hand-written: two kinds of
/// variable and no logic do not need a template engine.
pub fn render(template: &str, slots: &BTreeMap<String, String>, response: &serde_json::Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let var = after[..end].trim();
        let value = match var.split_once('.') {
            Some(("slots", name)) => slots.get(name).cloned(),
            Some(("response", path)) => path
                .split('.')
                .try_fold(response, |v, key| match v {
                    serde_json::Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                    other => other.get(key),
                })
                .and_then(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    other => Some(other.to_string()),
                }),
            _ => None,
        };
        let value = value.unwrap_or_else(|| "-".into());
        out.extend(value.chars().take(1000));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}
