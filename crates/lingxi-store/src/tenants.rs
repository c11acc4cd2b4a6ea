//! Tenants.

use crate::rows::{id, millis, now, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation};
use lingxi_types::{Tenant, TenantId};
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, slug, name, widget_key, created_at";

fn tenant(row: &AnyRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: id(row, "id")?,
        slug: text(row, "slug")?,
        name: text(row, "name")?,
        widget_key: text(row, "widget_key")?,
        created_at: ts(row, "created_at")?,
    })
}

impl Store {
    /// Creates a tenant with the given public widget key.
    pub async fn create_tenant(&self, slug: &str, name: &str, widget_key: &str) -> StoreResult<Tenant> {
        let t = Tenant {
            id: TenantId::generate(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            widget_key: widget_key.to_owned(),
            created_at: now(),
        };
        sqlx::query("INSERT INTO tenants (id, slug, name, widget_key, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(t.id.to_string())
            .bind(&t.slug)
            .bind(&t.name)
            .bind(&t.widget_key)
            .bind(millis(t.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists("tenant") } else { e.into() })?;
        Ok(t)
    }

    /// The tenant with this slug.
    pub async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant).transpose()
    }

    /// The tenant that owns this widget key.
    pub async fn tenant_by_widget_key(&self, key: &str) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE widget_key = $1"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant).transpose()
    }

    /// The tenant itself (a tenant may always read its own record).
    pub async fn tenant(&self, tenant_id: TenantId) -> StoreResult<Tenant> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
            .bind(tenant_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant).transpose()?.ok_or(StoreError::NotFound("tenant"))
    }

    /// Every tenant's id (background upkeep such as audit retention).
    pub async fn tenant_ids(&self) -> StoreResult<Vec<TenantId>> {
        let rows = sqlx::query("SELECT id FROM tenants ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| crate::rows::id(r, "id")).collect()
    }
}
