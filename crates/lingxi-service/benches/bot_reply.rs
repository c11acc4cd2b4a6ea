//! Reply latency of the bot as a visitor meets it: from a stored visitor message to the stored bot reply
//! (settings, memory and visitor read, the decision over a 10,000-entry knowledge base, the reply, its decision
//! record and the new memory written), on SQLite in a temporary directory. Before criterion's own measurement it
//! replays 2,000 questions and prints their p50 / p99.
//!
//! `cargo bench -p lingxi-service --bench bot_reply`

use criterion::{Criterion, criterion_group, criterion_main};
use lingxi_bus::Bus;
use lingxi_service::{Services, WidgetGrant};
use lingxi_store::{NewKbEntry, Store};
use std::time::{Duration, Instant};

const ENTRIES: usize = 10_000;

const PRODUCTS: [&str; 25] = [
    "无线耳机",
    "智能手表",
    "空气炸锅",
    "扫地机器人",
    "电动牙刷",
    "保温杯",
    "蓝牙音箱",
    "机械键盘",
    "显示器",
    "路由器",
    "吹风机",
    "电饭煲",
    "加湿器",
    "投影仪",
    "行车记录仪",
    "wireless earbuds",
    "smart watch",
    "air fryer",
    "robot vacuum",
    "electric toothbrush",
    "coffee maker",
    "gaming mouse",
    "power bank",
    "desk lamp",
    "webcam",
];

/// (question, similar questions) templates of one topic; `{p}` is the product, `{m}` its model number.
const TOPICS: [(&str, [&str; 3]); 8] = [
    ("{p} {m} 怎么退货", ["{p} {m} 不想要了能退吗", "{m} 退货流程", "{p}{m}七天无理由怎么退"]),
    ("{p} {m} 保修多久", ["{m} 坏了保修吗", "{p} {m} 质保几年", "{m} 的售后保修政策"]),
    ("{p} {m} 多久发货", ["{m} 什么时候发货", "{p} {m} 下单后几天发", "{m} 发货时间"]),
    ("{p} {m} 怎么连接手机", ["{m} 连不上手机", "{p} {m} 配对方法", "{m} 蓝牙怎么连"]),
    ("How do I return the {p} {m}?", ["can I send back the {m}", "{p} {m} return policy", "return {m}"]),
    ("What is the warranty on the {p} {m}?", ["is the {m} under warranty", "{p} {m} guarantee", "{m} warranty length"]),
    ("When does the {p} {m} ship?", ["{m} shipping time", "how long until the {p} {m} ships", "{m} dispatch"]),
    ("How do I reset the {p} {m}?", ["factory reset {m}", "{p} {m} reset steps", "restore the {m} settings"]),
];

fn fill(t: &str, p: &str, m: &str) -> String {
    t.replace("{p}", p).replace("{m}", m)
}

/// Entry `i`: a product, a model number and a topic, deterministic.
fn entry(i: usize) -> NewKbEntry {
    let p = PRODUCTS[i % PRODUCTS.len()];
    let m = format!("X{}", i / (PRODUCTS.len() * TOPICS.len()) + 100);
    let (q, similar) = TOPICS[(i / PRODUCTS.len()) % TOPICS.len()];
    NewKbEntry {
        question: fill(q, p, &m),
        similar_questions: similar.iter().map(|s| fill(s, p, &m)).collect(),
        answer: format!("答案 Answer #{i}"),
        answer_text: format!("答案 Answer #{i}"),
        category: "bench".into(),
        enabled: true,
        ..Default::default()
    }
}

/// A question a visitor might type for entry `i`: its first similar question with a filler.
fn question(i: usize) -> String {
    let e = entry(i % ENTRIES);
    format!("请问 {}", e.similar_questions[0])
}

struct World {
    rt: tokio::runtime::Runtime,
    services: Services,
    widget_key: String,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        let (services, widget_key) = rt.block_on(async {
            let store = Store::connect(&url).await.expect("store");
            let tenant = store.create_tenant("bench", "Bench", "wk_bench").await.expect("tenant");
            let entries: Vec<NewKbEntry> = (0..ENTRIES).map(entry).collect();
            store.upsert_kb_entries(tenant.id, &entries, &mut |_| {}).await.expect("entries");
            let services = Services::new(store, Bus::default());
            let started = Instant::now();
            let kb = services.retrain(tenant.id).await.expect("train");
            eprintln!("trained {} entries in {:.1} s", kb.len(), started.elapsed().as_secs_f64());
            (services, tenant.widget_key)
        });
        World { rt, services, widget_key, _dir: dir }
    }

    /// One reply: a new conversation and a stored visitor message (not timed), then the bot's turn (timed).
    fn reply(&self, i: usize) -> Duration {
        self.rt.block_on(async {
            let s = self
                .services
                .open_widget_session(&self.widget_key, None, None, None, None, None)
                .await
                .expect("session");
            let grant =
                WidgetGrant { tenant_id: s.tenant.id, visitor_id: s.visitor_id, conversation_id: s.conversation.id };
            let m = self.services.visitor_message(grant, None, &question(i)).await.expect("message").message;
            let started = Instant::now();
            self.services.run_bot(grant.tenant_id, &m).await.expect("bot");
            started.elapsed()
        })
    }
}

fn bench(c: &mut Criterion) {
    let world = World::new();
    let mut took: Vec<Duration> = (0..2_000).map(|i| world.reply(i * 7 + 3)).collect();
    took.sort_unstable();
    let q = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    eprintln!("bot reply over {ENTRIES} entries, 2,000 replies: p50 {:.2} ms, p99 {:.2} ms", q(0.5), q(0.99));
    let mut group = c.benchmark_group("bot");
    group.sample_size(50).measurement_time(Duration::from_secs(10));
    let mut i = 0usize;
    group.bench_function("reply_10k_entries", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    i += 1;
                    world.reply(i * 13 + 1)
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
