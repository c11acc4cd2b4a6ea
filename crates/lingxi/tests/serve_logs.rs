//! The live half of "logs carry no personal data" (the source half is `rules.rs`): a `lingxi serve` at debug level
//! is driven through the paths that see a visitor's contact data (a widget session and messages with a phone
//! number, an e-mail address and a street address, logins that fail and succeed, an orders import, a search, a
//! visitor export), and its whole output is searched for them.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const PHONE: &str = "13912345678";
const EMAIL: &str = "wang.xiaoming.pii@example.com";
const NAME: &str = "王小明测试";
const ADDRESS: &str = "北京市朝阳区建国路88号";
const WRONG_PASSWORD: &str = "wrong-password-4f9a2c";

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

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_busy_server_hold_no_personal_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_path = dir.path().join("server.log");
    let port = free_port()?;
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new(env!("CARGO_BIN_EXE_lingxi"))
        .args(["serve", "--no-rate-limits", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .env("LINGXI_LOG", "debug")
        .env_remove("LINGXI_DATABASE_URL")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()?;
    let node = Node(child);
    let base = format!("http://127.0.0.1:{port}");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_for("the server", || read_log().contains("widget key:")).await?;
    let output = read_log();
    let widget_key = output
        .lines()
        .find_map(|l| l.split("widget key: ").nth(1))
        .map(|k| k.trim().to_owned())
        .ok_or("no widget key printed")?;
    let credentials = std::fs::read_to_string(dir.path().join("demo-credentials.txt"))?;
    let (admin_email, admin_password) = credentials
        .lines()
        .find(|l| l.starts_with("admin"))
        .and_then(|l| {
            let mut words = l.split_whitespace();
            let email = words.nth(1)?;
            let password = l.split("password: ").nth(1)?;
            Some((email.to_owned(), password.trim().to_owned()))
        })
        .ok_or("no admin in demo-credentials.txt")?;
    let http = reqwest::Client::new();

    // A visitor opens the widget and writes their contact data.
    let session: Value = http
        .post(format!("{base}/api/v1/widget/sessions"))
        .json(&json!({
            "widget_key": widget_key,
            "visitor": {"name": NAME, "external_id": format!("cust-{PHONE}")},
            "page": format!("https://shop.example.com/checkout?phone={PHONE}"),
            "context": {"email": EMAIL},
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = session["token"].as_str().ok_or("no widget token")?;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/widget/ws?token={token}")).await?;
    for (i, text) in [
        format!("我的手机号是 {PHONE}，邮箱 {EMAIL}"),
        format!("收货地址：{ADDRESS}，收件人 {NAME}"),
        "转人工".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let frame = json!({"type": "message", "client_id": format!("c{i}"), "text": text});
        ws.send(WsMessage::text(frame.to_string())).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some(Ok(msg))) = tokio::time::timeout(left, ws.next()).await else {
                return Err(format!("no ack for message {i}").into());
            };
            if let WsMessage::Text(t) = msg
                && serde_json::from_str::<Value>(&t)?["type"] == "ack"
            {
                break;
            }
        }
    }
    // A bad frame and an oversized client id are refused (and may be logged, without the text).
    ws.send(WsMessage::text(format!("{{\"type\":\"message\",\"text\":\"{PHONE}\""))).await?;
    ws.close(None).await.ok();

    // Logins: an unknown e-mail, a wrong password, then the admin.
    for (email, password) in [(EMAIL, WRONG_PASSWORD), (admin_email.as_str(), WRONG_PASSWORD)] {
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"tenant": "demo", "email": email, "password": password}))
            .send()
            .await?;
        assert_eq!(r.status(), 401, "{email}");
    }
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": "demo", "email": admin_email, "password": admin_password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bearer = format!("Bearer {}", login["token"].as_str().ok_or("no session token")?);

    // An orders import with the customer's contact data, a search for the phone number, the visitor's export.
    let csv = format!(
        "order_id,user_id,email,phone,name,status,amount,currency,items,placed_at\n\
         LX-PII-1,cust-{PHONE},{EMAIL},{PHONE},{NAME},paid,99.00,CNY,{ADDRESS} x 1,2026-11-11 20:00:00\n"
    );
    let import = http
        .post(format!("{base}/api/v1/orders/import"))
        .header("authorization", &bearer)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?;
    assert!(import.status().is_success(), "orders import: {}", import.text().await?);
    let found: Value = http
        .get(format!("{base}/api/v1/conversations"))
        .query(&[("q", PHONE), ("view", "all")])
        .header("authorization", &bearer)
        .send()
        .await?
        .json()
        .await?;
    let visitor = session["visitor_id"].as_str().ok_or("no visitor id")?;
    let export =
        http.get(format!("{base}/api/v1/visitors/{visitor}/export")).header("authorization", &bearer).send().await?;
    assert!(export.status().is_success(), "export: {}", export.status());
    assert!(export.text().await?.contains(PHONE), "the export holds the data (so the test is about the logs)");
    let _ = found;

    drop(node);
    let output = read_log();
    assert!(output.contains("login"), "the server's log was captured at debug level:\n{output}");
    let mut leaks = Vec::new();
    for secret in [PHONE, EMAIL, NAME, ADDRESS, WRONG_PASSWORD, token] {
        for line in output.lines().filter(|l| l.contains(secret)) {
            leaks.push(format!("{secret:?} in: {line}"));
        }
    }
    assert!(leaks.is_empty(), "personal data or secrets in the server's log:\n{}", leaks.join("\n"));
    Ok(())
}
