use super::*;
use lingxi_types::{EntryId, TenantId};

fn entry(question: &str, similar: &[&str], answer: &str) -> KbEntry {
    let now = chrono_free_epoch();
    KbEntry {
        id: EntryId::generate(),
        tenant_id: TenantId(lingxi_types::ids::Uuid::nil()),
        question: question.into(),
        similar_questions: similar.iter().map(|s| s.to_string()).collect(),
        answer: answer.into(),
        category: String::new(),
        enabled: true,
        created_at: now,
        updated_at: now,
    }
}

fn chrono_free_epoch() -> lingxi_types::model::DateTimeUtc {
    lingxi_types::model::DateTimeUtc::default()
}

fn kb() -> KnowledgeBase {
    let entries = vec![
        entry(
            "怎么退货",
            &["如何退货", "我想退货", "退货流程是什么", "how do I return an item", "return policy"],
            "RETURN",
        ),
        entry(
            "多久发货",
            &["什么时候发货", "发货时间", "下单后多久发出", "when will my order ship", "shipping time"],
            "SHIP",
        ),
        entry(
            "支持哪些支付方式",
            &["可以用花呗吗", "能用信用卡付款吗", "付款方式有哪些", "which payment methods do you accept", "can I pay by card"],
            "PAY",
        ),
        entry("怎么开发票", &["可以开发票吗", "发票怎么开", "如何申请发票", "can I get an invoice", "how to request an invoice"], "INVOICE"),
    ];
    match KnowledgeBase::train(&entries) {
        Ok(kb) => kb,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn answers_a_known_question_in_either_language() {
    let kb = kb();
    for (q, a) in [("我要退货怎么弄", "RETURN"), ("how can I return an item", "RETURN"), ("发票怎么申请", "INVOICE")] {
        match respond(&kb, BotState::default(), q).reply {
            BotReply::Answer { text, .. } => assert_eq!(text, a, "{q}"),
            BotReply::Suggest { suggestions, .. } => {
                assert!(suggestions.iter().any(|s| kb.entries[&s.entry_id.to_string()].answer == a), "{q}")
            }
            other => panic!("{q}: {other:?}"),
        }
    }
}

#[test]
fn asks_for_a_human_on_request_and_after_repeated_failures() {
    let kb = kb();
    assert_eq!(
        respond(&kb, BotState::default(), "转人工").reply,
        BotReply::Handoff { reason: HandoffReason::VisitorRequest }
    );
    let first = respond(&kb, BotState::default(), "量子力学的基本方程是什么");
    assert!(matches!(first.reply, BotReply::Admit { .. }), "{first:?}");
    let second = respond(&kb, first.state, "宇宙有多大");
    assert_eq!(second.reply, BotReply::Handoff { reason: HandoffReason::LowConfidence });
}

#[test]
fn greets_politely_and_an_empty_kb_admits() {
    assert!(matches!(respond(&kb(), BotState::default(), "你好").reply, BotReply::ChitChat { .. }));
    assert!(matches!(
        respond(&KnowledgeBase::empty(), BotState::default(), "how do I return an item").reply,
        BotReply::Admit { .. }
    ));
}
