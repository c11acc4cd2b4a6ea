//! Behaviour of the public API, on small inline knowledge bases.

use std::sync::Arc;

use lingxi_nlp::{
    Emotion, IntentConfig, IntentModel, NlpError, Outcome, Polarity, Policy, SentenceEncoder, SentimentExample,
    SentimentModel, Utterance,
};

/// A small bilingual customer-service knowledge base: (entry, similar questions).
const KB: &[(&str, &[&str])] = &[
    (
        "refund",
        &[
            "怎么申请退款",
            "退款多久到账",
            "我要退货退款",
            "how do i get a refund",
            "i want my money back for this order",
        ],
    ),
    (
        "shipping",
        &["我的快递到哪了", "什么时候发货", "物流信息怎么查", "where is my package", "when will my order ship"],
    ),
    (
        "password",
        &["忘记密码怎么办", "怎么修改登录密码", "密码重置", "i forgot my password", "how to reset my password"],
    ),
    (
        "invoice",
        &["怎么开发票", "发票抬头写错了", "可以开增值税发票吗", "can i get an invoice", "invoice for my purchase"],
    ),
    ("huabei", &["花呗怎么还款", "花呗额度怎么提升", "花呗逾期了怎么办", "花呗可以分期吗"]),
    ("address", &["怎么修改收货地址", "地址填错了能改吗", "change my delivery address", "update shipping address"]),
];

fn kb() -> Vec<Utterance> {
    KB.iter().flat_map(|(label, texts)| texts.iter().map(move |t| Utterance::new(*t, *label))).collect()
}

fn train(examples: &[Utterance], config: &IntentConfig) -> IntentModel {
    match IntentModel::train(examples, &[], config) {
        Ok(model) => model,
        Err(e) => panic!("training failed: {e}"),
    }
}

#[test]
fn ranks_the_right_entry_first() {
    let model = train(&kb(), &IntentConfig::default());
    let cases = [
        ("退款要多久才能到账", "refund"),
        ("快递到哪里了", "shipping"),
        ("密碼忘記了怎麼辦", "password"),
        ("I need an invoice", "invoice"),
        ("花唄還款", "huabei"),
        ("how can I change the delivery address", "address"),
        ("REFUND please!!!", "refund"),
    ];
    for (query, expected) in cases {
        let candidates = model.predict(query, 3);
        assert_eq!(candidates.first().map(|c| c.label.as_str()), Some(expected), "query: {query} → {candidates:?}");
    }
}

#[test]
fn confidences_are_probabilities_sorted_best_first() {
    let model = train(&kb(), &IntentConfig::default());
    for query in ["怎么退款", "weather tomorrow", "", "😀😀", "花呗"] {
        let candidates = model.predict(query, 5);
        assert!(candidates.len() <= 5);
        assert!(candidates.iter().all(|c| (0.0..=1.0).contains(&c.confidence)), "{query}: {candidates:?}");
        assert!(candidates.windows(2).all(|w| w[0].confidence >= w[1].confidence), "{query}: {candidates:?}");
    }
    assert!(model.predict("怎么退款", 0).is_empty());
}

#[test]
fn admits_not_knowing_unrelated_questions() {
    let model = train(&kb(), &IntentConfig::default());
    for query in ["明天北京天气怎么样", "tell me a joke about penguins", "asdfgh qwerty", ""] {
        let decision = model.decide(query, &Policy::default());
        assert_ne!(decision.outcome, Outcome::Answer, "query: {query} → {decision:?}");
    }
}

#[test]
fn out_of_scope_examples_lower_confidence_on_similar_queries() {
    let oos: Vec<String> = ["今天天气怎么样", "讲个笑话", "what is the weather like", "play some music"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let with = match IntentModel::train(&kb(), &oos, &IntentConfig::default()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let decision = with.decide("明天天气怎么样", &Policy::default());
    assert_ne!(decision.outcome, Outcome::Answer, "{decision:?}");
}

#[test]
fn a_plain_faq_with_one_question_per_entry_works() {
    let faq = [
        ("营业时间是几点", "hours"),
        ("支持哪些支付方式", "payment"),
        ("如何联系人工客服", "human"),
        ("会员有什么权益", "membership"),
    ];
    let examples: Vec<Utterance> = faq.iter().map(|(t, l)| Utterance::new(*t, *l)).collect();
    let model = train(&examples, &IntentConfig::default());
    let cases = [("你们营业时间", "hours"), ("可以用什么支付", "payment"), ("转人工客服", "human")];
    for (query, expected) in cases {
        let best = model.predict(query, 1);
        assert_eq!(best.first().map(|c| c.label.as_str()), Some(expected), "query: {query}");
    }
}

#[test]
fn one_entry_or_degenerate_input_does_not_panic() {
    let one = [Utterance::new("怎么退款", "refund")];
    let model = train(&one, &IntentConfig::default());
    assert_eq!(model.predict("退款", 3).first().map(|c| c.label.as_str()), Some("refund"));
    let _ = model.decide("", &Policy::default());
    assert_eq!(IntentModel::train(&[], &[], &IntentConfig::default()).err(), Some(NlpError::NoExamples));
    let blank = [Utterance::new("   ", "x"), Utterance::new("hello", "")];
    assert_eq!(IntentModel::train(&blank, &[], &IntentConfig::default()).err(), Some(NlpError::NoExamples));
}

#[test]
fn training_is_deterministic() {
    let a = train(&kb(), &IntentConfig::default());
    let b = train(&kb(), &IntentConfig::default());
    for query in ["怎么退款", "where is my parcel", "发票", "random words here"] {
        assert_eq!(a.predict(query, 5), b.predict(query, 5), "query: {query}");
    }
}

#[test]
fn synonyms_and_custom_words_reach_matching() {
    let examples = vec![
        Utterance::new("花呗怎么开通", "open"),
        Utterance::new("借呗利息多少", "rate"),
        Utterance::new("refund policy", "refund"),
    ];
    let config = IntentConfig {
        custom_words: vec!["借呗".into()],
        synonyms: vec![vec!["花呗".into(), "蚂蚁花呗".into()], vec!["refund".into(), "money back".into()]],
        ..IntentConfig::default()
    };
    let model = train(&examples, &config);
    let cases = [("蚂蚁花呗开通", "open"), ("can i get my money back", "refund")];
    for (query, expected) in cases {
        assert_eq!(model.predict(query, 1).first().map(|c| c.label.as_str()), Some(expected), "query: {query}");
    }
}

/// A toy encoder: a bag of characters, enough to exercise the embeddings seam.
struct CharBag;

impl SentenceEncoder for CharBag {
    fn encode(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0; 64];
        for c in text.chars() {
            v[(c as usize) % 64] += 1.0;
        }
        v
    }
}

#[test]
fn an_encoder_can_be_plugged_in() {
    let config = IntentConfig { encoder: Some(Arc::new(CharBag)), ..IntentConfig::default() };
    let model = train(&kb(), &config);
    assert_eq!(model.predict("怎么申请退款呢", 1).first().map(|c| c.label.as_str()), Some("refund"));
}

#[test]
fn models_are_send_sync_and_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<IntentModel>();
    assert_send_sync::<SentimentModel>();
}

#[test]
fn shipped_sentiment_reads_polarity_in_both_languages() {
    let model = SentimentModel::shipped();
    let cases = [
        ("质量很好，物流也快，非常满意", Polarity::Positive),
        ("太差了，用了两天就坏了，再也不买了", Polarity::Negative),
        ("客服态度很差，一直不回复", Polarity::Negative),
        ("The service was excellent and the staff were friendly", Polarity::Positive),
        ("This is the worst experience, totally useless", Polarity::Negative),
        ("not good at all", Polarity::Negative),
    ];
    for (text, expected) in cases {
        let reading = model.analyze(text);
        assert_eq!(reading.polarity, expected, "text: {text} → {reading:?}");
        assert!((-1.0..=1.0).contains(&reading.score));
    }
}

#[test]
fn emotions_for_handoff() {
    let model = SentimentModel::shipped();
    let cases: [(&str, &[Emotion]); 5] = [
        ("你们就是骗子，垃圾平台！！", &[Emotion::Anger]),
        ("钱被盗刷了，怎么办，急！", &[Emotion::Anxiety]),
        ("太失望了，本以为质量会好一点", &[Emotion::Disappointment]),
        ("This is URGENT, I need help asap", &[Emotion::Anxiety]),
        ("谢谢，问题解决了", &[]),
    ];
    for (text, expected) in cases {
        let got: Vec<Emotion> = model.analyze(text).emotions.iter().map(|(e, _)| *e).collect();
        assert_eq!(got, expected, "text: {text}");
    }
}

#[test]
fn sentiment_retrains_on_tenant_data_and_round_trips() {
    let base = SentimentModel::shipped();
    // In this tenant's domain "秒到" (arrives instantly) is praise; teach it with a handful of examples.
    let mut examples = Vec::new();
    for i in 0..20 {
        examples.push(SentimentExample { text: format!("秒到{i}号"), positive: true });
        examples.push(SentimentExample { text: format!("迟迟不到{i}号"), positive: false });
    }
    let tuned = match SentimentModel::train(&examples, &base) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert!(tuned.analyze("秒到").score > base.analyze("秒到").score);
    let reread = match SentimentModel::from_model_text(&tuned.to_model_text()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert!((reread.analyze("秒到").score - tuned.analyze("秒到").score).abs() < 0.01);
    let one_sided = [SentimentExample { text: "好".into(), positive: true }];
    assert_eq!(SentimentModel::train(&one_sided, &base).err(), Some(NlpError::OnePolarityOnly));
    assert!(matches!(SentimentModel::from_model_text("nonsense"), Err(NlpError::MalformedModel { line: 1, .. })));
}
