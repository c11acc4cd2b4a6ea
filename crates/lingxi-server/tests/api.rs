//! Black-box tests: a real server on port 0 with a fresh database, driven over HTTP and WebSocket exactly as the
//! widget and the agent workspace drive it. Runs on SQLite always and on PostgreSQL when
//! `LINGXI_TEST_POSTGRES_URL` is set.

use futures::{SinkExt, StreamExt};
use lingxi_bus::Bus;
use lingxi_service::{Services, hash_password};
use lingxi_store::Store;
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_types::Role;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PASSWORD: &str = "correct-horse-battery";

/// A running server and the database URL it uses (so a test can restart it on the same data).
struct TestServer {
    base: String,
    db_url: String,
    handle: tokio::task::JoinHandle<()>,
    store: Store,
    http: reqwest::Client,
}

impl TestServer {
    async fn start(db_url: &str) -> Result<TestServer, Box<dyn std::error::Error + Send + Sync>> {
        let store = Store::connect(db_url).await?;
        let services = Services::new(store.clone(), Bus::default());
        let app = lingxi_server::app(lingxi_server::AppState::new(services, None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
        });
        Ok(TestServer {
            base: format!("http://{addr}"),
            db_url: db_url.to_owned(),
            handle,
            store,
            http: reqwest::Client::new(),
        })
    }

    /// Stops the server as a crash would: the task is dropped mid-flight.
    async fn stop(self) -> String {
        self.handle.abort();
        let _ = self.handle.await;
        self.store.close().await;
        self.db_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn ws_url(&self, path: &str) -> String {
        format!("{}{}", self.base.replacen("http", "ws", 1), path)
    }

    /// A tenant with an admin and an agent; returns (widget key, admin token, agent token, agent name).
    async fn tenant(&self, slug: &str) -> Result<Shop, Box<dyn std::error::Error + Send + Sync>> {
        let t = self.store.create_tenant(slug, &format!("Shop {slug}"), &format!("wk_{slug}")).await?;
        let hash = hash_password(PASSWORD);
        self.store.create_user(t.id, &format!("admin@{slug}.test"), "Admin", Role::Admin, &hash).await?;
        self.store.create_user(t.id, &format!("agent@{slug}.test"), "Li Na", Role::Agent, &hash).await?;
        let admin = self.login(&format!("admin@{slug}.test")).await?;
        let agent = self.login(&format!("agent@{slug}.test")).await?;
        let entry = json!({"question": "怎么退货", "similar_questions": ["如何退货", "退货流程", "how do I return an item", "return policy"],
            "answer": "七天无理由退货 / 7-day returns", "category": "售后"});
        let r = self.http.post(self.url("/api/v1/kb/entries")).bearer_auth(&admin).json(&entry).send().await?;
        assert_eq!(r.status(), 201, "{}", r.text().await?);
        let entry = json!({"question": "多久发货", "similar_questions": ["什么时候发货", "发货时间", "when will my order ship"],
            "answer": "当天发货 / ships today", "category": "物流"});
        let r = self.http.post(self.url("/api/v1/kb/entries")).bearer_auth(&admin).json(&entry).send().await?;
        assert_eq!(r.status(), 201);
        Ok(Shop { widget_key: t.widget_key, admin, agent })
    }

    async fn login(&self, email: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await?;
        Ok(body["token"].as_str().ok_or("token")?.to_owned())
    }

    async fn widget_session(&self, key: &str) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
        let r = self
            .http
            .post(self.url("/api/v1/widget/sessions"))
            .json(&json!({"widget_key": key, "visitor": {"name": "Tom"}}))
            .send()
            .await?;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await?;
        Ok((
            body["token"].as_str().ok_or("token")?.to_owned(),
            body["conversation_id"].as_str().ok_or("id")?.to_owned(),
        ))
    }

    async fn get(&self, path: &str, token: &str) -> Result<(u16, Value), Box<dyn std::error::Error + Send + Sync>> {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn post(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> Result<(u16, Value), Box<dyn std::error::Error + Send + Sync>> {
        let r = self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }
}

struct Shop {
    widget_key: String,
    admin: String,
    agent: String,
}

async fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("lingxi.db").display())
}

async fn postgres_url() -> Option<String> {
    let url = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty())?;
    scratch_postgres_url(&url).await.ok()
}

async fn send(ws: &mut Ws, frame: Value) -> TestResult {
    ws.send(WsMessage::Text(frame.to_string().into())).await?;
    Ok(())
}

/// Reads frames until one satisfies `pred`; fails after 10 s.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.map_err(|_| "timed out waiting for a frame")?;
        let Some(msg) = next else { return Err("socket closed".into()) };
        if let WsMessage::Text(t) = msg? {
            let v: Value = serde_json::from_str(&t)?;
            if pred(&v) {
                return Ok(v);
            }
        }
    }
}

async fn widget_ws(server: &TestServer, token: &str) -> Result<Ws, Box<dyn std::error::Error + Send + Sync>> {
    let (ws, _) = tokio_tungstenite::connect_async(server.ws_url(&format!("/api/v1/widget/ws?token={token}"))).await?;
    Ok(ws)
}

/// The whole journey of issue 2 on one backend: ask, bot answers, hand off, agent replies, close, restart, resume.
async fn journey(db_url: String) -> TestResult {
    let server = TestServer::start(&db_url).await?;
    let shop = server.tenant("shop").await?;
    let (token, conversation_id) = server.widget_session(&shop.widget_key).await?;
    let mut visitor = widget_ws(&server, &token).await?;
    until(&mut visitor, |f| f["type"] == "hello").await?;
    send(&mut visitor, json!({"type": "resume", "after_seq": 0})).await?;

    send(&mut visitor, json!({"type": "message", "client_id": "c-1", "text": "请问怎么退货？"})).await?;
    let ack = until(&mut visitor, |f| f["type"] == "ack").await?;
    assert_eq!((ack["client_id"].as_str(), ack["seq"].as_i64()), (Some("c-1"), Some(1)));
    let answer = until(&mut visitor, |f| f["type"] == "message" && f["author"] == "bot").await?;
    assert_eq!(answer["text"], "七天无理由退货 / 7-day returns");

    // A retried message is acknowledged again, never stored twice.
    send(&mut visitor, json!({"type": "message", "client_id": "c-1", "text": "请问怎么退货？"})).await?;
    let again = until(&mut visitor, |f| f["type"] == "ack").await?;
    assert_eq!(again["message_id"], ack["message_id"]);

    // Two quick questions are answered in the order they were asked.
    send(&mut visitor, json!({"type": "message", "client_id": "q-1", "text": "什么时候发货"})).await?;
    send(&mut visitor, json!({"type": "message", "client_id": "q-2", "text": "how do I return an item"})).await?;
    let first = until(&mut visitor, |f| f["type"] == "message" && f["author"] == "bot").await?;
    let second = until(&mut visitor, |f| f["type"] == "message" && f["author"] == "bot").await?;
    assert_eq!(
        (first["text"].as_str(), second["text"].as_str()),
        (Some("当天发货 / ships today"), Some("七天无理由退货 / 7-day returns"))
    );

    // The agent comes online, then the visitor asks for a human.
    let (mut agent_ws, _) =
        tokio_tungstenite::connect_async(server.ws_url(&format!("/api/v1/agent/ws?token={}", shop.agent))).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut visitor, json!({"type": "message", "client_id": "c-2", "text": "转人工"})).await?;
    let status = until(&mut visitor, |f| f["type"] == "status" && f["status"] == "assigned").await?;
    assert_eq!(status["agent_name"], "Li Na");
    let assigned =
        until(&mut agent_ws, |f| f["type"] == "conversation" && f["conversation"]["status"] == "assigned").await?;
    assert_eq!(assigned["conversation"]["id"], conversation_id.as_str());
    assert_eq!(assigned["conversation"]["handoff_reason"], "visitor_request");

    // The agent sees the whole history and replies; the visitor sees the reply live.
    let (code, history) = server.get(&format!("/api/v1/conversations/{conversation_id}/messages"), &shop.agent).await?;
    assert_eq!(code, 200);
    let texts: Vec<&str> =
        history["items"].as_array().ok_or("items")?.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"请问怎么退货？") && texts.contains(&"转人工"), "{texts:?}");
    let (code, reply) = server
        .post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &shop.agent,
            json!({"text": "您好，我是李娜"}),
        )
        .await?;
    assert_eq!(code, 201, "{reply}");
    let live = until(&mut visitor, |f| f["type"] == "message" && f["author"] == "agent").await?;
    assert_eq!((live["text"].as_str(), live["author_name"].as_str()), (Some("您好，我是李娜"), Some("Li Na")));

    // Visitor text is stored exactly as typed, markup included (clients render it as text).
    send(&mut visitor, json!({"type": "message", "client_id": "c-3", "text": "<img src=x onerror=alert(1)>"})).await?;
    until(&mut visitor, |f| f["type"] == "ack" && f["client_id"] == "c-3").await?;

    let (code, closed) =
        server.post(&format!("/api/v1/conversations/{conversation_id}/close"), &shop.agent, json!({})).await?;
    assert_eq!((code, closed["status"].as_str()), (200, Some("closed")));
    until(&mut visitor, |f| f["type"] == "status" && f["status"] == "closed").await?;
    let (code, listed) = server.get("/api/v1/conversations?status=closed", &shop.agent).await?;
    assert_eq!((code, listed["items"].as_array().map(Vec::len)), (200, Some(1)));

    // Every step was recorded for analytics.
    let tenant = server.store.tenant_by_slug("shop").await?.ok_or("tenant")?;
    let events = server.store.conversation_events(tenant.id, conversation_id.parse()?).await?;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "conversation_opened",
        "bot_answered",
        "handoff_requested",
        "agent_assigned",
        "first_response",
        "conversation_closed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let total = history_len(&server, &conversation_id, &shop.agent).await?;
    drop(visitor);
    drop(agent_ws);

    // Restart on the same database: nothing is lost, and a reconnecting widget resumes without duplicates.
    let db_url = server.stop().await;
    let server = TestServer::start(&db_url).await?;
    assert_eq!(history_len(&server, &conversation_id, &shop.agent).await?, total, "history survives a restart");
    let mut visitor = widget_ws(&server, &token).await?;
    until(&mut visitor, |f| f["type"] == "hello").await?;
    send(&mut visitor, json!({"type": "resume", "after_seq": 2})).await?;
    // The visitor gets every message but the internal notes (the bot's handoff summary is one).
    let (_, history) = server.get(&format!("/api/v1/conversations/{conversation_id}/messages"), &shop.agent).await?;
    let visible: Vec<i64> = history["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter(|m| m["author"] != "note")
        .filter_map(|m| m["seq"].as_i64())
        .filter(|seq| *seq > 2)
        .collect();
    assert!(visible.len() < (total - 2) as usize, "the summary note is in the history");
    let mut seqs = Vec::new();
    while seqs.len() < visible.len() {
        let m = until(&mut visitor, |f| f["type"] == "message").await?;
        seqs.push(m["seq"].as_i64().ok_or("seq")?);
    }
    assert_eq!(seqs, visible, "resumed in order, from seq 3, once each, notes left out");
    // A message to the closed conversation reopens it with the bot; the retried old client id is not stored again.
    send(&mut visitor, json!({"type": "message", "client_id": "c-1", "text": "请问怎么退货？"})).await?;
    let old = until(&mut visitor, |f| f["type"] == "ack").await?;
    assert_eq!(old["seq"], 1);
    assert_eq!(history_len(&server, &conversation_id, &shop.agent).await?, total);
    server.stop().await;
    Ok(())
}

async fn history_len(
    server: &TestServer,
    id: &str,
    token: &str,
) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    let (_, history) = server.get(&format!("/api/v1/conversations/{id}/messages"), token).await?;
    let items = history["items"].as_array().ok_or("items")?;
    let seqs: Vec<i64> = items.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gapless");
    Ok(seqs.len() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_bot_handoff_agent_restart_resume_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    journey(sqlite_url(&dir).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_bot_handoff_agent_restart_resume_on_postgres() -> TestResult {
    match postgres_url().await {
        Some(url) => journey(url).await,
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_that_reads_data_crosses_tenants() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let a = server.tenant("a").await?;
    let b = server.tenant("b").await?;
    let (_, conv_a) = server.widget_session(&a.widget_key).await?;
    let (code, entries_a) = server.get("/api/v1/kb/entries", &a.admin).await?;
    assert_eq!(code, 200);
    let entry_a = entries_a["items"][0]["id"].as_str().ok_or("entry")?.to_owned();

    for path in [format!("/api/v1/conversations/{conv_a}"), format!("/api/v1/conversations/{conv_a}/messages")] {
        let (code, body) = server.get(&path, &b.agent).await?;
        assert_eq!((code, body["code"].as_str()), (404, Some("not_found")), "{path}");
        assert_eq!(server.get(&path, &a.agent).await?.0, 200, "{path} works in its own tenant");
    }
    for path in [
        format!("/api/v1/conversations/{conv_a}/messages"),
        format!("/api/v1/conversations/{conv_a}/claim"),
        format!("/api/v1/conversations/{conv_a}/close"),
    ] {
        let (code, _) = server.post(&path, &b.agent, json!({"text": "hi"})).await?;
        assert_eq!(code, 404, "{path}");
    }
    // Admins list every conversation of their own tenant only.
    let (_, list_b) = server.get("/api/v1/conversations", &b.admin).await?;
    assert_eq!(list_b["items"].as_array().map(Vec::len), Some(0));
    let (_, list_a) = server.get("/api/v1/conversations", &a.admin).await?;
    assert_eq!(list_a["items"].as_array().map(Vec::len), Some(1));
    let (_, kb_b) = server.get("/api/v1/kb/entries", &b.agent).await?;
    assert!(!kb_b.to_string().contains(&entry_a));
    let r =
        server.http.delete(server.url(&format!("/api/v1/kb/entries/{entry_a}"))).bearer_auth(&b.admin).send().await?;
    assert_eq!(r.status(), 404);
    let (_, users_b) = server.get("/api/v1/admin/users", &b.admin).await?;
    assert!(!users_b.to_string().contains("@a.test"));
    let (_, tenant_b) = server.get("/api/v1/admin/tenant", &b.admin).await?;
    assert_eq!(tenant_b["slug"], "b");
    let (_, me_b) = server.get("/api/v1/me", &b.agent).await?;
    assert_eq!(me_b["tenant"]["slug"], "b");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_roles_and_csrf_are_enforced() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("s").await?;
    // No credentials.
    let r = server.http.get(server.url("/api/v1/conversations")).send().await?;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await?["code"], "unauthenticated");
    // Wrong password.
    let (code, body) =
        server.post("/api/v1/auth/login", "", json!({"email": "agent@s.test", "password": "nope"})).await?;
    assert_eq!((code, body["code"].as_str()), (401, Some("invalid_credentials")));
    // An agent is not an admin.
    for path in ["/api/v1/admin/users", "/api/v1/admin/tenant"] {
        let (code, body) = server.get(path, &shop.agent).await?;
        assert_eq!((code, body["code"].as_str()), (403, Some("forbidden")), "{path}");
    }
    let (code, _) = server.post("/api/v1/kb/entries", &shop.agent, json!({"question": "q", "answer": "a"})).await?;
    assert_eq!(code, 403);
    let (code, _) = server
        .post(
            "/api/v1/admin/users",
            &shop.admin,
            json!({"email": "x@s.test", "name": "X", "password": "longenough1", "role": "owner"}),
        )
        .await?;
    assert_eq!(code, 403, "an admin cannot create an owner");
    let (code, created) = server
        .post(
            "/api/v1/admin/users",
            &shop.admin,
            json!({"email": "new@s.test", "name": "New", "password": "longenough1", "role": "agent"}),
        )
        .await?;
    assert_eq!((code, created["role"].as_str()), (201, Some("agent")));
    // Cookie sessions need the CSRF header for changes.
    let r = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "agent@s.test", "password": PASSWORD}))
        .send()
        .await?;
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).ok_or("cookie")?.to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().ok_or("cookie")?.to_owned();
    let r = server.http.get(server.url("/api/v1/me")).header("cookie", &session).send().await?;
    assert_eq!(r.status(), 200, "cookie reads work");
    let r = server.http.post(server.url("/api/v1/auth/logout")).header("cookie", &session).send().await?;
    assert_eq!(r.status(), 403);
    let r = server
        .http
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &session)
        .header("x-lingxi-csrf", "1")
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    let r = server.http.get(server.url("/api/v1/me")).header("cookie", &session).send().await?;
    assert_eq!(r.status(), 401, "logout revokes the session server-side");
    // A widget token is not a workspace token.
    let (widget_token, _) = server.widget_session(&shop.widget_key).await?;
    assert_eq!(server.get("/api/v1/conversations", &widget_token).await?.0, 401);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_typed_error_never_a_crash() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("bad").await?;
    let r = server
        .http
        .post(server.url("/api/v1/widget/sessions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await?["code"], "bad_request");
    let big = "x".repeat(70 * 1024);
    // The refusal may reach the client as a reset while it is still sending the body; ask again then.
    let mut attempt = 0;
    let status = loop {
        attempt += 1;
        match server.http.post(server.url("/api/v1/widget/sessions")).json(&json!({"widget_key": big})).send().await {
            Ok(r) => break r.status(),
            Err(e) if attempt < 3 && e.is_request() => continue,
            Err(e) => return Err(e.into()),
        }
    };
    assert_eq!(status, 413);
    let (code, body) = server.post("/api/v1/widget/sessions", "", json!({"widget_key": "nope"})).await?;
    assert_eq!((code, body["code"].as_str()), (404, Some("unknown_widget_key")));
    let (code, _) = server.get("/api/v1/conversations/not-a-uuid", &shop.agent).await?;
    assert_eq!(code, 404);
    let (code, body) = server.get("/api/v1/conversations?status=weird", &shop.agent).await?;
    assert_eq!((code, body["code"].as_str()), (400, Some("invalid_field")));
    let (code, body) = server.get("/api/v1/nothing-here", &shop.agent).await?;
    assert_eq!((code, body["code"].as_str()), (404, Some("not_found")));
    match tokio_tungstenite::connect_async(server.ws_url("/api/v1/widget/ws?token=forged")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("a forged widget token must be refused: {:?}", other.map(|_| ())),
    }

    let (token, _) = server.widget_session(&shop.widget_key).await?;
    let mut ws = widget_ws(&server, &token).await?;
    send(&mut ws, json!({"type": "message", "client_id": "x", "text": "长".repeat(4001)})).await?;
    let err = until(&mut ws, |f| f["type"] == "error").await?;
    assert_eq!((err["code"].as_str(), err["client_id"].as_str()), (Some("invalid_field"), Some("x")));
    send(&mut ws, json!({"type": "message", "client_id": "y", "text": "   "})).await?;
    assert_eq!(until(&mut ws, |f| f["type"] == "error").await?["code"], "invalid_field");
    ws.send(WsMessage::Text("{\"type\":\"bogus\"}".into())).await?;
    assert_eq!(until(&mut ws, |f| f["type"] == "error").await?["code"], "bad_request");
    send(&mut ws, json!({"type": "ping"})).await?;
    until(&mut ws, |f| f["type"] == "pong").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_openapi_document_are_served() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let r = server.http.get(server.url("/healthz")).send().await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?, json!({"status": "ok"}));
    let doc: Value = server.http.get(server.url("/api/openapi.json")).send().await?.json().await?;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in
        ["/api/v1/widget/sessions", "/api/v1/auth/login", "/api/v1/conversations/{id}/messages", "/api/v1/agent/ws"]
    {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let r = server.http.get(server.url("/agent")).send().await?;
    assert!(r.headers().get("content-security-policy").is_some());
    // The widget's session routes answer cross-origin preflights, so the widget works on the shop's own site.
    let r = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/api/v1/widget/sessions"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await?;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    let r =
        server.http.get(server.url("/api/v1/conversations")).header("origin", "https://evil.example").send().await?;
    assert!(r.headers().get("access-control-allow-origin").is_none(), "workspace routes are not cross-origin");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_and_everything_is_audited() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("lock").await?;
    let wrong = json!({"email": "agent@lock.test", "password": "not-the-password"});
    for attempt in 1..=lingxi_service::LOCK_THRESHOLD {
        let (code, body) = server.post("/api/v1/auth/login", "", wrong.clone()).await?;
        assert_eq!((code, body["code"].as_str()), (401, Some("invalid_credentials")), "attempt {attempt}");
    }
    let right = json!({"email": "agent@lock.test", "password": PASSWORD});
    let r = server.http.post(server.url("/api/v1/auth/login")).json(&right).send().await?;
    assert_eq!(r.status(), 429, "locked even with the right password");
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(r.json::<Value>().await?["code"], "account_locked");

    // An admin unlocks the account; the right password works again.
    let (_, users) = server.get("/api/v1/admin/users", &shop.admin).await?;
    let agent_id = users["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .find(|u| u["email"] == "agent@lock.test")
        .and_then(|u| u["id"].as_str())
        .ok_or("agent")?
        .to_owned();
    let (code, _) = server.post(&format!("/api/v1/admin/users/{agent_id}/unlock"), &shop.agent, json!({})).await?;
    assert_eq!(code, 403, "agents cannot unlock");
    let (code, _) = server.post(&format!("/api/v1/admin/users/{agent_id}/unlock"), &shop.admin, json!({})).await?;
    assert_eq!(code, 200);
    let (code, _) = server.post("/api/v1/auth/login", "", right).await?;
    assert_eq!(code, 200);

    let (code, audit) = server.get("/api/v1/admin/audit", &shop.admin).await?;
    assert_eq!(code, 200);
    let actions: Vec<&str> =
        audit["items"].as_array().ok_or("items")?.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "login.failure").count() as i64, lingxi_service::LOCK_THRESHOLD);
    for action in ["login.locked", "user.unlock", "login.success", "kb.create"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(!audit.to_string().contains(PASSWORD), "no secret is ever audited");
    let (code, _) = server.get("/api/v1/admin/audit", &shop.agent).await?;
    assert_eq!(code, 403);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_rate_limited_per_address() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let mut limited = None;
    for attempt in 0..100 {
        let body = json!({"email": format!("nobody-{attempt}@x.test"), "password": "whatever-123"});
        let r = server.http.post(server.url("/api/v1/auth/login")).json(&body).send().await?;
        if r.status() == 429 {
            limited = Some((attempt, r.headers().get("retry-after").is_some(), r.json::<Value>().await?));
            break;
        }
    }
    let (attempt, retry_after, body) = limited.ok_or("never rate limited")?;
    assert!(attempt >= 10, "allowed a reasonable number first ({attempt})");
    assert!(retry_after);
    assert_eq!(body["code"], "rate_limited");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_and_revoke_their_own_sessions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("sessions").await?;
    let second = server.login("agent@sessions.test").await?;
    let (code, list) = server.get("/api/v1/auth/sessions", &shop.agent).await?;
    assert_eq!(code, 200);
    let items = list["items"].as_array().ok_or("items")?;
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["ip"], "127.0.0.1");
    assert!(!list.to_string().contains(&second), "tokens are never listed");
    // The admin cannot revoke the agent's session by id through their own list: it is not theirs.
    let newest = items[0]["id"].as_str().ok_or("id")?.to_owned();
    let r = server
        .http
        .delete(server.url(&format!("/api/v1/auth/sessions/{newest}")))
        .bearer_auth(&shop.admin)
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let r = server
        .http
        .delete(server.url(&format!("/api/v1/auth/sessions/{newest}")))
        .bearer_auth(&shop.agent)
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(server.get("/api/v1/me", &second).await?.0, 401, "the revoked session no longer works");
    assert_eq!(server.get("/api/v1/me", &shop.agent).await?.0, 200);
    Ok(())
}

/// The workspace over HTTP and both sockets: tracked browsing shows on the visitor card, typing and receipts travel
/// live, attachments are checked, bound to their conversation and served safely, search and unread come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_over_http_and_sockets() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("ws").await?;
    // The tracker (CORS, from the shop's own site) records the browsing before the chat.
    let pre = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/api/v1/track"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await?;
    assert_eq!(pre.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    let anon = "browser-7f3a9c21";
    let events = json!({"widget_key": shop.widget_key, "anonymous_id": anon, "events": [
        {"kind": "page_view", "url": "https://shop.example/", "title": "首页"},
        {"kind": "product_view", "product_id": "sku-1", "product_name": "<b>羊毛大衣</b>", "url": "https://shop.example/p/1"}]});
    let (code, tracked) = server.post("/api/v1/track", "", events).await?;
    assert_eq!((code, tracked["accepted"].as_u64()), (202, Some(2)));
    let (code, bad) = server
        .post("/api/v1/track", "", json!({"widget_key": shop.widget_key, "anonymous_id": anon, "events": []}))
        .await?;
    assert_eq!((code, bad["code"].as_str()), (400, Some("invalid_field")));
    let r = server
        .http
        .post(server.url("/api/v1/widget/sessions"))
        .json(&json!({"widget_key": shop.widget_key, "anonymous_id": anon, "visitor": {"name": "Tom"}}))
        .send()
        .await?;
    let session: Value = r.json().await?;
    assert_eq!(session["visitor_id"], tracked["visitor_id"], "the chat's visitor is the tracked browser");
    let token = session["token"].as_str().ok_or("token")?.to_owned();
    let conversation_id = session["conversation_id"].as_str().ok_or("id")?.to_owned();
    let (_, card) = server
        .get(&format!("/api/v1/visitors/{}/card", session["visitor_id"].as_str().ok_or("v")?), &shop.agent)
        .await?;
    assert_eq!(card["track"][1]["product_name"], "<b>羊毛大衣</b>", "stored as text; the UI renders it as text");
    assert_eq!(card["value"]["tier"], "none");

    let mut visitor = widget_ws(&server, &token).await?;
    until(&mut visitor, |f| f["type"] == "hello").await?;
    let (mut agent_ws, _) =
        tokio_tungstenite::connect_async(server.ws_url(&format!("/api/v1/agent/ws?token={}", shop.agent))).await?;
    send(&mut agent_ws, json!({"type": "ping"})).await?;
    until(&mut agent_ws, |f| f["type"] == "pong").await?;

    // Typing both ways.
    send(&mut visitor, json!({"type": "typing", "typing": true})).await?;
    let typing = until(&mut agent_ws, |f| f["type"] == "typing").await?;
    assert_eq!(
        (typing["conversation_id"].as_str(), typing["typing"].as_bool()),
        (Some(conversation_id.as_str()), Some(true))
    );
    send(&mut agent_ws, json!({"type": "typing", "conversation_id": conversation_id, "typing": true})).await?;
    let typing = until(&mut visitor, |f| f["type"] == "typing").await?;
    assert_eq!((typing["author"].as_str(), typing["name"].as_str()), (Some("agent"), Some("Li Na")));

    // The visitor attaches a picture; a disguised or too big file is refused with a typed error.
    let png: Vec<u8> =
        vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 1, 2];
    let upload = |body: Vec<u8>, kind: &'static str| {
        server
            .http
            .post(server.url("/api/v1/widget/attachments?name=%E7%85%A7%E7%89%87.png"))
            .bearer_auth(&token)
            .header("content-type", kind)
            .body(body)
            .send()
    };
    let r = upload(b"<script>alert(1)</script>".to_vec(), "text/html").await?;
    assert_eq!(r.status(), 415);
    assert_eq!(r.json::<Value>().await?["code"], "unsupported_media_type");
    let r = upload(b"GIF89a not a png".to_vec(), "image/png").await?;
    assert_eq!(r.status(), 415);
    let r = upload(png.clone(), "image/png").await?;
    assert_eq!(r.status(), 201);
    let attachment: Value = r.json().await?;
    assert_eq!(attachment["name"], "照片.png");
    send(&mut visitor, json!({"type": "message", "client_id": "a-1", "text": "", "attachment_id": attachment["id"]}))
        .await?;
    until(&mut visitor, |f| f["type"] == "ack").await?;
    let seen = until(&mut agent_ws, |f| f["type"] == "message" && f["message"]["author"] == "visitor").await?;
    assert_eq!(seen["message"]["attachment"]["id"], attachment["id"]);
    let id = attachment["id"].as_str().ok_or("id")?;
    let r = server.http.get(server.url(&format!("/api/v1/attachments/{id}"))).bearer_auth(&shop.agent).send().await?;
    assert_eq!(r.status(), 200);
    let header = |r: &reqwest::Response, h: &str| r.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header(&r, "content-type").as_deref(), Some("image/png"));
    assert_eq!(header(&r, "x-content-type-options").as_deref(), Some("nosniff"));
    assert!(
        header(&r, "content-disposition").is_some_and(|d| d.starts_with("inline") && d.contains("UTF-8''%E7%85%A7"))
    );
    assert_eq!(r.bytes().await?.to_vec(), png);
    let own = server.http.get(server.url(&format!("/api/v1/widget/attachments/{id}?token={token}"))).send().await?;
    assert_eq!(own.status(), 200);
    let (other_token, _) = server.widget_session(&shop.widget_key).await?;
    let theirs =
        server.http.get(server.url(&format!("/api/v1/widget/attachments/{id}?token={other_token}"))).send().await?;
    assert_eq!(theirs.status(), 404, "another visitor cannot fetch it");
    let big = server
        .http
        .post(server.url(&format!("/api/v1/conversations/{conversation_id}/attachments?name=big.txt")))
        .bearer_auth(&shop.agent)
        .header("content-type", "text/plain")
        .body(vec![b'a'; 11 * 1024 * 1024])
        .send()
        .await;
    if let Ok(r) = big {
        assert_eq!(r.status(), 413, "an oversized file is refused (or the connection reset while sending)");
    }

    // The agent replies; the widget reports delivery and reading; the agent sees the receipt.
    send(&mut visitor, json!({"type": "message", "client_id": "t-1", "text": "这件大衣有货吗 coat"})).await?;
    until(&mut visitor, |f| f["type"] == "ack").await?;
    let (code, reply) = server
        .post(&format!("/api/v1/conversations/{conversation_id}/messages"), &shop.agent, json!({"text": "有货"}))
        .await?;
    assert_eq!(code, 201);
    let seq = reply["seq"].as_i64().ok_or("seq")?;
    send(&mut visitor, json!({"type": "read", "seq": seq})).await?;
    let receipt = until(&mut agent_ws, |f| f["type"] == "receipt").await?;
    assert_eq!((receipt["delivered_seq"].as_i64(), receipt["read_seq"].as_i64()), (Some(seq), Some(seq)));

    // Another agent does not see this conversation's messages on their socket; a supervisor does.
    let t = server.store.tenant_by_slug("ws").await?.ok_or("tenant")?;
    server.store.create_user(t.id, "wang@ws.test", "Wang", Role::Agent, &hash_password(PASSWORD)).await?;
    server.store.create_user(t.id, "boss@ws.test", "Boss", Role::Supervisor, &hash_password(PASSWORD)).await?;
    let mut sockets = Vec::new();
    for email in ["wang@ws.test", "boss@ws.test"] {
        let token = server.login(email).await?;
        let (mut ws, _) =
            tokio_tungstenite::connect_async(server.ws_url(&format!("/api/v1/agent/ws?token={token}"))).await?;
        send(&mut ws, json!({"type": "ping"})).await?;
        until(&mut ws, |f| f["type"] == "pong").await?;
        sockets.push(ws);
    }
    send(&mut visitor, json!({"type": "message", "client_id": "t-2", "text": "private question"})).await?;
    until(&mut agent_ws, |f| f["type"] == "message" && f["message"]["text"] == "private question").await?;
    let mut boss = sockets.pop().ok_or("boss")?;
    let mut wang = sockets.pop().ok_or("wang")?;
    until(&mut boss, |f| f["type"] == "message" && f["message"]["text"] == "private question").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut wang, json!({"type": "ping"})).await?;
    let leaked = until(&mut wang, |f| f["type"] == "pong" || f["message"]["text"] == "private question").await?;
    assert_eq!(leaked["type"], "pong", "another agent's conversation stays private");

    // Search and unread counts in the list.
    let (_, found) = server.get("/api/v1/conversations?view=mine&q=%E5%A4%A7%E8%A1%A3", &shop.agent).await?;
    assert_eq!(found["items"][0]["id"].as_str(), Some(conversation_id.as_str()));
    assert!(found["items"][0]["matched"]["text"].as_str().is_some_and(|t| t.contains("大衣")));
    assert_eq!(found["items"][0]["unread"], 3, "the picture and the two questions");
    let (code, _) =
        server.post(&format!("/api/v1/conversations/{conversation_id}/read"), &shop.agent, json!({"seq": seq})).await?;
    assert_eq!(code, 204);
    let (_, mine) = server.get("/api/v1/conversations?view=mine&q=COAT", &shop.agent).await?;
    assert_eq!(mine["items"][0]["unread"], 1, "only the question sent after what was read");
    let (code, e) = server.get("/api/v1/conversations?view=all", &shop.agent).await?;
    assert_eq!((code, e["code"].as_str()), (403, Some("forbidden")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_signs_out_the_other_sessions_and_keeps_this_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("pw").await?;
    let other_session = server.login("agent@pw.test").await?;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let (code, e) =
        server.post("/api/v1/auth/password", &shop.agent, change("wrong-password-1", "brand-new-secret-42")).await?;
    assert_eq!((code, e["code"].as_str()), (400, Some("invalid_field")), "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("current password")), "{e}");
    let (code, e) = server.post("/api/v1/auth/password", &shop.agent, change(PASSWORD, "short")).await?;
    assert_eq!(code, 400, "a weak new password is refused: {e}");
    let (code, _) = server.get("/api/v1/me", &other_session).await?;
    assert_eq!(code, 200, "nothing changed yet");

    let (code, e) = server.post("/api/v1/auth/password", &shop.agent, change(PASSWORD, "brand-new-secret-42")).await?;
    assert_eq!(code, 204, "{e}");
    assert_eq!(server.get("/api/v1/me", &shop.agent).await?.0, 200, "the session that changed it stays");
    assert_eq!(server.get("/api/v1/me", &other_session).await?.0, 401, "the other session is signed out");
    let login = |password: &str| {
        server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "agent@pw.test", "password": password}))
            .send()
    };
    assert_eq!(login(PASSWORD).await?.status(), 401, "the old password no longer works");
    assert_eq!(login("brand-new-secret-42").await?.status(), 200);
    let tenant = server.store.tenant_by_slug("pw").await?.ok_or("tenant")?;
    let audit = server.store.audit_log(tenant.id, 100).await?;
    assert!(audit.iter().any(|a| a.action == "password.change"), "the change is audited");
    assert!(audit.iter().any(|a| a.action == "password.change_failed"), "the wrong attempt is audited");
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_behind_a_tls_proxy_and_http_only_always() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    server.tenant("cookie").await?;
    for (header, secure) in [
        (None, false),
        (Some(("x-forwarded-proto", "https")), true),
        (Some(("forwarded", "for=1.2.3.4;proto=https")), true),
        (Some(("x-forwarded-proto", "http")), false),
    ] {
        let mut req = server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "agent@cookie.test", "password": PASSWORD}));
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let r = req.send().await?;
        assert_eq!(r.status(), 200);
        let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), secure, "{header:?}: {cookie}");
    }
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_change_within_the_granting_rules_and_locks_show_in_the_user_list() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("roles").await?;
    let tenant = server.store.tenant_by_slug("roles").await?.ok_or("tenant")?;
    let owner =
        server.store.create_user(tenant.id, "owner@roles.test", "Owner", Role::Owner, &hash_password(PASSWORD)).await?;
    let (_, users) = server.get("/api/v1/admin/users", &shop.admin).await?;
    let id_of = |email: &str| {
        users["items"]
            .as_array()
            .and_then(|a| a.iter().find(|u| u["email"] == email))
            .and_then(|u| u["id"].as_str())
            .map(str::to_owned)
    };
    let agent_id = id_of("agent@roles.test").ok_or("agent")?;
    let admin_id = id_of("admin@roles.test").ok_or("admin")?;
    let path = |id: &str| format!("/api/v1/admin/users/{id}/role");
    let put = |token: String, id: String, role: &'static str| {
        server.http.put(server.url(&path(&id))).bearer_auth(token).json(&json!({"role": role})).send()
    };

    // Before: the agent may not list every conversation; after the change they may, at once.
    assert_eq!(server.get("/api/v1/conversations?view=all", &shop.agent).await?.0, 403);
    let r = put(shop.admin.clone(), agent_id.clone(), "supervisor").await?;
    assert_eq!(r.status(), 200);
    assert_eq!(server.get("/api/v1/conversations?view=all", &shop.agent).await?.0, 200, "the new role applies at once");

    assert_eq!(
        put(shop.admin.clone(), agent_id.clone(), "owner").await?.status(),
        403,
        "an admin grants no owner role"
    );
    assert_eq!(
        put(shop.admin.clone(), owner.id.to_string(), "agent").await?.status(),
        403,
        "an admin demotes no owner"
    );
    assert_eq!(
        put(shop.admin.clone(), admin_id.clone(), "agent").await?.status(),
        409,
        "nobody changes their own role"
    );
    assert_eq!(
        put(shop.agent.clone(), admin_id.clone(), "agent").await?.status(),
        403,
        "a supervisor changes no roles"
    );
    let owner_token = server.login("owner@roles.test").await?;
    assert_eq!(put(owner_token, admin_id.clone(), "owner").await?.status(), 200, "an owner may");
    let audit = server.store.audit_log(tenant.id, 100).await?;
    let changes: Vec<&serde_json::Value> =
        audit.iter().filter(|a| a.action == "user.role").map(|a| &a.detail).collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().any(|d| d["from"] == "agent" && d["to"] == "supervisor"), "{changes:?}");

    // Five wrong passwords lock the account; the list shows it until an admin unlocks it.
    for _ in 0..5 {
        let r = server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "agent@roles.test", "password": "wrong-password"}))
            .send()
            .await?;
        assert!([401, 429].contains(&r.status().as_u16()));
    }
    let (_, users) = server.get("/api/v1/admin/users", &shop.admin).await?;
    let agent = users["items"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == "agent@roles.test"))
        .ok_or("agent")?
        .clone();
    assert!(agent["locked_until"].is_string(), "{agent}");
    assert_eq!(agent["role"], "supervisor");
    let (code, _) = server.post(&format!("/api/v1/admin/users/{agent_id}/unlock"), &shop.admin, json!({})).await?;
    assert_eq!(code, 200);
    let (_, users) = server.get("/api/v1/admin/users", &shop.admin).await?;
    assert!(users["items"].as_array().is_some_and(|a| a.iter().all(|u| u["locked_until"].is_null())), "{users}");
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmasked_view_of_contact_data_is_audited_and_a_masked_one_is_not() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&sqlite_url(&dir).await).await?;
    let shop = server.tenant("pii").await?;
    let r = server
        .http
        .post(server.url("/api/v1/widget/sessions"))
        .json(&json!({"widget_key": shop.widget_key, "visitor": {"name": "Tom"}}))
        .send()
        .await?;
    let session: Value = r.json().await?;
    let visitor = session["visitor_id"].as_str().ok_or("visitor")?.to_owned();
    let r = server
        .http
        .patch(server.url(&format!("/api/v1/visitors/{visitor}")))
        .bearer_auth(&shop.agent)
        .json(&json!({"email": "zhang.san@example.com", "phone": "13812345678"}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let tenant = server.store.tenant_by_slug("pii").await?.ok_or("tenant")?;
    let views = |audit: &[lingxi_store::AuditRecord]| audit.iter().filter(|a| a.action == "pii.view").count();
    let (_, masked) = server.get(&format!("/api/v1/visitors/{visitor}/card"), &shop.agent).await?;
    assert_ne!(masked["visitor"]["email"], "zhang.san@example.com", "{masked}");
    assert_eq!(views(&server.store.audit_log(tenant.id, 100).await?), 0, "a masked view is not a PII view");
    let (_, whole) = server.get(&format!("/api/v1/visitors/{visitor}/card"), &shop.admin).await?;
    assert_eq!(whole["visitor"]["email"], "zhang.san@example.com");
    let audit = server.store.audit_log(tenant.id, 100).await?;
    let view = audit.iter().find(|a| a.action == "pii.view").ok_or("no pii.view")?;
    assert_eq!(view.target.as_deref(), Some(visitor.as_str()));
    assert_eq!(view.detail["fields"], json!(["email", "phone"]));
    server.stop().await;
    Ok(())
}
