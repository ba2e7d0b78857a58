//! The floor's tokens in SQLite.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::sqlite::{SqliteStore, parse_column};
use crate::{BoxFuture, FloorToken, FloorTokenStore, NewFloorToken};

fn floor_token_from(r: &SqliteRow) -> Result<FloorToken, sqlx::Error> {
    Ok(FloorToken {
        id: r.try_get("id")?,
        label: r.try_get("label")?,
        role: parse_column(r, "role")?,
        created_ms: r.try_get("created_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
    })
}

impl FloorTokenStore for SqliteStore {
    fn create_floor_token(&self, t: NewFloorToken) -> BoxFuture<'_, FloorToken> {
        Box::pin(async move {
            let (_turn, mut tx) = self.begin_write().await?;
            sqlx::query("INSERT INTO floor_tokens (id, secret_sha256, label, role, created_ms) VALUES (?, ?, ?, ?, ?)")
                .bind(&t.id)
                .bind(&t.secret_sha256)
                .bind(&t.label)
                .bind(t.role.as_str())
                .bind(t.created_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(FloorToken {
                id: t.id,
                label: t.label,
                role: t.role,
                created_ms: t.created_ms,
                revoked_ms: None,
            })
        })
    }

    fn floor_token_by_secret_hash(&self, sha256_hex: &str) -> BoxFuture<'_, Option<FloorToken>> {
        let hash = sha256_hex.to_string();
        Box::pin(async move {
            let row = sqlx::query("SELECT id, label, role, created_ms, revoked_ms FROM floor_tokens WHERE secret_sha256 = ?")
                .bind(hash)
                .fetch_optional(self.pool())
                .await?;
            Ok(row.as_ref().map(floor_token_from).transpose()?)
        })
    }

    fn floor_tokens(&self) -> BoxFuture<'_, Vec<FloorToken>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT id, label, role, created_ms, revoked_ms FROM floor_tokens ORDER BY created_ms, id")
                .fetch_all(self.pool())
                .await?;
            Ok(rows
                .iter()
                .map(floor_token_from)
                .collect::<Result<_, _>>()?)
        })
    }

    fn revoke_floor_token(&self, id: &str, at_ms: i64) -> BoxFuture<'_, bool> {
        let id = id.to_string();
        Box::pin(async move {
            let (_turn, mut tx) = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE floor_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
            )
            .bind(at_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
