//! The bot over the widget WebSocket, as a visitor meets it: each outcome (answer, suggest, admit, chit-chat) with
//! its buttons, a clicked suggestion, a follow-up read with the previous question, every handoff trigger with its
//! reason and the summary note, ratings, task flows against a real local webhook (success, a value that does not
//! fit, the webhook down), agent assist, the bot taking a conversation back, the tenant's settings and flows, and
//! tenant isolation of the bot's routes. Runs on SQLite always and on PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is
//! set.

use axum::routing::post;
use futures::{SinkExt, StreamExt};
use lingxi_bus::Bus;
use lingxi_service::outbound::OutboundPolicy;
use lingxi_service::{Services, hash_password};
use lingxi_store::Store;
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_types::Role;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
type TestResult = Res<()>;
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PASSWORD: &str = "correct-horse-battery";

struct Server {
    base: String,
    store: Store,
    services: Services,
    http: reqwest::Client,
}

struct Shop {
    widget_key: String,
    admin: String,
    agent: String,
    entries: std::collections::HashMap<String, String>,
}

/// The shop's knowledge base: (key, question, similar questions, answer, category).
const KB: &[(&str, &str, &[&str], &str, &str)] = &[
    (
        "return-fee",
        "退货运费谁出",
        &["退货邮费谁承担", "退回去的运费要我自己付吗", "退货要自己出快递费吗"],
        "质量问题我们出，无理由退货您出。",
        "售后/退货",
    ),
    (
        "exchange-fee",
        "换货运费谁出",
        &["换货邮费谁承担", "换货要我付快递费吗", "换个颜色要运费吗"],
        "换货来回运费我们承担。",
        "售后/换货",
    ),
    ("ship-time", "多久发货", &["什么时候发货", "下单后几天发货", "发货要多久"], "下单后 48 小时内发货。", "物流"),
    ("invoice", "怎么开发票", &["能开发票吗", "发票在哪里申请", "我要开票"], "在订单详情页申请电子发票。", "订单"),
    (
        "refund-time",
        "退款多久到账",
        &["钱什么时候退回来", "退款几天能到", "退款到账时间"],
        "原路退回，1-3 个工作日到账。",
        "售后/退款",
    ),
    (
        "refund-card",
        "退款退到哪里",
        &["退款退回哪张卡", "钱退到哪", "退款是原路返回吗"],
        "原路退回到支付账户。",
        "售后/退款",
    ),
    (
        "refund-apply",
        "怎么申请退款",
        &["我要退款", "如何申请退款", "退款在哪申请"],
        "在「我的订单」点「申请退款」。",
        "售后/退款",
    ),
    ("legal", "维权与法律咨询", &["法律问题找谁", "维权渠道"], "请联系法务部门。", "法务"),
    (
        "return-en",
        "How do I return an item?",
        &["I want to return my order", "what is your return policy", "can I send it back"],
        "Returns are free within 7 days.",
        "After-sales",
    ),
    (
        "ship-en",
        "When will my order ship?",
        &["how long until it ships", "shipping time", "when do you dispatch orders"],
        "Orders ship within 48 hours.",
        "Shipping",
    ),
];

impl Server {
    async fn start(db_url: &str) -> Res<Server> {
        let store = Store::connect(db_url).await?;
        let services = Services::new(store.clone(), Bus::default());
        // The tests' order webhooks listen on loopback.
        services.set_outbound_policy(OutboundPolicy::parse_list("127.0.0.1")?);
        let app = lingxi_server::app(lingxi_server::AppState::new(services.clone(), None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
        });
        Ok(Server { base: format!("http://{addr}"), store, services, http: reqwest::Client::new() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn shop(&self, slug: &str) -> Res<Shop> {
        let t = self.store.create_tenant(slug, &format!("Shop {slug}"), &format!("wk_{slug}")).await?;
        let hash = hash_password(PASSWORD);
        self.store.create_user(t.id, &format!("admin@{slug}.test"), "Admin", Role::Admin, &hash).await?;
        self.store.create_user(t.id, &format!("agent@{slug}.test"), "Li Na", Role::Agent, &hash).await?;
        let admin = self.login(&format!("admin@{slug}.test")).await?;
        let agent = self.login(&format!("agent@{slug}.test")).await?;
        let mut entries = std::collections::HashMap::new();
        for (key, question, similar, answer, category) in KB {
            let body =
                json!({"question": question, "similar_questions": similar, "answer": answer, "category": category});
            let (code, e) = self.send("POST", "/api/v1/kb/entries", &admin, Some(body)).await?;
            assert_eq!(code, 201, "{e}");
            entries.insert((*key).to_owned(), e["id"].as_str().ok_or("id")?.to_owned());
        }
        self.services.kb_settled(t.id).await;
        self.services.retrain(t.id).await?;
        Ok(Shop { widget_key: t.widget_key, admin, agent, entries })
    }

    async fn login(&self, email: &str) -> Res<String> {
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

    async fn send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Res<(u16, Value)> {
        let mut req = self.http.request(method.parse()?, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    /// A visitor with an open widget socket: (token, conversation id, socket, hello frame).
    async fn visitor(&self, shop: &Shop, extra: Value) -> Res<Visitor> {
        let mut body = json!({"widget_key": shop.widget_key, "visitor": {"name": "Tom"}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.http.post(self.url("/api/v1/widget/sessions")).json(&body).send().await?;
        let status = r.status().as_u16();
        let session: Value = r.json().await?;
        assert_eq!(status, 201, "{session}");
        let token = session["token"].as_str().ok_or("token")?.to_owned();
        let ws_url = format!("{}/api/v1/widget/ws?token={token}", self.base.replacen("http", "ws", 1));
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        let hello = until(&mut ws, |f| f["type"] == "hello").await?;
        Ok(Visitor {
            conversation: session["conversation_id"].as_str().ok_or("id")?.to_owned(),
            visitor_id: session["visitor_id"].as_str().ok_or("visitor")?.to_owned(),
            ws,
            hello,
            n: 0,
        })
    }
}

struct Visitor {
    conversation: String,
    visitor_id: String,
    ws: Ws,
    hello: Value,
    n: usize,
}

impl Visitor {
    /// Sends a message frame; returns the bot's reply (a bot message) or, on a handoff, the status frame.
    async fn say(&mut self, frame: Value) -> Res<Value> {
        self.n += 1;
        let mut frame = frame;
        frame["type"] = json!("message");
        frame["client_id"] = json!(format!("c{}", self.n));
        self.ws.send(WsMessage::Text(frame.to_string().into())).await?;
        until(&mut self.ws, |f| {
            (f["type"] == "message" && f["author"] == "bot") || (f["type"] == "status" && f["status"] != "bot")
        })
        .await
    }

    async fn ask(&mut self, text: &str) -> Res<Value> {
        self.say(json!({"text": text})).await
    }

    async fn rate(&mut self, message_id: &str, useful: bool) -> Res<Value> {
        let frame = json!({"type": "feedback", "message_id": message_id, "useful": useful});
        self.ws.send(WsMessage::Text(frame.to_string().into())).await?;
        until(&mut self.ws, |f| f["type"] == "feedback" || f["type"] == "error").await
    }
}

/// Reads frames until one satisfies `pred`; fails after 10 s.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Res<Value> {
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

fn outcome(reply: &Value) -> &str {
    reply["bot"]["outcome"].as_str().unwrap_or("")
}

async fn on_every_backend<F, Fut>(body: F) -> TestResult
where
    F: Fn(Server) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    body(Server::start(&format!("sqlite://{}?mode=rwc", dir.path().join("bot.db").display())).await?).await?;
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR)
        && !url.is_empty()
    {
        body(Server::start(&scratch_postgres_url(&url).await?).await?).await?;
    }
    Ok(())
}

/// The handoff reason and the summary note of a conversation, as the agent sees them.
async fn handed_off(server: &Server, shop: &Shop, conversation: &str) -> Res<(String, String)> {
    let (code, c) = server.send("GET", &format!("/api/v1/conversations/{conversation}"), &shop.agent, None).await?;
    assert_eq!(code, 200, "{c}");
    let (_, messages) =
        server.send("GET", &format!("/api/v1/conversations/{conversation}/messages"), &shop.agent, None).await?;
    let summary = messages["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .find(|m| m["author"] == "note" && m["bot"]["outcome"] == "summary")
        .and_then(|m| m["text"].as_str())
        .ok_or_else(|| format!("no summary note in {messages}"))?
        .to_owned();
    Ok((c["handoff_reason"].as_str().unwrap_or("").to_owned(), summary))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_comes_with_its_buttons_and_a_clicked_suggestion_is_answered() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("outcomes").await?;
        let mut v = server.visitor(&shop, json!({})).await?;

        let hi = v.ask("你好").await?;
        assert_eq!(outcome(&hi), "chitchat", "{hi}");

        // With a high answer threshold the tenant's bot asks "did you mean" instead.
        let (_, mut settings) = server.send("GET", "/api/v1/admin/bot", &shop.admin, None).await?;
        let defaults = settings.clone();
        settings["answer_threshold"] = json!(0.99);
        settings["suggest_threshold"] = json!(0.01);
        let (code, e) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(settings)).await?;
        assert_eq!(code, 200, "{e}");
        let vague = v.ask("退款").await?;
        assert_eq!(outcome(&vague), "suggest", "{vague}");
        let suggestions = vague["bot"]["suggestions"].as_array().ok_or("suggestions")?.clone();
        assert!((2..=3).contains(&suggestions.len()), "{vague}");
        let pick = &suggestions[0];
        let picked = v
            .say(json!({"text": pick["question"], "choice": {"entry_id": pick["entry_id"], "source": "suggestion"}}))
            .await?;
        assert_eq!(outcome(&picked), "answer", "{picked}");
        assert_eq!(picked["bot"]["entry_id"], pick["entry_id"]);

        let (code, _) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(defaults)).await?;
        assert_eq!(code, 200);
        let answer = v.ask("请问下单以后一般几天发货呀").await?;
        assert_eq!(outcome(&answer), "answer", "{answer}");
        assert_eq!(answer["bot"]["entry_id"], json!(shop.entries["ship-time"]));
        assert_eq!(answer["bot"]["feedback"], json!(true));
        let guesses = answer["bot"]["guesses"].as_array().ok_or("guesses")?;
        assert!(guesses.len() <= 4 && guesses.iter().all(|g| g["entry_id"] != answer["bot"]["entry_id"]), "{answer}");

        let unknown = v.ask("你们老板喜欢什么颜色的汽车").await?;
        assert_eq!(outcome(&unknown), "admit", "{unknown}");
        assert_eq!(unknown["bot"]["human"], json!(true));
        // The way out also offers topics: one question per top-level category, named in the text.
        let topics = unknown["bot"]["guesses"].as_array().ok_or("guesses")?;
        assert!(!topics.is_empty() && topics.len() <= 4, "{unknown}");
        assert!(unknown["text"].as_str().is_some_and(|t| t.contains("售后")), "{unknown}");

        // Every decision is stored with its candidates; the click is a confirmation from a suggestion.
        let (code, d) = server
            .send("GET", &format!("/api/v1/conversations/{}/decisions", v.conversation), &shop.agent, None)
            .await?;
        assert_eq!(code, 200, "{d}");
        let items = d["items"].as_array().ok_or("items")?;
        let outcomes: Vec<&str> = items.iter().filter_map(|i| i["outcome"].as_str()).collect();
        assert_eq!(outcomes, ["chitchat", "suggest", "choice", "answer", "admit"], "{d}");
        assert_eq!(items[2]["source"], "suggestion");
        assert!(items[1]["candidates"].as_array().is_some_and(|c| c.len() >= 2), "{d}");
        assert!(items[3]["confidence"].as_f64().is_some_and(|c| c > 0.0), "{d}");
        assert_eq!(items[3]["reply_message_id"], answer["message_id"]);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_is_read_with_the_previous_question() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("followup").await?;
        let mut v = server.visitor(&shop, json!({})).await?;
        let first = v.ask("我想把东西退了，快递费要我自己出吗").await?;
        assert_eq!(first["bot"]["entry_id"], json!(shop.entries["return-fee"]), "{first}");
        let second = v.ask("那换货呢？").await?;
        assert_eq!(second["bot"]["entry_id"], json!(shop.entries["exchange-fee"]), "{second}");
        let (_, d) = server
            .send("GET", &format!("/api/v1/conversations/{}/decisions", v.conversation), &shop.agent, None)
            .await?;
        let last = &d["items"][1];
        assert_eq!(last["follow_up"], json!(true), "{d}");
        assert!(last["resolved_text"].as_str().is_some_and(|t| t.contains("换货")), "{d}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_handoff_trigger_is_recorded_with_its_reason_and_a_summary() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("handoffs").await?;

        let mut v = server.visitor(&shop, json!({})).await?;
        v.ask("请问下单以后一般几天发货呀").await?;
        let status = v.ask("帮我转人工客服").await?;
        assert_eq!(status["type"], "status", "{status}");
        let (reason, summary) = handed_off(&server, &shop, &v.conversation).await?;
        assert_eq!(reason, "visitor_request");
        assert!(summary.contains("发货"), "the summary names what was asked: {summary}");

        let mut v = server.visitor(&shop, json!({})).await?;
        assert_eq!(outcome(&v.ask("你们老板喜欢什么颜色的汽车").await?), "admit");
        let status = v.ask("火星上能不能送货").await?;
        assert_eq!(status["type"], "status", "{status}");
        assert_eq!(handed_off(&server, &shop, &v.conversation).await?.0, "low_confidence");

        let mut v = server.visitor(&shop, json!({})).await?;
        let status = v.ask("你们这是什么垃圾服务！！！骗子！气死我了，太恶心了！！！").await?;
        assert_eq!(status["type"], "status", "{status}");
        assert_eq!(handed_off(&server, &shop, &v.conversation).await?.0, "negative_emotion");

        let mut v = server.visitor(&shop, json!({})).await?;
        let (code, _) = server
            .send(
                "PUT",
                &format!("/api/v1/visitors/{}/segments", v.visitor_id),
                &shop.agent,
                Some(json!({"tags": ["vip"], "vip": true})),
            )
            .await?;
        assert_eq!(code, 200);
        assert_eq!(outcome(&v.ask("您好").await?), "chitchat", "greetings stay with the bot for VIPs too");
        let status = v.ask("怎么开发票").await?;
        assert_eq!(status["type"], "status", "{status}");
        assert_eq!(handed_off(&server, &shop, &v.conversation).await?.0, "vip");

        let mut v = server.visitor(&shop, json!({})).await?;
        let status = v.ask("退款一直不到，我要去12315投诉你们").await?;
        assert_eq!(status["type"], "status", "{status}");
        let (reason, summary) = handed_off(&server, &shop, &v.conversation).await?;
        assert_eq!(reason, "rule");
        assert!(summary.contains("12315") || summary.contains("投诉"), "{summary}");

        // A business rule by category: answers from 法务 go to a human.
        let (_, mut settings) = server.send("GET", "/api/v1/admin/bot", &shop.admin, None).await?;
        settings["handoff_categories"] = json!(["法务"]);
        let (code, saved) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(settings)).await?;
        assert_eq!(code, 200, "{saved}");
        let mut v = server.visitor(&shop, json!({})).await?;
        let status = v.ask("维权与法律咨询找谁").await?;
        assert_eq!(status["type"], "status", "{status}");
        assert_eq!(handed_off(&server, &shop, &v.conversation).await?.0, "rule");
        // After the handoff the bot is silent.
        v.n += 1;
        let frame = json!({"type": "message", "client_id": "after", "text": "多久发货"});
        v.ws.send(WsMessage::Text(frame.to_string().into())).await?;
        until(&mut v.ws, |f| f["type"] == "ack").await?;
        let quiet = tokio::time::timeout(
            Duration::from_millis(700),
            until(&mut v.ws, |f| f["type"] == "message" && f["author"] == "bot"),
        )
        .await;
        assert!(quiet.is_err(), "the bot spoke after the handoff: {quiet:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_useful_twice_hands_over_and_rating_again_is_not_counted_twice() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("ratings").await?;
        let mut v = server.visitor(&shop, json!({})).await?;
        let a = v.ask("请问下单以后一般几天发货呀").await?;
        let id = a["message_id"].as_str().ok_or("id")?.to_owned();
        let echo = v.rate(&id, false).await?;
        assert_eq!(echo, json!({"type": "feedback", "message_id": id, "useful": false}));
        let sorry = until(&mut v.ws, |f| f["type"] == "message" && f["author"] == "bot").await?;
        assert_eq!(sorry["bot"]["human"], json!(true), "{sorry}");
        // The same rating again changes nothing; a rating of a message that is no bot answer is refused.
        v.rate(&id, false).await?;
        let refused = v.rate(&v.conversation.clone(), true).await?;
        assert_eq!(refused["type"], "error", "{refused}");
        let (_, c) =
            server.send("GET", &format!("/api/v1/conversations/{}", v.conversation), &shop.agent, None).await?;
        assert_eq!(c["status"], "bot", "{c}");

        let b = v.ask("怎么开发票").await?;
        let id = b["message_id"].as_str().ok_or("id")?.to_owned();
        v.rate(&id, false).await?;
        until(&mut v.ws, |f| f["type"] == "status" && f["status"] != "bot").await?;
        assert_eq!(handed_off(&server, &shop, &v.conversation).await?.0, "low_confidence");
        let (_, d) = server
            .send("GET", &format!("/api/v1/conversations/{}/decisions", v.conversation), &shop.agent, None)
            .await?;
        assert!(d["items"].as_array().ok_or("items")?.iter().all(|i| i["feedback"] == json!(false)), "{d}");
        Ok(())
    })
    .await
}

/// A local stand-in for the business's order system.
async fn order_webhook() -> Res<(String, tokio::task::JoinHandle<()>)> {
    let app = axum::Router::new().route(
        "/orders",
        post(|axum::Json(body): axum::Json<Value>| async move {
            let id = body["slots"]["order_id"].as_str().unwrap_or("").to_owned();
            axum::Json(json!({"order": {"status": if id.ends_with('1') { "已发货" } else { "备货中" }}, "echo": body}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/orders", listener.local_addr()?);
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, handle))
}

fn order_flow(url: &str) -> Value {
    json!({
        "name": "order-status", "title": "查订单", "triggers": ["查订单", "我的订单到哪了", "where is my order"],
        "slots": [{"name": "order_id", "prompt_zh": "请发订单号", "prompt_en": "Your order number?",
                   "pattern": "LX\\d{8}", "invalid_zh": "订单号是 LX 加 8 位数字", "invalid_en": "LX and 8 digits"}],
        "webhook_url": url,
        "reply_zh": "订单 {{slots.order_id}} 状态：{{response.order.status}}", "reply_en": "Order {{slots.order_id}}: {{response.order.status}}",
        "failure_zh": "订单系统暂时不可用", "failure_en": "The order system is unavailable"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_flow_asks_validates_calls_the_webhook_and_survives_it_being_down() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("flows").await?;
        let (url, hook) = order_webhook().await?;

        // Validation: a broken pattern and a plain-HTTP remote webhook are refused, naming the field.
        let mut bad = order_flow(&url);
        bad["slots"][0]["pattern"] = json!("LX(\\d{8}");
        let (code, e) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(bad)).await?;
        assert_eq!(code, 400, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| m.contains("slots[0].pattern")), "{e}");
        let mut remote = order_flow("http://shop.example.com/orders");
        remote["name"] = json!("remote");
        let (code, e) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(remote)).await?;
        assert_eq!(code, 400, "{e}");

        let (code, flow) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(order_flow(&url))).await?;
        assert_eq!(code, 201, "{flow}");
        let (code, e) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(order_flow(&url))).await?;
        assert_eq!(code, 409, "a second flow of the same name: {e}");
        let (_, list) = server.send("GET", "/api/v1/admin/flows", &shop.admin, None).await?;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
        let tenant = server.store.tenant_by_slug("flows").await?.ok_or("tenant")?;
        server.services.kb_settled(tenant.id).await;

        let mut v = server.visitor(&shop, json!({})).await?;
        let ask = v.ask("帮我查订单").await?;
        assert_eq!(ask["text"], "请发订单号", "{ask}");
        let again = v.ask("12345").await?;
        assert_eq!(again["text"], "订单号是 LX 加 8 位数字", "{again}");
        let done = v.ask("LX20261201").await?;
        assert_eq!(done["text"], "订单 LX20261201 状态：已发货", "{done}");
        assert_eq!(outcome(&done), "flow");

        // The slot already in the triggering message is taken from it.
        let direct = v.ask("查订单 LX20261202").await?;
        assert_eq!(direct["text"], "订单 LX20261202 状态：备货中", "{direct}");

        hook.abort();
        let _ = hook.await;
        v.ask("查订单").await?;
        let failed = v.ask("LX20261203").await?;
        assert_eq!(failed["text"], "订单系统暂时不可用", "{failed}");
        assert_eq!(outcome(&failed), "flow_failed");
        assert_eq!(failed["bot"]["human"], json!(true));

        // Deleting the flow takes it out of the bot.
        let id = flow["id"].as_str().ok_or("id")?;
        let (code, _) = server.send("DELETE", &format!("/api/v1/admin/flows/{id}"), &shop.admin, None).await?;
        assert_eq!(code, 204);
        server.services.kb_settled(tenant.id).await;
        let after = v.ask("查订单").await?;
        assert_ne!(outcome(&after), "flow", "{after}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_gets_assist_and_gives_the_conversation_back_to_the_bot() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("assist").await?;
        let mut v =
            server.visitor(&shop, json!({"context": {"order_status": "shipped", "order_id": 20261111}})).await?;
        assert!(v.hello["guesses"].is_array(), "{}", v.hello);
        v.ask("转人工").await?;
        let conversation = v.conversation.clone();
        let path = |p: &str| format!("/api/v1/conversations/{conversation}{p}");
        let (code, c) = server.send("POST", &path("/claim"), &shop.agent, Some(json!({}))).await?;
        assert_eq!(code, 200, "{c}");
        assert_eq!(c["context"], json!({"order_id": "20261111", "order_status": "shipped"}), "{c}");

        let frame = json!({"type": "message", "client_id": "q", "text": "换货的话来回运费谁承担"});
        v.ws.send(WsMessage::Text(frame.to_string().into())).await?;
        until(&mut v.ws, |f| f["type"] == "ack").await?;
        let (code, assist) = server.send("GET", &path("/assist"), &shop.agent, None).await?;
        assert_eq!(code, 200, "{assist}");
        assert_eq!(assist["text"], "换货的话来回运费谁承担");
        assert_eq!(assist["suggestions"][0]["entry_id"], json!(shop.entries["exchange-fee"]), "{assist}");
        assert_eq!(assist["suggestions"][0]["answer_text"], "换货来回运费我们承担。");

        let (code, back) = server.send("POST", &path("/bot"), &shop.agent, Some(json!({}))).await?;
        assert_eq!(code, 200, "{back}");
        assert_eq!(back["status"], "bot");
        assert!(back["assigned_agent"].is_null(), "{back}");
        let answer = v.ask("请问下单以后一般几天发货呀").await?;
        assert_eq!(outcome(&answer), "answer", "the bot answers again after the take-back: {answer}");
        // Giving back a conversation the bot already serves is a conflict.
        let (code, _) = server.send("POST", &path("/bot"), &shop.agent, Some(json!({}))).await?;
        assert_eq!(code, 409);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_validated_used_by_the_bot_and_kept_per_tenant() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("settings").await?;
        let other = server.shop("settings-other").await?;
        let (code, defaults) = server.send("GET", "/api/v1/admin/bot", &shop.admin, None).await?;
        assert_eq!(code, 200);
        assert!(defaults["chitchat"].as_array().is_some_and(|c| !c.is_empty()), "{defaults}");

        for bad in [
            json!({"answer_threshold": 1.5}),
            json!({"answer_threshold": 0.2, "suggest_threshold": 0.5}),
            json!({"max_failures": 0}),
            json!({"chitchat": [{"name": "x", "patterns": [], "reply_zh": "", "reply_en": ""}]}),
        ] {
            let (code, e) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(bad.clone())).await?;
            assert_eq!(code, 400, "{bad} → {e}");
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        }
        let (code, _) = server.send("PUT", "/api/v1/admin/bot", &shop.agent, Some(json!({}))).await?;
        assert_eq!(code, 403, "agents do not change the bot");

        // A conversation the bot already answered with the defaults (read once, then kept in memory): it answers
        // with the saved settings from the next message on.
        let mut early = server.visitor(&shop, json!({})).await?;
        assert_ne!(early.ask("哈喽").await?["text"], "哈喽！本店客服在此");

        let mut mine = defaults.clone();
        mine["handoff_keywords"] = json!(["经理"]);
        mine["chitchat"] = json!([{"name": "hi", "patterns": ["哈喽"], "reply_zh": "哈喽！本店客服在此", "reply_en": "Hello from the shop"}]);
        let (code, saved) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(mine)).await?;
        assert_eq!(code, 200, "{saved}");

        assert_eq!(early.ask("哈喽").await?["text"], "哈喽！本店客服在此");
        let mut v = server.visitor(&shop, json!({})).await?;
        assert_eq!(v.ask("哈喽").await?["text"], "哈喽！本店客服在此");
        let status = v.ask("叫你们经理来").await?;
        assert_eq!(status["type"], "status", "{status}");
        assert_eq!(handed_off(&server, &shop, &v.conversation).await?.0, "rule");

        // The other shop keeps the defaults.
        let (_, theirs) = server.send("GET", "/api/v1/admin/bot", &other.admin, None).await?;
        assert_eq!(theirs, defaults);
        let mut w = server.visitor(&other, json!({})).await?;
        assert_ne!(w.ask("哈喽").await?["text"], "哈喽！本店客服在此");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bot_route_reads_or_changes_another_tenants_data() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("iso-a").await?;
        let other = server.shop("iso-b").await?;
        let (url, _hook) = order_webhook().await?;
        let (code, flow) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(order_flow(&url))).await?;
        assert_eq!(code, 201);
        let flow_id = flow["id"].as_str().ok_or("id")?;
        let mut v = server.visitor(&shop, json!({})).await?;
        v.ask("多久发货").await?;

        let (_, flows) = server.send("GET", "/api/v1/admin/flows", &other.admin, None).await?;
        assert_eq!(flows["items"], json!([]));
        let path = format!("/api/v1/admin/flows/{flow_id}");
        let (code, _) = server.send("PUT", &path, &other.admin, Some(order_flow(&url))).await?;
        assert_eq!(code, 404);
        let (code, _) = server.send("DELETE", &path, &other.admin, None).await?;
        assert_eq!(code, 404);
        for route in ["decisions", "assist"] {
            let (code, _) = server
                .send("GET", &format!("/api/v1/conversations/{}/{route}", v.conversation), &other.agent, None)
                .await?;
            assert_eq!(code, 404, "{route}");
        }
        let (code, _) = server
            .send("POST", &format!("/api/v1/conversations/{}/bot", v.conversation), &other.admin, Some(json!({})))
            .await?;
        assert_eq!(code, 404);
        // A visitor cannot rate another conversation's answers.
        let (_, d) = server
            .send("GET", &format!("/api/v1/conversations/{}/decisions", v.conversation), &shop.agent, None)
            .await?;
        let reply = d["items"][0]["reply_message_id"].as_str().ok_or("reply")?.to_owned();
        let mut w = server.visitor(&other, json!({})).await?;
        assert_eq!(w.rate(&reply, false).await?["type"], "error");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_business_context_is_refused_with_the_field() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&format!("sqlite://{}?mode=rwc", dir.path().join("ctx.db").display())).await?;
    let shop = server.shop("ctx").await?;
    let many: serde_json::Map<String, Value> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (context, needle) in [
        (json!({"nested": {"a": 1}}), "context.nested"),
        (json!({"long": "x".repeat(201)}), "context.long"),
        (Value::Object(many), "20 keys"),
    ] {
        let r = server
            .http
            .post(server.url("/api/v1/widget/sessions"))
            .json(&json!({"widget_key": shop.widget_key, "context": context}))
            .send()
            .await?;
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await?;
        assert!(e["message"].as_str().is_some_and(|m| m.contains(needle)), "{e}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_gives_a_long_waiting_conversation_back_to_the_bot() -> TestResult {
    on_every_backend(|server| async move {
        let shop = server.shop("takeback-rule").await?;
        let (_, mut settings) = server.send("GET", "/api/v1/admin/bot", &shop.admin, None).await?;
        settings["queue_takeback_secs"] = json!(1);
        let (code, saved) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(settings.clone())).await?;
        assert_eq!((code, &saved["queue_takeback_secs"]), (200, &json!(1)), "{saved}");
        let mut too_long = settings.clone();
        too_long["queue_takeback_secs"] = json!(100_000);
        let (code, _) = server.send("PUT", "/api/v1/admin/bot", &shop.admin, Some(too_long)).await?;
        assert_eq!(code, 400);

        // No agent is online: the conversation waits in the queue.
        let mut v = server.visitor(&shop, json!({})).await?;
        let status = v.ask("转人工").await?;
        assert_eq!(status["status"], "queued", "{status}");
        let tenant = server.store.tenant_by_slug("takeback-rule").await?.ok_or("tenant")?;
        assert_eq!(server.services.take_back_long_waits(tenant.id).await?, 0, "not waited long enough yet");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        server.services.routing_tick().await?;
        until(&mut v.ws, |f| f["type"] == "status" && f["status"] == "bot").await?;
        let answer = v.ask("请问下单以后一般几天发货呀").await?;
        assert_eq!(outcome(&answer), "answer", "the bot serves again: {answer}");
        let events = server.store.conversation_events(tenant.id, v.conversation.parse()?).await?;
        let takeback = events.iter().find(|e| e.kind.as_str() == "bot_takeback").ok_or("no bot_takeback event")?;
        assert_eq!(takeback.detail["rule"], "queue_takeback_secs", "{:?}", takeback.detail);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_webhook_serves_the_demo_flows_only_when_there_is_a_demo() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display())).await?;
    let services = Services::new(store.clone(), Bus::default());
    let mut bases = Vec::new();
    for demo in [Some("demo".to_owned()), None] {
        let app = lingxi_server::app(lingxi_server::AppState::new(services.clone(), demo));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        bases.push(format!("http://{}", listener.local_addr()?));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
        });
    }
    let http = reqwest::Client::new();
    let call = |base: &str, path: &str, order: &str| {
        http.post(format!("{base}{path}"))
            .json(&json!({"flow": "x", "slots": {"order_id": order, "reason": "尺码不合适"}}))
            .send()
    };
    let shipped: Value = call(&bases[0], "/demo/api/order-status", "LX20261203").await?.json().await?;
    assert_eq!(shipped["status_en"], "shipped", "{shipped}");
    let other: Value = call(&bases[0], "/demo/api/order-status", "LX20260001").await?.json().await?;
    assert!(other["status_zh"].as_str().is_some_and(|s| !s.is_empty()), "{other}");
    assert_eq!(call(&bases[0], "/demo/api/order-status", "LX00000000").await?.status(), 503);
    let ret: Value = call(&bases[0], "/demo/api/returns", "LX20261203").await?.json().await?;
    assert_eq!(ret["return_no"], "RT20261203", "{ret}");
    assert_eq!(call(&bases[1], "/demo/api/returns", "LX20261203").await?.status(), 404, "no demo, no demo webhook");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_private_addresses_only_where_the_operator_allows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&format!("sqlite://{}?mode=rwc", dir.path().join("ssrf.db").display())).await?;
    let shop = server.shop("ssrf").await?;
    let (url, _hook) = order_webhook().await?;
    let port: u16 =
        url.split(':').nth(2).and_then(|p| p.split('/').next()).and_then(|p| p.parse().ok()).ok_or("port")?;
    server.services.set_outbound_policy(OutboundPolicy::parse_list(&format!("127.0.0.1:{}", port + 1))?);
    let (code, e) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(order_flow(&url))).await?;
    assert_eq!(code, 400, "a loopback port that is not allowed: {e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("LINGXI_OUTBOUND_ALLOW")), "{e}");
    for (name, private) in [
        ("meta", "https://169.254.169.254/latest/meta-data/"),
        ("lan", "https://192.168.1.10/orders"),
        ("v6", "https://[fd00::1]/orders"),
        ("mapped", "https://[::ffff:10.0.0.1]/orders"),
        ("local", "https://localhost/orders"),
    ] {
        let mut flow = order_flow(private);
        flow["name"] = json!(name);
        let (code, e) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(flow)).await?;
        assert_eq!(code, 400, "{private}: {e}");
    }
    let mut https = order_flow("https://shop.example.com/orders");
    https["name"] = json!("remote");
    assert_eq!(server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(https)).await?.0, 201);
    server.services.set_outbound_policy(OutboundPolicy::parse_list(&format!("127.0.0.1:{port}"))?);
    let (code, e) = server.send("POST", "/api/v1/admin/flows", &shop.admin, Some(order_flow(&url))).await?;
    assert_eq!(code, 201, "the allowed port: {e}");
    Ok(())
}
