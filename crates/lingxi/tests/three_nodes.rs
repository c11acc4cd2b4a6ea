//! Three `lingxi serve` processes on loopback share one PostgreSQL database and one NATS server (both from
//! `LINGXI_TEST_POSTGRES_URL` / `LINGXI_TEST_NATS_URL`, which `scripts/test` sets when they run; skipped otherwise).
//! Visitors talk to nodes A and C, the agent's workspace socket is on node B, the agent's replies go to A or C.
//! Mid-run node C is killed with SIGKILL: its visitors reconnect to A, resume by `seq` and resend what was not
//! acknowledged. Afterwards every acknowledged message is stored exactly once, every visitor saw every agent reply
//! once and in order, and the agent's socket on B saw every visitor message. A second test saves bot settings on
//! one node and checks that the bot on another answers with them.

use futures::{SinkExt, StreamExt};
use lingxi_service::hash_password;
use lingxi_store::Store;
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_types::{ConversationId, Role};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type Error = Box<dyn std::error::Error + Send + Sync>;
type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// conversation id → (seq, message id) of every visitor message the agent's socket delivered.
type AgentSeen = BTreeMap<String, Vec<(i64, String)>>;

const VISITORS: usize = 6;
const MESSAGES: usize = 12;
const PASSWORD: &str = "three-nodes-Pa55word";

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, std::io::Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start(db: &str, nats: &str, subject: &str, dir: &std::path::Path) -> Result<(Node, u16), Error> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_lingxi"))
        .args(["serve", "--no-demo", "--no-rate-limits", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--database-url", db, "--nats-url", nats, "--nats-subject", subject])
        .arg("--data-dir")
        .arg(dir)
        .env("LINGXI_TICK_MS", "200")
        .env("LINGXI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok((Node(child), port))
}

/// The PostgreSQL and NATS URLs the test runs on; `None` (and a note) when either is not configured.
fn shared_services() -> Option<(String, String)> {
    let pg = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty());
    let nats = std::env::var("LINGXI_TEST_NATS_URL").ok().filter(|u| !u.is_empty());
    if pg.is_none() || nats.is_none() {
        eprintln!("skipped: needs {POSTGRES_URL_VAR} and LINGXI_TEST_NATS_URL");
    }
    pg.zip(nats)
}

/// Signs a user in on the node at `port`; returns the session token.
async fn login(http: &reqwest::Client, port: u16, email: &str) -> Result<String, Error> {
    let login: Value = http
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    Ok(login["token"].as_str().ok_or("token")?.to_owned())
}

async fn wait_listening(port: u16) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err() {
        if Instant::now() > deadline {
            return Err(format!("node on port {port} did not start").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn next_frame(ws: &mut Ws, within: Duration) -> Result<Value, Error> {
    loop {
        let msg = tokio::time::timeout(within, ws.next()).await.map_err(|_| "no frame in time")?;
        match msg {
            Some(Ok(WsMessage::Text(t))) => return Ok(serde_json::from_str(&t)?),
            Some(Ok(WsMessage::Close(_))) | None => return Err("socket closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// What one visitor saw.
#[derive(Default, Debug)]
struct Seen {
    /// client_id → seq of every acknowledgement.
    acked: HashMap<String, i64>,
    /// seq → (author, text) of every message frame, in arrival order.
    frames: Vec<(i64, String, String)>,
}

/// A visitor on `ports[0]` (falling back to the next ports when its node is gone): asks for a human, then sends
/// `MESSAGES` messages, each once acknowledged, and waits for the agent's reply to each.
async fn visitor(
    i: usize,
    ports: Vec<u16>,
    widget_key: String,
    acks: Arc<AtomicUsize>,
) -> Result<(ConversationId, Seen), Error> {
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("http://127.0.0.1:{}/api/v1/widget/sessions", ports[0]))
        .json(&json!({"widget_key": widget_key, "visitor": {"name": format!("访客{i}")}}))
        .send()
        .await?
        .json()
        .await?;
    let token = session["token"].as_str().ok_or("token")?.to_owned();
    let conversation: ConversationId = session["conversation_id"].as_str().ok_or("conversation")?.parse()?;
    let mut seen = Seen::default();
    let mut last_seq = 0i64;
    let mut node = 0usize;
    let mut outbox: Vec<(String, String)> = vec![(format!("v{i}-human"), "转人工".to_owned())];
    outbox.extend((0..MESSAGES).map(|k| (format!("v{i}-m{k}"), format!("v{i} 第{k}条 message {k}"))));
    let mut next = 0usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    'connect: loop {
        if Instant::now() > deadline {
            return Err(format!("visitor {i} did not finish: {seen:?}").into());
        }
        let url = format!("ws://127.0.0.1:{}/api/v1/widget/ws?token={token}", ports[node % ports.len()]);
        let mut ws = match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => ws,
            Err(_) => {
                node += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if ws.send(WsMessage::Text(json!({"type": "resume", "after_seq": last_seq}).to_string().into())).await.is_err()
        {
            node += 1;
            continue;
        }
        // Resend what is not acknowledged yet, with its client_id.
        let mut pending: Option<String> = None;
        loop {
            if pending.is_none() && next < outbox.len() {
                let (cid, text) = &outbox[next];
                let frame = json!({"type": "message", "client_id": cid, "text": text}).to_string();
                if ws.send(WsMessage::Text(frame.into())).await.is_err() {
                    node += 1;
                    continue 'connect;
                }
                pending = Some(cid.clone());
            }
            let replies = seen.frames.iter().filter(|(_, a, _)| a == "agent").count();
            if next >= outbox.len() && replies >= MESSAGES {
                return Ok((conversation, seen));
            }
            let frame = match next_frame(&mut ws, Duration::from_secs(10)).await {
                Ok(f) => f,
                Err(_) => {
                    node += 1;
                    continue 'connect;
                }
            };
            match frame["type"].as_str() {
                Some("ack") => {
                    let cid = frame["client_id"].as_str().unwrap_or_default().to_owned();
                    let seq = frame["seq"].as_i64().unwrap_or_default();
                    if let Some(old) = seen.acked.insert(cid.clone(), seq) {
                        assert_eq!(old, seq, "a repeated send is acknowledged with the same seq");
                    } else {
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    if pending.as_deref() == Some(cid.as_str()) {
                        pending = None;
                        next += 1;
                    }
                }
                Some("message") => {
                    let seq = frame["seq"].as_i64().unwrap_or_default();
                    // The resume rule: a message is taken only when newer than what the visitor has.
                    if seq > last_seq {
                        last_seq = seq;
                        let author = frame["author"].as_str().unwrap_or_default().to_owned();
                        seen.frames.push((seq, author, frame["text"].as_str().unwrap_or_default().to_owned()));
                    }
                }
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_lose_nothing_when_one_is_killed() -> TestResult {
    let Some((pg, nats)) = shared_services() else { return Ok(()) };
    let db = scratch_postgres_url(&pg).await?;
    let store = Store::connect(&db).await?;
    let tenant = store.create_tenant("three", "Three", "wk_three").await?;
    let agent = store.create_user(tenant.id, "li@three.test", "李娜", Role::Agent, &hash_password(PASSWORD)).await?;
    store.set_agent_profile(tenant.id, agent.id, 50, &[]).await?;
    let subject = format!("lingxi.test.{}", ConversationId::generate());
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    let (a, pa) = start(&db, &nats, &subject, dirs[0].path())?;
    let (b, pb) = start(&db, &nats, &subject, dirs[1].path())?;
    let (c, pc) = start(&db, &nats, &subject, dirs[2].path())?;
    for p in [pa, pb, pc] {
        wait_listening(p).await?;
    }
    let mut c = Some(c);

    // The agent signs in on B and keeps the workspace socket there.
    let http = reqwest::Client::new();
    let token = login(&http, pb, "li@three.test").await?;
    let (mut agent_ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{pb}/api/v1/agent/ws?token={token}")).await?;
    agent_ws.send(WsMessage::Text(json!({"type": "ping"}).to_string().into())).await?;
    while next_frame(&mut agent_ws, Duration::from_secs(10)).await?["type"] != "pong" {}

    // The agent: every visitor message seen on B gets a reply, posted to A or C (A once C is gone).
    let agent_seen: Arc<Mutex<AgentSeen>> = Arc::default();
    let c_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let agent_task = {
        let (seen, c_alive, http, token) = (agent_seen.clone(), c_alive.clone(), http.clone(), token.clone());
        tokio::spawn(async move {
            let mut ids = HashSet::new();
            let mut n = 0usize;
            loop {
                let Ok(frame) = next_frame(&mut agent_ws, Duration::from_secs(60)).await else { return };
                if frame["type"] != "message" || frame["message"]["author"] != "visitor" {
                    continue;
                }
                let m = &frame["message"];
                let id = m["message_id"].as_str().unwrap_or_default().to_owned();
                let conversation = m["conversation_id"].as_str().unwrap_or_default().to_owned();
                let text = m["text"].as_str().unwrap_or_default().to_owned();
                if let Ok(mut s) = seen.lock() {
                    s.entry(conversation.clone())
                        .or_default()
                        .push((m["seq"].as_i64().unwrap_or_default(), id.clone()));
                }
                if !ids.insert(id.clone()) || text == "转人工" {
                    continue;
                }
                // The reply, retried (same client_id) on A when its node does not answer.
                let body = json!({"text": format!("re: {text}"), "client_id": format!("r-{id}")});
                n += 1;
                let mut port = if n.is_multiple_of(2) && c_alive.load(Ordering::SeqCst) { pc } else { pa };
                for _ in 0..20 {
                    let url = format!("http://127.0.0.1:{port}/api/v1/conversations/{conversation}/messages");
                    match http.post(url).bearer_auth(&token).json(&body).send().await {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) if r.status().as_u16() == 409 => tokio::time::sleep(Duration::from_millis(100)).await,
                        _ => port = pa,
                    }
                }
            }
        })
    };

    let acks = Arc::new(AtomicUsize::new(0));
    let mut visitors = Vec::new();
    for i in 0..VISITORS {
        let ports = if i % 2 == 0 { vec![pa, pb] } else { vec![pc, pa, pb] };
        visitors.push(tokio::spawn(visitor(i, ports, tenant.widget_key.clone(), acks.clone())));
    }
    // Half-way, node C dies without a chance to say goodbye.
    let half = VISITORS * (MESSAGES + 1) / 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::SeqCst) < half {
        assert!(Instant::now() < deadline, "the visitors got only {} acknowledgements", acks.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_kill = acks.load(Ordering::SeqCst);
    c_alive.store(false, Ordering::SeqCst);
    if let Some(mut node) = c.take() {
        node.0.kill()?; // SIGKILL
        node.0.wait()?;
    }

    let mut results = Vec::new();
    for v in visitors {
        results.push(v.await??);
    }
    agent_task.abort();
    let total: usize = results.iter().map(|(_, s)| s.frames.len()).sum();
    println!(
        "node C killed after {at_kill} of {} acknowledgements; the visitors took {total} messages",
        VISITORS * (MESSAGES + 1)
    );
    for (i, (conversation, seen)) in results.iter().enumerate() {
        // Stored: every acknowledged message once, seq without gaps.
        let stored = store.messages_after(tenant.id, *conversation, 0, 1000).await?;
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "visitor {i}: gapless seq");
        for (cid, seq) in &seen.acked {
            let copies: Vec<_> = stored.iter().filter(|m| m.client_id.as_deref() == Some(cid.as_str())).collect();
            assert_eq!(copies.len(), 1, "visitor {i}: {cid} stored once");
            assert_eq!(copies[0].seq, *seq, "visitor {i}: {cid} acknowledged with its stored seq");
        }
        assert_eq!(seen.acked.len(), MESSAGES + 1, "visitor {i}: every message acknowledged");
        // The visitor saw every stored visitor/agent message once, in seq order.
        let frame_seqs: Vec<i64> = seen.frames.iter().map(|f| f.0).collect();
        assert!(frame_seqs.windows(2).all(|w| w[0] < w[1]), "visitor {i}: in order, no repeats: {frame_seqs:?}");
        let replies: Vec<&str> = seen.frames.iter().filter(|f| f.1 == "agent").map(|f| f.2.as_str()).collect();
        assert_eq!(replies.len(), MESSAGES, "visitor {i}: every reply: {replies:?}");
        let stored_visible: Vec<i64> =
            stored.iter().filter(|m| m.author != lingxi_types::Author::Note).map(|m| m.seq).collect();
        assert_eq!(frame_seqs, stored_visible, "visitor {i}: what the visitor saw is what is stored");
        // The agent's socket on B saw every visitor message of the conversation.
        let on_b = agent_seen.lock().map(|s| s.get(&conversation.to_string()).cloned().unwrap_or_default());
        let on_b: HashSet<i64> = on_b.map_err(|_| "lock")?.into_iter().map(|(seq, _)| seq).collect();
        for m in stored.iter().filter(|m| m.author == lingxi_types::Author::Visitor) {
            assert!(on_b.contains(&m.seq), "visitor {i}: the agent on B never saw seq {} ({})", m.seq, m.text);
        }
    }
    drop((a, b));
    Ok(())
}

/// Sends `text` on a widget socket and returns the text of the bot's reply.
async fn ask_bot(ws: &mut Ws, client_id: &str, text: &str) -> Result<String, Error> {
    ws.send(WsMessage::Text(json!({"type": "message", "client_id": client_id, "text": text}).to_string().into()))
        .await?;
    let mut acked = None;
    loop {
        let frame = next_frame(ws, Duration::from_secs(10)).await?;
        if frame["type"] == "ack" && frame["client_id"] == client_id {
            acked = frame["seq"].as_i64();
        }
        if frame["type"] == "message"
            && frame["author"] == "bot"
            && acked.is_some_and(|a| frame["seq"].as_i64().is_some_and(|s| s > a))
        {
            return Ok(frame["text"].as_str().unwrap_or_default().to_owned());
        }
    }
}

/// The bot keeps each tenant's settings in memory: settings saved through node B reach the bot on node A over
/// NATS, so that A's bot answers with them (within the bus's delay, not after a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_settings_saved_on_one_node_reach_the_bot_on_another() -> TestResult {
    let Some((pg, nats)) = shared_services() else { return Ok(()) };
    const GREETING: &str = "哈喽！这里是本店客服";
    let db = scratch_postgres_url(&pg).await?;
    let store = Store::connect(&db).await?;
    let tenant = store.create_tenant("settings", "Settings", "wk_settings").await?;
    store.create_user(tenant.id, "admin@settings.test", "管理员", Role::Admin, &hash_password(PASSWORD)).await?;
    let entry =
        lingxi_store::NewKbEntry {
            question: "多久发货".into(), answer: "48小时内发货".into(), ..Default::default()
        };
    store.create_kb_entry(tenant.id, entry).await?;
    let subject = format!("lingxi.test.{}", ConversationId::generate());
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let (_a, pa) = start(&db, &nats, &subject, dirs[0].path())?;
    let (_b, pb) = start(&db, &nats, &subject, dirs[1].path())?;
    for p in [pa, pb] {
        wait_listening(p).await?;
    }

    // A visitor on A: A's bot reads the tenant's settings (the defaults) and keeps them.
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("http://127.0.0.1:{pa}/api/v1/widget/sessions"))
        .json(&json!({"widget_key": tenant.widget_key, "visitor": {"name": "访客"}}))
        .send()
        .await?
        .json()
        .await?;
    let token = session["token"].as_str().ok_or("token")?;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{pa}/api/v1/widget/ws?token={token}")).await?;
    assert_ne!(ask_bot(&mut ws, "before", "哈喽").await?, GREETING);

    // The administrator saves a greeting through B.
    let admin = login(&http, pb, "admin@settings.test").await?;
    let url = format!("http://127.0.0.1:{pb}/api/v1/admin/bot");
    let mut settings: Value = http.get(&url).bearer_auth(&admin).send().await?.json().await?;
    settings["chitchat"] =
        json!([{"name": "hi", "patterns": ["哈喽"], "reply_zh": GREETING, "reply_en": "Hello from the shop"}]);
    let saved = http.put(&url).bearer_auth(&admin).json(&settings).send().await?;
    assert_eq!(saved.status().as_u16(), 200);

    // A's bot answers with it once the news crossed the bus.
    let deadline = Instant::now() + Duration::from_secs(5);
    for n in 0.. {
        if ask_bot(&mut ws, &format!("after-{n}"), "哈喽").await? == GREETING {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "node A still answers with the old settings after 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
