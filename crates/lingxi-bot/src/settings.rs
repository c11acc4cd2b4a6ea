//! A tenant's bot settings: the answer / suggest thresholds, when to hand over to a human, and the chit-chat set.

use lingxi_nlp::{Policy, normalize};
use serde::{Deserialize, Serialize};

/// A chit-chat rule: short messages that match one of its patterns get its reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChitChatRule {
    /// A label for the supervisor (`greeting`, `thanks`, …).
    pub name: String,
    /// Whole short messages that trigger it, matched after normalisation (case, width, traditional characters,
    /// trailing punctuation and particles such as 啊 / 呀 / 呢 ignored).
    pub patterns: Vec<String>,
    /// The reply to a Chinese message.
    pub reply_zh: String,
    /// The reply to an English message.
    pub reply_en: String,
}

/// How the bot of one tenant behaves. Every field has a default, so a stored settings document written by an older
/// version still reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotSettings {
    /// At or above this calibrated confidence the bot answers.
    pub answer_threshold: f32,
    /// At or above this (below `answer_threshold`) it suggests candidates ("did you mean").
    pub suggest_threshold: f32,
    /// After this many consecutive admitted or rejected ("not useful") answers a human takes over.
    pub max_failures: i64,
    /// Hand over on strong anger or abuse.
    pub emotion_handoff: bool,
    /// The strength (0–1) of anger from which the bot hands over.
    pub emotion_threshold: f32,
    /// VIP visitors are served by humans from their first question.
    pub vip_handoff: bool,
    /// Visitor tags that make a visitor a VIP for this rule (besides the visitor's VIP flag).
    pub vip_tags: Vec<String>,
    /// A message containing one of these is handed to a human (business rule).
    pub handoff_keywords: Vec<String>,
    /// An answer from an entry in one of these categories (or below) is handed to a human instead (business rule).
    pub handoff_categories: Vec<String>,
    /// The chit-chat set; it replaces the built-in one ([`default_chitchat`]).
    pub chitchat: Vec<ChitChatRule>,
    /// A conversation waiting this many seconds in the queue goes back to the bot (a logged take-back by rule);
    /// 0: never.
    pub queue_takeback_secs: u32,
}

impl Default for BotSettings {
    fn default() -> Self {
        let policy = Policy::default();
        BotSettings {
            answer_threshold: policy.answer_threshold,
            suggest_threshold: policy.suggest_threshold,
            max_failures: 2,
            emotion_handoff: true,
            emotion_threshold: 0.6,
            vip_handoff: true,
            vip_tags: vec!["vip".into(), "VIP".into()],
            handoff_keywords: [
                "投诉",
                "12315",
                "消协",
                "消费者协会",
                "工商局",
                "律师",
                "起诉",
                "法院",
                "曝光",
                "complaint",
                "lawyer",
                "sue",
                "legal action",
            ]
            .map(String::from)
            .to_vec(),
            handoff_categories: Vec::new(),
            chitchat: default_chitchat(),
            queue_takeback_secs: 0,
        }
    }
}

/// Why a settings document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

const MAX_LIST: usize = 200;
const MAX_ITEM_CHARS: usize = 100;
const MAX_REPLY_CHARS: usize = 1000;

impl BotSettings {
    /// The matching policy these settings describe.
    pub fn policy(&self) -> Policy {
        Policy {
            answer_threshold: self.answer_threshold,
            suggest_threshold: self.suggest_threshold,
            ..Policy::default()
        }
    }

    /// Checks ranges and sizes, and cleans the lists (trimmed, blanks and duplicates dropped).
    pub fn validated(mut self) -> Result<BotSettings, SettingsError> {
        let unit = |name: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(SettingsError(format!("{name} must be between 0 and 1")))
            }
        };
        unit("answer_threshold", self.answer_threshold)?;
        unit("suggest_threshold", self.suggest_threshold)?;
        unit("emotion_threshold", self.emotion_threshold)?;
        if self.suggest_threshold > self.answer_threshold {
            return Err(SettingsError("suggest_threshold must not be above answer_threshold".into()));
        }
        if !(1..=10).contains(&self.max_failures) {
            return Err(SettingsError("max_failures must be between 1 and 10".into()));
        }
        if self.queue_takeback_secs > 86_400 {
            return Err(SettingsError("queue_takeback_secs must be between 0 (never) and 86400".into()));
        }
        self.vip_tags = clean_list("vip_tags", self.vip_tags)?;
        self.handoff_keywords = clean_list("handoff_keywords", self.handoff_keywords)?;
        self.handoff_categories = clean_list("handoff_categories", self.handoff_categories)?
            .into_iter()
            .map(|c| c.split('/').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/"))
            .collect();
        if self.chitchat.len() > MAX_LIST {
            return Err(SettingsError(format!("chitchat: at most {MAX_LIST} rules")));
        }
        for (i, rule) in self.chitchat.iter_mut().enumerate() {
            let at = format!("chitchat[{i}]");
            rule.name = rule.name.trim().to_owned();
            if rule.name.is_empty() || rule.name.chars().count() > MAX_ITEM_CHARS {
                return Err(SettingsError(format!("{at}.name must be 1–{MAX_ITEM_CHARS} characters")));
            }
            rule.patterns = clean_list(&format!("{at}.patterns"), std::mem::take(&mut rule.patterns))?;
            if rule.patterns.is_empty() {
                return Err(SettingsError(format!("{at}.patterns must not be empty")));
            }
            for (field, reply) in [("reply_zh", &mut rule.reply_zh), ("reply_en", &mut rule.reply_en)] {
                *reply = reply.trim().to_owned();
                if reply.is_empty() || reply.chars().count() > MAX_REPLY_CHARS {
                    return Err(SettingsError(format!("{at}.{field} must be 1–{MAX_REPLY_CHARS} characters")));
                }
            }
        }
        Ok(self)
    }

    /// Whether a visitor counts as a VIP for the handoff rule.
    pub fn is_vip(&self, vip_flag: bool, tags: &[String]) -> bool {
        vip_flag || tags.iter().any(|t| self.vip_tags.iter().any(|v| v.eq_ignore_ascii_case(t.trim())))
    }

    /// The first handoff keyword the text contains (matched on normalised, lower-cased text; English keywords as
    /// whole words).
    pub fn handoff_keyword(&self, text: &str) -> Option<&str> {
        let norm = normalize(text).to_lowercase();
        let words: Vec<&str> = norm.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        self.handoff_keywords
            .iter()
            .find(|k| {
                let k = normalize(k).to_lowercase();
                if k.chars().any(lingxi_nlp::is_cjk) || k.chars().any(|c| c.is_ascii_digit()) {
                    norm.contains(&k)
                } else {
                    let parts: Vec<&str> = k.split_whitespace().collect();
                    !parts.is_empty() && words.windows(parts.len()).any(|w| w == parts.as_slice())
                }
            })
            .map(String::as_str)
    }

    /// Whether answers from this category (a `/` path) are handed to a human.
    pub fn is_handoff_category(&self, category: &str) -> bool {
        let category = category.trim();
        !category.is_empty()
            && self
                .handoff_categories
                .iter()
                .any(|c| category == c || category.strip_prefix(c.as_str()).is_some_and(|rest| rest.starts_with('/')))
    }
}

fn clean_list(name: &str, list: Vec<String>) -> Result<Vec<String>, SettingsError> {
    if list.len() > MAX_LIST {
        return Err(SettingsError(format!("{name}: at most {MAX_LIST} items")));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        let item = item.trim().to_owned();
        if item.chars().count() > MAX_ITEM_CHARS {
            return Err(SettingsError(format!("{name}: each item must be at most {MAX_ITEM_CHARS} characters")));
        }
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

fn rule(name: &str, patterns: &[&str], zh: &str, en: &str) -> ChitChatRule {
    ChitChatRule {
        name: name.into(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        reply_zh: zh.into(),
        reply_en: en.into(),
    }
}

/// The built-in bilingual chit-chat set: greetings, thanks, goodbyes, "are you a robot?", praise and mild insults.
pub fn default_chitchat() -> Vec<ChitChatRule> {
    vec![
        rule(
            "greeting",
            &[
                "你好",
                "您好",
                "在吗",
                "在不在",
                "有人吗",
                "嗨",
                "哈喽",
                "早上好",
                "晚上好",
                "hi",
                "hello",
                "hey",
                "hi there",
                "hello there",
                "good morning",
                "good afternoon",
                "good evening",
            ],
            "您好！我是智能客服小犀，请问有什么可以帮您？",
            "Hello! I'm Lingxi's assistant. How can I help you?",
        ),
        rule(
            "thanks",
            &[
                "谢谢",
                "谢谢你",
                "多谢",
                "感谢",
                "好的谢谢",
                "谢啦",
                "thanks",
                "thank you",
                "thx",
                "3q",
                "ty",
                "thanks a lot",
            ],
            "不客气，很高兴能帮到您！",
            "You're welcome, glad I could help!",
        ),
        rule(
            "goodbye",
            &["再见", "拜拜", "没事了", "没有了", "bye", "goodbye", "see you", "bye bye"],
            "再见，祝您购物愉快！",
            "Goodbye, have a nice day!",
        ),
        rule(
            "identity",
            &[
                "你是机器人吗",
                "你是机器人",
                "是机器人吗",
                "你是真人吗",
                "你是谁",
                "你是ai吗",
                "are you a robot",
                "are you a bot",
                "are you human",
                "are you a human",
                "are you real",
                "who are you",
                "is this a bot",
            ],
            "我是灵犀智能助手，可以回答常见问题；需要人工服务时输入“转人工”即可。",
            "I'm Lingxi's virtual assistant: I answer common questions, and you can type \"talk to a human\" to \
             reach an agent.",
        ),
        rule(
            "praise",
            &["你真棒", "真棒", "太好了", "好厉害", "great", "awesome", "you are great", "good bot"],
            "谢谢夸奖，还有其他问题随时问我！",
            "Thank you! Ask me anything else any time.",
        ),
        rule(
            "insult",
            &[
                "你好笨",
                "笨蛋",
                "你真笨",
                "傻机器人",
                "没用",
                "你没用",
                "你真没用",
                "stupid bot",
                "you are stupid",
                "you're stupid",
                "useless",
                "you are useless",
                "you're useless",
                "dumb bot",
            ],
            "抱歉没能帮到您。您可以换个说法再问一次，或者输入“转人工”联系人工客服。",
            "Sorry I couldn't help. Try asking another way, or type \"talk to a human\" to reach an agent.",
        ),
    ]
}

/// The reply to a message that is only chit-chat under these rules, if it is.
pub(crate) fn chitchat_reply<'a>(rules: &'a [ChitChatRule], text: &str, zh: bool) -> Option<&'a str> {
    let bare = bare(text);
    if bare.is_empty() || bare.chars().count() > 16 {
        return None;
    }
    let variants = variants(&bare);
    rules
        .iter()
        .find(|r| {
            r.patterns.iter().any(|p| {
                let p = compact(&self::bare(p));
                !p.is_empty() && variants.contains(&p)
            })
        })
        .map(|r| if zh { r.reply_zh.as_str() } else { r.reply_en.as_str() })
}

/// Words that open or close small talk without changing it: "好的，谢谢" is "谢谢", "thanks anyway" is "thanks".
const LEADING_FILLERS: &[&str] = &["好的", "好", "嗯嗯", "嗯", "哦", "噢", "那", "okay", "ok", "oh", "well", "alright"];
const TRAILING_FILLERS: &[&str] = &["anyway", "then", "again", "so much", "very much"];
const PARTICLES: [char; 8] = ['啊', '呀', '呢', '哦', '哈', '吧', '啦', '了'];

/// The message as written, without fillers and final particles, each with the spaces between Chinese characters
/// removed.
fn variants(bare: &str) -> Vec<String> {
    let mut out = vec![bare.to_owned()];
    let mut core = bare;
    for f in LEADING_FILLERS {
        if let Some(rest) = core.strip_prefix(f) {
            // An English filler must be a whole word; a Chinese one may run into the next word.
            let boundary = !f.is_ascii() || rest.starts_with(' ');
            let rest = rest.trim_start();
            if boundary && !rest.is_empty() {
                core = rest;
                break;
            }
        }
    }
    for f in TRAILING_FILLERS {
        if let Some(rest) = core.strip_suffix(f)
            && rest.ends_with(' ')
        {
            core = rest.trim_end();
            break;
        }
    }
    out.push(core.to_owned());
    out.push(core.trim_end_matches(PARTICLES).to_owned());
    out.push(bare.trim_end_matches(PARTICLES).to_owned());
    out.iter_mut().for_each(|v| *v = compact(v));
    out.retain(|v| !v.is_empty());
    out
}

/// Removes the spaces next to a Chinese character ("好的 谢谢" → "好的谢谢"), keeping those between words.
fn compact(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).is_some_and(|c| !c.is_ascii());
            let after = chars.get(i + 1).is_some_and(|c| !c.is_ascii());
            if before || after {
                continue;
            }
        }
        out.push(*c);
    }
    out
}

/// Normalised, lower-cased, punctuation removed, single spaces.
fn bare(text: &str) -> String {
    let norm = normalize(text).to_lowercase().replace('\'', "");
    let kept: String = norm.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}
