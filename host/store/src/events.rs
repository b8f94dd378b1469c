//! The append-only `events` table.

use crate::error::corrupt;
use crate::model::{AuditFilter, StoredEvent, WaitingNode};
use crate::store::with_pool;
use crate::{Result, Store};

type EventRow = (
    i64,
    Option<String>,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
);

fn event(row: EventRow) -> Result<StoredEvent> {
    let (seq, run_id, at, kind, node_id, actor, data) = row;
    Ok(StoredEvent {
        data: serde_json::from_str(&data).map_err(|e| corrupt("event data", e))?,
        seq,
        run_id,
        at,
        kind,
        node_id,
        actor,
    })
}

impl Store {
    /// A run's events after `after` (a sequence number; 0 for all), in order.
    pub async fn events(&self, run_id: &str, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        self.settled(Some(run_id)).await;
        let rows: Vec<EventRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT seq, run_id, at, kind, node_id, actor, data FROM events \
                 WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(run_id)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(event).collect()
    }

    /// Every event of a run, in order: what its state is folded from.
    pub async fn all_events(&self, run_id: &str) -> Result<Vec<StoredEvent>> {
        self.events(run_id, 0, u32::MAX).await
    }

    /// Events that belong to no run (the audit trail of API calls), newest first.
    pub async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<StoredEvent>> {
        self.audit_filtered(&AuditFilter {
            before,
            limit,
            ..AuditFilter::default()
        })
        .await
    }

    /// Audit entries matching `filter`, newest first.
    pub async fn audit_filtered(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>> {
        // A run's start is audited in its creation's commit.
        self.settled(None).await;
        let rows: Vec<EventRow> = with_pool!(&self.pool, p => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT seq, run_id, at, kind, node_id, actor, data FROM events \
                 WHERE run_id IS NULL AND seq < ",
            );
            q.push_bind(filter.before.unwrap_or(i64::MAX));
            if let Some(actor) = &filter.actor {
                q.push(" AND actor = ").push_bind(actor);
            }
            if let Some(action) = &filter.action {
                // A prefix match without LIKE, whose wildcards an action could contain.
                let len = i32::try_from(action.chars().count()).unwrap_or(i32::MAX);
                q.push(" AND substr(kind, 1, CAST(")
                    .push_bind(len)
                    .push(" AS INTEGER)) = ")
                    .push_bind(action);
            }
            q.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(filter.limit.max(1)));
            q.build_query_as().fetch_all(p).await?
        });
        rows.into_iter().map(event).collect()
    }

    /// The nodes of running runs whose latest `node_waiting` event has not
    /// been followed by a decision, a timeout or the node's end, oldest
    /// first, at most `limit`. One query over the running runs' events,
    /// without replaying them: what an operator's inbox is read from.
    pub async fn waiting_nodes(&self, limit: u32) -> Result<Vec<WaitingNode>> {
        type Row = (String, String, i64, String, String, i64, i64);
        let rows: Vec<Row> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT w.run_id, w.node_id, w.at, w.data, r.workflow, r.version, r.created_at \
                 FROM runs r JOIN events w ON w.run_id = r.id \
                 WHERE r.status IN ('running', 'held') AND w.kind = 'node_waiting' AND w.node_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = w.run_id \
                     AND e.seq > w.seq AND e.node_id = w.node_id AND e.kind IN \
                     ('node_waiting', 'node_approved', 'node_rejected', 'node_timed_out', \
                      'node_succeeded', 'node_failed', 'node_skipped', 'node_cancelled')) \
                 ORDER BY w.at, w.seq LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(
                |(run_id, node_id, since, data, workflow, version, run_created_at)| {
                    Ok(WaitingNode {
                        wait: serde_json::from_str(&data).map_err(|e| corrupt("event data", e))?,
                        run_id,
                        node_id,
                        since,
                        workflow,
                        version,
                        run_created_at,
                    })
                },
            )
            .collect()
    }
}
