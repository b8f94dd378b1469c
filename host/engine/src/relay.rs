//! Operator actions for runs owned by another node: posted to the store's
//! inbox by the node that took the request, and handed to the run by its
//! owner, whose answer the caller gets as if the run were local.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::engine::Engine;
use crate::run::Input;
use crate::{Error, Result};

/// Longest a caller waits for the owner's answer.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the owner looks at the inbox when no notification comes.
const POLL: Duration = Duration::from_millis(500);
/// Answered items are kept this long (a caller reads its answer within
/// [`RELAY_TIMEOUT`]), then deleted, checked this often.
const KEEP_ANSWERED: Duration = Duration::from_secs(3600);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// An operator's action on a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Action {
    Approval {
        node: String,
        approved: bool,
        actor: String,
        comment: Option<String>,
    },
    Signal {
        name: String,
        payload: Value,
        actor: String,
    },
    Cancel {
        actor: String,
        reason: String,
    },
    Incident {
        node: String,
        fix: crate::scheduler::Fix,
        actor: String,
    },
}

impl Action {
    pub(crate) fn into_input(self, reply: oneshot::Sender<Result<()>>) -> Input {
        match self {
            Action::Approval {
                node,
                approved,
                actor,
                comment,
            } => Input::Approval {
                node,
                approved,
                actor,
                comment,
                reply,
            },
            Action::Signal {
                name,
                payload,
                actor,
            } => Input::Signal {
                name,
                payload,
                actor,
                reply,
            },
            Action::Cancel { actor, reason } => Input::Cancel {
                actor,
                reason,
                reply,
            },
            Action::Incident { node, fix, actor } => Input::Incident {
                node,
                fix,
                actor,
                reply,
            },
        }
    }
}

fn encode(result: &Result<()>) -> Value {
    match result {
        Ok(()) => json!({"ok": true}),
        Err(e) => {
            let kind = match e {
                Error::NotFound(_) => "not_found",
                Error::BadRequest(_) => "bad_request",
                Error::Interlock => "interlock",
                Error::ShuttingDown | Error::Unavailable(_) => "unavailable",
                Error::Fenced(_) => "fenced",
                _ => "conflict",
            };
            json!({"error": {"kind": kind, "message": e.to_string()}})
        }
    }
}

/// The owner's answer; `None` when the run moved on and the action must be
/// posted again.
fn decode(answer: &Value) -> Option<Result<()>> {
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        return Some(Ok(()));
    }
    let error = answer.get("error");
    let kind = error.and_then(|e| e.get("kind")).and_then(Value::as_str);
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the run's owner refused the action")
        .to_string();
    Some(Err(match kind {
        Some("fenced") => return None,
        Some("not_found") => Error::NotFound(message),
        Some("bad_request") => Error::BadRequest(message),
        Some("interlock") => Error::Interlock,
        Some("unavailable") => Error::Unavailable(message),
        _ => Error::Conflict(message),
    }))
}

impl Engine {
    /// Hand `action` to the owner of run `run_id`, another node, through the
    /// inbox, and return its answer.
    pub(crate) async fn relay(&self, run_id: &str, action: Action) -> Result<()> {
        let store = &self.shared.store;
        let body = serde_json::to_value(&action)
            .map_err(|e| Error::Definition(format!("cannot encode an action: {e}")))?;
        let deadline = tokio::time::Instant::now() + RELAY_TIMEOUT;
        'post: loop {
            let id = store.post_inbox(run_id, &body).await?;
            let mut wait = Duration::from_millis(10);
            loop {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(100));
                if let Some(answer) = store.inbox_answer(id).await? {
                    match decode(&answer) {
                        Some(result) => return result,
                        None => continue 'post,
                    }
                }
                if tokio::time::Instant::now() < deadline {
                    continue;
                }
                let gone = json!({"error": {"kind": "unavailable", "message": "withdrawn: no owner took it in time"}});
                if store.withdraw_inbox(id, &gone).await? {
                    return Err(Error::Unavailable(format!(
                        "the node that owns run {run_id} did not take the action within {RELAY_TIMEOUT:?}; \
                         nothing was done, try again"
                    )));
                }
                // Taken: the answer is on its way.
                if tokio::time::Instant::now() > deadline + RELAY_TIMEOUT {
                    return Err(Error::Unavailable(format!(
                        "the node that owns run {run_id} took the action but did not answer; \
                         see the run's events for whether it was applied"
                    )));
                }
            }
        }
    }

    /// Take the inbox items for runs this node owns and hand them to the
    /// runs (PostgreSQL).
    pub(crate) fn spawn_inbox(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let store = engine.shared.store.clone();
            let me = engine.shared.node.id.clone();
            let mut wake = store.listen(baton_store::INBOX_CHANNEL).await;
            let taking: Arc<Mutex<HashSet<i64>>> = Arc::default();
            let mut pruned = tokio::time::Instant::now();
            loop {
                if pruned.elapsed() > PRUNE_EVERY {
                    pruned = tokio::time::Instant::now();
                    let before = baton_store::now_millis()
                        - i64::try_from(KEEP_ANSWERED.as_millis()).unwrap_or(i64::MAX);
                    if let Err(e) = store.prune_inbox(before).await {
                        tracing::warn!(error = %e, "cannot prune the inbox");
                    }
                }
                match &mut wake {
                    Some(rx) => {
                        if tokio::time::timeout(POLL, rx.recv()).await == Ok(None) {
                            wake = None;
                        }
                    }
                    None => tokio::time::sleep(POLL).await,
                }
                let items = match store.open_inbox(&me, 64).await {
                    Ok(items) => items,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the inbox");
                        continue;
                    }
                };
                for item in items {
                    let Some(inbox) = engine.inbox_of(&item.run_id) else {
                        // Owned here but not resumed yet: next round.
                        continue;
                    };
                    let action: Action = match serde_json::from_value(item.body.clone()) {
                        Ok(a) => a,
                        Err(e) => {
                            let answer = encode(&Err(Error::Conflict(format!(
                                "the action cannot be read: {e}"
                            ))));
                            let _ = store.answer_inbox(item.id, &answer).await;
                            continue;
                        }
                    };
                    if !crate::engine::lock(&taking).insert(item.id) {
                        continue;
                    }
                    match store.take_inbox(item.id).await {
                        Ok(true) => {}
                        _ => {
                            crate::engine::lock(&taking).remove(&item.id);
                            continue;
                        }
                    }
                    let (reply, rx) = oneshot::channel();
                    let sent = inbox.send(action.into_input(reply)).is_ok();
                    let (store, taking) = (store.clone(), taking.clone());
                    tokio::spawn(async move {
                        let result = match (sent, rx.await) {
                            (true, Ok(result)) => result,
                            _ => Err(Error::Fenced(item.run_id.clone())),
                        };
                        if let Err(e) = store.answer_inbox(item.id, &encode(&result)).await {
                            tracing::warn!(error = %e, item = item.id, "cannot answer an inbox item");
                        }
                        crate::engine::lock(&taking).remove(&item.id);
                    });
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_their_kind_across_nodes() {
        for (error, want) in [
            (Error::NotFound("no run".into()), "not_found"),
            (Error::Conflict("not waiting".into()), "conflict"),
            (Error::Interlock, "interlock"),
        ] {
            let answer = encode(&Err(error));
            assert_eq!(answer["error"]["kind"], want);
            let back = decode(&answer).unwrap().unwrap_err();
            assert_eq!(encode(&Err(back))["error"]["kind"], want);
        }
        assert!(decode(&encode(&Ok(()))).unwrap().is_ok());
        assert!(
            decode(&encode(&Err(Error::Fenced("r".into())))).is_none(),
            "a fenced answer is posted again"
        );
    }
}
