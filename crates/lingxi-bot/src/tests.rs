use super::*;
use lingxi_types::{EntryId, TenantId};
use std::collections::BTreeMap;

fn entry(question: &str, similar: &[&str], answer: &str) -> KbEntry {
    let now = chrono_free_epoch();
    KbEntry {
        id: EntryId::generate(),
        tenant_id: TenantId(lingxi_types::ids::Uuid::nil()),
        question: question.into(),
        similar_questions: similar.iter().map(|s| s.to_string()).collect(),
        answer: answer.into(),
        answer_text: answer.into(),
        channel_answers: Default::default(),
        category: String::new(),
        tags: Vec::new(),
        enabled: true,
        valid_from: None,
        valid_until: None,
        created_by: None,
        updated_by: None,
        created_at: now,
        updated_at: now,
    }
}

/// The bot with default settings at the tests' "now".
fn r(kb: &KnowledgeBase, state: &BotState, text: &str) -> BotTurn {
    respond(kb, &BotSettings::default(), state, &Turn::text(text, now()))
}

fn chrono_free_epoch() -> lingxi_types::model::DateTimeUtc {
    lingxi_types::model::DateTimeUtc::default()
}

/// A fixed "now" for the tests: one day after the epoch the entries are created at.
fn now() -> lingxi_types::model::DateTimeUtc {
    chrono_free_epoch() + std::time::Duration::from_secs(86_400)
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
            &[
                "可以用花呗吗",
                "能用信用卡付款吗",
                "付款方式有哪些",
                "which payment methods do you accept",
                "can I pay by card",
            ],
            "PAY",
        ),
        entry(
            "怎么开发票",
            &["可以开发票吗", "发票怎么开", "如何申请发票", "can I get an invoice", "how to request an invoice"],
            "INVOICE",
        ),
    ];
    match KnowledgeBase::train(&entries, now()) {
        Ok(kb) => kb,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn answers_a_known_question_in_either_language() {
    let kb = kb();
    for (q, a) in [("我要退货怎么弄", "RETURN"), ("how can I return an item", "RETURN"), ("发票怎么申请", "INVOICE")]
    {
        match r(&kb, &BotState::default(), q).reply {
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
        r(&kb, &BotState::default(), "转人工").reply,
        BotReply::Handoff { reason: HandoffReason::VisitorRequest, detail: None }
    );
    let first = r(&kb, &BotState::default(), "量子纠缠与黑洞蒸发");
    assert!(matches!(first.reply, BotReply::Admit { .. }), "{first:?}");
    let second = r(&kb, &first.state, "quantum entanglement of black holes");
    assert_eq!(second.reply, BotReply::Handoff { reason: HandoffReason::LowConfidence, detail: None });
}

#[test]
fn a_foreign_question_sharing_only_function_words_with_a_tiny_kb() {
    // FIXME: with four entries the confidence model has too few examples to learn that sharing only "是什么" with
    // "退货流程是什么" is not a match, and it answers confidently. The demo's 24-entry knowledge base suggests
    // instead of answering such questions. Wanted: Admit. Recorded on issue 3.
    let turn = r(&kb(), &BotState::default(), "量子力学的基本方程是什么");
    assert!(matches!(turn.reply, BotReply::Answer { .. }), "{turn:?}");
}

#[test]
fn greets_politely_and_an_empty_kb_admits() {
    assert!(matches!(r(&kb(), &BotState::default(), "你好").reply, BotReply::ChitChat { .. }));
    assert!(matches!(
        r(&KnowledgeBase::empty(), &BotState::default(), "how do I return an item").reply,
        BotReply::Admit { .. }
    ));
}

#[test]
fn only_entries_valid_now_are_answered_and_the_next_boundary_is_known() {
    let day = std::time::Duration::from_secs(86_400);
    let mut sale = entry("双十一有什么活动", &["双11优惠", "双十一活动", "what is on sale for double 11"], "SALE");
    sale.valid_from = Some(now() + day);
    sale.valid_until = Some(now() + day * 2);
    let mut old = entry("618有什么活动", &["618优惠", "618活动"], "OLD");
    old.valid_until = Some(now() - day);
    let entries = vec![sale, old, entry("怎么退货", &["如何退货", "退货流程"], "RETURN")];
    let before = KnowledgeBase::train(&entries, now()).unwrap_or_else(|_| KnowledgeBase::empty());
    assert_eq!(before.len(), 1, "neither the future nor the expired entry is trained");
    assert_eq!(before.refresh_at(), Some(now() + day));
    let during = KnowledgeBase::train(&entries, now() + day).unwrap_or_else(|_| KnowledgeBase::empty());
    assert_eq!(during.refresh_at(), Some(now() + day * 2));
    assert!(matches!(
        respond(&during, &BotSettings::default(), &BotState::default(), &Turn::text("双十一活动", now() + day)).reply,
        BotReply::Answer { .. }
    ));
    // Trained while live, asked after its end: never answered, never offered.
    let after =
        respond(&during, &BotSettings::default(), &BotState::default(), &Turn::text("双十一活动", now() + day * 2));
    assert!(
        !matches!(&after.reply, BotReply::Answer { text, .. } if text == "SALE")
            && !matches!(&after.reply, BotReply::Suggest { suggestions, .. } if suggestions.iter().any(|s| s.question.contains("双十一"))),
        "{after:?}"
    );
    assert!(during.candidates("双十一活动", now() + day * 2).iter().all(|c| !c.question.contains("双十一")));
}

// ---- the conversation behaviours: follow-ups, triggers, flows, picks ----

fn shop_entries() -> Vec<KbEntry> {
    let mut entries = vec![
        entry(
            "退货运费谁出",
            &["退货要我出运费吗", "退货运费怎么算", "退货邮费谁承担", "退回去的快递费谁付"],
            "RETURN-FEE",
        ),
        entry(
            "换货运费谁出",
            &["换货要我出运费吗", "换货运费怎么算", "换货邮费谁承担", "换货的快递费谁付"],
            "EXCHANGE-FEE",
        ),
        entry("怎么退货", &["如何退货", "我想退货", "退货流程", "退货怎么操作"], "RETURN-HOW"),
        entry("怎么换货", &["如何换货", "我想换货", "换货流程", "换个尺码怎么弄"], "EXCHANGE-HOW"),
        entry("支持哪些支付方式", &["可以用花呗吗", "能用信用卡付款吗", "付款方式有哪些"], "PAY"),
        entry("怎么开发票", &["可以开发票吗", "发票怎么开", "如何申请发票"], "INVOICE"),
        entry(
            "How long does standard shipping take?",
            &["standard delivery time", "how many days for normal shipping", "when will regular shipping arrive"],
            "STANDARD",
        ),
        entry(
            "How long does express shipping take?",
            &["express delivery time", "how many days for express", "when will express shipping arrive"],
            "EXPRESS",
        ),
        entry("How do I return an item?", &["return an item", "I want to send it back", "return process"], "EN-RETURN"),
        entry(
            "Can I get an invoice?",
            &["invoice please", "how to request an invoice", "I need a receipt"],
            "EN-INVOICE",
        ),
    ];
    entries[4].category = "支付".into();
    entries[5].category = "财务/发票".into();
    entries[5].tags = vec!["invoice".into()];
    entries[4].tags = vec!["payment_failed".into()];
    entries
}

fn order_flow() -> Flow {
    Flow::new(flows::FlowSpec {
        name: "order-status".into(),
        title: "查询订单".into(),
        enabled: true,
        triggers: vec!["查订单".into(), "我的订单到哪了".into(), "查一下订单状态".into(), "where is my order".into()],
        slots: vec![flows::SlotSpec {
            name: "order_id".into(),
            prompt_zh: "请输入订单号（LX 开头）".into(),
            prompt_en: "Your order number (starts with LX)?".into(),
            pattern: r"LX\d{8}".into(),
            invalid_zh: "订单号格式不对，应为 LX 加 8 位数字".into(),
            invalid_en: String::new(),
        }],
        webhook_url: "http://127.0.0.1:9/hook".into(),
        reply_zh: "订单 {{slots.order_id}}：{{response.status}}".into(),
        reply_en: "Order {{slots.order_id}}: {{response.status}}".into(),
        failure_zh: String::new(),
        failure_en: String::new(),
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn shop() -> KnowledgeBase {
    KnowledgeBase::train_with_flows(&shop_entries(), &[order_flow()], now(), &IntentConfig::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn answer_of(turn: &BotTurn) -> &str {
    match &turn.reply {
        BotReply::Answer { text, .. } => text,
        other => panic!("expected an answer: {other:?}"),
    }
}

#[test]
fn a_follow_up_is_read_with_the_previous_question() {
    let kb = shop();
    let first = r(&kb, &BotState::default(), "退货的话运费是谁出啊");
    assert_eq!(answer_of(&first), "RETURN-FEE");
    let second = r(&kb, &first.state, "那换货呢？");
    assert_eq!(answer_of(&second), "EXCHANGE-FEE", "{second:?}");
    assert!(second.trace.follow_up && second.trace.resolved_text.is_some());
    // And back again.
    let third = r(&kb, &second.state, "那退货呢");
    assert_eq!(answer_of(&third), "RETURN-FEE", "{third:?}");

    let en = r(&kb, &BotState::default(), "how many days does standard shipping take");
    assert_eq!(answer_of(&en), "STANDARD");
    let express = r(&kb, &en.state, "and for express?");
    assert_eq!(answer_of(&express), "EXPRESS", "{express:?}");
    // Without a previous question the same words are not a follow-up.
    assert!(!r(&kb, &BotState::default(), "那换货呢？").trace.follow_up);
}

#[test]
fn a_clicked_or_typed_suggestion_is_answered() {
    let kb = shop();
    let invoice = kb.entries().find(|e| e.answer == "INVOICE").map(|e| e.id);
    let picked = respond(
        &kb,
        &BotSettings::default(),
        &BotState::default(),
        &Turn { choice: invoice, ..Turn::text("怎么开发票", now()) },
    );
    assert_eq!(answer_of(&picked), "INVOICE");
    assert!(picked.trace.picked);
    let offered: Vec<EntryId> = ["RETURN-HOW", "EXCHANGE-HOW"]
        .iter()
        .filter_map(|a| kb.entries().find(|e| e.answer == *a))
        .map(|e| e.id)
        .collect();
    let state = BotState { offered, ..BotState::default() };
    assert_eq!(answer_of(&r(&kb, &state, "2")), "EXCHANGE-HOW");
    assert_eq!(answer_of(&r(&kb, &state, "第一个")), "RETURN-HOW");
}

#[test]
fn handoff_triggers_carry_their_reason() {
    let kb = shop();
    let reason = |t: BotTurn| match t.reply {
        BotReply::Handoff { reason, .. } => reason,
        other => panic!("expected a handoff: {other:?}"),
    };
    assert_eq!(reason(r(&kb, &BotState::default(), "我要投诉你们的快递")), HandoffReason::Rule);
    assert_eq!(reason(r(&kb, &BotState::default(), "I will contact my lawyer about this")), HandoffReason::Rule);
    assert_eq!(
        reason(r(&kb, &BotState::default(), "气死我了！！你们就是骗子，垃圾服务")),
        HandoffReason::NegativeEmotion
    );
    assert_eq!(
        reason(r(&kb, &BotState::default(), "This is ridiculous, I am furious, worst service ever!!")),
        HandoffReason::NegativeEmotion
    );
    // Not anger: a product name holding a cue, and a mild jab answered as chit-chat.
    assert!(!matches!(r(&kb, &BotState::default(), "滚筒洗衣机可以开发票吗").reply, BotReply::Handoff { .. }));
    assert!(matches!(r(&kb, &BotState::default(), "你好笨").reply, BotReply::ChitChat { .. }));
    assert!(matches!(r(&kb, &BotState::default(), "你是机器人吗？").reply, BotReply::ChitChat { .. }));
    // VIPs: greeted by the bot, questions to a human.
    let tags = vec!["vip".to_owned()];
    let vip = |text: &str| {
        respond(&kb, &BotSettings::default(), &BotState::default(), &Turn { tags: &tags, ..Turn::text(text, now()) })
    };
    assert!(matches!(vip("你好").reply, BotReply::ChitChat { .. }));
    assert_eq!(reason(vip("怎么退货")), HandoffReason::Vip);
    // A category rule.
    let settings = BotSettings { handoff_categories: vec!["财务".into()], ..BotSettings::default() };
    let t = respond(&kb, &settings, &BotState::default(), &Turn::text("发票怎么开", now()));
    assert_eq!(reason(t), HandoffReason::Rule);
    // Turned off, the same messages are answered.
    let off = BotSettings { vip_handoff: false, handoff_keywords: vec![], ..BotSettings::default() };
    let t = respond(&kb, &off, &BotState::default(), &Turn { tags: &tags, ..Turn::text("怎么退货", now()) });
    assert_eq!(answer_of(&t), "RETURN-HOW");
}

#[test]
fn two_rejections_in_a_row_hand_over() {
    let settings = BotSettings::default();
    let (state, handoff) = reject(&settings, &BotState::default());
    assert!(!handoff);
    assert_eq!(state.consecutive_failures, 1);
    assert!(reject(&settings, &state).1);
}

#[test]
fn a_task_flow_collects_its_slots_and_asks_again_on_a_bad_value() {
    let kb = shop();
    let start = r(&kb, &BotState::default(), "帮我查订单");
    assert!(matches!(&start.reply, BotReply::FlowAsk { flow, .. } if flow == "order-status"), "{start:?}");
    let bad = r(&kb, &start.state, "12345");
    assert!(matches!(&bad.reply, BotReply::FlowAsk { text, .. } if text.contains("格式不对")), "{bad:?}");
    let call = r(&kb, &bad.state, "好的 lx20261203 这个");
    match &call.reply {
        BotReply::FlowCall { flow, slots } => {
            assert_eq!(flow, "order-status");
            assert_eq!(slots.get("order_id").map(String::as_str), Some("lx20261203"));
        }
        other => panic!("{other:?}"),
    }
    assert!(call.state.flow.is_none());
    // A value in the triggering message is taken from it.
    let direct = r(&kb, &BotState::default(), "查订单 LX12345678");
    assert!(matches!(direct.reply, BotReply::FlowCall { .. }), "{direct:?}");
    // Cancel, and a different confident question, both leave the flow.
    assert!(matches!(r(&kb, &start.state, "取消").reply, BotReply::FlowEnd { offer_human: false, .. }));
    assert_eq!(answer_of(&r(&kb, &start.state, "发票怎么开")), "INVOICE");
    // Three bad answers: give up and offer a human.
    let mut state = start.state.clone();
    let mut last = None;
    for _ in 0..3 {
        let t = r(&kb, &state, "不知道");
        state = t.state.clone();
        last = Some(t.reply);
    }
    assert!(matches!(last, Some(BotReply::FlowEnd { offer_human: true, .. })), "{last:?}");
    let rendered = order_flow().render_reply(
        true,
        &BTreeMap::from([("order_id".to_owned(), "LX1".to_owned())]),
        &serde_json::json!({"status": "已发货"}),
    );
    assert_eq!(rendered, "订单 LX1：已发货");
}

fn flow_err(spec: flows::FlowSpec) -> String {
    match Flow::new(spec) {
        Ok(_) => panic!("the flow should be refused"),
        Err(e) => e.0,
    }
}

#[test]
fn flow_definitions_are_validated() {
    let mut spec = order_flow().spec().clone();
    spec.reply_zh = "{{slots.nope}}".into();
    assert!(flow_err(spec.clone()).contains("unknown variable"));
    spec.reply_zh = "ok".into();
    spec.slots[0].pattern = "(".into();
    assert!(flow_err(spec.clone()).contains("pattern"));
    spec.slots[0].pattern = String::new();
    spec.webhook_url = "http://10.0.0.1/hook".into();
    assert!(flow_err(spec.clone()).contains("webhook_url"));
    spec.webhook_url = "https://shop.example/hook".into();
    spec.name = "bad name".into();
    assert!(flow_err(spec.clone()).contains("name"));
    assert_eq!(
        flows::render(
            "{{response.a.0.b}} {{response.missing}} {{slots.x}}",
            &BTreeMap::new(),
            &serde_json::json!({"a": [{"b": 7}]})
        ),
        "7 - -"
    );
}

#[test]
fn settings_are_validated() {
    let bad = BotSettings { suggest_threshold: 0.9, answer_threshold: 0.5, ..BotSettings::default() };
    assert!(bad.validated().is_err());
    assert!(BotSettings { max_failures: 0, ..BotSettings::default() }.validated().is_err());
    let ok = BotSettings { vip_tags: vec![" gold ".into(), "gold".into(), "".into()], ..BotSettings::default() };
    assert_eq!(ok.validated().map(|s| s.vip_tags), Ok(vec!["gold".to_owned()]));
    let custom = BotSettings {
        chitchat: vec![ChitChatRule {
            name: "hours".into(),
            patterns: vec!["几点上班".into()],
            reply_zh: "9 点到 21 点".into(),
            reply_en: "9 am to 9 pm".into(),
        }],
        ..BotSettings::default()
    };
    let t = respond(&shop(), &custom, &BotState::default(), &Turn::text("几点上班？", now()));
    assert_eq!(t.reply, BotReply::ChitChat { text: "9 点到 21 点".into() });
    // The tenant's set replaces the built-in one.
    assert!(!matches!(
        respond(&shop(), &custom, &BotState::default(), &Turn::text("你好", now())).reply,
        BotReply::ChitChat { .. }
    ));
}

#[test]
fn guesses_come_from_context_tags_and_popularity() {
    let kb = shop();
    let pay = kb.entries().find(|e| e.answer == "PAY").map(|e| e.id);
    let return_how = kb.entries().find(|e| e.answer == "RETURN-HOW").map(|e| e.id);
    let ctx = vec![("order_status".to_owned(), "payment_failed".to_owned())];
    let popular: Vec<(EntryId, u64)> = return_how.into_iter().map(|id| (id, 9)).collect();
    let input = guess::GuessInput { context: &ctx, popular: &popular, lang: Some(Lang::Zh), ..Default::default() };
    let g = guess::guesses(&kb, &input, 4, now());
    assert_eq!(g.first().map(|s| s.entry_id), pay, "{g:?}");
    assert!(g.iter().any(|s| Some(s.entry_id) == return_how));
    assert!(g.iter().all(|s| Lang::of(&s.question) == Lang::Zh));
    let en = guess::GuessInput { popular: &popular, lang: Some(Lang::En), ..Default::default() };
    assert!(guess::guesses(&kb, &en, 4, now()).is_empty(), "a Chinese entry is not offered to an English visitor");
}

#[test]
fn the_handoff_summary_says_what_was_asked_and_tried() {
    let turns = vec![
        summary::SummaryTurn {
            visitor: "你好".into(),
            outcome: "chitchat".into(),
            entry_question: None,
            rejected: false,
        },
        summary::SummaryTurn {
            visitor: "退货运费谁出".into(),
            outcome: "answer".into(),
            entry_question: Some("退货运费谁出".into()),
            rejected: true,
        },
        summary::SummaryTurn {
            visitor: "转人工".into(),
            outcome: "handoff".into(),
            entry_question: None,
            rejected: false,
        },
    ];
    let zh = summary::summarise(&turns, HandoffReason::VisitorRequest, None, Lang::Zh);
    assert!(zh.contains("退货运费谁出") && zh.contains("没用") && zh.contains("访客要求转人工"), "{zh}");
    assert!(!zh.contains("你好"));
    let en = summary::summarise(&turns, HandoffReason::Rule, Some("keyword: 投诉"), Lang::En);
    assert!(en.contains("rule") && en.contains("投诉"), "{en}");
}

#[test]
fn small_talk_with_fillers_is_still_small_talk() {
    let rules = default_chitchat();
    for text in ["好的，谢谢", "ok 谢啦", "thanks anyway", "嗯嗯 再见", "okay, bye", "thx again"] {
        assert!(crate::settings::chitchat_reply(&rules, text, true).is_some(), "{text}");
    }
    for text in ["好的，那退货呢", "ok so where is my order", "thanks for nothing, I want a refund"] {
        assert!(crate::settings::chitchat_reply(&rules, text, true).is_none(), "{text}");
    }
}

#[test]
fn an_answer_uses_the_variant_of_the_visitors_channel() {
    let mut e = entry("怎么退货", &["如何退货", "退货流程", "我想退货"], "在网页「我的订单」里申请");
    e.channel_answers.insert(
        "api".into(),
        lingxi_types::ChannelAnswer {
            answer: "在小程序里申请".into(), answer_text: "在小程序里申请".into()
        },
    );
    let other = entry("多久发货", &["什么时候发货", "发货时间"], "48 小时内");
    let kb = KnowledgeBase::train(&[e, other], now()).unwrap_or_else(|e| panic!("{e}"));
    let say = |channel| {
        let turn = Turn { channel, ..Turn::text("请问怎么退货", now()) };
        match respond(&kb, &BotSettings::default(), &BotState::default(), &turn).reply {
            BotReply::Answer { text, .. } => text,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(say(lingxi_types::Channel::Api), "在小程序里申请");
    assert_eq!(say(lingxi_types::Channel::Web), "在网页「我的订单」里申请");
}
