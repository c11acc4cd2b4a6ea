//! Handoff triggers: when a visitor should be served by a human.

use lingxi_nlp::normalize;

/// Phrases by which a visitor asks for a person, matched on normalised text.
const HUMAN_REQUEST_PHRASES: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "找人工",
    "要人工",
    "真人",
    "客服在吗",
    "接人工",
    "talk to a human",
    "talk to human",
    "speak to a human",
    "speak to someone",
    "talk to someone",
    "real person",
    "human agent",
    "live agent",
    "talk to an agent",
    "speak to an agent",
    "customer service representative",
];

/// Whether the visitor explicitly asks for a human.
pub fn is_human_request(text: &str) -> bool {
    let norm = normalize(text);
    let lower = norm.to_lowercase();
    if lower.trim() == "人工" || lower.trim() == "human" || lower.trim() == "agent" {
        return true;
    }
    HUMAN_REQUEST_PHRASES.iter().any(|p| lower.contains(p))
}

/// How many consecutive messages the bot may fail to answer before a human takes over.
pub const MAX_BOT_FAILURES: i64 = 2;

/// Whether repeated low confidence should hand the conversation over.
pub fn too_many_failures(consecutive_failures: i64) -> bool {
    consecutive_failures >= MAX_BOT_FAILURES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_requests_for_a_human_in_both_languages() {
        let cases = [
            ("转人工", true),
            ("我要转人工！", true),
            ("人工", true),
            ("人工客服在哪里", true),
            ("Talk to a human", true),
            ("can I speak to someone please", true),
            ("I want a REAL PERSON", true),
            ("怎么退货", false),
            ("how do I return an item", false),
            ("人工智能是什么", false),
        ];
        for (text, expected) in cases {
            assert_eq!(is_human_request(text), expected, "{text}");
        }
    }

    #[test]
    fn two_failures_hand_over() {
        assert!(!too_many_failures(1));
        assert!(too_many_failures(2));
    }
}
