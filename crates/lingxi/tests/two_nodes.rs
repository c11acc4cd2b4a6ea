//! Two `lingxi serve` processes share one database (PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set, and a SQLite
//! file always): an SLA breach escalates exactly once, and its webhook reaches the receiver exactly once, although
//! both processes tick every 100 ms.

use chrono::TimeDelta;
use lingxi_bus::Bus;
use lingxi_domain::sla::{SlaPolicy, WarnBefore};
use lingxi_service::{Services, TicketInput, TicketSettings};
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_store::{Actor, Store};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Answers 200 to every request and keeps the bodies.
async fn receiver() -> Result<(String, Arc<Mutex<Vec<String>>>), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/sla", listener.local_addr()?);
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(k) = sock.read(&mut chunk).await else { return };
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        if let Ok(mut all) = seen.lock() {
                            all.push(body.to_owned());
                        }
                        let _ =
                            sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                        return;
                    }
                }
            });
        }
    });
    Ok((url, bodies))
}

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

fn start(url: &str, dir: &std::path::Path) -> Result<(Node, u16), Box<dyn std::error::Error + Send + Sync>> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_lingxi"))
        .args(["serve", "--no-demo", "--bind", &format!("127.0.0.1:{port}"), "--database-url", url])
        .arg("--data-dir")
        .arg(dir)
        .env("LINGXI_TICK_MS", "100")
        // The test's webhook receiver listens on loopback.
        .env("LINGXI_OUTBOUND_ALLOW", "127.0.0.1")
        .env("LINGXI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok((Node(child), port))
}

async fn wait_listening(port: u16) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            return Err(format!("node on port {port} did not start").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn escalates_once(url: String) -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&url).await?;
    let tenant = store.create_tenant("two", "Two", "wk_two").await?;
    let services = Services::new(store.clone(), Bus::default());
    services.set_outbound_policy(lingxi_service::outbound::OutboundPolicy::parse_list("127.0.0.1")?);
    let (hook, bodies) = receiver().await?;
    let mut policy = SlaPolicy {
        name: "fast".into(),
        conditions: vec![],
        first_response: Some(TimeDelta::seconds(2)),
        resolution: None,
        business_hours: false,
        warn_before: WarnBefore::Fraction(0.5),
        escalation: Default::default(),
    };
    policy.escalation.webhook_url = Some(hook);
    let settings = TicketSettings {
        rules: vec![],
        triage_group_id: None,
        auto_classify: false,
        threshold: 0.5,
        sla_policies: vec![policy],
        calendar: None,
        custom_fields: vec![],
    };
    services.save_ticket_settings(tenant.id, settings).await?;
    // Both nodes run (the first one has migrated the database by now).
    let (a, port_a) = start(&url, dir.path())?;
    let (b, port_b) = start(&url, dir.path())?;
    wait_listening(port_a).await?;
    wait_listening(port_b).await?;
    let actor = Actor { user_id: None, name: "api".into() };
    let input = TicketInput { title: "没人回复我".into(), ..Default::default() };
    let (ticket, _) = services.create_ticket(tenant.id, &actor, "api", input, None).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies.lock().map(|b| b.is_empty()).unwrap_or(true) {
        if Instant::now() > deadline {
            return Err("no webhook arrived".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give both nodes many more ticks to misbehave.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop((a, b));
    let got = bodies.lock().map(|b| b.clone()).unwrap_or_default();
    assert_eq!(got.len(), 1, "exactly one webhook: {got:?}");
    let body: serde_json::Value = serde_json::from_str(&got[0])?;
    assert_eq!(body["ticket"]["number"].as_i64(), Some(ticket.number));
    let changes = store.ticket_changes(tenant.id, ticket.id).await?;
    let count = |f: &str| changes.iter().filter(|c| c.field == f).count();
    assert_eq!((count("sla_first_response_warning"), count("sla_first_response_breach")), (1, 1));
    assert_eq!(count("priority"), 1, "raised once");
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_escalate_a_breach_exactly_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    escalates_once(format!("sqlite://{}?mode=rwc", dir.path().join("shared.db").display())).await?;
    if let Some(pg) = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty()) {
        escalates_once(scratch_postgres_url(&pg).await?).await?;
    }
    Ok(())
}
