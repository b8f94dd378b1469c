//! The PLC-change trigger: polls one address of a named device and starts a
//! run on each settled edge, once per edge across restarts and nodes.
//!
//! Each edge gets a number from the trigger's stored edge counter, and its
//! run the idempotency key `plc:<key>#<number>`. The run is started first and
//! the new state written after, as a compare-and-set on the counter: a crash
//! in between, or a second node seeing the same edge, asks for the same key
//! again and finds the run already there. Before acting on an edge the
//! stored state is read again; if another node has recorded a change since,
//! this node takes that state as its baseline and looks again.

mod detect;

use baton_connectors::plc::{Area, PlcError, PlcRequest, PlcResponse};
use baton_store::{NewEvent, PlcTriggerState, Transition};
use baton_workflow::PlcTrigger;
use baton_workflow::plc_trigger::Watch;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use self::detect::{Detector, Stable, Step};
use crate::{Engine, Error, StartOptions};

/// Poll `trigger` of `workflow` until `stop`.
pub(super) async fn poll(
    engine: Engine,
    workflow: String,
    trigger: PlcTrigger,
    mut stop: oneshot::Receiver<()>,
) {
    let (Some((area, address)), Some(watch)) = (trigger.target(), trigger.watch()) else {
        return; // validation refuses such a workflow
    };
    let Some(device) = engine.runtime().connectors().plc(&trigger.device).cloned() else {
        tracing::warn!(%workflow, device = %trigger.device, "PLC trigger names a device the host does not have");
        return;
    };
    let key = trigger.key();
    let interval = trigger.interval();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poller = None;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let Some(p) = poller.as_mut() else {
            // The stored state is the baseline: a restart does not refire.
            match engine.store().plc_trigger(&workflow, &key).await {
                Ok(saved) => {
                    let stable = saved.map(stable_of);
                    poller = Some(Poller {
                        engine: engine.clone(),
                        workflow: workflow.clone(),
                        trigger: trigger.clone(),
                        key: key.clone(),
                        area,
                        address,
                        watch,
                        saved,
                        detector: Detector::new(watch, trigger.debounce(), stable),
                    });
                }
                Err(e) => {
                    tracing::warn!(%workflow, trigger = %key, error = %e, "PLC trigger cannot read its state yet; retrying")
                }
            }
            continue;
        };
        let read = PlcRequest::Read {
            area,
            address,
            count: 1,
        };
        let answer = tokio::select! {
            _ = &mut stop => return,
            a = device.call(read) => a,
        };
        match first_value(answer) {
            Ok(value) => {
                let step = p.detector.read(value, std::time::Instant::now());
                p.step(step).await;
            }
            Err(e) => {
                if p.detector.failed() == Step::Lost {
                    p.lost(&e).await;
                }
            }
        }
    }
}

/// The reading of a one-value read, a bit as 0 or 1.
fn first_value(answer: Result<PlcResponse, PlcError>) -> Result<u16, PlcError> {
    let value = match answer? {
        PlcResponse::Registers(v) => v.first().copied(),
        PlcResponse::Bits(v) => v.first().map(|&b| u16::from(b)),
        PlcResponse::Written => None,
    };
    value.ok_or_else(|| PlcError::Unavailable("the device answered a read with no value".into()))
}

fn stable_of(s: PlcTriggerState) -> Stable {
    Stable {
        level: s.level,
        value: u16::try_from(s.value).unwrap_or_default(),
    }
}

/// Errors after which the same edge should be tried again at the next poll,
/// because no decision was made; any other refusal (the interlock, say) is
/// the decision for this edge.
fn try_again(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(_) | Error::ShuttingDown | Error::Unavailable(_)
    )
}

/// One armed trigger, once its stored state is read.
struct Poller {
    engine: Engine,
    workflow: String,
    trigger: PlcTrigger,
    key: String,
    area: Area,
    address: u16,
    watch: Watch,
    /// The stored state as this node last read or wrote it.
    saved: Option<PlcTriggerState>,
    detector: Detector,
}

impl Poller {
    async fn step(&mut self, step: Step) {
        match step {
            Step::Quiet | Step::Lost => {}
            Step::Baseline { stable, changed } => self.baseline(stable, changed).await,
            Step::Changed { to, previous } => self.changed(to, previous).await,
        }
    }

    /// Store a baseline: the first one, or a changed one after an outage.
    async fn baseline(&mut self, stable: Stable, changed: bool) {
        let store = self.engine.store();
        let Some(saved) = self.saved else {
            match store
                .init_plc_trigger(&self.workflow, &self.key, stable.level, stable.value.into())
                .await
            {
                Ok(stored) => self.take(stored),
                Err(e) => self.retry_later(&e),
            }
            return;
        };
        // With a stored state, a baseline ends an outage.
        tracing::info!(workflow = %self.workflow, trigger = %self.key, value = stable.value, "PLC trigger's device answers again; its value is the new baseline");
        self.audit("trigger.plc_online", json!({"value": stable.value}))
            .await;
        if !changed {
            return;
        }
        match self.advance(saved, stable).await {
            Ok(Some(next)) => self.take(next),
            Ok(None) => self.reload().await,
            Err(e) => {
                self.retry_later(&e);
                self.detector.rebase();
            }
        }
    }

    /// Act on a settled change: start its run if its direction fires, then
    /// record it.
    async fn changed(&mut self, to: Stable, previous: u16) {
        let store = self.engine.store().clone();
        let stored = match store.plc_trigger(&self.workflow, &self.key).await {
            Ok(s) => s,
            Err(e) => return self.retry_later(&e),
        };
        let Some(saved) = stored.filter(|s| Some(s.edges) == self.saved.map(|m| m.edges)) else {
            // Another node recorded a change since (or the state was never
            // stored): start from what is stored and look again.
            return match stored {
                Some(s) => self.take(s),
                None => self.forget(),
            };
        };
        let number = saved.edges + 1;
        let fires = match self.watch {
            Watch::Bit(edge) => edge.fires(to.level),
            Watch::Threshold { .. } => to.level,
        };
        if fires && !self.start(to, previous, number).await {
            self.take(saved);
            return;
        }
        match self.advance(saved, to).await {
            // The detector has this state already.
            Ok(Some(next)) => self.saved = Some(next),
            Ok(None) => self.reload().await,
            // The next poll sees the change again, and its run by its key.
            Err(e) => self.retry_later(&e),
        }
    }

    /// Start the run of change `number`; false if it should be tried again.
    async fn start(&self, to: Stable, previous: u16, number: i64) -> bool {
        let options = StartOptions {
            idempotency_key: Some(format!("plc:{}#{number}", self.key)),
            trigger: format!("plc:{}", self.key),
            actor: Some(format!("plc:{}", self.trigger.device)),
            audit: None,
            ..StartOptions::default()
        };
        let input = self.input(to, previous, number);
        match self.engine.start_run(&self.workflow, input, options).await {
            Ok(started) => {
                tracing::info!(workflow = %self.workflow, run = %started.run_id, trigger = %self.key, edge = number, new = started.created, "started by a PLC change");
                true
            }
            Err(e) => {
                tracing::warn!(workflow = %self.workflow, trigger = %self.key, edge = number, error = %e, "PLC trigger could not start a run");
                !try_again(&e)
            }
        }
    }

    /// The run input: what changed, from what to what.
    fn input(&self, to: Stable, previous: u16, number: i64) -> Value {
        let mut input = json!({
            "device": self.trigger.device,
            "kind": self.area.as_str(),
            "address": self.address,
            "edge": if to.level { "rising" } else { "falling" },
            "sequence": number,
        });
        match self.watch {
            Watch::Bit(_) => {
                input["value"] = json!(to.value != 0);
                input["previous"] = json!(previous != 0);
            }
            Watch::Threshold { above, below } => {
                input["value"] = json!(to.value);
                input["previous"] = json!(previous);
                input["above"] = json!(above);
                input["below"] = json!(below);
            }
        }
        input
    }

    /// The device stopped answering: say so, where operators look.
    async fn lost(&self, error: &PlcError) {
        tracing::warn!(workflow = %self.workflow, trigger = %self.key, error = %error, "PLC trigger cannot read its device; no run starts until it answers, and its first value then is the new baseline");
        self.audit("trigger.plc_offline", json!({"error": error.to_string()}))
            .await;
    }

    /// An audit entry about this trigger, outside any run.
    async fn audit(&self, action: &str, extra: Value) {
        let mut details = json!({
            "workflow": self.workflow,
            "trigger": self.key,
            "device": self.trigger.device,
            "node": self.engine.shared.node.id,
        });
        if let (Some(d), Value::Object(extra)) = (details.as_object_mut(), extra) {
            d.extend(extra);
        }
        let event = NewEvent {
            kind: action.to_string(),
            node_id: None,
            actor: Some(format!("plc:{}", self.trigger.device)),
            data: json!({"action": action, "details": details}).into(),
        };
        let recorded = self
            .engine
            .store()
            .commit(Transition {
                run_id: None,
                events: vec![event],
                ..Default::default()
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(workflow = %self.workflow, trigger = %self.key, error = %e, "cannot record {action}");
        }
    }

    /// Record change `saved.edges + 1` to `to`, if `saved` is still what is
    /// stored: the new state, or none when another writer got there first.
    async fn advance(
        &self,
        saved: PlcTriggerState,
        to: Stable,
    ) -> baton_store::Result<Option<PlcTriggerState>> {
        let recorded = self
            .engine
            .store()
            .advance_plc_trigger(
                &self.workflow,
                &self.key,
                saved.edges,
                to.level,
                to.value.into(),
            )
            .await?;
        Ok(recorded.then_some(PlcTriggerState {
            level: to.level,
            value: to.value.into(),
            edges: saved.edges + 1,
            ..saved
        }))
    }

    /// Make `state` the stored state and the detector's baseline.
    fn take(&mut self, state: PlcTriggerState) {
        self.saved = Some(state);
        self.detector.adopt(stable_of(state));
    }

    /// Nothing is stored (only a hand-made deletion does that): the next
    /// reading is a first baseline again.
    fn forget(&mut self) {
        self.saved = None;
        self.detector = Detector::new(self.watch, self.trigger.debounce(), None);
    }

    /// Another writer got there first: take what it stored.
    async fn reload(&mut self) {
        match self
            .engine
            .store()
            .plc_trigger(&self.workflow, &self.key)
            .await
        {
            Ok(Some(s)) => self.take(s),
            Ok(None) => self.forget(),
            Err(e) => self.retry_later(&e),
        }
    }

    /// The store failed: go back to the stored state, so that the change is
    /// seen again at a later poll.
    fn retry_later(&mut self, e: &baton_store::Error) {
        tracing::warn!(workflow = %self.workflow, trigger = %self.key, error = %e, "PLC trigger cannot reach the store; trying again");
        match self.saved {
            Some(s) => self.detector.adopt(stable_of(s)),
            None => self.forget(),
        }
    }
}
