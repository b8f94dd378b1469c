//! What the world asks of a run: an operator's decision, a signal, a
//! cancel, an incident's resolution, a message, or the interlock.

use serde_json::json;

use super::{Events, Input, RunActor};
use crate::Error;
use crate::event::WaitReason;
use crate::state::NodeStatus;

impl RunActor {
    /// Decide on `input`; the events it causes carry its actor.
    pub(super) fn input(&mut self, input: Input) -> Events {
        if let Input::Interlock = input {
            self.abort_actuating();
            return Vec::new();
        }
        if let Input::LocksChanged = input {
            self.locks_dirty = true;
            return Vec::new();
        }
        if let Input::Create { reply } = input {
            // Answered once the creation is committed, with what is pending.
            match self.unborn {
                Some(_) => self.replies.push(reply),
                None => {
                    let _ = reply.send(Ok(()));
                }
            }
            return Vec::new();
        }
        let wf = self.wf.clone();
        let (mut events, (actor, result, reply, by_input)) = self.step(|s| {
            let (actor, result, reply) = match input {
                Input::Approval {
                    node,
                    approved,
                    actor,
                    comment,
                    reply,
                } => {
                    let result = match wf.index(&node) {
                        None => Err(Error::NotFound(format!(
                            "the workflow has no node `{node}`"
                        ))),
                        Some(i) => s
                            .decide_approval(i, approved, &actor, comment)
                            .map_err(Error::Conflict),
                    };
                    (Some(actor), result, Some(reply))
                }
                Input::Signal {
                    name,
                    payload,
                    actor,
                    reply,
                } => {
                    let waiting = (0..wf.nodes.len()).find(|&i| {
                        wf.nodes[i].def.signal.as_deref() == Some(name.as_str())
                            && matches!(s.status(i), NodeStatus::Waiting(WaitReason::Signal, _))
                    });
                    let result = match waiting {
                        Some(i) => {
                            s.release(i, json!({"signal": name, "payload": payload}));
                            Ok(())
                        }
                        None => Err(Error::Conflict(format!(
                            "no node of this run is waiting for signal `{name}`"
                        ))),
                    };
                    (Some(actor), result, Some(reply))
                }
                Input::Cancel {
                    actor,
                    reason,
                    reply,
                } => {
                    let result = s.cancel(reason).map_err(Error::Conflict);
                    (Some(actor), result, Some(reply))
                }
                Input::Incident {
                    node,
                    fix,
                    actor,
                    reply,
                } => {
                    let result = match wf.index(&node) {
                        None => Err(Error::NotFound(format!(
                            "the workflow has no node `{node}`"
                        ))),
                        Some(i) => s.resolve(i, fix, &actor).map_err(Error::Conflict),
                    };
                    (Some(actor), result, Some(reply))
                }
                Input::Message { node, message } => {
                    let payload = crate::triggers::payload(&message.payload);
                    s.release(node, json!({"topic": message.topic, "payload": payload}));
                    (Some("mqtt".to_string()), Ok(()), None)
                }
                // Handled before deciding anything; they change no state.
                Input::Interlock | Input::LocksChanged | Input::Create { .. } => {
                    (None, Ok(()), None)
                }
            };
            // What follows from these is the engine's doing, not the actor's.
            (actor, result, reply, s.events_so_far())
        });
        match reply {
            // Answered once the decision is durable.
            Some(reply) if result.is_ok() => self.replies.push(reply),
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {}
        }
        for decided in events.iter_mut().take(by_input) {
            decided.by = actor.clone();
        }
        events
    }
}
