//! Who may do what: effective permissions (built-in or custom role, narrowed by an API token), the tenant's custom
//! roles, role changes and API tokens. Nobody grants a permission they do not hold, and nobody changes their own
//! access.

use crate::auth::{Authenticated, ClientInfo, token_hash};
use crate::{ServiceError, ServiceResult, Services};
use chrono::{Duration, Utc};
use lingxi_store::{ApiTokenRecord, NewApiToken, NewAudit, SecuritySettings};
use lingxi_types::{ApiTokenId, CustomRole, CustomRoleId, Permission, Permissions, Role, User, UserId};
use rand::RngCore;
use serde_json::json;

/// What an API token looks like: this prefix and 64 hex digits (256 bits from the OS's CSPRNG).
pub const API_TOKEN_PREFIX: &str = "lxt_";
/// How often a token's last use is written.
const TOKEN_TOUCH_SECONDS: i64 = 60;
/// The longest lifetime a token may be given, in days.
pub const MAX_TOKEN_DAYS: i64 = 3650;

impl Authenticated {
    /// A user signed in with a session: their role's permissions (a custom role's are set by the service).
    pub fn new(user: User, tenant: lingxi_types::Tenant) -> Self {
        let permissions = user.role.permissions();
        Self { user, tenant, permissions, api_token: None }
    }

    /// Whether the caller holds `p`.
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }

    /// Refuses unless the caller holds `p`.
    pub fn require(&self, p: Permission) -> ServiceResult<()> {
        if self.can(p) {
            Ok(())
        } else {
            let (_, en) = p.label();
            Err(ServiceError::Forbidden(format!("this needs the permission {} ({en})", p.as_str())))
        }
    }
}

fn new_api_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{API_TOKEN_PREFIX}{}", hex::encode(bytes))
}

fn check_name(name: &str, what: &str) -> ServiceResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(format!("the {what} name must be 1 to 80 characters")));
    }
    Ok(name.to_owned())
}

/// Refuses a set with permissions the caller does not hold, naming them.
pub(crate) fn within(who: &Authenticated, wanted: Permissions) -> ServiceResult<()> {
    let missing = wanted.missing_from(who.permissions);
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
    Err(ServiceError::Forbidden(format!("you cannot grant permissions you do not hold: {}", names.join(", "))))
}

impl Services {
    /// What a user may do: their custom role's permissions (with the workspace) when they have one, else their
    /// built-in role's.
    pub async fn user_permissions(&self, user: &User) -> ServiceResult<Permissions> {
        if user.role == Role::Owner {
            return Ok(Permissions::all());
        }
        match user.custom_role {
            Some(r) => match self.store.custom_role(user.tenant_id, r).await {
                Ok(role) => {
                    let mut p = role.permissions;
                    p.insert(Permission::Workspace);
                    Ok(p)
                }
                Err(lingxi_store::StoreError::NotFound(_)) => Ok(Role::Agent.permissions()),
                Err(e) => Err(e.into()),
            },
            None => Ok(user.role.permissions()),
        }
    }

    /// The caller for an API token, if it is live: its creator, with the token's permissions narrowed to what the
    /// creator may do today. Records its use at most once a minute.
    pub(crate) async fn authenticate_api_token(&self, token: &str) -> ServiceResult<Option<Authenticated>> {
        let now = Utc::now();
        let Some(t) = self.store.live_api_token(&token_hash(token), now).await? else { return Ok(None) };
        if t.last_used_at.is_none_or(|at| now - at > Duration::seconds(TOKEN_TOUCH_SECONDS)) {
            self.store.touch_api_token(t.tenant_id, t.id, now).await?;
        }
        let user = self.store.user(t.tenant_id, t.user_id).await?;
        let tenant = self.store.tenant(t.tenant_id).await?;
        let permissions = t.permissions.intersect(self.user_permissions(&user).await?);
        Ok(Some(Authenticated { user, tenant, permissions, api_token: Some(t.id) }))
    }

    /// The tenant's custom roles.
    pub async fn custom_roles(&self, who: &Authenticated) -> ServiceResult<Vec<CustomRole>> {
        who.require(Permission::ManageUsers)?;
        Ok(self.store.custom_roles(who.tenant.id).await?)
    }

    /// Creates (`id` none) or changes a custom role; its permissions must be ones the caller holds. Changes apply
    /// to its users at their next request. Audited.
    pub async fn save_custom_role(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        id: Option<CustomRoleId>,
        name: &str,
        description: &str,
        mut permissions: Permissions,
    ) -> ServiceResult<CustomRole> {
        who.require(Permission::ManageUsers)?;
        let name = check_name(name, "role")?;
        if Role::parse(&name.to_lowercase()).is_some() {
            return Err(ServiceError::Invalid("the name of a built-in role cannot be reused".into()));
        }
        let description = description.trim();
        if description.chars().count() > 500 {
            return Err(ServiceError::Invalid("the description must be at most 500 characters".into()));
        }
        permissions.insert(Permission::Workspace);
        within(who, permissions)?;
        let before = match id {
            Some(id) => Some(self.store.custom_role(who.tenant.id, id).await?),
            None => None,
        };
        let role = self.store.save_custom_role(who.tenant.id, id, &name, description, permissions).await.map_err(
            |e| match e {
                lingxi_store::StoreError::AlreadyExists(_) => {
                    ServiceError::Conflict(format!("a role named {name} exists already"))
                }
                other => other.into(),
            },
        )?;
        let detail = json!({"name": role.name, "permissions": role.permissions,
                            "before": before.map(|b| b.permissions)});
        let action = if id.is_some() { "role.update" } else { "role.create" };
        self.audit(who, client, action, Some(role.id.to_string()), detail).await?;
        Ok(role)
    }

    /// Deletes a custom role nobody holds. Audited.
    pub async fn delete_custom_role(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        id: CustomRoleId,
    ) -> ServiceResult<()> {
        who.require(Permission::ManageUsers)?;
        let role = self.store.custom_role(who.tenant.id, id).await?;
        let held = self.store.custom_role_holders(who.tenant.id, id).await?;
        if held > 0 {
            return Err(ServiceError::Conflict(format!("{held} user(s) hold this role: give them another first")));
        }
        self.store.delete_custom_role(who.tenant.id, id).await?;
        self.audit(who, client, "role.delete", Some(id.to_string()), json!({"name": role.name})).await
    }

    /// Gives a user a built-in role, or a custom role (on top of the agent role). Only an owner makes or unmakes
    /// owners; nobody grants permissions they lack or changes the access of someone who holds more than they
    /// do; nobody changes their own. Audited with before and after.
    pub async fn set_user_access(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        user_id: UserId,
        role: Role,
        custom_role: Option<CustomRoleId>,
    ) -> ServiceResult<User> {
        who.require(Permission::ManageUsers)?;
        let before = self.store.user(who.tenant.id, user_id).await?;
        if before.id == who.user.id {
            return Err(ServiceError::Conflict("you cannot change your own role; ask another administrator".into()));
        }
        let owner_change = role == Role::Owner || before.role == Role::Owner;
        if owner_change && who.user.role != Role::Owner {
            return Err(ServiceError::Forbidden("only an owner grants or takes away the owner role".into()));
        }
        let (role, granted, custom_name) = match custom_role {
            Some(id) => {
                if role != Role::Agent {
                    return Err(ServiceError::Invalid("a custom role is given together with the agent role".into()));
                }
                let r = self.store.custom_role(who.tenant.id, id).await?;
                (Role::Agent, r.permissions, Some(r.name))
            }
            None => (role, role.permissions(), None),
        };
        within(who, granted)?;
        within(who, self.user_permissions(&before).await?).map_err(|_| {
            ServiceError::Forbidden("this user holds permissions you do not: you cannot change them".into())
        })?;
        let user = self.store.set_user_access(who.tenant.id, user_id, role, custom_role).await?;
        let detail = json!({"email": user.email, "from": before.role, "to": user.role,
                            "from_custom": before.custom_role, "to_custom": user.custom_role, "custom_name": custom_name});
        self.audit(who, client, "user.role", Some(user.id.to_string()), detail).await?;
        Ok(user)
    }

    /// The tenant's API tokens (never the tokens themselves).
    pub async fn api_tokens(&self, who: &Authenticated) -> ServiceResult<Vec<ApiTokenRecord>> {
        who.require(Permission::ManageApiTokens)?;
        Ok(self.store.api_tokens(who.tenant.id).await?)
    }

    /// Creates an API token that acts as the caller within `permissions` (which the caller must hold); returns
    /// the token, shown this once: only its hash is kept. An API token cannot create tokens. Audited.
    pub async fn create_api_token(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        name: &str,
        permissions: Permissions,
        expires_in_days: Option<i64>,
    ) -> ServiceResult<(String, ApiTokenRecord)> {
        who.require(Permission::ManageApiTokens)?;
        if who.api_token.is_some() {
            return Err(ServiceError::Forbidden("an API token cannot create API tokens; sign in".into()));
        }
        let name = check_name(name, "token")?;
        if permissions.is_empty() {
            return Err(ServiceError::Invalid("give the token at least one permission".into()));
        }
        within(who, permissions)?;
        let expires_at = match expires_in_days {
            None => None,
            Some(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => Some(Utc::now() + Duration::days(d)),
            Some(_) => return Err(ServiceError::Invalid(format!("expires_in_days must be 1 to {MAX_TOKEN_DAYS}"))),
        };
        let token = new_api_token();
        let new = NewApiToken {
            user_id: who.user.id,
            name,
            token_hash: token_hash(&token),
            prefix: token.chars().take(API_TOKEN_PREFIX.len() + 6).collect(),
            permissions,
            expires_at,
        };
        let record = self.store.create_api_token(who.tenant.id, new).await?;
        let detail = json!({"name": record.name, "permissions": record.permissions,
                            "expires_at": record.expires_at.map(lingxi_types::wire::rfc3339)});
        self.audit(who, client, "token.create", Some(record.id.to_string()), detail).await?;
        Ok((token, record))
    }

    /// Revokes an API token of the tenant at once. Audited.
    pub async fn revoke_api_token(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        id: ApiTokenId,
    ) -> ServiceResult<ApiTokenRecord> {
        who.require(Permission::ManageApiTokens)?;
        let record = self.store.revoke_api_token(who.tenant.id, id).await?;
        self.audit(who, client, "token.revoke", Some(id.to_string()), json!({"name": record.name})).await?;
        Ok(record)
    }
}

/// The shortest and longest audit retention a tenant may set, in days.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 30..=3650;
/// How many origins may embed one tenant's widget.
const MAX_ORIGINS: usize = 50;
/// How often a node purges expired audit entries.
const AUDIT_UPKEEP_MS: i64 = 3_600_000;

/// New security settings.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityInput {
    /// Days audit entries are kept (30 to 3650).
    pub audit_retention_days: i64,
    /// Origins allowed to embed the chat widget (`https://shop.example.com`, `https://*.example.com`,
    /// `http://localhost:8080`); empty: any site.
    pub widget_origins: Vec<String>,
}

/// An origin as written in the allow-list: `scheme://host[:port]`, lower-case, `*.` allowed as the first label;
/// `None` when it is not one.
pub fn normalise_origin(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/').to_lowercase();
    let (scheme, rest) = s.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || s.len() > 200 {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return None;
    }
    let bare = host.strip_prefix("*.").unwrap_or(host);
    let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if bare.is_empty() || !bare.split('.').all(label_ok) {
        return None;
    }
    Some(s)
}

/// Whether `origin` (from a request's `Origin` header) matches an allow-list entry.
fn origin_matches(entry: &str, origin: &str) -> bool {
    match entry.split_once("://*.") {
        Some((scheme, suffix)) => origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://"))
            .is_some_and(|host| host.ends_with(&format!(".{suffix}")) && host.len() > suffix.len() + 1),
        None => entry == origin,
    }
}

impl Services {
    /// The tenant's security settings.
    pub async fn security_settings(&self, who: &Authenticated) -> ServiceResult<SecuritySettings> {
        who.require(Permission::ManageSettings)?;
        Ok(self.store.security_settings(who.tenant.id).await?)
    }

    /// Changes the tenant's security settings. Audited with before and after.
    pub async fn save_security_settings(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        input: &SecurityInput,
    ) -> ServiceResult<SecuritySettings> {
        who.require(Permission::ManageSettings)?;
        if !RETENTION_DAYS.contains(&input.audit_retention_days) {
            return Err(ServiceError::Invalid(format!(
                "audit_retention_days must be {} to {}",
                RETENTION_DAYS.start(),
                RETENTION_DAYS.end()
            )));
        }
        if input.widget_origins.len() > MAX_ORIGINS {
            return Err(ServiceError::Invalid(format!("at most {MAX_ORIGINS} widget origins")));
        }
        let mut origins = Vec::new();
        for o in &input.widget_origins {
            let n = normalise_origin(o).ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "{o:?} is not an origin: write scheme://host[:port], e.g. https://shop.example.com"
                ))
            })?;
            if !origins.contains(&n) {
                origins.push(n);
            }
        }
        let before = self.store.security_settings(who.tenant.id).await?;
        let after = SecuritySettings { audit_retention_days: input.audit_retention_days, widget_origins: origins };
        self.store.save_security_settings(who.tenant.id, &after).await?;
        let detail = json!({
            "audit_retention_days": {"from": before.audit_retention_days, "to": after.audit_retention_days},
            "widget_origins": {"from": before.widget_origins, "to": after.widget_origins},
        });
        self.audit(who, client, "settings.security", None, detail).await?;
        Ok(after)
    }

    /// Whether a page of `origin` may use the tenant's chat widget: yes when the tenant lists no origins, when the
    /// request names none (not a browser on another site: browsers always send it cross-origin) or when it is the
    /// server's own (`own_host`, the request's `Host`: the hosted pages); else only a listed one.
    pub async fn widget_origin_allowed(
        &self,
        tenant_id: lingxi_types::TenantId,
        origin: Option<&str>,
        own_host: Option<&str>,
    ) -> ServiceResult<bool> {
        let Some(origin) = origin.map(|o| o.trim().to_lowercase()) else { return Ok(true) };
        let list = self.store.security_settings(tenant_id).await?.widget_origins;
        let own = own_host.is_some_and(|h| origin.split_once("://").is_some_and(|(_, o)| o.eq_ignore_ascii_case(h)));
        Ok(list.is_empty() || own || list.iter().any(|e| origin_matches(e, &origin)))
    }

    /// The origins that may show the tenant's hosted support form (`/support?key=…`) in a frame: its allowed widget
    /// origins (none for an unknown key, or when it lists none: then only the server's own pages frame it).
    pub async fn support_frame_origins(&self, widget_key: &str) -> ServiceResult<Vec<String>> {
        let Some(tenant) = self.store.tenant_by_widget_key(widget_key).await? else { return Ok(Vec::new()) };
        Ok(self.store.security_settings(tenant.id).await?.widget_origins)
    }

    /// Deletes every tenant's audit entries older than its retention, at most once an hour per node; each purge is
    /// itself audited. Run by the routing ticker.
    pub async fn audit_upkeep(&self, now: chrono::DateTime<Utc>) -> ServiceResult<u64> {
        use std::sync::atomic::Ordering;
        let at = now.timestamp_millis();
        let last = self.audit_upkeep_at.load(Ordering::Relaxed);
        if last != 0 && at - last < AUDIT_UPKEEP_MS {
            return Ok(0);
        }
        self.audit_upkeep_at.store(at, Ordering::Relaxed);
        self.purge_expired_audit(now).await
    }

    /// Deletes every tenant's audit entries older than its retention now; each purge is itself audited.
    pub async fn purge_expired_audit(&self, now: chrono::DateTime<Utc>) -> ServiceResult<u64> {
        let mut total = 0;
        for tenant_id in self.store.tenant_ids().await? {
            let days = self.store.security_settings(tenant_id).await?.audit_retention_days;
            let cutoff = now - Duration::days(days.max(*RETENTION_DAYS.start()));
            if !self.store.audit_older_than(tenant_id, cutoff).await? {
                continue;
            }
            let deleted = self.store.purge_audit(tenant_id, cutoff).await?;
            total += deleted;
            let detail = json!({"deleted": deleted, "before": lingxi_types::wire::rfc3339(cutoff),
                                "retention_days": days});
            self.store
                .audit(NewAudit {
                    tenant_id: Some(tenant_id),
                    action: "audit.purge".into(),
                    detail,
                    ..Default::default()
                })
                .await?;
        }
        Ok(total)
    }
}

impl Services {
    /// Everything stored about a visitor (and those merged into them), for a data-subject request. Audited.
    pub async fn export_visitor(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        visitor_id: lingxi_types::VisitorId,
    ) -> ServiceResult<serde_json::Value> {
        who.require(Permission::ManageCustomerData)?;
        let doc = self.store.visitor_export(who.tenant.id, visitor_id).await?;
        let detail = json!({"conversations": doc["conversations"].as_array().map_or(0, Vec::len),
                            "tickets": doc["tickets"].as_array().map_or(0, Vec::len)});
        self.audit(who, client, "customer.export", Some(visitor_id.to_string()), detail).await?;
        Ok(doc)
    }

    /// Erases a visitor's personal data (see [`lingxi_store::Store::erase_visitor`]) for a data-subject request,
    /// with the reason. Audited with the counts; the audit keeps no erased data.
    pub async fn erase_visitor(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        visitor_id: lingxi_types::VisitorId,
        reason: &str,
    ) -> ServiceResult<lingxi_store::Erased> {
        who.require(Permission::ManageCustomerData)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(ServiceError::Invalid("give the reason (1 to 500 characters)".into()));
        }
        let erased = self.store.erase_visitor(who.tenant.id, visitor_id).await?;
        let detail = json!({"reason": reason, "erased": erased});
        self.audit(who, client, "customer.erase", Some(visitor_id.to_string()), detail).await?;
        Ok(erased)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_are_prefixed_and_carry_256_bits() {
        let (a, b) = (new_api_token(), new_api_token());
        assert!(a.starts_with(API_TOKEN_PREFIX));
        assert_eq!(a.len(), API_TOKEN_PREFIX.len() + 64);
        assert_ne!(a, b);
    }

    #[test]
    fn origins_are_normalised_and_matched_exactly_or_by_subdomain() {
        assert_eq!(normalise_origin(" HTTPS://Shop.Example.com/ ").as_deref(), Some("https://shop.example.com"));
        assert_eq!(normalise_origin("http://localhost:8080").as_deref(), Some("http://localhost:8080"));
        assert!(normalise_origin("https://*.example.com").is_some());
        for bad in [
            "shop.example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://",
            "https://x.com:0",
            "https://x.com:99999",
            "https://a b.com",
            "https://user@x.com",
            "javascript://x",
        ] {
            assert_eq!(normalise_origin(bad), None, "{bad}");
        }
        assert!(origin_matches("https://shop.example.com", "https://shop.example.com"));
        assert!(!origin_matches("https://shop.example.com", "http://shop.example.com"));
        assert!(!origin_matches("https://shop.example.com", "https://shop.example.com.evil.com"));
        assert!(origin_matches("https://*.example.com", "https://m.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://example.com"));
        assert!(!origin_matches("https://*.example.com", "https://evilexample.com"));
        assert!(!origin_matches("https://*.example.com", "http://m.example.com"));
    }

    #[test]
    fn built_in_roles_nest() {
        assert!(Role::Agent.permissions().is_subset(Role::Supervisor.permissions()));
        assert!(Role::Supervisor.permissions().is_subset(Role::Admin.permissions()));
        assert_eq!(Role::Admin.permissions(), Permissions::all());
        assert!(!Role::Agent.permissions().contains(Permission::ViewPii));
    }
}
