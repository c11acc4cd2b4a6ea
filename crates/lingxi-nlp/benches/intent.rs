//! Benchmarks of intent prediction and training on a synthetic 20,000-utterance knowledge base.

use criterion::{Criterion, criterion_group, criterion_main};
use lingxi_nlp::{IntentConfig, IntentModel, Policy, SentimentModel, Utterance};

const TOPICS: &[&str] = &[
    "refund",
    "order",
    "password",
    "invoice",
    "address",
    "coupon",
    "delivery",
    "account",
    "payment",
    "member",
    "退款",
    "订单",
    "密码",
    "发票",
    "地址",
    "优惠券",
    "快递",
    "账号",
    "支付",
    "会员",
];
const FRAMES: &[&str] = &[
    "how do i change my {t} for item {n}",
    "what happens to the {t} of order {n}",
    "{t}怎么办理 编号{n}",
    "我的{t}出问题了 {n}",
    "can you help with {t} number {n} please",
    "关于{t}的第{n}个问题",
];

/// 20,000 utterances over 1,000 entries (20 similar questions each), deterministic.
fn knowledge_base() -> Vec<Utterance> {
    let mut out = Vec::with_capacity(20_000);
    for entry in 0..1_000usize {
        let topic = TOPICS[entry % TOPICS.len()];
        for q in 0..20usize {
            let frame = FRAMES[(entry + q) % FRAMES.len()];
            let text = frame.replace("{t}", topic).replace("{n}", &format!("{}", entry * 7 + q % 3));
            out.push(Utterance::new(text, format!("entry{entry}")));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let kb = knowledge_base();
    let Ok(model) = IntentModel::train(&kb, &[], &IntentConfig::default()) else {
        return;
    };
    let queries =
        ["how do i change my refund for item 707", "我的快递出问题了", "unrelated words entirely", "发票怎么开"];
    let mut i = 0;
    c.bench_function("intent_decide_20k", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            model.decide(queries[i], &Policy::default())
        })
    });
    let sentiment = SentimentModel::shipped();
    c.bench_function("sentiment_analyze", |b| b.iter(|| sentiment.analyze("快递太慢了，客服也不回复，非常失望")));
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.bench_function("intent_train_20k", |b| b.iter(|| IntentModel::train(&kb, &[], &IntentConfig::default())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
