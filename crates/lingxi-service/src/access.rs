//! Who may do what: effective permissions (built-in or custom role, narrowed by an API token), the tenant's custom
//! roles, role changes and API tokens. Nobody grants a permission they do not hold, and nobody changes their own
//! access.

use crate::auth::{Authenticated, ClientInfo, token_hash};
use crate::{ServiceError, ServiceResult, Services};
use chrono::{Duration, Utc};
use lingxi_store::{ApiTokenRecord, NewApiToken};
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
fn within(who: &Authenticated, wanted: Permissions) -> ServiceResult<()> {
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
    fn built_in_roles_nest() {
        assert!(Role::Agent.permissions().is_subset(Role::Supervisor.permissions()));
        assert!(Role::Supervisor.permissions().is_subset(Role::Admin.permissions()));
        assert_eq!(Role::Admin.permissions(), Permissions::all());
        assert!(!Role::Agent.permissions().contains(Permission::ViewPii));
    }
}
