//! The knowledge base over HTTP as the supervisor uses it: entries, search, import/export of CSV and xlsx with bad
//! rows, hot reload of the bot, "test the bot", and tenant isolation. Runs on SQLite always and on PostgreSQL when
//! `LINGXI_TEST_POSTGRES_URL` is set.

use lingxi_bus::Bus;
use lingxi_service::{Services, hash_password};
use lingxi_store::Store;
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_types::Role;
use serde_json::{Value, json};
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "correct-horse-battery-staple";

struct Server {
    base: String,
    store: Store,
    http: reqwest::Client,
}

/// A signed-in admin and agent of one tenant.
struct Shop {
    admin: String,
    agent: String,
}

impl Server {
    async fn start(db_url: &str) -> Res<Server> {
        let store = Store::connect(db_url).await?;
        let services = Services::new(store.clone(), Bus::default());
        let app = lingxi_server::app(lingxi_server::AppState::new(services, None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Server { base, store, http: reqwest::Client::new() })
    }

    async fn shop(&self, slug: &str) -> Res<Shop> {
        let t = self.store.create_tenant(slug, slug, &format!("wk_{slug}")).await?;
        let hash = hash_password(PASSWORD);
        let mut tokens = Vec::new();
        for (who, role) in [("admin", Role::Admin), ("agent", Role::Agent)] {
            let email = format!("{who}@{slug}.test");
            self.store.create_user(t.id, &email, who, role, &hash).await?;
            let r = self
                .http
                .post(self.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await?;
            let body: Value = r.json().await?;
            tokens.push(body["token"].as_str().ok_or("token")?.to_owned());
        }
        Ok(Shop { agent: tokens.pop().ok_or("agent")?, admin: tokens.pop().ok_or("admin")? })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Res<(u16, Value)> {
        let mut req = self.http.request(method.parse()?, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn bytes(&self, path: &str, token: &str) -> Res<(u16, String, Vec<u8>)> {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await?;
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        Ok((r.status().as_u16(), ct, r.bytes().await?.to_vec()))
    }

    async fn import_raw(&self, token: &str, query: &str, content_type: &str, body: Vec<u8>) -> Res<(u16, Value)> {
        // A server that refuses an oversized body (413) may close the connection before the client finished
        // sending it; on a loaded machine the client then sees the reset instead of the answer. Ask again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(self.url(&format!("/api/v1/kb/import{query}")))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) => return Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null))),
                Err(e) if attempt < 3 && (e.is_request() || e.is_connect()) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Asks "test the bot" until the outcome for `text` is `outcome` (the retrain runs in the background).
    async fn until_outcome(&self, token: &str, text: &str, outcome: &str) -> Res<Value> {
        self.until(token, text, |b| b["outcome"] == outcome).await
    }

    /// Asks "test the bot" until no retrain is under way and the result satisfies `done`.
    async fn until(&self, token: &str, text: &str, done: impl Fn(&Value) -> bool) -> Res<Value> {
        let mut last = Value::Null;
        for _ in 0..100 {
            let (code, body) = self.send("POST", "/api/v1/kb/test", token, Some(json!({"text": text}))).await?;
            assert_eq!(code, 200, "{body}");
            if done(&body) && !body["retraining"].as_bool().unwrap_or(true) {
                return Ok(body);
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the bot never got there for {text}: {last}").into())
    }
}

/// Runs a test body on SQLite and, when configured, on PostgreSQL.
async fn on_every_backend<F, Fut>(body: F) -> TestResult
where
    F: Fn(Server) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    body(Server::start(&format!("sqlite://{}?mode=rwc", dir.path().join("kb.db").display())).await?).await?;
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR)
        && !url.is_empty()
    {
        body(Server::start(&scratch_postgres_url(&url).await?).await?).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_created_searched_edited_and_deleted_with_validation() -> TestResult {
    on_every_backend(|s| async move {
        let shop = s.shop("crud").await?;
        let entry = json!({"question": "怎么退货", "similar_questions": ["如何退货", " ", "如何退货"],
            "answer": "<p>签收后<b>7天</b>内</p><script>alert(1)</script><img src=x onerror=alert(1)>",
            "category": "售后 / 退货", "tags": ["退货", "热门"], "valid_until": "2099-12-31"});
        let (code, created) = s.send("POST", "/api/v1/kb/entries", &shop.admin, Some(entry.clone())).await?;
        assert_eq!(code, 201, "{created}");
        assert_eq!(created["answer"], "<p>签收后<b>7天</b>内</p>", "sanitised with the allow-list");
        assert_eq!(created["answer_text"], "签收后7天内");
        assert_eq!(created["similar_questions"], json!(["如何退货"]));
        assert_eq!(created["category"], "售后/退货");
        assert_eq!(created["valid_until"], "2100-01-01T00:00:00.000Z", "a date alone ends at the end of that day");
        assert_eq!(created["live"], true);
        assert!(created["created_by"].is_string());
        let id = created["id"].as_str().ok_or("id")?.to_owned();

        let (code, dup) = s.send("POST", "/api/v1/kb/entries", &shop.admin, Some(entry)).await?;
        assert_eq!((code, dup["code"].as_str()), (409, Some("already_exists")));
        for (bad, field) in [
            (json!({"question": " ", "answer": "a"}), "question"),
            (json!({"question": "q", "answer": "<script>x</script>"}), "answer"),
            (json!({"question": "q", "answer": "a", "valid_from": "soon"}), "valid_from"),
            (
                json!({"question": "q", "answer": "a", "valid_from": "2026-02-01", "valid_until": "2026-01-01"}),
                "valid_until",
            ),
        ] {
            let (code, e) = s.send("POST", "/api/v1/kb/entries", &shop.admin, Some(bad)).await?;
            assert_eq!((code, e["code"].as_str()), (400, Some("invalid_field")), "{e}");
            assert!(e["message"].as_str().unwrap_or("").contains(field), "{e}");
        }
        let (code, _) =
            s.send("POST", "/api/v1/kb/entries", &shop.agent, Some(json!({"question": "q", "answer": "a"}))).await?;
        assert_eq!(code, 403, "agents read the knowledge base but do not change it");

        for (q, a, c, t) in [
            ("多久发货", "当天发货 ships today", "物流", "热门"),
            ("Can I get an invoice?", "Yes, in My orders", "售后/发票", "invoice"),
        ] {
            let (code, _) = s
                .send(
                    "POST",
                    "/api/v1/kb/entries",
                    &shop.admin,
                    Some(json!({"question": q, "answer": a, "category": c, "tags": [t]})),
                )
                .await?;
            assert_eq!(code, 201);
        }
        let count = |v: &Value| v["total"].as_i64().unwrap_or(-1);
        for (query, total) in [
            ("", 3),
            ("?q=%E5%A6%82%E4%BD%95", 1),        // 如何: a similar question
            ("?q=SHIPS", 1),                     // the answer, case-insensitively
            ("?category=%E5%94%AE%E5%90%8E", 2), // 售后 and its sub-categories
            ("?tag=%E7%83%AD%E9%97%A8", 2),      // 热门
            ("?enabled=false", 0),
        ] {
            let (code, page) = s.send("GET", &format!("/api/v1/kb/entries{query}"), &shop.agent, None).await?;
            assert_eq!((code, count(&page)), (200, total), "{query}: {page}");
        }
        let (_, page) = s.send("GET", "/api/v1/kb/entries?limit=2&offset=2", &shop.agent, None).await?;
        assert_eq!((page["items"].as_array().map(Vec::len), count(&page)), (Some(1), 3));
        let (code, _) = s.send("GET", "/api/v1/kb/entries?limit=0", &shop.agent, None).await?;
        assert_eq!(code, 400);

        let (code, got) = s.send("GET", &format!("/api/v1/kb/entries/{id}"), &shop.agent, None).await?;
        assert_eq!((code, &got["question"]), (200, &json!("怎么退货")));
        let change = json!({"question": "怎么退货？", "answer": "七天", "enabled": false, "tags": []});
        let (code, updated) = s.send("PUT", &format!("/api/v1/kb/entries/{id}"), &shop.admin, Some(change)).await?;
        assert_eq!(code, 200, "{updated}");
        assert_eq!(
            (&updated["enabled"], &updated["live"], &updated["valid_until"]),
            (&json!(false), &json!(false), &Value::Null)
        );
        assert_eq!(updated["created_at"], created["created_at"]);
        let (_, page) = s.send("GET", "/api/v1/kb/entries?enabled=false", &shop.agent, None).await?;
        assert_eq!(count(&page), 1);
        let (code, _) = s.send("DELETE", &format!("/api/v1/kb/entries/{id}"), &shop.admin, None).await?;
        assert_eq!(code, 204);
        let (code, _) = s.send("GET", &format!("/api/v1/kb/entries/{id}"), &shop.agent, None).await?;
        assert_eq!(code, 404);
        Ok(())
    })
    .await
}

const GOOD_AND_BAD: &str = "question,similar_questions,answer,category,tags,enabled,valid_from,valid_until,similar_1\n\
怎么退货,\"如何退货\n退货流程\",七天无理由退货,售后/退货,\"退货, 售后\",true,,,可以退货吗\n\
,no question,x,,,,,,\n\
多久发货,什么时候发货||发货时间,当天发货,物流,,是,2026-01-01,,\n\
bad flag,,x,,,maybe,,,\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_of_csv_and_xlsx_report_bad_rows_and_never_half_apply() -> TestResult {
    on_every_backend(|s| async move {
        let shop = s.shop("imp").await?;
        // All-or-nothing (the default): two bad rows, nothing imported.
        let (code, report) = s.import_raw(&shop.admin, "", "text/csv", GOOD_AND_BAD.into()).await?;
        assert_eq!(code, 200, "{report}");
        assert_eq!(
            (report["applied"].as_bool(), report["created"].as_u64(), report["total_rows"].as_u64()),
            (Some(false), Some(0), Some(4))
        );
        let rows: Vec<u64> =
            report["errors"].as_array().ok_or("errors")?.iter().filter_map(|e| e["row"].as_u64()).collect();
        assert_eq!(rows, vec![3, 5], "row numbers as a spreadsheet shows them (a cell of two lines is still one row)");
        assert_eq!(report["errors"][1]["column"], "enabled");
        let (_, page) = s.send("GET", "/api/v1/kb/entries", &shop.agent, None).await?;
        assert_eq!(page["total"], 0);
        // Skipping bad rows, as a multipart upload.
        let form = reqwest::multipart::Form::new()
            .text("mode", "skip_invalid")
            .part("file", reqwest::multipart::Part::bytes(GOOD_AND_BAD.as_bytes().to_vec()).file_name("kb.csv"));
        let r = s.http.post(s.url("/api/v1/kb/import")).bearer_auth(&shop.admin).multipart(form).send().await?;
        assert_eq!(r.status(), 200);
        let report: Value = r.json().await?;
        assert_eq!(
            (report["applied"].as_bool(), report["created"].as_u64(), report["skipped"].as_u64()),
            (Some(true), Some(2), Some(2))
        );
        let (_, page) = s.send("GET", "/api/v1/kb/entries?q=%E9%80%80%E8%B4%A7", &shop.agent, None).await?;
        assert_eq!(page["items"][0]["similar_questions"], json!(["如何退货", "退货流程", "可以退货吗"]));
        assert_eq!(page["items"][0]["tags"], json!(["退货", "售后"]));

        // Export as xlsx, re-import: nothing changes (idempotent upsert by standard question).
        let (code, ct, xlsx) = s.bytes("/api/v1/kb/export?format=xlsx", &shop.agent).await?;
        assert_eq!(code, 200);
        assert!(ct.contains("spreadsheetml"), "{ct}");
        let (code, again) = s.import_raw(&shop.admin, "?format=xlsx", "application/octet-stream", xlsx).await?;
        assert_eq!(code, 200, "{again}");
        assert_eq!(
            (
                again["applied"].as_bool(),
                again["unchanged"].as_u64(),
                again["created"].as_u64(),
                again["updated"].as_u64()
            ),
            (Some(true), Some(2), Some(0), Some(0))
        );
        // A changed row updates in place.
        let (_, _, csv) = s.bytes("/api/v1/kb/export?format=csv", &shop.agent).await?;
        let changed = String::from_utf8(csv)?.replace("当天发货", "次日发货");
        let (_, report) = s.import_raw(&shop.admin, "?format=csv", "text/plain", changed.into_bytes()).await?;
        assert_eq!((report["updated"].as_u64(), report["unchanged"].as_u64()), (Some(1), Some(1)));
        let (_, page) = s.send("GET", "/api/v1/kb/entries", &shop.agent, None).await?;
        assert_eq!(page["total"], 2);

        // The template imports as is, in both formats.
        for format in ["csv", "xlsx"] {
            let (code, _, template) = s.bytes(&format!("/api/v1/kb/template?format={format}"), &shop.agent).await?;
            assert_eq!(code, 200);
            let (_, report) =
                s.import_raw(&shop.admin, &format!("?format={format}"), "application/octet-stream", template).await?;
            assert_eq!(
                (report["applied"].as_bool(), report["errors"].as_array().map(Vec::len)),
                (Some(true), Some(0)),
                "{report}"
            );
        }
        // Whole-file problems are plain errors.
        let (code, e) = s.import_raw(&shop.admin, "?format=csv", "text/csv", b"foo,bar\n1,2\n".to_vec()).await?;
        assert_eq!((code, e["code"].as_str()), (400, Some("invalid_field")), "{e}");
        let (code, _) = s.import_raw(&shop.admin, "", "application/octet-stream", b"x".to_vec()).await?;
        assert_eq!(code, 400, "no format");
        let (code, _) = s.import_raw(&shop.agent, "?format=csv", "text/csv", GOOD_AND_BAD.into()).await?;
        assert_eq!(code, 403);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_take_files_up_to_twenty_mebibytes_and_other_routes_keep_the_small_limit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(&format!("sqlite://{}?mode=rwc", dir.path().join("kb.db").display())).await?;
    let shop = s.shop("big").await?;
    let mut csv = String::from("question,answer\n");
    let mut i = 0;
    while csv.len() < 200 * 1024 {
        csv.push_str(&format!("问题 {i},答案 {i}\n"));
        i += 1;
    }
    let (code, report) = s.import_raw(&shop.admin, "", "text/csv", csv.clone().into_bytes()).await?;
    assert_eq!((code, report["created"].as_u64()), (200, Some(i)), "a 200 KiB file is accepted");
    let too_big = vec![b'a'; 21 * 1024 * 1024];
    let (code, e) = s.import_raw(&shop.admin, "", "text/csv", too_big).await?;
    assert_eq!((code, e["code"].as_str()), (413, Some("payload_too_large")));
    // As in `import_raw`: the refusal may reach the client as a reset while it is still sending; ask again.
    let oversized = json!({"question": "q", "answer": "a".repeat(100 * 1024)});
    let mut attempt = 0;
    let status = loop {
        attempt += 1;
        match s.http.post(s.url("/api/v1/kb/entries")).bearer_auth(&shop.admin).json(&oversized).send().await {
            Ok(r) => break r.status(),
            Err(e) if attempt < 3 && e.is_request() => continue,
            Err(e) => return Err(e.into()),
        }
    };
    assert_eq!(status, 413);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_the_running_bot_without_a_restart() -> TestResult {
    on_every_backend(|s| async move {
        let shop = s.shop("hot").await?;
        let (code, body) = s.send("POST", "/api/v1/kb/test", &shop.agent, Some(json!({"text": "什么时候发货"}))).await?;
        assert_eq!((code, body["outcome"].as_str(), body["live_entries"].as_u64()), (200, Some("admit"), Some(0)));
        let entry = json!({"question": "多久发货", "similar_questions": ["什么时候发货", "发货时间", "when will my order ship"], "answer": "当天发货"});
        let (_, created) = s.send("POST", "/api/v1/kb/entries", &shop.admin, Some(entry)).await?;
        let other = json!({"question": "怎么退货", "similar_questions": ["如何退货", "退货流程", "how do I return an item"], "answer": "七天"});
        s.send("POST", "/api/v1/kb/entries", &shop.admin, Some(other)).await?;
        let answered = s.until_outcome(&shop.agent, "什么时候发货", "answer").await?;
        assert_eq!(answered["reply"], "当天发货");
        assert_eq!(answered["entry_id"], created["id"]);
        let top = &answered["candidates"][0];
        assert_eq!(top["question"], "多久发货");
        assert!(top["confidence"].as_f64().unwrap_or(0.0) > 0.5, "{answered}");
        // Disabling the entry takes it away from the bot; an import brings a new one.
        let id = created["id"].as_str().ok_or("id")?;
        let disabled = json!({"question": "多久发货", "similar_questions": ["什么时候发货"], "answer": "当天发货", "enabled": false});
        s.send("PUT", &format!("/api/v1/kb/entries/{id}"), &shop.admin, Some(disabled)).await?;
        let gone = |b: &Value| {
            b["live_entries"] == 1 && b["candidates"].as_array().is_some_and(|c| c.iter().all(|c| c["question"] != "多久发货"))
        };
        let after = s.until(&shop.agent, "什么时候发货", gone).await?;
        assert_ne!(after["reply"], "当天发货");
        let file = "question,similar_questions,answer\n怎么开发票,\"可以开发票吗\n发票怎么开\nhow do I get an invoice\",在订单页申请\n";
        s.import_raw(&shop.admin, "", "text/csv", file.into()).await?;
        s.until_outcome(&shop.agent, "发票怎么开", "answer").await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_reads_or_changes_another_tenants_knowledge_base() -> TestResult {
    on_every_backend(|s| async move {
        let a = s.shop("ta").await?;
        let b = s.shop("tb").await?;
        let entry = json!({"question": "秘密问题", "similar_questions": ["内部口令"], "answer": "A 的答案"});
        let (_, created) = s.send("POST", "/api/v1/kb/entries", &a.admin, Some(entry.clone())).await?;
        let id = created["id"].as_str().ok_or("id")?;
        for (method, body) in [("GET", None), ("PUT", Some(entry.clone())), ("DELETE", None)] {
            let (code, _) = s.send(method, &format!("/api/v1/kb/entries/{id}"), &b.admin, body).await?;
            assert_eq!(code, 404, "{method} of another tenant's entry");
        }
        let (_, page) = s.send("GET", "/api/v1/kb/entries?q=%E7%A7%98%E5%AF%86", &b.agent, None).await?;
        assert_eq!(page["total"], 0);
        for format in ["csv", "xlsx"] {
            let (_, _, file) = s.bytes(&format!("/api/v1/kb/export?format={format}"), &b.agent).await?;
            assert!(!String::from_utf8_lossy(&file).contains(id), "export of B holds A's entry");
        }
        let (_, _, csv) = s.bytes("/api/v1/kb/export?format=csv", &b.agent).await?;
        assert!(!String::from_utf8_lossy(&csv).contains("秘密"));
        s.until_outcome(&a.agent, "内部口令", "answer").await?;
        let (_, test) = s.send("POST", "/api/v1/kb/test", &b.agent, Some(json!({"text": "内部口令"}))).await?;
        assert_eq!((test["outcome"].as_str(), test["candidates"].as_array().map(Vec::len)), (Some("admit"), Some(0)));
        // B importing the same question creates B's own entry; A's is untouched.
        s.import_raw(&b.admin, "", "text/csv", "question,answer\n秘密问题,B 的答案\n".into()).await?;
        let (_, mine) = s.send("GET", &format!("/api/v1/kb/entries/{id}"), &a.agent, None).await?;
        assert_eq!(mine["answer"], "A 的答案");
        Ok(())
    })
    .await
}
