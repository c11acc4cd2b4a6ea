//! Graceful shutdown: a `lingxi serve` sent SIGTERM tells its open widget and agent sockets to go away (close code
//! 1001, so clients reconnect to another node at once and resume by seq) and then exits cleanly.

use futures::StreamExt;
use lingxi_service::hash_password;
use lingxi_store::Store;
use lingxi_types::Role;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The close code the server ends the socket with (frames before it are skipped).
async fn close_code(ws: &mut Ws) -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.map_err(|_| "no close frame")? {
            Some(Ok(WsMessage::Close(frame))) => return Ok(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
            Some(Ok(_)) => continue,
            other => return Err(format!("the socket ended without a close frame: {other:?}").into()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_going_away_and_exits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("lingxi.db").display());
    let store = Store::connect(&url).await?;
    let tenant = store.create_tenant("drain", "Drain", "wk_drain").await?;
    store.create_user(tenant.id, "li@drain.test", "Li", Role::Agent, &hash_password("drain-Pa55word")).await?;
    store.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(env!("CARGO_BIN_EXE_lingxi"))
        .args(["serve", "--no-demo", "--bind", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .arg("--data-dir")
        .arg(dir.path())
        .env("LINGXI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut node = Node(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{base}/api/v1/widget/sessions"))
        .json(&json!({"widget_key": "wk_drain"}))
        .send()
        .await?
        .json()
        .await?;
    let token = session["token"].as_str().ok_or("widget token")?;
    let (mut visitor, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/widget/ws?token={token}")).await?;
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "li@drain.test", "password": "drain-Pa55word"}))
        .send()
        .await?
        .json()
        .await?;
    let agent_token = login["token"].as_str().ok_or("agent token")?;
    let (mut agent, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/agent/ws?token={agent_token}")).await?;
    // Both sockets are live (the widget's hello arrived).
    match tokio::time::timeout(Duration::from_secs(10), visitor.next()).await? {
        Some(Ok(WsMessage::Text(t))) => assert!(t.contains("\"hello\""), "{t}"),
        other => return Err(format!("no hello: {other:?}").into()),
    }

    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &node.0.id().to_string()]).status()?;
    assert!(status.success());
    assert_eq!(close_code(&mut visitor).await?, 1001, "the widget is told the server goes away");
    assert_eq!(close_code(&mut agent).await?, 1001, "the workspace is told the server goes away");
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = node.0.try_wait()? {
            break s;
        }
        assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "a clean exit after SIGTERM, not {exit:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "drained in {:?}", started.elapsed());
    Ok(())
}
