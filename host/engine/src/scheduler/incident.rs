//! Decisions an operator makes about a held run, and the run's deadline.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Scheduler;
use crate::event::{Ending, Event, Resolution};

/// An operator's resolution of an incident, as the scheduler needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fix {
    /// What to do.
    pub action: Resolution,
    /// Why.
    pub comment: Option<String>,
    /// With `retry`: a corrected config, already validated.
    pub config: Option<Value>,
    /// With `retry`: a corrected input.
    pub input: Option<Value>,
    /// With `complete`: the node's output.
    pub output: Option<Value>,
}

impl Fix {
    /// `action` with nothing else: no comment, no corrections, no output.
    pub fn new(action: Resolution) -> Self {
        Self {
            action,
            comment: None,
            config: None,
            input: None,
            output: None,
        }
    }
}

impl Scheduler<'_> {
    /// An operator resolved the incident on node `i`.
    pub fn resolve(&mut self, i: usize, fix: Fix, actor: &str) -> Result<(), String> {
        let node = self.id(i);
        let state = &self.state.nodes[i];
        if !state.incident || !self.state.held() {
            return Err(format!(
                "node `{node}` has no open incident (it is {}, and the run is {})",
                state.status.as_str(),
                self.state.status()
            ));
        }
        let comment = fix.comment.filter(|c| !c.trim().is_empty());
        if fix.action == Resolution::Complete && comment.is_none() {
            return Err(format!(
                "completing node `{node}` by hand needs a comment saying why"
            ));
        }
        let by = |what: &str| match &comment {
            Some(c) => format!("{what} by {actor}: {c}"),
            None => format!("{what} by {actor}"),
        };
        let (skip_reason, fail_reason) = (by("skipped"), by("failed"));
        self.emit(Event::IncidentResolved {
            node: node.clone(),
            action: fix.action,
            comment,
            config: fix.config,
            input: fix.input,
        });
        match fix.action {
            Resolution::Retry => {}
            Resolution::Complete => self.emit(Event::NodeSucceeded {
                node,
                output: fix.output.unwrap_or(Value::Null),
                step: None,
            }),
            Resolution::Skip => self.emit(Event::NodeSkipped {
                node,
                reason: skip_reason,
            }),
            Resolution::Fail => self.fail_run(format!(
                "node `{node}` failed, and the run was {fail_reason}"
            )),
        }
        Ok(())
    }

    /// The workflow's deadline for a run.
    pub fn deadline(&self) -> Option<std::time::Duration> {
        self.wf.def.deadline
    }

    /// The run's deadline passed: it is cancelled, and compensated as the
    /// workflow says.
    pub fn deadline_passed(&mut self, deadline: std::time::Duration) {
        if self.state.ended.is_some() || matches!(self.state.stopping, Some((Ending::Cancelled, _)))
        {
            return;
        }
        let after = humantime_serde::re::humantime::format_duration(deadline);
        self.emit(Event::RunStopping {
            ending: Ending::Cancelled,
            reason: format!("deadline: the run did not finish within its deadline of {after}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use baton_store::{Phase, RunStatus};
    use serde_json::json;

    use super::*;
    use crate::compiled::CompiledWorkflow;
    use crate::scheduler::tests::{failed, ok, workflow};
    use crate::state::{NodeStatus, RunState};

    fn fix(action: Resolution) -> Fix {
        Fix::new(action)
    }

    const HOLD: &str = "name: w\non_failure: hold\nnodes:\n  a: { plugin: t@1, retry: { max_attempts: 2, initial_interval: 1s } }\n  b: { needs: [a], plugin: t@1 }\n  c: { plugin: t@1 }\n";

    /// Run `a` to an incident: two failed attempts; `c` succeeds meanwhile.
    fn held() -> (CompiledWorkflow, RunState, Vec<Event>) {
        let wf = workflow(HOLD);
        let (a, c) = (wf.index("a").unwrap(), wf.index("c").unwrap());
        let mut state = RunState::new("r", json!({}), &wf);
        let mut all = Vec::new();
        let mut step = |state: &mut RunState, now, f: &dyn Fn(&mut Scheduler<'_>)| {
            let mut s = Scheduler::new(&wf, state, now);
            f(&mut s);
            s.decide();
            all.extend(s.into_events());
        };
        let boom = || failed("retryable");
        step(&mut state, 0, &|_| {});
        step(&mut state, 1, &|s| {
            s.attempt_done(c, None, Phase::Run, 1, ok(json!(1)), 0.0)
        });
        step(&mut state, 2, &|s| {
            s.attempt_done(a, None, Phase::Run, 1, boom(), 0.0)
        });
        step(&mut state, 2000, &|s| s.retry_due(a, None, Phase::Run));
        step(&mut state, 2001, &|s| {
            s.attempt_done(a, None, Phase::Run, 2, boom(), 0.0)
        });
        (wf, state, all)
    }

    #[test]
    fn a_node_that_fails_for_good_holds_the_run_instead_of_ending_it() {
        let (wf, state, events) = held();
        let a = wf.index("a").unwrap();
        assert!(state.held());
        assert_eq!(state.status(), RunStatus::Held);
        assert_eq!(state.nodes[a].status, NodeStatus::Failed);
        assert!(state.nodes[a].incident);
        assert_eq!(
            state.nodes[wf.index("b").unwrap()].status,
            NodeStatus::Pending
        );
        assert!(state.stopping.is_none() && state.ended.is_none());
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::IncidentOpened { node, .. } if node == "a"))
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::RunStopping { .. }))
        );
    }

    #[test]
    fn a_retry_starts_the_next_attempt_with_a_fresh_budget_and_replays_the_same() {
        let (wf, mut state, mut all) = held();
        let a = wf.index("a").unwrap();
        let mut s = Scheduler::new(&wf, &mut state, 3000);
        s.resolve(
            a,
            Fix {
                config: Some(json!({"x": 1})),
                ..fix(Resolution::Retry)
            },
            "ana",
        )
        .unwrap();
        s.decide();
        let events = s.into_events();
        assert!(
            events.iter().any(
                |e| matches!(e, Event::AttemptStarted { node, attempt: 3, .. } if node == "a")
            ),
            "{events:?}"
        );
        all.extend(events);
        assert!(!state.held());
        assert_eq!(state.nodes[a].config, Some(json!({"x": 1})));
        // Attempt 3 fails: the budget of two counts from the retry, so one
        // more attempt is due rather than a new incident.
        let mut s = Scheduler::new(&wf, &mut state, 3100);
        s.attempt_done(a, None, Phase::Run, 3, failed("retryable"), 0.0);
        s.decide();
        let events = s.into_events();
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::AttemptFailed {
                    retry_at: Some(_),
                    ..
                }
            )),
            "{events:?}"
        );
        all.extend(events);

        // Replayed (times aside, which this test does not keep), the same.
        let mut replayed = RunState::replay("r", json!({}), &wf, all.iter().map(|e| (e, 0)));
        for node in replayed.nodes.iter_mut().chain(state.nodes.iter_mut()) {
            node.execs.iter_mut().for_each(|x| x.started_at = 0);
        }
        assert_eq!(replayed.nodes, state.nodes);
    }

    #[test]
    fn complete_skip_and_fail_end_the_incident_their_own_way() {
        let (wf, state, _) = held();
        let (a, b) = (wf.index("a").unwrap(), wf.index("b").unwrap());

        let mut done = state.clone();
        let mut s = Scheduler::new(&wf, &mut done, 3000);
        let no_comment = Fix {
            output: Some(json!(5)),
            ..fix(Resolution::Complete)
        };
        assert!(
            s.resolve(a, no_comment, "ana")
                .unwrap_err()
                .contains("comment")
        );
        let by_hand = Fix {
            output: Some(json!(5)),
            comment: Some("by hand".into()),
            ..fix(Resolution::Complete)
        };
        s.resolve(a, by_hand, "ana").unwrap();
        s.decide();
        assert_eq!(done.nodes[a].output, Some(json!(5)));
        assert_eq!(
            done.nodes[b].status,
            NodeStatus::Running,
            "b starts on the given output"
        );

        let mut skipped = state.clone();
        let mut s = Scheduler::new(&wf, &mut skipped, 3000);
        s.resolve(a, fix(Resolution::Skip), "ana").unwrap();
        s.decide();
        assert_eq!(skipped.nodes[b].status, NodeStatus::Skipped);
        assert_eq!(skipped.ended, Some(RunStatus::Succeeded));

        let mut failed = state.clone();
        let mut s = Scheduler::new(&wf, &mut failed, 3000);
        s.resolve(a, fix(Resolution::Fail), "ana").unwrap();
        s.decide();
        assert_eq!(failed.ended, Some(RunStatus::Failed));
        let mut s = Scheduler::new(&wf, &mut failed, 3001);
        assert!(
            s.resolve(a, fix(Resolution::Skip), "ana").is_err(),
            "nothing left to resolve"
        );
    }

    #[test]
    fn a_deadline_cancels_a_held_run() {
        let (wf, mut state, _) = held();
        let mut s = Scheduler::new(&wf, &mut state, 5000);
        s.deadline_passed(std::time::Duration::from_secs(4));
        s.decide();
        assert_eq!(state.ended, Some(RunStatus::Cancelled));
    }
}
