//! `lingxi bench load`: a load generator against running servers (one node or several), and `lingxi bench
//! echo-server`, the ceiling it is compared with: a WebSocket server on the same stack (axum, tokio) that
//! acknowledges and answers every message at once, without storage, bot or bus.
//!
//! The load: N visitors open widget sessions and sockets (spread over the given node URLs), then for the duration
//! each asks a question, waits for the acknowledgement and the answer, and asks the next (at a given total rate,
//! or as fast as answers come). A share of them asks for a human once; M agents signed in on their own sockets
//! answer the conversations assigned to them over HTTP. Some tracking events flow beside. Reported: messages per
//! second (acknowledged = stored), answers per second (bot or agent), acknowledgement and answer latency
//! percentiles, errors, messages acknowledged but never delivered back (lost), and the server's memory per idle
//! connection when its pid is given. Loopback addresses only.

use anyhow::{Context, bail, ensure};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Options of `lingxi bench load`.
#[derive(Args)]
pub struct LoadArgs {
    /// A node's base URL (http://127.0.0.1:8080); repeat it for several nodes (visitors are spread over them).
    #[arg(long, required = true)]
    url: Vec<String>,
    /// The tenant's widget key.
    #[arg(long)]
    widget_key: String,
    /// Concurrent visitors (one widget session and socket each).
    #[arg(long, default_value_t = 100)]
    visitors: usize,
    /// How long the load runs, in seconds (after every visitor is connected).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Agents answering handed-off conversations (each signs in with --agent-email, where `{n}` is its number).
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// The agents' e-mail, `{n}` replaced by 0, 1, … (e.g. agent{n}@shop.test).
    #[arg(long)]
    agent_email: Option<String>,
    /// The agents' password.
    #[arg(long, env = "LINGXI_BENCH_AGENT_PASSWORD")]
    agent_password: Option<String>,
    /// Total visitor messages per second to aim at; 0: each visitor asks again as soon as answered.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The share of visitors who ask for a human once (only with agents).
    #[arg(long, default_value_t = 0.05)]
    handoff_share: f64,
    /// The server's process id, to measure its memory (RSS) before and after the visitors connect.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Sessions opened at once while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// `json` (one object) or `text`.
    #[arg(long, default_value = "json")]
    format: String,
}

/// Options of `lingxi bench echo-server`.
#[derive(Args)]
pub struct EchoArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
}

/// Questions a visitor asks, Chinese and English.
const QUESTIONS: &[&str] = &[
    "怎么退货？",
    "什么时候发货",
    "运费多少钱",
    "how do I return an item",
    "when will my order ship",
    "可以开发票吗",
    "do you ship abroad",
    "优惠券怎么用",
];

/// Shared counters of the run.
#[derive(Default)]
struct Totals {
    sent: AtomicUsize,
    acked: AtomicUsize,
    answers: AtomicUsize,
    errors: AtomicUsize,
    timeouts: AtomicUsize,
    lost: AtomicUsize,
    handoffs: AtomicUsize,
    agent_replies: AtomicUsize,
    tracked: AtomicUsize,
}

/// Latencies of one visitor, in microseconds.
#[derive(Default)]
struct Latencies {
    ack: Vec<u64>,
    answer: Vec<u64>,
}

fn check_loopback(url: &str) -> anyhow::Result<String> {
    let u = reqwest::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    let host = u.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    ensure!(loopback, "{url}: the load generator only targets loopback addresses");
    ensure!(u.scheme() == "http", "{url}: use http:// (loopback)");
    Ok(url.trim_end_matches('/').to_owned())
}

fn ws_url(base: &str, path: &str) -> String {
    format!("ws{}{path}", base.strip_prefix("http").unwrap_or(base))
}

/// `kib` spread over `n`, to a tenth.
fn kib_each(kib: u64, n: usize) -> f64 {
    (kib as f64 / n as f64 * 10.0).round() / 10.0
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i.min(sorted.len() - 1)] as f64 / 10.0).round() / 100.0
}

async fn next_text(ws: &mut Ws, until: Instant) -> Option<Value> {
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Binary(_) | WsMessage::Frame(_)))) => {
                continue;
            }
            _ => return None,
        }
    }
}

/// A connected visitor, before the load starts.
struct Visitor {
    ws: Ws,
    base: String,
    anonymous_id: String,
    last_seq: i64,
}

async fn connect_visitor(http: &reqwest::Client, base: &str, widget_key: &str, i: usize) -> anyhow::Result<Visitor> {
    let anonymous_id = format!("bench-{}-{i}", std::process::id());
    let body =
        json!({"widget_key": widget_key, "visitor": {"name": format!("访客 {i}")}, "anonymous_id": anonymous_id});
    let mut session = None;
    for attempt in 0..5u64 {
        match http.post(format!("{base}/api/v1/widget/sessions")).json(&body).send().await {
            Ok(r) if r.status().is_success() => {
                session = Some(r.json::<Value>().await?);
                break;
            }
            Ok(r) if r.status().as_u16() == 429 => tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await,
            Ok(r) => bail!("opening a widget session answered {}", r.status()),
            Err(e) => bail!("opening a widget session: {e}"),
        }
    }
    let session =
        session.context("opening a widget session kept answering 429 (start the server with --no-rate-limits)")?;
    let token = session["token"].as_str().context("no token")?;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(base, &format!("/api/v1/widget/ws?token={token}")))
        .await
        .context("opening the widget socket")?;
    let until = Instant::now() + Duration::from_secs(30);
    let last_seq = loop {
        let f = next_text(&mut ws, until).await.context("no hello")?;
        if f["type"] == "hello" {
            break f["conversation"]["last_seq"].as_i64().unwrap_or(0);
        }
    };
    Ok(Visitor { ws, base: base.to_owned(), anonymous_id, last_seq })
}

/// One visitor's load: ask, wait for the ack and the answer, repeat until `end`.
#[allow(clippy::too_many_arguments)]
async fn run_visitor(
    i: usize,
    mut v: Visitor,
    http: reqwest::Client,
    widget_key: Arc<str>,
    totals: Arc<Totals>,
    interval: Option<Duration>,
    handoff: bool,
    end: Instant,
) -> Latencies {
    let mut lat = Latencies::default();
    let mut acked_seqs: HashSet<i64> = HashSet::new();
    let mut echoed: HashSet<i64> = HashSet::new();
    let mut next_at = Instant::now() + interval.map(|d| d.mul_f64((i % 1000) as f64 / 1000.0)).unwrap_or_default();
    let mut k = 0usize;
    let mut handed_off = false;
    while Instant::now() < end {
        if let Some(d) = interval {
            if let Some(wait) = next_at.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            next_at += d;
            if Instant::now() >= end {
                break;
            }
        }
        let text = if handoff && k == 1 && !handed_off {
            handed_off = true;
            totals.handoffs.fetch_add(1, Ordering::Relaxed);
            "转人工".to_owned()
        } else {
            QUESTIONS[(i + k) % QUESTIONS.len()].to_owned()
        };
        let client_id = format!("b{i}-{k}");
        k += 1;
        if k.is_multiple_of(5) {
            let (http, key, anon, base, totals) =
                (http.clone(), widget_key.clone(), v.anonymous_id.clone(), v.base.clone(), totals.clone());
            tokio::spawn(async move {
                let body = json!({"widget_key": &*key, "anonymous_id": anon,
                    "events": [{"kind": "page_view", "url": format!("https://shop.example/p/{k}")}]});
                match http.post(format!("{base}/api/v1/track")).json(&body).send().await {
                    Ok(r) if r.status().is_success() => totals.tracked.fetch_add(1, Ordering::Relaxed),
                    _ => totals.errors.fetch_add(1, Ordering::Relaxed),
                };
            });
        }
        let sent_at = Instant::now();
        let frame = json!({"type": "message", "client_id": client_id, "text": text}).to_string();
        if v.ws.send(WsMessage::Text(frame.into())).await.is_err() {
            totals.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        totals.sent.fetch_add(1, Ordering::Relaxed);
        // The ack, then an answer after it (a bot or agent message with a higher seq).
        let until = sent_at + Duration::from_secs(if handed_off { 20 } else { 10 });
        let mut my_seq = None;
        let mut answered = false;
        while !answered {
            let Some(f) = next_text(&mut v.ws, until).await else {
                // No ack or no answer within the limit: an overloaded server, not a failure.
                totals.timeouts.fetch_add(1, Ordering::Relaxed);
                break;
            };
            match f["type"].as_str() {
                Some("ack") if f["client_id"] == client_id.as_str() => {
                    lat.ack.push(sent_at.elapsed().as_micros() as u64);
                    totals.acked.fetch_add(1, Ordering::Relaxed);
                    let seq = f["seq"].as_i64().unwrap_or_default();
                    acked_seqs.insert(seq);
                    my_seq = Some(seq);
                }
                Some("message") => {
                    let seq = f["seq"].as_i64().unwrap_or_default();
                    v.last_seq = v.last_seq.max(seq);
                    if f["author"] == "visitor" {
                        echoed.insert(seq);
                    } else if matches!(f["author"].as_str(), Some("bot" | "agent")) && my_seq.is_some_and(|s| seq > s) {
                        lat.answer.push(sent_at.elapsed().as_micros() as u64);
                        totals.answers.fetch_add(1, Ordering::Relaxed);
                        answered = true;
                    }
                }
                Some("error") => {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                    if f["client_id"] == client_id.as_str() {
                        break;
                    }
                }
                _ => {}
            }
            // Handed off with nobody to answer: go on once acknowledged.
            if handed_off && my_seq.is_some() && f["type"] == "status" && f["status"] == "queued" {
                break;
            }
        }
    }
    // Every acknowledged message must come back: ask the server to replay the conversation (the resume a
    // reconnecting widget sends) and check, allowing a loaded server time to finish.
    if acked_seqs.iter().any(|s| !echoed.contains(s)) {
        let replay = json!({"type": "resume", "after_seq": 0}).to_string();
        let _ = v.ws.send(WsMessage::Text(replay.into())).await;
        let until = Instant::now() + Duration::from_secs(30);
        while acked_seqs.iter().any(|s| !echoed.contains(s)) {
            let Some(f) = next_text(&mut v.ws, until).await else { break };
            if f["type"] == "message" && f["author"] == "visitor" {
                echoed.insert(f["seq"].as_i64().unwrap_or_default());
            }
        }
    }
    totals.lost.fetch_add(acked_seqs.iter().filter(|s| !echoed.contains(s)).count(), Ordering::Relaxed);
    let _ = v.ws.close(None).await;
    lat
}

/// One agent: signs in, keeps the workspace socket, answers every visitor message of a conversation assigned to
/// it.
async fn run_agent(
    base: String,
    email: String,
    password: String,
    totals: Arc<Totals>,
    end: Instant,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("signing in as {email}"))?
        .json()
        .await?;
    let token = login["token"].as_str().context("no token")?.to_owned();
    let me = login["user"]["id"].as_str().unwrap_or_default().to_owned();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(ws_url(&base, &format!("/api/v1/agent/ws?token={token}"))).await?;
    ws.send(WsMessage::Text(json!({"type": "ping"}).to_string().into())).await?;
    let mut mine: HashSet<String> = HashSet::new();
    let grace = end + Duration::from_secs(5);
    while let Some(f) = next_text(&mut ws, grace).await {
        match f["type"].as_str() {
            Some("conversation") => {
                let c = &f["conversation"];
                let id = c["id"].as_str().unwrap_or_default().to_owned();
                if c["status"] == "assigned" && c["assigned_agent"]["id"] == me.as_str() {
                    mine.insert(id);
                } else {
                    mine.remove(&id);
                }
            }
            Some("message") if f["message"]["author"] == "visitor" => {
                let m = &f["message"];
                let conversation = m["conversation_id"].as_str().unwrap_or_default().to_owned();
                if !mine.contains(&conversation) {
                    continue;
                }
                let body = json!({"text": "您好，我来帮您 / Hello, let me help", "client_id": format!("a-{}", m["message_id"].as_str().unwrap_or_default())});
                let (http, token, base, totals) = (http.clone(), token.clone(), base.clone(), totals.clone());
                tokio::spawn(async move {
                    let url = format!("{base}/api/v1/conversations/{conversation}/messages");
                    match http.post(url).bearer_auth(token).json(&body).send().await {
                        Ok(r) if r.status().is_success() => totals.agent_replies.fetch_add(1, Ordering::Relaxed),
                        _ => totals.errors.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Runs `lingxi bench load`.
pub async fn load(args: LoadArgs) -> anyhow::Result<()> {
    ensure!(args.visitors > 0 && args.duration > 0, "visitors and duration must be > 0");
    ensure!(args.format == "json" || args.format == "text", "--format is json or text");
    let urls: Vec<String> = args.url.iter().map(|u| check_loopback(u)).collect::<anyhow::Result<_>>()?;
    if args.agents > 0 {
        ensure!(
            args.agent_email.is_some() && args.agent_password.is_some(),
            "--agents needs --agent-email and --agent-password"
        );
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let rss_before = args.server_pid.and_then(rss_kib);

    // Connect everyone first, in two halves: the memory the second half adds is what a connection costs once the
    // server is warm (the first half pays for caches, pools and allocator growth that any load brings).
    let connect_started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let mut visitors = Vec::with_capacity(args.visitors);
    let mut connect_errors = 0usize;
    let mut first_error = None;
    let half = args.visitors / 2;
    let mut rss_half = None;
    for range in [0..half, half..args.visitors] {
        let mut connecting = Vec::with_capacity(range.len());
        for i in range {
            let (http, base, key, sem) =
                (http.clone(), urls[i % urls.len()].clone(), args.widget_key.clone(), sem.clone());
            connecting.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                connect_visitor(&http, &base, &key, i).await
            }));
        }
        for c in connecting {
            match c.await? {
                Ok(v) => visitors.push(v),
                Err(e) => {
                    connect_errors += 1;
                    first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        if rss_half.is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss_half = Some((args.server_pid.and_then(rss_kib), visitors.len()));
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    ensure!(!visitors.is_empty(), "no visitor could connect: {}", first_error.unwrap_or_default());
    if let Some(e) = &first_error {
        eprintln!("{connect_errors} visitors could not connect; the first: {e}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = args.server_pid.and_then(rss_kib);
    let connected = visitors.len();
    eprintln!("{connected} visitors connected in {connect_seconds:.1} s; running for {} s…", args.duration);

    let totals = Arc::new(Totals::default());
    totals.errors.fetch_add(connect_errors, Ordering::Relaxed);
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration);
    let mut agents = Vec::new();
    if let (Some(email), Some(password)) = (&args.agent_email, &args.agent_password) {
        for n in 0..args.agents {
            let (base, email, password, totals) =
                (urls[n % urls.len()].clone(), email.replace("{n}", &n.to_string()), password.clone(), totals.clone());
            agents.push(tokio::spawn(run_agent(base, email, password, totals, end)));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(connected as f64 / args.rate));
    let key: Arc<str> = Arc::from(args.widget_key.as_str());
    let handoff_every = if args.agents > 0 && args.handoff_share > 0.0 {
        (1.0 / args.handoff_share).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = args.server_pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(r) = rss_kib(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    });
    let mut running = Vec::with_capacity(connected);
    for (i, v) in visitors.into_iter().enumerate() {
        let handoff = i % handoff_every == handoff_every - 1;
        running.push(tokio::spawn(run_visitor(
            i,
            v,
            http.clone(),
            key.clone(),
            totals.clone(),
            interval,
            handoff,
            end,
        )));
    }
    let (mut ack, mut answer) = (Vec::new(), Vec::new());
    for r in running {
        let l = r.await?;
        ack.extend(l.ack);
        answer.extend(l.answer);
    }
    let elapsed = started.elapsed().as_secs_f64().min(args.duration as f64 + 15.0);
    let window = args.duration as f64;
    for a in agents {
        a.abort();
    }
    if let Some(s) = sampler {
        s.abort();
    }
    ack.sort_unstable();
    answer.sort_unstable();
    let t = &totals;
    let acked = t.acked.load(Ordering::Relaxed);
    let report = json!({
        "urls": urls,
        "visitors": args.visitors,
        "connected": connected,
        "connect_seconds": (connect_seconds * 10.0).round() / 10.0,
        "agents": args.agents,
        "duration_seconds": args.duration,
        "elapsed_seconds": (elapsed * 10.0).round() / 10.0,
        "target_rate": args.rate,
        "messages_sent": t.sent.load(Ordering::Relaxed),
        "messages_acked": acked,
        "messages_per_second": (acked as f64 / window).round(),
        "answers": t.answers.load(Ordering::Relaxed),
        "answers_per_second": (t.answers.load(Ordering::Relaxed) as f64 / window).round(),
        "p50_ack_ms": percentile(&ack, 0.50),
        "p95_ack_ms": percentile(&ack, 0.95),
        "p99_ack_ms": percentile(&ack, 0.99),
        "p50_reply_ms": percentile(&answer, 0.50),
        "p95_reply_ms": percentile(&answer, 0.95),
        "p99_reply_ms": percentile(&answer, 0.99),
        "handoffs": t.handoffs.load(Ordering::Relaxed),
        "agent_replies": t.agent_replies.load(Ordering::Relaxed),
        "tracking_events": t.tracked.load(Ordering::Relaxed),
        "errors": t.errors.load(Ordering::Relaxed),
        "timeouts": t.timeouts.load(Ordering::Relaxed),
        "lost": t.lost.load(Ordering::Relaxed),
        "server_rss_kib_before": rss_before,
        "server_rss_kib_idle": rss_idle,
        "server_rss_kib_peak": args.server_pid.map(|_| peak.load(Ordering::Relaxed)),
        // What the second half of the connections added, per connection (see above); the average over all
        // connections also carries the warm-up.
        "idle_kib_per_connection": match rss_half {
            Some((Some(h), n)) if connected > n => rss_idle.map(|i| kib_each(i.saturating_sub(h), connected - n)),
            _ => None,
        },
        "idle_kib_per_connection_average": match (rss_before, rss_idle) {
            (Some(b), Some(i)) if connected > 0 => Some(kib_each(i.saturating_sub(b), connected)),
            _ => None,
        },
    });
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(map) = report.as_object() {
        for (k, v) in map {
            println!("{k:>24}  {v}");
        }
    }
    Ok(())
}

/// Runs `lingxi bench echo-server`: the same stack, no work.
pub async fn echo_server(args: EchoArgs) -> anyhow::Result<()> {
    use axum::extract::ws::{Message as AxMessage, WebSocketUpgrade};
    use axum::routing::{get, post};
    let ip = args.bind.ip();
    ensure!(ip.is_loopback(), "the echo server listens on loopback only");
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let app = axum::Router::new()
        .route(
            "/api/v1/widget/sessions",
            post(|| async {
                axum::Json(
                    json!({"token": lingxi_service::new_token(), "conversation_id": "echo", "visitor_id": "echo"}),
                )
            }),
        )
        .route("/api/v1/track", post(|| async { axum::Json(json!({"accepted": 1})) }))
        .route(
            "/api/v1/widget/ws",
            get(|upgrade: WebSocketUpgrade| async move {
                upgrade.on_upgrade(|mut socket| async move {
                    let hello =
                        json!({"type": "hello", "conversation": {"id": "echo", "status": "bot", "last_seq": 0}});
                    if socket.send(AxMessage::Text(hello.to_string().into())).await.is_err() {
                        return;
                    }
                    let mut seq = 0i64;
                    while let Some(Ok(msg)) = socket.recv().await {
                        let AxMessage::Text(t) = msg else { continue };
                        let Ok(f) = serde_json::from_str::<Value>(&t) else { continue };
                        if f["type"] != "message" {
                            continue;
                        }
                        seq += 1;
                        let frames = [
                            json!({"type": "ack", "client_id": f["client_id"], "message_id": seq, "seq": seq}),
                            json!({"type": "message", "seq": seq, "author": "visitor", "text": f["text"]}),
                            json!({"type": "message", "seq": seq + 1, "author": "bot", "text": f["text"]}),
                        ];
                        seq += 1;
                        for fr in frames {
                            if socket.send(AxMessage::Text(fr.to_string().into())).await.is_err() {
                                return;
                            }
                        }
                    }
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    println!("echo server on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
