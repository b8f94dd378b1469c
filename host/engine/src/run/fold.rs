//! The events a commit stores: a pure step's start, attempt and end, when
//! one commit holds all four, become the one `node_succeeded` event that
//! carries a [`Step`]. That is a fifth of the events and of the output
//! copies a pure chain would otherwise write, and its attempt has no
//! `node_executions` row: the event says all the row would.

use std::collections::HashMap;

use baton_store::{NewEvent, Phase};

use super::Decided;
use crate::event::{Event, Step};

/// What a commit stores of its decided events.
pub(crate) struct Stored {
    /// The events, in order; each folded step takes the place of its
    /// `node_succeeded`.
    pub events: Vec<NewEvent>,
    /// Per decided event, whether it is part of a folded step: its
    /// attempt's events then write no execution row.
    pub folded: Vec<bool>,
}

/// The events of `decided` as the store keeps them.
pub(crate) fn stored(decided: &[Decided]) -> Stored {
    let mut slots: Vec<Slot> = decided.iter().map(|_| Slot::AsDecided).collect();
    for fold in folds(decided) {
        for k in fold.parts {
            slots[k] = Slot::Dropped;
        }
        slots[fold.end] = Slot::Folded(fold.event);
    }
    let folded = slots
        .iter()
        .map(|slot| !matches!(slot, Slot::AsDecided))
        .collect();
    let events = decided
        .iter()
        .zip(slots)
        .filter_map(|(d, slot)| match slot {
            Slot::AsDecided => Some(d.event.to_new(d.by.as_deref())),
            Slot::Dropped => None,
            Slot::Folded(event) => Some(event.to_new(None)),
        })
        .collect();
    Stored { events, folded }
}

/// What becomes of one decided event.
enum Slot {
    AsDecided,
    /// Part of a step folded into its `node_succeeded`.
    Dropped,
    /// A step's `node_succeeded`, carrying the step.
    Folded(Event),
}

/// One step to fold: where its `node_started`, `attempt_started` and
/// `attempt_succeeded` are, where its `node_succeeded` is, and the event
/// that stands for all four.
struct Fold {
    parts: [usize; 3],
    end: usize,
    event: Event,
}

/// The steps of `decided` whose last three events before their
/// `node_succeeded` are, among that node's own, exactly a plain start, a
/// first-run attempt and its success with the node's output, all the
/// engine's own doing. A foreach node, a resumed attempt, a retry or a
/// compensation is stored as it happened.
fn folds(decided: &[Decided]) -> Vec<Fold> {
    let mut by_node: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut folds = Vec::new();
    for (k, d) in decided.iter().enumerate() {
        let Some(node) = d.event.node() else { continue };
        let seen = by_node.entry(node).or_default();
        if let Event::NodeSucceeded {
            output, step: None, ..
        } = &d.event
            && let [.., a, b, c] = seen[..]
            && [a, b, c, k].iter().all(|&i| decided[i].by.is_none())
            && let (
                Event::NodeStarted {
                    input, items: None, ..
                },
                Event::AttemptStarted {
                    item: None,
                    phase: Phase::Run,
                    resumed: false,
                    attempt: started,
                    ..
                },
                Event::AttemptSucceeded {
                    item: None,
                    phase: Phase::Run,
                    attempt,
                    output: result,
                    duration_ms,
                    logs,
                    denials,
                    ..
                },
            ) = (&decided[a].event, &decided[b].event, &decided[c].event)
            && started == attempt
            && result == output
        {
            folds.push(Fold {
                parts: [a, b, c],
                end: k,
                event: Event::NodeSucceeded {
                    node: node.to_string(),
                    output: output.clone(),
                    step: Some(Box::new(Step {
                        input: input.clone(),
                        attempt: *attempt,
                        started_at: decided[b].at,
                        duration_ms: *duration_ms,
                        logs: logs.clone(),
                        denials: denials.clone(),
                    })),
                },
            });
        }
        seen.push(k);
    }
    folds
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(event: Event) -> Decided {
        Decided::new(event, 7)
    }

    fn step(node: &str, input: serde_json::Value, output: serde_json::Value) -> Vec<Decided> {
        vec![
            d(Event::NodeStarted {
                node: node.into(),
                input,
                items: None,
            }),
            d(Event::AttemptStarted {
                node: node.into(),
                item: None,
                phase: Phase::Run,
                attempt: 1,
                resumed: false,
            }),
            d(Event::AttemptSucceeded {
                node: node.into(),
                item: None,
                phase: Phase::Run,
                attempt: 1,
                output: output.clone(),
                duration_ms: 3,
                logs: Vec::new(),
                denials: vec!["no".into()],
            }),
            d(Event::NodeSucceeded {
                node: node.into(),
                output,
                step: None,
            }),
        ]
    }

    fn kinds(events: &[NewEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn a_whole_step_is_one_event_that_unfolds_to_the_four() {
        let decided = step("a", json!({"x": 1}), json!({"y": 2}));
        let stored = stored(&decided);
        assert_eq!(stored.folded, [true; 4]);
        let stored = stored.events;
        assert_eq!(kinds(&stored), ["node_succeeded"]);
        let event: Event = serde_json::from_value(stored[0].data.value()).unwrap();
        let unfolded = event.unfolded();
        let original: Vec<Event> = decided.into_iter().map(|d| d.event).collect();
        assert_eq!(unfolded, original);
    }

    #[test]
    fn interleaved_steps_fold_in_place_and_the_rest_stays() {
        let mut decided = step("a", json!(1), json!(2));
        let b = step("b", json!(1), json!(3));
        // b starts between a's attempt and a's end.
        decided.insert(2, b[0].clone());
        decided.insert(3, b[1].clone());
        decided.extend(b[2..].iter().cloned());
        decided.push(d(Event::RunSucceeded { output: json!({}) }));
        let stored = stored(&decided).events;
        assert_eq!(
            kinds(&stored),
            ["node_succeeded", "node_succeeded", "run_succeeded"]
        );
        assert_eq!(stored[0].node_id.as_deref(), Some("a"));
        assert_eq!(stored[1].node_id.as_deref(), Some("b"));
    }

    #[test]
    fn a_step_started_in_an_earlier_commit_or_done_by_hand_is_not_folded() {
        let whole = step("a", json!(1), json!(2));
        assert_eq!(
            kinds(&stored(&whole[1..]).events),
            ["attempt_started", "attempt_succeeded", "node_succeeded"]
        );
        let mut by_hand = whole.clone();
        by_hand[3].by = Some("ops".into());
        assert_eq!(stored(&by_hand).events.len(), 4);
        assert_eq!(stored(&by_hand).folded, [false; 4]);
        let mut other_output = whole;
        if let Event::NodeSucceeded { output, .. } = &mut other_output[3].event {
            *output = json!("changed");
        }
        assert_eq!(stored(&other_output).events.len(), 4);
    }
}
