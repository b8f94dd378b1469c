//! A run's executions, as the API and the CLI show them: the rows the store
//! keeps, and the attempts of pure steps folded into their `node_succeeded`
//! event (see [`Step`]), which have no row of their own.

use std::collections::HashSet;

use baton_store::{Execution, Millis, Phase};

use crate::Result;
use crate::engine::{Engine, parse_events};
use crate::event::{Event, Step};

impl Engine {
    /// Every execution of run `run_id`: attempts of nodes, foreach items and
    /// compensations, in start order, the attempts of folded pure steps
    /// among them.
    pub async fn executions(&self, run_id: &str) -> Result<Vec<Execution>> {
        let store = &self.shared.store;
        let rows = store.executions(run_id).await?;
        let events = parse_events(&store.all_events(run_id).await?)?;
        Ok(with_folded(rows, run_id, &events))
    }
}

/// `rows`, with a row for each step folded into one of `events` that has
/// none (a run stored before folded steps went without rows has both), in
/// the store's order: by start, node, item and attempt.
pub(crate) fn with_folded(
    mut rows: Vec<Execution>,
    run_id: &str,
    events: &[(Event, Millis)],
) -> Vec<Execution> {
    let stored: HashSet<(&str, Option<u32>, Phase, u32)> = rows
        .iter()
        .map(|x| (x.node_id.as_str(), x.item, x.phase, x.attempt))
        .collect();
    let added: Vec<Execution> = events
        .iter()
        .filter_map(|(event, at)| match event {
            Event::NodeSucceeded {
                node,
                output,
                step: Some(step),
            } if !stored.contains(&(node.as_str(), None, Phase::Run, step.attempt)) => {
                Some(row(run_id, node, output, step, *at))
            }
            _ => None,
        })
        .collect();
    if !added.is_empty() {
        rows.extend(added);
        rows.sort_by(|a, b| {
            (a.started_at, &a.node_id, a.item, a.attempt).cmp(&(
                b.started_at,
                &b.node_id,
                b.item,
                b.attempt,
            ))
        });
    }
    rows
}

/// The row a folded step's attempt would have had. Events stored before
/// steps carried their start came with rows, so a step without one is only
/// guarded against: it is dated back from its commit.
fn row(run_id: &str, node: &str, output: &serde_json::Value, step: &Step, at: Millis) -> Execution {
    let duration = i64::try_from(step.duration_ms).unwrap_or(i64::MAX);
    let started_at = if step.started_at > 0 {
        step.started_at
    } else {
        at.saturating_sub(duration)
    };
    Execution {
        run_id: run_id.to_string(),
        node_id: node.to_string(),
        item: None,
        phase: Phase::Run,
        attempt: step.attempt,
        status: "succeeded".into(),
        output: Some(output.clone()),
        error: None,
        error_kind: None,
        started_at,
        finished_at: Some(started_at.saturating_add(duration)),
        retry_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn folded(node: &str, attempt: u32, started_at: Millis) -> Event {
        Event::NodeSucceeded {
            node: node.into(),
            output: json!({"v": node}),
            step: Some(Box::new(Step {
                input: json!({}),
                attempt,
                started_at,
                duration_ms: 3,
                logs: Vec::new(),
                denials: Vec::new(),
            })),
        }
    }

    fn stored_row(node: &str, started_at: Millis) -> Execution {
        Execution {
            status: "failed".into(),
            output: None,
            ..row(
                "r",
                node,
                &json!(null),
                &step_of(&folded(node, 1, started_at)),
                0,
            )
        }
    }

    fn step_of(event: &Event) -> Step {
        match event {
            Event::NodeSucceeded { step: Some(s), .. } => (**s).clone(),
            _ => unreachable!("a folded event"),
        }
    }

    #[test]
    fn folded_steps_are_listed_with_the_stored_rows_in_start_order() {
        let events = [
            (folded("a", 1, 10), 20),
            (Event::RunSucceeded { output: json!({}) }, 20),
            (folded("c", 1, 30), 40),
        ];
        let rows = with_folded(vec![stored_row("b", 15)], "r", &events);
        let seen: Vec<_> = rows
            .iter()
            .map(|x| {
                (
                    x.node_id.as_str(),
                    x.status.as_str(),
                    x.started_at,
                    x.finished_at,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "succeeded", 10, Some(13)),
                ("b", "failed", 15, Some(18)),
                ("c", "succeeded", 30, Some(33)),
            ]
        );
        assert_eq!(rows[0].output, Some(json!({"v": "a"})));
        assert_eq!(rows[0].run_id, "r");
    }

    #[test]
    fn a_step_that_has_a_row_is_listed_once_as_its_row_says() {
        // Stored before folded steps went without rows: both are there.
        let rows = with_folded(vec![stored_row("a", 10)], "r", &[(folded("a", 1, 10), 20)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, "failed");
        // Another attempt of the same node is another row.
        let rows = with_folded(vec![stored_row("a", 10)], "r", &[(folded("a", 2, 12), 20)]);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn a_step_without_its_start_is_dated_back_from_its_commit() {
        let rows = with_folded(Vec::new(), "r", &[(folded("a", 1, 0), 100)]);
        assert_eq!((rows[0].started_at, rows[0].finished_at), (97, Some(100)));
    }
}
