//! The handoff summary: one paragraph for the agent of what the visitor wanted and what the bot tried, so that the
//! visitor does not have to repeat themselves.

use lingxi_domain::Lang;
use lingxi_types::HandoffReason;

/// One visitor message and what the bot did with it.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryTurn {
    /// What the visitor wrote.
    pub visitor: String,
    /// The bot's outcome (`answer`, `suggest`, `admit`, `chitchat`, `flow`, `handoff`).
    pub outcome: String,
    /// The entry's standard question when it answered, or the first suggestion.
    pub entry_question: Option<String>,
    /// The visitor rated the answer "not useful".
    pub rejected: bool,
}

fn clip(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    }
}

/// The summary of the bot's part of a conversation, in the agent's language of the visitor (`lang`), for a handoff
/// for `reason` (with its detail, such as the keyword).
pub fn summarise(turns: &[SummaryTurn], reason: HandoffReason, detail: Option<&str>, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    let asked: Vec<&SummaryTurn> = turns.iter().filter(|t| t.outcome != "chitchat").collect();
    let mut parts: Vec<String> = Vec::new();
    let wanted: Vec<String> = asked.iter().rev().take(3).rev().map(|t| format!("“{}”", clip(&t.visitor, 60))).collect();
    if wanted.is_empty() {
        parts.push(if zh {
            "访客没有提出具体问题".into()
        } else {
            "The visitor asked no specific question".into()
        });
    } else if zh {
        parts.push(format!("访客问了：{}", wanted.join("、")));
    } else {
        parts.push(format!("The visitor asked {}", wanted.join(", ")));
    }
    let mut tried: Vec<String> = Vec::new();
    for t in &asked {
        let q = t.entry_question.as_deref().map(|q| clip(q, 40));
        let item = match (t.outcome.as_str(), q) {
            ("answer", Some(q)) if t.rejected => {
                if zh {
                    format!("回答了「{q}」但访客评价没用")
                } else {
                    format!("answered \"{q}\", rated not useful")
                }
            }
            ("answer", Some(q)) => {
                if zh {
                    format!("回答了「{q}」")
                } else {
                    format!("answered \"{q}\"")
                }
            }
            ("suggest", Some(q)) => {
                if zh {
                    format!("推荐了「{q}」等问题")
                } else {
                    format!("suggested \"{q}\" and others")
                }
            }
            ("admit", _) => {
                if zh {
                    "一次未能回答".into()
                } else {
                    "could not answer once".into()
                }
            }
            ("flow", _) => {
                if zh {
                    "执行了自助流程".into()
                } else {
                    "ran a self-service flow".into()
                }
            }
            _ => continue,
        };
        if !tried.contains(&item) {
            tried.push(item);
        }
    }
    if !tried.is_empty() {
        let tried: Vec<String> = tried.into_iter().rev().take(4).rev().collect();
        parts.push(if zh {
            format!("机器人{}", tried.join("，"))
        } else {
            format!("the bot {}", tried.join("; "))
        });
    }
    let why = match (reason, zh) {
        (HandoffReason::VisitorRequest, true) => "访客要求转人工".to_owned(),
        (HandoffReason::VisitorRequest, false) => "the visitor asked for a human".to_owned(),
        (HandoffReason::LowConfidence, true) => "机器人连续未能解决".to_owned(),
        (HandoffReason::LowConfidence, false) => "the bot failed repeatedly".to_owned(),
        (HandoffReason::NegativeEmotion, true) => "访客情绪激动".to_owned(),
        (HandoffReason::NegativeEmotion, false) => "the visitor is upset".to_owned(),
        (HandoffReason::Vip, true) => "VIP 访客由人工服务".to_owned(),
        (HandoffReason::Vip, false) => "VIP visitors are served by agents".to_owned(),
        (HandoffReason::Rule, true) => format!("命中转人工规则（{}）", detail.unwrap_or("-")),
        (HandoffReason::Rule, false) => format!("a handoff rule matched ({})", detail.unwrap_or("-")),
        (other, true) => format!("原因：{other}"),
        (other, false) => format!("reason: {other}"),
    };
    if zh {
        format!("{}；转人工原因：{}。", parts.join("；"), why)
    } else {
        format!("{}. Handed over because {}.", parts.join("; "), why)
    }
}
