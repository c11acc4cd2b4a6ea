//! The access matrix: every route of the OpenAPI document × every role (and no credentials) × an object of the
//! caller's own tenant and of another tenant. A route missing from the table below fails the test, and so does a
//! route of the router missing from the OpenAPI document, so a new route cannot escape the matrix.

use lingxi_bus::Bus;
use lingxi_service::{Services, hash_password};
use lingxi_store::{Actor, AssignChecks, GroupInput, NewApiToken, NewKbEntry, NewTicket, Store};
use lingxi_types::{ConversationStatus, Explanation, Permission, Permissions, Role, RoutingStrategy, Tenant};
use serde_json::{Value, json};
use std::collections::BTreeSet;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    /// Anyone (health, the API document, the widget's session routes).
    Public,
    /// A WebSocket upgrade: checked for refusal without credentials only.
    Socket,
    /// Anyone signed in, with a session or an API token, whatever their permissions.
    Signed,
    /// A user signed in with a login session; API tokens are refused.
    Session,
    /// Holders of the workspace permission (every role).
    Member,
    /// A widget token (checked for refusal without one).
    Widget,
    /// Holders of this permission (and of the workspace permission, for routes of the workspace).
    Needs(Permission),
}

/// A valid task flow named `f-{n}`.
fn flow_body() -> Value {
    json!({"name": "f-{n}", "triggers": ["check order {n}"], "webhook_url": "https://shop.example.com/hook",
           "reply_zh": "好的", "reply_en": "OK"})
}

/// Every route, its access rule and a valid body. Add a line here with every new route.
fn table() -> Vec<(&'static str, &'static str, Access, Value)> {
    use Access::*;
    use Permission::*;
    vec![
        ("GET", "/healthz", Public, Value::Null),
        ("GET", "/api/v1/widget/config", Public, Value::Null),
        ("POST", "/api/v1/widget/sessions", Public, Value::Null),
        ("GET", "/api/v1/widget/ws", Socket, Value::Null),
        ("POST", "/api/v1/auth/login", Public, Value::Null),
        ("POST", "/api/v1/auth/password-reset", Public, Value::Null),
        ("POST", "/api/v1/auth/logout", Session, json!({})),
        ("GET", "/api/v1/me", Signed, Value::Null),
        ("GET", "/api/v1/auth/sessions", Session, Value::Null),
        ("DELETE", "/api/v1/auth/sessions/{id}", Session, Value::Null),
        (
            "POST",
            "/api/v1/auth/password",
            Session,
            json!({"current_password": "pw-123456789", "new_password": "a-much-longer-pass-{n}"}),
        ),
        ("GET", "/api/v1/conversations", Member, Value::Null),
        ("GET", "/api/v1/conversations/{id}", Member, Value::Null),
        ("GET", "/api/v1/conversations/{id}/messages", Member, Value::Null),
        ("POST", "/api/v1/conversations/{id}/messages", Member, json!({"text": "hello"})),
        ("POST", "/api/v1/conversations/{id}/claim", Member, json!({})),
        ("POST", "/api/v1/conversations/{id}/close", Member, json!({})),
        ("GET", "/api/v1/agent/ws", Socket, Value::Null),
        ("GET", "/api/v1/admin/users", Needs(ManageUsers), Value::Null),
        (
            "POST",
            "/api/v1/admin/users",
            Needs(ManageUsers),
            json!({"email": "new-{n}@x.test", "name": "N", "password": "long-enough-1", "role": "agent"}),
        ),
        ("POST", "/api/v1/admin/users/{id}/unlock", Needs(ManageUsers), json!({})),
        ("POST", "/api/v1/admin/users/{id}/password-reset", Needs(ManageUsers), json!({})),
        ("PUT", "/api/v1/admin/users/{id}/role", Needs(ManageUsers), json!({"role": "agent"})),
        ("GET", "/api/v1/admin/audit", Needs(ViewAudit), Value::Null),
        ("GET", "/api/v1/admin/tenant", Needs(ManageSettings), Value::Null),
        ("GET", "/api/v1/kb/entries", Member, Value::Null),
        ("POST", "/api/v1/kb/entries", Needs(ManageKb), json!({"question": "q-{n}", "answer": "a"})),
        ("GET", "/api/v1/kb/entries/{id}", Member, Value::Null),
        (
            "PUT",
            "/api/v1/kb/entries/{id}",
            Needs(ManageKb),
            json!({"question": "q-{n}", "answer": "a", "enabled": false}),
        ),
        ("DELETE", "/api/v1/kb/entries/{id}", Needs(ManageKb), Value::Null),
        ("POST", "/api/v1/kb/import", Needs(ManageKb), json!("question,answer\nq-{n},a\n")),
        ("GET", "/api/v1/kb/export", Member, Value::Null),
        ("GET", "/api/v1/kb/template", Member, Value::Null),
        ("POST", "/api/v1/kb/test", Member, json!({"text": "hello"})),
        ("GET", "/api/v1/admin/bot", Needs(ManageBot), Value::Null),
        ("PUT", "/api/v1/admin/bot", Needs(ManageBot), json!({"answer_threshold": 0.5, "suggest_threshold": 0.2})),
        ("GET", "/api/v1/admin/flows", Needs(ManageBot), Value::Null),
        ("POST", "/api/v1/admin/flows", Needs(ManageBot), flow_body()),
        ("PUT", "/api/v1/admin/flows/{id}", Needs(ManageBot), flow_body()),
        ("DELETE", "/api/v1/admin/flows/{id}", Needs(ManageBot), Value::Null),
        ("GET", "/api/v1/conversations/{id}/assist", Member, Value::Null),
        ("POST", "/api/v1/conversations/{id}/bot", Member, json!({})),
        ("GET", "/api/v1/conversations/{id}/decisions", Member, Value::Null),
        ("PUT", "/api/v1/me/status", Member, json!({"status": "away"})),
        ("GET", "/api/v1/agents", Member, Value::Null),
        ("PUT", "/api/v1/admin/agents/{id}", Needs(ManageRouting), json!({"capacity": 5, "skills": ["en"]})),
        ("GET", "/api/v1/groups", Member, Value::Null),
        ("POST", "/api/v1/admin/groups", Needs(ManageRouting), json!({"name": "g-{n}"})),
        ("PUT", "/api/v1/admin/groups/{id}", Needs(ManageRouting), json!({"name": "g-{n}", "strategy": "round_robin"})),
        ("DELETE", "/api/v1/admin/groups/{id}", Needs(ManageRouting), Value::Null),
        ("GET", "/api/v1/admin/routing-rules", Needs(ManageRouting), Value::Null),
        (
            "PUT",
            "/api/v1/admin/routing-rules",
            Needs(ManageRouting),
            json!({"items": [{"name": "en", "conditions": [{"field": "language", "equals": "en"}], "priority": 5}]}),
        ),
        ("POST", "/api/v1/conversations/{id}/transfer", Member, json!({"to_group": "{group}", "note": "n"})),
        ("POST", "/api/v1/conversations/{id}/takeover", Needs(SuperviseConversations), json!({})),
        ("POST", "/api/v1/conversations/{id}/notes", Member, json!({"text": "note"})),
        ("GET", "/api/v1/conversations/{id}/assignments", Member, Value::Null),
        ("GET", "/api/v1/visitors/{id}", Member, Value::Null),
        ("PUT", "/api/v1/visitors/{id}/segments", Member, json!({"tags": ["wholesale"], "vip": true})),
        ("PATCH", "/api/v1/visitors/{id}", Member, json!({"attributes": {"plan": "gold"}, "email": "a@b.cn"})),
        ("GET", "/api/v1/visitors/{id}/card", Member, Value::Null),
        ("GET", "/api/v1/visitors/{id}/orders", Member, Value::Null),
        ("POST", "/api/v1/conversations/{id}/read", Member, json!({"seq": 1})),
        ("POST", "/api/v1/conversations/{id}/attachments", Member, json!("a,b\n1,2\n")),
        ("GET", "/api/v1/attachments/{id}", Member, Value::Null),
        ("POST", "/api/v1/widget/attachments", Widget, json!("a,b\n1,2\n")),
        ("GET", "/api/v1/widget/attachments/{id}", Widget, Value::Null),
        ("GET", "/api/v1/canned-replies", Member, Value::Null),
        (
            "POST",
            "/api/v1/canned-replies",
            Member,
            json!({"shortcut": "s{n}", "title": "t", "text": "hi {{visitor.name}}"}),
        ),
        (
            "PUT",
            "/api/v1/canned-replies/{id}",
            Needs(SuperviseConversations),
            json!({"shortcut": "s{n}", "title": "t", "text": "hello"}),
        ),
        ("DELETE", "/api/v1/canned-replies/{id}", Needs(SuperviseConversations), Value::Null),
        ("POST", "/api/v1/track", Public, Value::Null),
        ("POST", "/api/v1/forms/ticket", Public, Value::Null),
        ("POST", "/api/v1/tickets/{id}/attachments", Member, json!("a,b\n1,2\n")),
        ("GET", "/api/v1/ticket-attachments/{id}", Member, Value::Null),
        ("GET", "/api/v1/tickets/fields", Member, Value::Null),
        (
            "POST",
            "/api/v1/tickets/email",
            Member,
            json!(
                "From: Ann <ann-{n}@example.com>\r\nSubject: s-{n}\r\nMessage-ID: <m-{n}@example.com>\r\n\r\nhello\r\n"
            ),
        ),
        ("GET", "/api/v1/admin/email-inbox", Needs(ManageTickets), Value::Null),
        ("PUT", "/api/v1/admin/email-inbox", Needs(ManageTickets), json!({"addresses": ["support-{n}@shop.test"]})),
        ("POST", "/api/v1/track/identify", Public, Value::Null),
        (
            "POST",
            "/api/v1/orders",
            Needs(ImportOrders),
            json!({"external_id": "o-{n}", "status": "paid", "amount": "10.00"}),
        ),
        ("POST", "/api/v1/orders/import", Needs(ImportOrders), json!("order_id,amount\no-{n},10\n")),
        ("GET", "/api/v1/admin/intake/sources", Needs(ManageTickets), Value::Null),
        (
            "POST",
            "/api/v1/admin/intake/sources",
            Needs(ManageTickets),
            json!({"name": "s-{n}", "mapping": {"name": "m", "kind": "order", "platform": "own", "columns": {"external_id": ["order_no"]}}}),
        ),
        (
            "PUT",
            "/api/v1/admin/intake/sources/{id}",
            Needs(ManageTickets),
            json!({"name": "s-{n}", "mapping": {"name": "m", "kind": "order", "platform": "own", "columns": {"external_id": ["order_no"]}}}),
        ),
        ("DELETE", "/api/v1/admin/intake/sources/{id}", Needs(ManageTickets), Value::Null),
        ("GET", "/api/v1/admin/intake/shipped", Needs(ManageTickets), Value::Null),
        ("GET", "/api/v1/admin/intake/shipped/{id}/sample", Needs(ManageTickets), Value::Null),
        ("POST", "/api/v1/admin/intake/import", Needs(ManageTickets), json!("order_no\nA-{n}\n")),
        ("GET", "/api/v1/admin/intake/runs", Needs(ManageTickets), Value::Null),
        ("GET", "/api/v1/sla/report", Needs(ViewReports), Value::Null),
        ("GET", "/api/v1/admin/webhooks", Needs(ManageTickets), Value::Null),
        ("GET", "/api/v1/admin/intake/runs/{id}", Needs(ManageTickets), Value::Null),
        ("GET", "/api/v1/tickets", Member, Value::Null),
        ("POST", "/api/v1/tickets", Member, json!({"title": "t-{n}", "tags": ["x"]})),
        ("GET", "/api/v1/tickets/{id}", Member, Value::Null),
        ("PATCH", "/api/v1/tickets/{id}", Member, json!({"status": "open", "priority": "high"})),
        ("GET", "/api/v1/tickets/{id}/comments", Member, Value::Null),
        ("POST", "/api/v1/tickets/{id}/comments", Member, json!({"body": "we are on it", "public": true})),
        ("GET", "/api/v1/tickets/{id}/history", Member, Value::Null),
        ("POST", "/api/v1/tickets/bulk", Member, json!({"ids": ["{ticket}"], "patch": {"add_tags": ["x"]}})),
        ("POST", "/api/v1/conversations/{id}/ticket", Member, json!({})),
        ("POST", "/api/v1/widget/leave-message", Widget, json!({"text": "call me back"})),
        ("GET", "/api/v1/admin/ticket-settings", Needs(ManageTickets), Value::Null),
        ("GET", "/api/v1/visitors/{id}/export", Needs(ManageCustomerData), Value::Null),
        ("POST", "/api/v1/visitors/{id}/erase", Needs(ManageCustomerData), json!({"reason": "customer request #{n}"})),
        ("GET", "/api/v1/admin/security", Needs(ManageSettings), Value::Null),
        (
            "PUT",
            "/api/v1/admin/security",
            Needs(ManageSettings),
            json!({"audit_retention_days": 365, "widget_origins": []}),
        ),
        ("GET", "/api/v1/admin/audit/export", Needs(ViewAudit), Value::Null),
        ("GET", "/api/v1/admin/roles", Needs(ManageUsers), Value::Null),
        ("POST", "/api/v1/admin/roles", Needs(ManageUsers), json!({"name": "r-{n}", "permissions": ["workspace"]})),
        ("PUT", "/api/v1/admin/roles/{id}", Needs(ManageUsers), json!({"name": "r-{n}", "permissions": []})),
        ("DELETE", "/api/v1/admin/roles/{id}", Needs(ManageUsers), Value::Null),
        ("GET", "/api/v1/admin/api-tokens", Needs(ManageApiTokens), Value::Null),
        (
            "POST",
            "/api/v1/admin/api-tokens",
            Needs(ManageApiTokens),
            json!({"name": "t-{n}", "permissions": ["workspace"], "expires_in_days": 30}),
        ),
        ("DELETE", "/api/v1/admin/api-tokens/{id}", Needs(ManageApiTokens), Value::Null),
        (
            "PUT",
            "/api/v1/admin/ticket-settings",
            Needs(ManageTickets),
            json!({"rules": [{"id": "r1", "name": "refunds urgent", "conditions": [{"field": "text", "op": "contains", "value": "退款"}], "actions": [{"action": "set_priority", "value": "urgent"}]}], "threshold": 0.6}),
        ),
    ]
}

const ROLES: [Role; 4] = [Role::Owner, Role::Admin, Role::Supervisor, Role::Agent];

struct World {
    base: String,
    http: reqwest::Client,
    store: Store,
    services: Services,
    own: Tenant,
    other: Tenant,
    /// A skill group of the own tenant (`{group}` in bodies).
    group: String,
    /// A ticket of the own tenant (`{ticket}` in bodies).
    ticket: String,
    n: std::sync::atomic::AtomicUsize,
}

impl World {
    /// A fresh object of `tenant` for a route with an `{id}`: a conversation or a knowledge-base entry.
    async fn object(&self, tenant: &Tenant, path: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        if path.starts_with("/api/v1/auth/sessions/") {
            // Sessions belong to a user: another tenant's (or user's) session id is simply not found.
            return Ok(format!("session-of-someone-in-{}", tenant.slug));
        }
        if path.starts_with("/api/v1/admin/users/") || path.starts_with("/api/v1/admin/agents/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let u = self
                .store
                .create_user(tenant.id, &format!("target-{n}@{}.test", tenant.slug), "T", Role::Agent, "x")
                .await?;
            return Ok(u.id.to_string());
        }
        if path.starts_with("/api/v1/admin/roles/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let perms = [Permission::ManageKb].into_iter().collect();
            return Ok(self
                .store
                .save_custom_role(tenant.id, None, &format!("target-{n}"), "", perms)
                .await?
                .id
                .to_string());
        }
        if path.starts_with("/api/v1/admin/api-tokens/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let u = self
                .store
                .create_user(tenant.id, &format!("maker-{n}@{}.test", tenant.slug), "M", Role::Agent, "x")
                .await?;
            let new = NewApiToken {
                user_id: u.id,
                name: "target".into(),
                token_hash: format!("hash-{n}"),
                prefix: "lxt_".into(),
                permissions: Role::Agent.permissions(),
                expires_at: None,
            };
            return Ok(self.store.create_api_token(tenant.id, new).await?.id.to_string());
        }
        if path.starts_with("/api/v1/kb/") {
            let e = self
                .store
                .create_kb_entry(
                    tenant.id,
                    NewKbEntry {
                        question: format!("q-{}", self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
                        answer: "a".into(),
                        ..Default::default()
                    },
                )
                .await?;
            return Ok(e.id.to_string());
        }
        if path.starts_with("/api/v1/admin/groups/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let input = GroupInput {
                name: format!("target-{n}"),
                strategy: RoutingStrategy::LeastLoaded,
                skills: vec![],
                sticky: true,
                members: vec![],
            };
            return Ok(self.store.create_group(tenant.id, &input).await?.id.to_string());
        }
        if path.starts_with("/api/v1/ticket-attachments/") {
            let actor = Actor { user_id: None, name: "test".into() };
            let new = NewTicket { title: "t".into(), source: "api".into(), ..Default::default() };
            let t = self.store.create_ticket(tenant.id, new, &actor).await?;
            let a = self
                .store
                .store_ticket_attachment(tenant.id, t.id, "test", "a.txt", "text/plain", b"hi".to_vec())
                .await?;
            return Ok(a.id.to_string());
        }
        if path.starts_with("/api/v1/tickets/") {
            let actor = Actor { user_id: None, name: "test".into() };
            let new = NewTicket { title: "t".into(), source: "api".into(), ..Default::default() };
            return Ok(self.store.create_ticket(tenant.id, new, &actor).await?.id.to_string());
        }
        if path.starts_with("/api/v1/admin/intake/shipped/") {
            // Shipped mappings are the same for every tenant: the id names one; there is nothing foreign to find.
            return Ok(if tenant.id == self.own.id { "tmall-refunds".into() } else { "no-such-mapping".into() });
        }
        if path.starts_with("/api/v1/admin/intake/sources/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let m = r#"{"name":"m","kind":"order","platform":"own","columns":{"external_id":["order_no"]}}"#;
            return Ok(self.store.save_intake_source(tenant.id, None, &format!("src-{n}"), m, true).await?.id);
        }
        if path.starts_with("/api/v1/admin/intake/runs/") {
            return Ok(self.store.start_intake_run(tenant.id, "src", "f.csv", None).await?.id);
        }
        if path.starts_with("/api/v1/admin/flows/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let spec = serde_json::from_value(
                json!({"name": format!("target-{n}"), "triggers": ["t"], "webhook_url": "https://x.example/h",
                       "reply_zh": "z", "reply_en": "e"}),
            )?;
            return Ok(self.services.create_bot_flow(tenant.id, spec).await?.id.to_string());
        }
        if path.starts_with("/api/v1/canned-replies/") {
            let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Ok(self
                .store
                .create_canned_reply(tenant.id, None, &format!("c{n}"), "t", "x")
                .await?
                .id
                .to_string());
        }
        let s = self.services.open_widget_session(&tenant.widget_key, None, None, None, None, None).await?;
        if path.contains("/attachments/") {
            let a = self
                .store
                .store_attachment(tenant.id, s.conversation.id, "visitor", "a.txt", "text/plain", b"hi".to_vec())
                .await?;
            return Ok(a.id.to_string());
        }
        if path.starts_with("/api/v1/visitors/") {
            return Ok(s.visitor_id.to_string());
        }
        Ok(s.conversation.id.to_string())
    }

    async fn token(
        &self,
        tenant: &Tenant,
        role: Role,
    ) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let email = format!("{}-{n}@{}.test", role.as_str(), tenant.slug);
        self.store.create_user(tenant.id, &email, "U", role, &hash_password("pw-123456789")).await?;
        Ok((self.services.login(&email, "pw-123456789", None, &Default::default()).await?.0, email))
    }

    /// A user of the own tenant holding a custom role with `perms`, signed in.
    async fn custom_token(
        &self,
        perms: Permissions,
    ) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let role = self.store.save_custom_role(self.own.id, None, &format!("custom-{n}"), "", perms).await?;
        let email = format!("custom-{n}@{}.test", self.own.slug);
        let u = self.store.create_user(self.own.id, &email, "C", Role::Agent, &hash_password("pw-123456789")).await?;
        self.store.set_user_access(self.own.id, u.id, Role::Agent, Some(role.id)).await?;
        Ok((self.services.login(&email, "pw-123456789", None, &Default::default()).await?.0, email))
    }

    /// An API token with `perms` made by a new user of the own tenant with `role` (the token acts as them).
    async fn api_token(
        &self,
        role: Role,
        perms: Permissions,
    ) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let email = format!("maker-{n}@{}.test", self.own.slug);
        let u = self.store.create_user(self.own.id, &email, "M", role, "x").await?;
        let token = format!("{}{:064x}", lingxi_service::API_TOKEN_PREFIX, n);
        let new = NewApiToken {
            user_id: u.id,
            name: format!("t-{n}"),
            token_hash: lingxi_service::token_hash(&token),
            prefix: token.chars().take(10).collect(),
            permissions: perms,
            expires_at: None,
        };
        self.store.create_api_token(self.own.id, new).await?;
        Ok((token, email))
    }

    /// An object of the caller's own: for a session route, a second session of the caller.
    async fn own_object(
        &self,
        path: &str,
        email: &str,
        token: &str,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        if path.ends_with("/transfer") || path.ends_with("/bot") {
            // Only the serving agent (or a supervisor) may transfer or give back to the bot: the caller serves this
            // one.
            let id = self.object(&self.own, path).await?;
            let me =
                self.store.list_users(self.own.id).await?.into_iter().find(|u| u.email == email).ok_or("caller")?;
            let explanation = Explanation {
                kind: "claim".into(),
                rule: None,
                group: None,
                strategy: None,
                needs: vec![],
                considered: 1,
                candidates: vec![],
                reason: "test".into(),
                by: None,
                note: None,
            };
            let from = [ConversationStatus::Bot];
            self.store.assign(self.own.id, id.parse()?, &from, me.id, AssignChecks::EXPLICIT, &explanation).await?;
            return Ok(id);
        }
        if !path.starts_with("/api/v1/auth/sessions/") {
            return self.object(&self.own, path).await;
        }
        self.services.login(email, "pw-123456789", None, &Default::default()).await?;
        let list: Value = self
            .http
            .get(format!("{}/api/v1/auth/sessions", self.base))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        Ok(list["items"][0]["id"].as_str().ok_or("session id")?.to_owned())
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // The import names its source in the query (a shipped mapping here).
        let query = if path.ends_with("/intake/import") { "?source=tmall-refunds" } else { "" };
        let mut req = self.http.request(method.parse()?, format!("{}{}{}", self.base, path, query));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(csv) = body.as_str() {
            // A string body is a CSV file (the import route).
            req = req.header("content-type", "text/csv").body(csv.replace("{n}", &n.to_string()));
        } else if !body.is_null() {
            let text = body
                .to_string()
                .replace("{n}", &n.to_string())
                .replace("{group}", &self.group)
                .replace("{ticket}", &self.ticket);
            req = req.header("content-type", "application/json").body(text);
        }
        Ok(req.send().await?.status().as_u16())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_allows_and_denies_exactly_as_the_table_says() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display())).await?;
    let services = Services::new(store.clone(), Bus::default());
    let app = lingxi_server::app(lingxi_server::AppState::new(services.clone(), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    let own = store.create_tenant("own", "Own", "wk_own").await?;
    let other = store.create_tenant("other", "Other", "wk_other").await?;
    let group = GroupInput {
        name: "Transfers".into(),
        strategy: RoutingStrategy::LeastLoaded,
        skills: vec![],
        sticky: true,
        members: vec![],
    };
    let group = store.create_group(own.id, &group).await?.id.to_string();
    let actor = Actor { user_id: None, name: "test".into() };
    let new = NewTicket { title: "bulk".into(), source: "api".into(), ..Default::default() };
    let ticket = store.create_ticket(own.id, new, &actor).await?.id.to_string();
    let world =
        World { base, http: reqwest::Client::new(), store, services, own, other, group, ticket, n: Default::default() };

    // The table covers the OpenAPI document exactly, and the document covers the router.
    let doc: Value = world.http.get(format!("{}/api/openapi.json", world.base)).send().await?.json().await?;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .ok_or("paths")?
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().into_iter().flat_map(|o| o.keys()).map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> =
        table().iter().map(|(m, p, _, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, tabled, "every documented route needs a line in the access table, and only those");
    let source = include_str!("../src/lib.rs");
    for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"/")) {
        let path = line.split('"').nth(1).ok_or("route path")?;
        if path == "/api/openapi.json" || path.contains('*') {
            continue;
        }
        assert!(documented.iter().any(|(_, p)| p == path), "{path} is routed but not in the OpenAPI document");
    }

    for (method, path, access, body) in table() {
        let needs_id = path.contains("{id}");
        // No credentials.
        let target =
            if needs_id { path.replace("{id}", &world.object(&world.own, path).await?) } else { path.to_owned() };
        let anonymous = world.call(method, &target, None, &body).await?;
        match access {
            Access::Public => {
                assert!(![401, 403, 405].contains(&anonymous), "{method} {path}: public, got {anonymous}")
            }
            _ => assert!([400, 401].contains(&anonymous), "{method} {path}: anonymous got {anonymous}"),
        }
        if matches!(access, Access::Public | Access::Socket | Access::Widget) {
            continue;
        }
        // The built-in roles, signed in.
        let mut callers = Vec::new();
        for role in ROLES {
            let allowed = match access {
                Access::Needs(p) => role.permissions().contains(p),
                _ => true,
            };
            callers.push((format!("{role}"), world.token(&world.own, role).await?, allowed, true));
        }
        // Custom roles and API tokens: exactly the permission, and everything but it.
        let all = Permissions::all();
        match access {
            Access::Needs(p) => {
                let only: Permissions = [p].into_iter().collect();
                let but: Permissions = all.iter().filter(|q| *q != p).collect();
                callers.push((format!("custom role {{{p}}}"), world.custom_token(only).await?, true, false));
                callers.push((format!("custom role without {p}"), world.custom_token(but).await?, false, false));
                let with_workspace: Permissions = [p, Permission::Workspace].into_iter().collect();
                // An API token cannot mint API tokens, whatever it holds.
                let token_may = !(method == "POST" && path == "/api/v1/admin/api-tokens");
                callers.push((
                    format!("API token {{{p}, workspace}}"),
                    world.api_token(Role::Admin, with_workspace).await?,
                    token_may,
                    false,
                ));
                callers.push((
                    format!("API token without {p}"),
                    world.api_token(Role::Admin, but).await?,
                    false,
                    false,
                ));
            }
            Access::Member => {
                let workspace: Permissions = [Permission::Workspace].into_iter().collect();
                let kb_only: Permissions = [Permission::ManageKb].into_iter().collect();
                callers.push((
                    "API token {workspace}".into(),
                    world.api_token(Role::Agent, workspace).await?,
                    true,
                    false,
                ));
                callers.push((
                    "API token {manage_kb}".into(),
                    world.api_token(Role::Admin, kb_only).await?,
                    false,
                    false,
                ));
                // A token never holds more than its maker: an agent's token asking for supervision is still an agent's.
                let narrowed: Permissions = [Permission::ManageKb].into_iter().collect();
                callers.push((
                    "API token {manage_kb} of an agent".into(),
                    world.api_token(Role::Agent, narrowed).await?,
                    false,
                    false,
                ));
            }
            Access::Signed => {
                let kb_only: Permissions = [Permission::ManageKb].into_iter().collect();
                callers.push((
                    "API token {manage_kb}".into(),
                    world.api_token(Role::Admin, kb_only).await?,
                    true,
                    false,
                ));
            }
            Access::Session => {
                callers.push((
                    "API token (every permission)".into(),
                    world.api_token(Role::Owner, all).await?,
                    false,
                    false,
                ));
            }
            Access::Public | Access::Socket | Access::Widget => {}
        }
        for (who, (token, email), allowed, foreign_check) in callers {
            // Another tenant's object first (a session route may revoke the caller's own session afterwards).
            if needs_id && allowed && foreign_check {
                let foreign = path.replace("{id}", &world.object(&world.other, path).await?);
                let status = world.call(method, &foreign, Some(&token), &body).await?;
                assert_eq!(status, 404, "{method} {path} as {who} on another tenant's object");
            }
            let own = if needs_id && !(access == Access::Session && who.starts_with("API token")) {
                path.replace("{id}", &world.own_object(path, &email, &token).await?)
            } else if needs_id {
                path.replace("{id}", "any")
            } else {
                path.to_owned()
            };
            let status = world.call(method, &own, Some(&token), &body).await?;
            if allowed {
                assert!((200..300).contains(&status), "{method} {path} as {who}: expected success, got {status}");
            } else {
                assert_eq!(status, 403, "{method} {path} as {who}: expected 403");
            }
        }
    }
    Ok(())
}
