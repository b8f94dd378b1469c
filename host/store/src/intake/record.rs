//! A run as the intake log keeps it: its creation, encoded as JSON, and
//! decoded again to create it after a restart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{EventData, NewEvent, NewRun, Transition};
use crate::{Error, Result};

/// Whether the intake log can take the creation of `run` with
/// `transition`: nothing in the database could refuse it (no idempotency
/// key, no unique key, no locks, not a child run), and it writes no rows
/// but the run's and its events, so that creating it later is the same
/// write as creating it now.
pub(crate) fn fits(run: &NewRun, transition: &Transition) -> bool {
    run.idempotency_key.is_none()
        && !(run.unique_key && run.key.is_some())
        && run.parent.is_none()
        && transition.executions.is_empty()
        && transition.locks.is_empty()
        && transition.run.is_none()
        && transition.fence.is_none()
}

/// An accepted run's creation.
#[derive(Serialize, Deserialize)]
struct Record {
    id: String,
    workflow: String,
    version: i64,
    input: Value,
    trigger: String,
    owner: Option<String>,
    key: Option<String>,
    unique_key: bool,
    depth: i64,
    audit: Option<Event>,
    events: Vec<Event>,
    lockless: bool,
}

/// An event of the creation, its data as JSON text.
#[derive(Serialize, Deserialize)]
struct Event {
    kind: String,
    node_id: Option<String>,
    actor: Option<String>,
    data: String,
}

impl Event {
    fn of(event: &NewEvent) -> Self {
        Self {
            kind: event.kind.clone(),
            node_id: event.node_id.clone(),
            actor: event.actor.clone(),
            data: event.data.text().into_owned(),
        }
    }

    fn into_new(self) -> NewEvent {
        NewEvent {
            kind: self.kind,
            node_id: self.node_id,
            actor: self.actor,
            data: EventData::Json(self.data),
        }
    }
}

/// The JSON that the intake log keeps for a run that [`fits`].
pub(crate) fn encode(run: &NewRun, transition: &Transition) -> Result<String> {
    let record = Record {
        id: run.id.clone(),
        workflow: run.workflow.clone(),
        version: run.version,
        input: run.input.clone(),
        trigger: run.trigger.clone(),
        owner: run.owner.clone(),
        key: run.key.clone(),
        unique_key: run.unique_key,
        depth: run.depth,
        audit: run.audit.as_ref().map(Event::of),
        events: transition.events.iter().map(Event::of).collect(),
        lockless: transition.lockless,
    };
    serde_json::to_string(&record).map_err(|e| Error::Corrupt(format!("accepted run: {e}")))
}

/// The run and its creation's transition, from what [`encode`] gave.
pub(crate) fn decode(text: &str) -> Result<(NewRun, Transition)> {
    let record: Record = serde_json::from_str(text)
        .map_err(|e| Error::Corrupt(format!("a run in the intake log: {e}")))?;
    let transition = Transition {
        run_id: Some(record.id.clone()),
        events: record.events.into_iter().map(Event::into_new).collect(),
        lockless: record.lockless,
        ..Transition::default()
    };
    let run = NewRun {
        id: record.id,
        workflow: record.workflow,
        version: record.version,
        input: record.input,
        idempotency_key: None,
        trigger: record.trigger,
        audit: record.audit.map(Event::into_new),
        owner: record.owner,
        key: record.key,
        unique_key: record.unique_key,
        parent: None,
        depth: record.depth,
    };
    Ok((run, transition))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run() -> NewRun {
        NewRun {
            id: "r-1".into(),
            workflow: "line".into(),
            version: 3,
            input: json!({"lot": "A7", "n": [1, 2]}),
            idempotency_key: None,
            trigger: "api".into(),
            audit: Some(NewEvent {
                kind: "audit".into(),
                node_id: None,
                actor: Some("ops".into()),
                data: json!({"action": "run.start"}).into(),
            }),
            owner: Some("node-a".into()),
            key: Some("A7".into()),
            unique_key: false,
            parent: None,
            depth: 0,
        }
    }

    fn started() -> Transition {
        Transition {
            run_id: Some("r-1".into()),
            events: vec![NewEvent {
                kind: "run_started".into(),
                node_id: None,
                actor: Some("ops".into()),
                data: EventData::Json(r#"{"type":"run_started"}"#.into()),
            }],
            lockless: true,
            ..Transition::default()
        }
    }

    #[test]
    fn a_creation_comes_back_as_it_was_encoded() {
        let text = encode(&run(), &started()).unwrap();
        let (back, transition) = decode(&text).unwrap();
        let original = run();
        assert_eq!(
            (&back.id, &back.workflow, back.version, &back.input),
            (&original.id, &original.workflow, 3, &original.input)
        );
        assert_eq!((&back.owner, &back.key), (&original.owner, &original.key));
        assert_eq!(back.trigger, "api");
        let audit = back.audit.unwrap();
        assert_eq!(audit.actor.as_deref(), Some("ops"));
        assert_eq!(audit.data.value(), json!({"action": "run.start"}));
        assert_eq!(transition.run_id.as_deref(), Some("r-1"));
        assert_eq!(transition.events.len(), 1);
        assert_eq!(transition.events[0].kind, "run_started");
        assert_eq!(
            transition.events[0].data.value(),
            json!({"type": "run_started"})
        );
        assert!(transition.lockless);
    }

    #[test]
    fn only_a_creation_nothing_could_refuse_fits() {
        assert!(fits(&run(), &started()));
        let keyed = NewRun {
            idempotency_key: Some("k".into()),
            ..run()
        };
        assert!(!fits(&keyed, &started()));
        let unique = NewRun {
            unique_key: true,
            ..run()
        };
        assert!(!fits(&unique, &started()));
        let child = NewRun {
            parent: Some(("p".into(), "n".into())),
            ..run()
        };
        assert!(!fits(&child, &started()));
        let ending = Transition {
            run: Some(crate::RunUpdate {
                status: crate::RunStatus::Succeeded,
                output: None,
                error: None,
            }),
            ..started()
        };
        assert!(!fits(&run(), &ending));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        assert!(matches!(decode("{\"id\": 1"), Err(Error::Corrupt(_))));
        assert!(matches!(decode("[]"), Err(Error::Corrupt(_))));
    }
}
