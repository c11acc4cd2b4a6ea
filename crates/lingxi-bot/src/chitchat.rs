//! Chit-chat: short, polite replies to greetings, thanks and goodbyes.

use lingxi_domain::Lang;
use lingxi_nlp::normalize;

const GREETINGS: &[&str] = &["你好", "您好", "在吗", "在不在", "hi", "hello", "hey", "嗨", "哈喽", "good morning"];
const THANKS: &[&str] = &["谢谢", "多谢", "感谢", "thanks", "thank you", "thx", "3q"];
const BYES: &[&str] = &["再见", "拜拜", "bye", "goodbye", "see you"];

/// The reply to a message that is only small talk, if it is.
pub fn reply(text: &str, lang: Lang) -> Option<&'static str> {
    let norm = normalize(text).to_lowercase();
    let bare: String = norm.chars().filter(|c| c.is_alphanumeric() || c.is_whitespace()).collect();
    let bare = bare.trim();
    if bare.chars().count() > 16 {
        return None;
    }
    let is = |set: &[&str]| set.iter().any(|p| bare == *p || bare.trim_end_matches(['啊', '呀', '呢']) == *p);
    if is(GREETINGS) {
        return Some(match lang {
            Lang::Zh => "您好！我是智能客服小犀，请问有什么可以帮您？",
            Lang::En => "Hello! I'm Lingxi's assistant. How can I help you?",
        });
    }
    if is(THANKS) {
        return Some(match lang {
            Lang::Zh => "不客气，很高兴能帮到您！",
            Lang::En => "You're welcome, glad I could help!",
        });
    }
    if is(BYES) {
        return Some(match lang {
            Lang::Zh => "再见，祝您购物愉快！",
            Lang::En => "Goodbye, have a nice day!",
        });
    }
    None
}
