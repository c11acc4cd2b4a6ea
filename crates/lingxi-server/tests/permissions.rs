//! Custom roles and API tokens over HTTP: a custom role gives exactly its permissions and changes take effect at the
//! next request; nobody grants what they do not hold; a role in use cannot be deleted; an API token is shown once,
//! works within its permissions and its maker's, stops at revocation and expiry, cannot act as a login session and
//! leaves its mark in the audit log. Runs on SQLite always and on PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set.

use lingxi_bus::Bus;
use lingxi_service::{Services, hash_password};
use lingxi_store::Store;
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_types::Role;
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
type TestResult = Res<()>;

const PASSWORD: &str = "correct-horse-battery-staple";

struct Server {
    base: String,
    store: Store,
    http: reqwest::Client,
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

    /// A user of `tenant` with `role`, signed in: (token, user id).
    async fn user(&self, tenant: &lingxi_types::Tenant, email: &str, role: Role) -> Res<(String, String)> {
        let u = self.store.create_user(tenant.id, email, email, role, &hash_password(PASSWORD)).await?;
        Ok((self.login(email).await?, u.id.to_string()))
    }

    async fn login(&self, email: &str) -> Res<String> {
        let (code, body) =
            self.send("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD}))).await?;
        assert_eq!(code, 200, "{body}");
        Ok(body["token"].as_str().ok_or("token")?.to_owned())
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Res<(u16, Value)> {
        let mut req = self.http.request(method.parse()?, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }
}

async fn on_every_backend<F, Fut>(body: F) -> TestResult
where
    F: Fn(Server) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    body(Server::start(&format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display())).await?).await?;
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR)
        && !url.is_empty()
    {
        body(Server::start(&scratch_postgres_url(&url).await?).await?).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_roles_grant_exactly_their_permissions_and_nobody_grants_what_they_lack() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("roles", "Roles", "wk_roles").await?;
        let (admin, _) = s.user(&t, "admin@roles.test", Role::Admin).await?;
        let (editor, editor_id) = s.user(&t, "editor@roles.test", Role::Agent).await?;
        let (_, other_id) = s.user(&t, "other@roles.test", Role::Agent).await?;

        let (code, roles) = s.send("GET", "/api/v1/admin/roles", Some(&admin), None).await?;
        assert_eq!(code, 200, "{roles}");
        assert_eq!(roles["permissions"].as_array().map(Vec::len), Some(lingxi_types::Permission::ALL.len()));
        assert!(roles["permissions"][0]["label_zh"].is_string());
        let agent = roles["built_in"].as_array().ok_or("built_in")?.iter().find(|r| r["role"] == "agent");
        assert_eq!(agent.map(|r| r["permissions"].clone()), Some(json!(["workspace"])));

        // Bad input is refused with a typed error.
        for bad in [
            json!({"name": " ", "permissions": []}),
            json!({"name": "admin", "permissions": []}),
            json!({"name": "x", "permissions": ["launch_missiles"]}),
            json!({"name": "x", "permissions": [], "extra": 1}),
        ] {
            let (code, body) = s.send("POST", "/api/v1/admin/roles", Some(&admin), Some(bad.clone())).await?;
            assert!([400, 422].contains(&code), "{bad} -> {code} {body}");
            assert!(body["code"].is_string(), "{body}");
        }
        let (code, role) = s
            .send(
                "POST",
                "/api/v1/admin/roles",
                Some(&admin),
                Some(
                    json!({"name": "知识库编辑 KB editor", "description": "edits FAQs", "permissions": ["manage_kb"]}),
                ),
            )
            .await?;
        assert_eq!(code, 201, "{role}");
        assert_eq!(role["permissions"], json!(["workspace", "manage_kb"]), "the workspace always comes with it");
        let role_id = role["id"].as_str().ok_or("id")?.to_owned();
        let (code, body) = s
            .send(
                "POST",
                "/api/v1/admin/roles",
                Some(&admin),
                Some(json!({"name": "知识库编辑 KB editor", "permissions": []})),
            )
            .await?;
        assert_eq!(code, 409, "names are unique: {body}");

        // Before: an agent cannot edit the knowledge base.
        let entry = json!({"question": "怎么开发票", "answer": "在订单页申请"});
        let (code, _) = s.send("POST", "/api/v1/kb/entries", Some(&editor), Some(entry.clone())).await?;
        assert_eq!(code, 403);
        let (code, user) = s
            .send(
                "PUT",
                &format!("/api/v1/admin/users/{editor_id}/role"),
                Some(&admin),
                Some(json!({"role": "agent", "custom_role": role_id})),
            )
            .await?;
        assert_eq!(code, 200, "{user}");
        assert_eq!(user["custom_role"], role_id.as_str());
        // After: at the next request, with the same session.
        let (code, body) = s.send("POST", "/api/v1/kb/entries", Some(&editor), Some(entry.clone())).await?;
        assert_eq!(code, 201, "{body}");
        let (code, me) = s.send("GET", "/api/v1/me", Some(&editor), None).await?;
        assert_eq!(code, 200);
        assert_eq!(me["permissions"], json!(["workspace", "manage_kb"]));
        let (code, _) = s.send("GET", "/api/v1/admin/users", Some(&editor), None).await?;
        assert_eq!(code, 403, "only what the role gives");
        // A custom role goes with the agent role only.
        let (code, _) = s
            .send(
                "PUT",
                &format!("/api/v1/admin/users/{other_id}/role"),
                Some(&admin),
                Some(json!({"role": "supervisor", "custom_role": role_id})),
            )
            .await?;
        assert_eq!(code, 400);

        // The role in use cannot be deleted; edited, it changes its users at once.
        let (code, body) = s.send("DELETE", &format!("/api/v1/admin/roles/{role_id}"), Some(&admin), None).await?;
        assert_eq!(code, 409, "{body}");
        let (code, _) = s
            .send(
                "PUT",
                &format!("/api/v1/admin/roles/{role_id}"),
                Some(&admin),
                Some(json!({"name": "知识库编辑 KB editor", "permissions": []})),
            )
            .await?;
        assert_eq!(code, 200);
        let (code, _) =
            s.send("POST", "/api/v1/kb/entries", Some(&editor), Some(json!({"question": "q2", "answer": "a"}))).await?;
        assert_eq!(code, 403, "the permission is gone at the next request");

        // A user manager without other permissions cannot grant beyond what they hold.
        let (code, managers) = s
            .send(
                "POST",
                "/api/v1/admin/roles",
                Some(&admin),
                Some(json!({"name": "HR", "permissions": ["manage_users"]})),
            )
            .await?;
        assert_eq!(code, 201);
        let (hr, hr_id) = s.user(&t, "hr@roles.test", Role::Agent).await?;
        let body = json!({"role": "agent", "custom_role": managers["id"]});
        let (code, _) = s.send("PUT", &format!("/api/v1/admin/users/{hr_id}/role"), Some(&admin), Some(body)).await?;
        assert_eq!(code, 200);
        let (code, body) = s
            .send(
                "POST",
                "/api/v1/admin/roles",
                Some(&hr),
                Some(json!({"name": "sneaky", "permissions": ["view_audit"]})),
            )
            .await?;
        assert_eq!(code, 403, "{body}");
        assert!(body["message"].as_str().unwrap_or("").contains("view_audit"), "{body}");
        for role in ["supervisor", "admin", "owner"] {
            let (code, _) = s
                .send("PUT", &format!("/api/v1/admin/users/{other_id}/role"), Some(&hr), Some(json!({"role": role})))
                .await?;
            assert_eq!(code, 403, "granting {role}");
        }
        let (_, admin_row) = s.send("GET", "/api/v1/admin/users", Some(&admin), None).await?;
        let admin_id = admin_row["items"]
            .as_array()
            .ok_or("items")?
            .iter()
            .find(|u| u["email"] == "admin@roles.test")
            .and_then(|u| u["id"].as_str())
            .ok_or("admin id")?
            .to_owned();
        let (code, _) = s
            .send("PUT", &format!("/api/v1/admin/users/{admin_id}/role"), Some(&hr), Some(json!({"role": "agent"})))
            .await?;
        assert_eq!(code, 403, "nobody changes someone who holds more than they do");
        let (code, _) = s
            .send("PUT", &format!("/api/v1/admin/users/{hr_id}/role"), Some(&hr), Some(json!({"role": "agent"})))
            .await?;
        assert_eq!(code, 409, "nor their own role");
        // A plain agent may be given the agent role back by the HR role (within its permissions).
        let (code, _) = s
            .send("PUT", &format!("/api/v1/admin/users/{editor_id}/role"), Some(&hr), Some(json!({"role": "agent"})))
            .await?;
        assert_eq!(code, 200);
        let (code, _) = s.send("DELETE", &format!("/api/v1/admin/roles/{role_id}"), Some(&admin), None).await?;
        assert_eq!(code, 204, "nobody holds it any more");

        // Another tenant sees none of it.
        let other = s.store.create_tenant("other", "Other", "wk_other").await?;
        let (outsider, _) = s.user(&other, "admin@other.test", Role::Admin).await?;
        let (_, list) = s.send("GET", "/api/v1/admin/roles", Some(&outsider), None).await?;
        assert_eq!(list["custom"], json!([]));
        let path = format!("/api/v1/admin/roles/{}", managers["id"].as_str().ok_or("id")?);
        let (code, _) = s.send("PUT", &path, Some(&outsider), Some(json!({"name": "x", "permissions": []}))).await?;
        assert_eq!(code, 404);

        // Every change is in the audit log.
        let (_, audit) = s.send("GET", "/api/v1/admin/audit", Some(&admin), None).await?;
        let actions: Vec<&str> =
            audit["items"].as_array().ok_or("items")?.iter().filter_map(|e| e["action"].as_str()).collect();
        for a in ["role.create", "role.update", "role.delete", "user.role"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shown_once_scoped_narrowed_to_their_maker_and_revocable() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("tokens", "Tokens", "wk_tokens").await?;
        let (admin, _) = s.user(&t, "admin@tokens.test", Role::Admin).await?;
        let (agent, _) = s.user(&t, "agent@tokens.test", Role::Agent).await?;
        let (code, _) = s
            .send("POST", "/api/v1/admin/api-tokens", Some(&agent), Some(json!({"name": "x", "permissions": ["workspace"]})))
            .await?;
        assert_eq!(code, 403, "agents do not manage tokens");
        for bad in [
            json!({"name": "", "permissions": ["workspace"]}),
            json!({"name": "n", "permissions": []}),
            json!({"name": "n", "permissions": ["workspace"], "expires_in_days": 0}),
            json!({"name": "n", "permissions": ["workspace"], "expires_in_days": 100000}),
        ] {
            let (code, body) = s.send("POST", "/api/v1/admin/api-tokens", Some(&admin), Some(bad.clone())).await?;
            assert_eq!(code, 400, "{bad} -> {body}");
        }
        let (code, created) = s
            .send(
                "POST",
                "/api/v1/admin/api-tokens",
                Some(&admin),
                Some(json!({"name": "ERP 订单同步", "permissions": ["workspace", "import_orders"], "expires_in_days": 90})),
            )
            .await?;
        assert_eq!(code, 201, "{created}");
        let token = created["token"].as_str().ok_or("token")?.to_owned();
        assert!(token.starts_with("lxt_") && token.len() == 68, "{token}");
        assert!(created["item"]["expires_at"].is_string());
        let id = created["item"]["id"].as_str().ok_or("id")?.to_owned();

        // Listed without the token; the stored hash is not the token.
        let (code, list) = s.send("GET", "/api/v1/admin/api-tokens", Some(&admin), None).await?;
        assert_eq!(code, 200);
        assert!(!list.to_string().contains(&token), "the token is shown once only");
        assert_eq!(list["items"][0]["prefix"], token.chars().take(10).collect::<String>());
        assert!(list["items"][0]["last_used_at"].is_null());

        // It works within its permissions.
        let (code, me) = s.send("GET", "/api/v1/me", Some(&token), None).await?;
        assert_eq!(code, 200);
        assert_eq!(me["permissions"], json!(["workspace", "import_orders"]));
        assert_eq!(me["api_token"], id.as_str());
        let order = json!({"external_id": "ERP-1", "status": "paid", "amount": "10.00"});
        let (code, body) = s.send("POST", "/api/v1/orders", Some(&token), Some(order)).await?;
        assert!((200..300).contains(&code), "{code} {body}");
        let (code, _) = s.send("GET", "/api/v1/conversations", Some(&token), None).await?;
        assert_eq!(code, 200);
        for (method, path) in [("GET", "/api/v1/admin/users"), ("GET", "/api/v1/admin/audit"), ("GET", "/api/v1/sla/report")] {
            let (code, _) = s.send(method, path, Some(&token), None).await?;
            assert_eq!(code, 403, "{method} {path}");
        }
        // A token is not a login session.
        let pw = json!({"current_password": PASSWORD, "new_password": "another-long-password-1"});
        let (code, _) = s.send("POST", "/api/v1/auth/password", Some(&token), Some(pw)).await?;
        assert_eq!(code, 403);
        let (code, _) = s.send("GET", "/api/v1/auth/sessions", Some(&token), None).await?;
        assert_eq!(code, 403);
        let (_, list) = s.send("GET", "/api/v1/admin/api-tokens", Some(&admin), None).await?;
        assert!(list["items"][0]["last_used_at"].is_string(), "its use is recorded");

        // A token of a token-manager cannot mint further tokens.
        let (_, minter) = s
            .send(
                "POST",
                "/api/v1/admin/api-tokens",
                Some(&admin),
                Some(json!({"name": "minter", "permissions": ["manage_api_tokens"]})),
            )
            .await?;
        let minter = minter["token"].as_str().ok_or("token")?.to_owned();
        let (code, _) = s.send("GET", "/api/v1/admin/api-tokens", Some(&minter), None).await?;
        assert_eq!(code, 200);
        let (code, _) = s
            .send("POST", "/api/v1/admin/api-tokens", Some(&minter), Some(json!({"name": "y", "permissions": ["manage_api_tokens"]})))
            .await?;
        assert_eq!(code, 403);

        // A token never does more than its maker may today: demote the maker and it loses what they lost.
        let (owner, _) = s.user(&t, "owner@tokens.test", Role::Owner).await?;
        let (sup_token, sup_id) = s.user(&t, "lead@tokens.test", Role::Admin).await?;
        let (_, lead_token) = s
            .send(
                "POST",
                "/api/v1/admin/api-tokens",
                Some(&sup_token),
                Some(json!({"name": "lead", "permissions": ["workspace", "view_audit"]})),
            )
            .await?;
        let lead_token = lead_token["token"].as_str().ok_or("token")?.to_owned();
        let (code, _) = s.send("GET", "/api/v1/admin/audit", Some(&lead_token), None).await?;
        assert_eq!(code, 200);
        let (code, _) = s
            .send("PUT", &format!("/api/v1/admin/users/{sup_id}/role"), Some(&owner), Some(json!({"role": "agent"})))
            .await?;
        assert_eq!(code, 200);
        let (code, _) = s.send("GET", "/api/v1/admin/audit", Some(&lead_token), None).await?;
        assert_eq!(code, 403, "the maker is an agent now");

        // Revoked: refused at once, and only once revocable.
        let (code, revoked) = s.send("DELETE", &format!("/api/v1/admin/api-tokens/{id}"), Some(&admin), None).await?;
        assert_eq!(code, 200);
        assert!(revoked["revoked_at"].is_string());
        let (code, _) = s.send("GET", "/api/v1/me", Some(&token), None).await?;
        assert_eq!(code, 401);
        let (code, _) = s.send("DELETE", &format!("/api/v1/admin/api-tokens/{id}"), Some(&admin), None).await?;
        assert_eq!(code, 404);
        let (code, _) = s.send("GET", "/api/v1/me", Some("lxt_not-a-token"), None).await?;
        assert_eq!(code, 401);

        // Expired: refused.
        let maker = s.store.list_users(t.id).await?.into_iter().next().ok_or("user")?;
        let old = format!("lxt_{}", "ab".repeat(32));
        s.store
            .create_api_token(
                t.id,
                lingxi_store::NewApiToken {
                    user_id: maker.id,
                    name: "old".into(),
                    token_hash: lingxi_service::token_hash(&old),
                    prefix: "lxt_ababab".into(),
                    permissions: lingxi_types::Permissions::all(),
                    expires_at: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
                },
            )
            .await?;
        let (code, _) = s.send("GET", "/api/v1/me", Some(&old), None).await?;
        assert_eq!(code, 401);

        // Another tenant cannot see or revoke them.
        let other = s.store.create_tenant("else", "Else", "wk_else").await?;
        let (outsider, _) = s.user(&other, "admin@else.test", Role::Admin).await?;
        let (_, theirs) = s.send("GET", "/api/v1/admin/api-tokens", Some(&outsider), None).await?;
        assert_eq!(theirs["items"], json!([]));

        // Audited, with the acting token named on what a token does.
        let (_, audit) = s.send("GET", "/api/v1/admin/audit?limit=1000", Some(&admin), None).await?;
        let items = audit["items"].as_array().ok_or("items")?;
        for a in ["token.create", "token.revoke"] {
            assert!(items.iter().any(|e| e["action"] == a), "{a}");
        }
        assert!(!audit.to_string().contains(&token), "the token never reaches the audit log");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_keep_the_widget_off_other_sites() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("origins", "Origins", "wk_origins").await?;
        let (admin, _) = s.user(&t, "admin@origins.test", Role::Admin).await?;
        let session = |origin: Option<&'static str>| {
            let mut req = s
                .http
                .post(format!("{}/api/v1/widget/sessions", s.base))
                .json(&json!({"widget_key": "wk_origins", "visitor": {}}));
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            req.send()
        };
        // No list: any site.
        assert_eq!(session(Some("https://anyone.example")).await?.status().as_u16(), 201);

        let (code, got) = s.send("GET", "/api/v1/admin/security", Some(&admin), None).await?;
        assert_eq!(code, 200);
        assert_eq!(got, json!({"audit_retention_days": 365, "widget_origins": []}));
        for bad in [
            json!({"audit_retention_days": 7, "widget_origins": []}),
            json!({"audit_retention_days": 365, "widget_origins": ["shop.example.com"]}),
            json!({"audit_retention_days": 365, "widget_origins": ["https://shop.example.com/path"]}),
            json!({"audit_retention_days": 365}),
        ] {
            let (code, body) = s.send("PUT", "/api/v1/admin/security", Some(&admin), Some(bad.clone())).await?;
            assert!([400, 422].contains(&code), "{bad} -> {code} {body}");
        }
        let list = json!({"audit_retention_days": 90,
                          "widget_origins": ["HTTPS://Shop.Example.com/", "https://*.example.cn", "https://shop.example.com"]});
        let (code, saved) = s.send("PUT", "/api/v1/admin/security", Some(&admin), Some(list)).await?;
        assert_eq!(code, 200, "{saved}");
        assert_eq!(saved["widget_origins"], json!(["https://shop.example.com", "https://*.example.cn"]));

        assert_eq!(session(Some("https://shop.example.com")).await?.status().as_u16(), 201);
        assert_eq!(session(Some("https://m.example.cn")).await?.status().as_u16(), 201);
        let refused = session(Some("https://evil.example")).await?;
        assert_eq!(refused.status().as_u16(), 403);
        let body: Value = refused.json().await?;
        assert_eq!(body["code"], "origin_not_allowed");
        assert_eq!(session(Some("https://shop.example.com.evil.example")).await?.status().as_u16(), 403);
        assert_eq!(session(Some("http://shop.example.com")).await?.status().as_u16(), 403, "the scheme counts");
        // A client that is not a browser on another site (no Origin) and the server's own pages still work.
        assert_eq!(session(None).await?.status().as_u16(), 201);
        let own: &'static str = Box::leak(s.base.clone().into_boxed_str());
        assert_eq!(session(Some(own)).await?.status().as_u16(), 201);
        let config = s
            .http
            .get(format!("{}/api/v1/widget/config?widget_key=wk_origins", s.base))
            .header("origin", "https://evil.example")
            .send()
            .await?;
        assert_eq!(config.status().as_u16(), 403);

        // The hosted support form may be framed by the listed origins only; other pages by none but the server's.
        let csp = |path: String| {
            let http = s.http.clone();
            let url = format!("{}{path}", s.base);
            async move {
                let r = http.get(url).send().await?;
                let value = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
                Ok::<String, reqwest::Error>(value.to_owned())
            }
        };
        let framed = csp("/support?key=wk_origins".into()).await?;
        assert!(
            framed.contains("frame-ancestors 'self' https://shop.example.com https://*.example.cn;"),
            "{framed}"
        );
        for path in ["/support", "/support?key=wk_unknown", "/agent", "/api/v1/widget/config?widget_key=wk_origins"] {
            let policy = csp(path.into()).await?;
            assert!(policy.contains("frame-ancestors 'self';"), "{path}: {policy}");
        }

        let (_, audit) = s.send("GET", "/api/v1/admin/audit", Some(&admin), None).await?;
        let change = audit["items"].as_array().ok_or("items")?.iter().find(|e| e["action"] == "settings.security");
        assert_eq!(change.map(|e| e["detail"]["audit_retention_days"]["to"].clone()), Some(json!(90)));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_exported_and_purged_only_past_its_retention() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("retain", "Retain", "wk_retain").await?;
        let other = s.store.create_tenant("keep", "Keep", "wk_keep").await?;
        let (admin, _) = s.user(&t, "admin@retain.test", Role::Admin).await?;
        let day = 86_400_000i64;
        let now = chrono::Utc::now().timestamp_millis();
        // Old entries (written as a long-running install would have them), and a formula-looking one.
        for (tenant, id, age_days, action) in [
            (&t, "old-1", 400, "login.success"),
            (&t, "old-2", 100, "=HYPERLINK(\"http://evil\")"),
            (&other, "old-3", 400, "login.success"),
        ] {
            let sql = format!(
                "INSERT INTO audit_log (id, tenant_id, actor_user, actor_ip, action, target, detail, created_at) \
                 VALUES ('{id}', '{}', NULL, NULL, '{}', NULL, '{{}}', {})",
                tenant.id,
                action.replace('\'', "''"),
                now - age_days * day
            );
            s.store.raw_execute(&sql).await?;
        }

        // Export: CSV with a BOM, oldest first, formulas defused; JSON too; the export is audited.
        let r = s
            .http
            .get(format!("{}/api/v1/admin/audit/export?from=2000-01-01", s.base))
            .bearer_auth(&admin)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-disposition"].to_str()?.contains("audit-retain-"));
        let bytes = r.bytes().await?;
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = String::from_utf8(bytes[3..].to_vec())?;
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("created_at,action"), "{text}");
        assert!(lines[1].contains("login.success"), "oldest first: {text}");
        assert!(text.contains("'=HYPERLINK"), "a formula is defused: {text}");
        assert!(!text.contains("old-3"), "only the tenant's own entries");
        let (code, json) =
            s.send("GET", "/api/v1/admin/audit/export?format=json&from=2000-01-01", Some(&admin), None).await?;
        assert_eq!(code, 200);
        assert!(json["items"].as_array().is_some_and(|i| i.len() >= 2));
        for bad in ["?format=xml", "?from=2026-02-30", "?from=2026-05-01&to=2026-04-01"] {
            let (code, _) = s.send("GET", &format!("/api/v1/admin/audit/export{bad}"), Some(&admin), None).await?;
            assert_eq!(code, 400, "{bad}");
        }

        // The database refuses deleting recent entries, and a purge less than 30 days back.
        assert!(s.store.raw_execute("DELETE FROM audit_log WHERE id = 'old-1'").await.is_err(), "append-only");
        assert!(s.store.purge_audit(t.id, chrono::Utc::now() - chrono::Duration::days(5)).await.is_err());

        // Retention 90 days here: both old entries go; the other tenant keeps 365 days, so only its 400-day-old one.
        let body = json!({"audit_retention_days": 90, "widget_origins": []});
        let (code, _) = s.send("PUT", "/api/v1/admin/security", Some(&admin), Some(body)).await?;
        assert_eq!(code, 200);
        let services = Services::new(s.store.clone(), Bus::default());
        let deleted = services.purge_expired_audit(chrono::Utc::now()).await?;
        assert_eq!(deleted, 3, "two of this tenant's and the other tenant's 400-day-old one");
        let (_, json) =
            s.send("GET", "/api/v1/admin/audit/export?format=json&from=2000-01-01", Some(&admin), None).await?;
        let items = json["items"].as_array().ok_or("items")?;
        assert!(!items.iter().any(|e| e["id"] == "old-1" || e["id"] == "old-2"));
        let purge = items.iter().find(|e| e["action"] == "audit.purge").ok_or("the purge is audited")?;
        assert_eq!(purge["detail"]["deleted"], 2);
        assert!(items.iter().any(|e| e["action"] == "audit.export"), "exports are audited");
        assert_eq!(services.purge_expired_audit(chrono::Utc::now()).await?, 0, "nothing more is due");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_data_is_exported_and_erased_on_request() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("privacy", "Privacy", "wk_privacy").await?;
        let (admin, _) = s.user(&t, "admin@privacy.test", Role::Admin).await?;
        let (supervisor, _) = s.user(&t, "lead@privacy.test", Role::Supervisor).await?;
        let services = Services::new(s.store.clone(), Bus::default());
        let session = services
            .open_widget_session("wk_privacy", Some("张三 Zhang San"), Some("cust-42"), None, None, None)
            .await?;
        let grant = services.widget_grant(&session.token).await?;
        let words = "我的地址是北京市朝阳区幸福路 8 号 my address";
        services.visitor_message(grant, Some("c1".into()), words).await?;
        let vid = session.visitor_id.to_string();
        let cid = session.conversation.id.to_string();
        let patch = json!({"email": "zhang.san@example.com", "phone": "13800138000"});
        let (code, body) = s.send("PATCH", &format!("/api/v1/visitors/{vid}"), Some(&admin), Some(patch)).await?;
        assert_eq!(code, 200, "{body}");
        let (code, ticket) =
            s.send("POST", &format!("/api/v1/conversations/{cid}/ticket"), Some(&admin), Some(json!({}))).await?;
        assert!((200..300).contains(&code), "{ticket}");
        // An order of theirs, and a marketplace refund record about it (as an intake import stores it).
        let order = json!({"external_id": "TM-PRIV-1", "customer": {"user_id": "cust-42"}, "status": "paid",
                           "amount": "88.00"});
        let (code, body) = s.send("POST", "/api/v1/orders", Some(&admin), Some(order)).await?;
        assert!((200..300).contains(&code), "{body}");
        let record = json!({"customer": "张三的淘宝号", "contact": "138****8000", "reason": "尺码不合适",
                            "content": "收货地址幸福路 8 号", "extra": {"买家留言": "幸福路"}});
        s.store
            .raw_execute(&format!(
                "INSERT INTO intake_records (id, tenant_id, platform, kind, external_id, order_id, customer, currency, \
                 record, fingerprint, created_at, updated_at) VALUES ('ir-priv', '{}', 'tmall', 'refund', 'R1', \
                 'TM-PRIV-1', '张三的淘宝号', 'CNY', '{record}', 'f', 1, 1)",
                t.id
            ))
            .await?;

        // Supervisors do not hold the permission.
        let (code, _) = s.send("GET", &format!("/api/v1/visitors/{vid}/export"), Some(&supervisor), None).await?;
        assert_eq!(code, 403);
        let r = s.http.get(format!("{}/api/v1/visitors/{vid}/export", s.base)).bearer_auth(&admin).send().await?;
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-disposition"].to_str()?.contains(&vid));
        let doc: Value = r.json().await?;
        let text = doc.to_string();
        for needle in [words, "zhang.san@example.com", "13800138000", "cust-42", "张三 Zhang San", "张三的淘宝号"]
        {
            assert!(text.contains(needle), "the export holds {needle}: {text}");
        }
        assert!(doc["conversations"][0]["messages"].as_array().is_some_and(|m| !m.is_empty()));
        assert!(doc["tickets"].as_array().is_some_and(|t| !t.is_empty()));

        let (code, _) = s
            .send("POST", &format!("/api/v1/visitors/{vid}/erase"), Some(&admin), Some(json!({"reason": " "})))
            .await?;
        assert_eq!(code, 400, "a reason is required");
        let (code, report) = s
            .send(
                "POST",
                &format!("/api/v1/visitors/{vid}/erase"),
                Some(&admin),
                Some(json!({"reason": "客户来电要求删除 #88"})),
            )
            .await?;
        assert_eq!(code, 200, "{report}");
        assert!(report["erased"]["messages"].as_u64().is_some_and(|n| n >= 1), "{report}");
        assert_eq!(report["erased"]["tickets"], 1);
        assert_eq!(report["erased"]["intake_records"], 1, "{report}");
        assert!(report["erased"]["identities"].as_u64().is_some_and(|n| n >= 1));

        // Nothing of the person is left where the product shows or exports it.
        let (_, card) = s.send("GET", &format!("/api/v1/visitors/{vid}/card"), Some(&admin), None).await?;
        assert_eq!(card["visitor"]["name"], lingxi_store::ERASED_NAME, "{card}");
        assert!(card["visitor"]["email"].is_null() && card["visitor"]["phone"].is_null(), "{card}");
        let (_, messages) = s.send("GET", &format!("/api/v1/conversations/{cid}/messages"), Some(&admin), None).await?;
        assert!(!messages.to_string().contains("幸福路"), "{messages}");
        let (_, after) = s.send("GET", &format!("/api/v1/visitors/{vid}/export"), Some(&admin), None).await?;
        let after = after.to_string();
        for needle in ["幸福路", "zhang.san@example.com", "13800138000", "cust-42", "张三"] {
            assert!(!after.contains(needle), "{needle} survived the erasure: {after}");
        }
        let stored = s.store.raw_texts("SELECT record FROM intake_records WHERE id = 'ir-priv'").await?.join("");
        assert!(!stored.contains("幸福路") && !stored.contains("张三") && !stored.contains("138"), "{stored}");
        assert!(stored.contains("尺码") || stored.contains(lingxi_store::ERASED_TEXT), "{stored}");
        assert!(services.widget_grant(&session.token).await.is_err(), "the widget session ends");
        let (_, audit) = s.send("GET", "/api/v1/admin/audit", Some(&admin), None).await?;
        let log = audit.to_string();
        assert!(log.contains("customer.export") && log.contains("customer.erase") && log.contains("客户来电要求删除"));
        assert!(!log.contains("幸福路"), "the audit keeps no erased data");

        // Another tenant cannot reach the visitor.
        let other = s.store.create_tenant("nosy", "Nosy", "wk_nosy").await?;
        let (outsider, _) = s.user(&other, "admin@nosy.test", Role::Admin).await?;
        let (code, _) = s.send("GET", &format!("/api/v1/visitors/{vid}/export"), Some(&outsider), None).await?;
        assert_eq!(code, 404);
        let (code, _) = s
            .send("POST", &format!("/api/v1/visitors/{vid}/erase"), Some(&outsider), Some(json!({"reason": "x"})))
            .await?;
        assert_eq!(code, 404);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_with_a_one_time_link() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("reset", "Reset", "wk_reset").await?;
        let (admin, admin_id) = s.user(&t, "admin@reset.test", Role::Admin).await?;
        let (agent, agent_id) = s.user(&t, "agent@reset.test", Role::Agent).await?;
        let (_, owner_id) = s.user(&t, "owner@reset.test", Role::Owner).await?;
        let issue = |who: String, id: String| {
            let s = &s;
            async move { s.send("POST", &format!("/api/v1/admin/users/{id}/password-reset"), Some(&who), None).await }
        };
        // Who may issue one.
        assert_eq!(issue(agent.clone(), admin_id.clone()).await?.0, 403, "agents do not manage users");
        assert_eq!(issue(admin.clone(), admin_id.clone()).await?.0, 409, "not for oneself");
        assert_eq!(issue(admin.clone(), owner_id.clone()).await?.0, 403, "only owners reset owners");
        let other = s.store.create_tenant("elsewhere", "Elsewhere", "wk_elsewhere").await?;
        let (outsider, _) = s.user(&other, "admin@elsewhere.test", Role::Admin).await?;
        assert_eq!(issue(outsider, agent_id.clone()).await?.0, 404, "another tenant's user");

        let (code, first) = issue(admin.clone(), agent_id.clone()).await?;
        assert_eq!(code, 201, "{first}");
        let (code, link) = issue(admin.clone(), agent_id.clone()).await?;
        assert_eq!(code, 201);
        let token = link["token"].as_str().ok_or("token")?.to_owned();
        assert!(token.starts_with("lxr_") && link["path"].as_str() == Some(&format!("/agent#reset={token}")), "{link}");
        let reset = |token: String, password: &'static str| {
            let s = &s;
            async move {
                let body = json!({"token": token, "new_password": password});
                s.send("POST", "/api/v1/auth/password-reset", None, Some(body)).await
            }
        };
        let old = first["token"].as_str().ok_or("token")?.to_owned();
        assert_eq!(reset(old, "a-fresh-secret-2026").await?.0, 400, "a newer link replaces the older one");
        let (code, e) = reset(token.clone(), "12345678").await?;
        assert_eq!(code, 400, "a common password is refused: {e}");
        let (code, done) = reset(token.clone(), "a-fresh-secret-2026").await?;
        assert_eq!(code, 200, "the weak try left the link working: {done}");
        assert_eq!(done["email"], "agent@reset.test");
        assert_eq!(reset(token.clone(), "another-secret-2027").await?.0, 400, "used once");
        assert_eq!(reset("lxr_nonsense".into(), "another-secret-2027").await?.0, 400);

        // The old sessions are gone, the old password no longer works, the new one does.
        assert_eq!(s.send("GET", "/api/v1/me", Some(&agent), None).await?.0, 401, "signed out everywhere");
        let login = |password: &'static str| {
            let s = &s;
            async move {
                let body = json!({"email": "agent@reset.test", "password": password});
                s.send("POST", "/api/v1/auth/login", None, Some(body)).await
            }
        };
        assert_eq!(login(PASSWORD).await?.0, 401);
        assert_eq!(login("a-fresh-secret-2026").await?.0, 200);

        // An expired link does not work.
        let (_, late) = issue(admin.clone(), agent_id.clone()).await?;
        let late = late["token"].as_str().ok_or("token")?.to_owned();
        s.store.raw_execute("UPDATE password_resets SET expires_at = 1 WHERE used_at IS NULL").await?;
        assert_eq!(reset(late, "yet-another-secret-99").await?.0, 400, "expired");

        let (_, audit) = s.send("GET", "/api/v1/admin/audit", Some(&admin), None).await?;
        let log = audit.to_string();
        assert!(log.contains("user.password_reset_issued") && log.contains("\"user.password_reset\""), "{log}");
        assert!(!log.contains(&token), "the audit holds no token");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tickets_requester_contact_is_masked_without_view_pii() -> TestResult {
    on_every_backend(|s| async move {
        let t = s.store.create_tenant("tkpii", "TkPii", "wk_tkpii").await?;
        let (admin, _) = s.user(&t, "admin@tkpii.test", Role::Admin).await?;
        let (agent, _) = s.user(&t, "agent@tkpii.test", Role::Agent).await?;
        let (supervisor, _) = s.user(&t, "lead@tkpii.test", Role::Supervisor).await?;
        let mut ids = Vec::new();
        for contact in ["13812345678", "zhang.san@example.com"] {
            let body = json!({"title": "发票问题", "requester_contact": contact});
            let (code, created) = s.send("POST", "/api/v1/tickets", Some(&admin), Some(body)).await?;
            assert_eq!(code, 201, "{created}");
            assert_eq!(created["requester_contact"], contact, "the admin holds view_pii");
            ids.push(created["id"].as_str().ok_or("id")?.to_owned());
        }
        let (_, one) = s.send("GET", &format!("/api/v1/tickets/{}", ids[0]), Some(&agent), None).await?;
        assert_eq!(one["requester_contact"], "138****5678", "{one}");
        let (_, list) = s.send("GET", "/api/v1/tickets", Some(&agent), None).await?;
        let text = list.to_string();
        assert!(!text.contains("13812345678") && !text.contains("zhang.san@"), "{text}");
        assert!(text.contains("z***@example.com"), "{text}");
        let (_, seen) = s.send("GET", &format!("/api/v1/tickets/{}", ids[1]), Some(&supervisor), None).await?;
        assert_eq!(seen["requester_contact"], "zhang.san@example.com", "supervisors hold view_pii");
        Ok(())
    })
    .await
}
