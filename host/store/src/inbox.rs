//! The `inbox` table: operator actions for runs that another node owns.
//!
//! The node that took the request posts the action; the run's owner takes
//! it, hands it to the run, and writes the answer back. On PostgreSQL a
//! notification on [`INBOX_CHANNEL`] wakes the owner at once; it also polls,
//! so a lost notification only delays the action.

use serde_json::Value;

use crate::error::corrupt;
use crate::model::now_millis;
use crate::store::{Pool, with_pool};
use crate::{Result, Store};

/// The PostgreSQL notification channel an inbox post is announced on.
pub const INBOX_CHANNEL: &str = "baton_inbox";

/// An action waiting for its run's owner.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    /// Its id.
    pub id: i64,
    /// The run it is for.
    pub run_id: String,
    /// The action, as the posting node wrote it.
    pub body: Value,
}

impl Store {
    /// Post `body` for run `run_id`'s owner; returns the item's id.
    pub async fn post_inbox(&self, run_id: &str, body: &Value) -> Result<i64> {
        let (id,): (i64,) = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "INSERT INTO inbox (run_id, body, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(run_id)
            .bind(body.to_string())
            .bind(now_millis())
            .fetch_one(p)
            .await?
        });
        if let Pool::Postgres(p) = &self.pool {
            // Only a wake-up: the owner polls as well.
            let _ = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(INBOX_CHANNEL)
                .bind(run_id)
                .execute(p)
                .await;
        }
        Ok(id)
    }

    /// Unanswered, untaken items for runs that node `owner` owns, oldest
    /// first.
    pub async fn open_inbox(&self, owner: &str, limit: i64) -> Result<Vec<InboxItem>> {
        let rows: Vec<(i64, String, String)> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT i.id, i.run_id, i.body FROM inbox i JOIN runs r ON r.id = i.run_id \
                 WHERE i.answered_at IS NULL AND i.taken_at IS NULL AND r.owner = $1 \
                 ORDER BY i.id LIMIT $2",
            )
            .bind(owner)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(id, run_id, body)| {
                Ok(InboxItem {
                    id,
                    run_id,
                    body: serde_json::from_str(&body).map_err(|e| corrupt("inbox item", e))?,
                })
            })
            .collect()
    }

    /// Take item `id` to act on it; false if it was taken, answered or
    /// withdrawn already.
    pub async fn take_inbox(&self, id: i64) -> Result<bool> {
        let n = with_pool!(&self.pool, p => {
            sqlx::query(
                "UPDATE inbox SET taken_at = $2 WHERE id = $1 AND taken_at IS NULL \
                 AND answered_at IS NULL",
            )
            .bind(id)
            .bind(now_millis())
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Answer item `id`.
    pub async fn answer_inbox(&self, id: i64, answer: &Value) -> Result<()> {
        with_pool!(&self.pool, p => {
            sqlx::query("UPDATE inbox SET answered_at = $2, answer = $3 WHERE id = $1")
                .bind(id)
                .bind(now_millis())
                .bind(answer.to_string())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Withdraw item `id` if no owner has taken it yet; false if one has
    /// (its answer is coming).
    pub async fn withdraw_inbox(&self, id: i64, why: &Value) -> Result<bool> {
        let n = with_pool!(&self.pool, p => {
            sqlx::query(
                "UPDATE inbox SET answered_at = $2, answer = $3 WHERE id = $1 \
                 AND taken_at IS NULL AND answered_at IS NULL",
            )
            .bind(id)
            .bind(now_millis())
            .bind(why.to_string())
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Item `id`'s answer, once it has one.
    pub async fn inbox_answer(&self, id: i64) -> Result<Option<Value>> {
        let row: Option<(Option<String>,)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT answer FROM inbox WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        row.and_then(|(a,)| a)
            .map(|a| serde_json::from_str(&a).map_err(|e| corrupt("inbox answer", e)))
            .transpose()
    }

    /// Delete answered items older than `before` (ms since the epoch).
    pub async fn prune_inbox(&self, before: i64) -> Result<u64> {
        Ok(with_pool!(&self.pool, p => {
            sqlx::query("DELETE FROM inbox WHERE answered_at IS NOT NULL AND answered_at < $1")
                .bind(before)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }

    /// Wake-ups for `channel` (PostgreSQL `LISTEN`): each payload, as sent.
    /// `None` on SQLite, or when listening failed; the receiver closes when
    /// the connection is lost, and the caller goes on by polling.
    pub async fn listen(&self, channel: &str) -> Option<tokio::sync::mpsc::Receiver<String>> {
        let Pool::Postgres(pool) = &self.pool else {
            return None;
        };
        let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, channel, "cannot LISTEN; polling only");
                return None;
            }
        };
        if let Err(e) = listener.listen(channel).await {
            tracing::warn!(error = %e, channel, "cannot LISTEN; polling only");
            return None;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if tx.send(n.payload().to_string()).await.is_err() {
                            return;
                        }
                    }
                    // The connection was lost (and is re-established on the
                    // next call); whatever was sent meanwhile is missed, so
                    // the receiver is told to poll.
                    Ok(None) => {
                        if tx.send(String::new()).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection failed; polling only");
                        return;
                    }
                }
            }
        });
        Some(rx)
    }
}
