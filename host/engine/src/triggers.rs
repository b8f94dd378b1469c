//! What starts runs besides the API: MQTT messages, cron schedules and PLC
//! changes, as the newest version of each workflow declares them. Applying a
//! new version replaces the workflow's triggers.
//!
//! - `plc`: polling a PLC address for edges and threshold crossings.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use baton_connectors::mqtt::{Message, TopicFilter};
use baton_workflow::Workflow;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Engine, StartOptions};

mod plc;

/// Armed triggers by workflow name, with the version they are of; dropping
/// an entry disarms them.
#[derive(Default)]
pub(crate) struct Triggers {
    armed: Mutex<HashMap<String, (i64, Vec<Armed>)>>,
}

/// A trigger's task. Dropping it tells the task to stop at its next wait;
/// it is never cut off in the middle of starting a run.
struct Armed {
    _stop: oneshot::Sender<()>,
    _task: JoinHandle<()>,
}

fn spawn<F>(f: impl FnOnce(oneshot::Receiver<()>) -> F) -> Armed
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel();
    Armed {
        _stop: stop,
        _task: tokio::spawn(f(stopped)),
    }
}

impl Triggers {
    /// Replace the triggers of `workflow` with those its `version` declares,
    /// unless a newer version's are armed already.
    pub(crate) fn arm(&self, engine: &Engine, workflow: &Workflow, version: i64) {
        if self.version(&workflow.name).is_some_and(|v| v > version) {
            return;
        }
        let mut armed = Vec::new();
        for trigger in &workflow.triggers {
            if let Some(m) = &trigger.mqtt {
                let (engine, name, m) = (engine.clone(), workflow.name.clone(), m.clone());
                armed.push(spawn(|stop| {
                    mqtt(engine, name, m.connection, m.topic, stop)
                }));
            }
            if let Some(expr) = &trigger.cron {
                let (engine, name, expr) = (engine.clone(), workflow.name.clone(), expr.clone());
                armed.push(spawn(|stop| cron(engine, name, expr, stop)));
            }
            if let Some(p) = &trigger.plc {
                let (engine, name, p) = (engine.clone(), workflow.name.clone(), p.clone());
                armed.push(spawn(|stop| plc::poll(engine, name, p, stop)));
            }
        }
        let mut all = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(workflow.name.clone(), (version, armed));
    }

    /// The version whose triggers are armed for workflow `name`.
    fn version(&self, name: &str) -> Option<i64> {
        let all = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        all.get(name).map(|(v, _)| *v)
    }

    /// Disarm everything.
    pub(crate) fn clear(&self) {
        self.armed.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Engine {
    /// Arm the triggers of every workflow's newest version that are not
    /// armed yet: at start-up, and on PostgreSQL at every heartbeat, so that
    /// a version applied through another node is followed here.
    pub(crate) async fn refresh_triggers(&self) -> crate::Result<()> {
        let store = &self.shared.store;
        for (name, version) in store.latest_versions().await? {
            if self.shared.triggers.version(&name) == Some(version) {
                continue;
            }
            let Some(record) = store.workflow(&name, version).await? else {
                continue;
            };
            match serde_json::from_value::<Workflow>(record.definition) {
                Ok(wf) => self.shared.triggers.arm(self, &wf, version),
                Err(e) => {
                    tracing::error!(workflow = %name, error = %e, "cannot arm triggers")
                }
            }
        }
        Ok(())
    }
}

/// A message payload as JSON: parsed when it is JSON, else as text.
pub(crate) fn payload(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The run input for a message: its JSON payload, or the text wrapped.
pub fn message_input(message: &Message) -> Value {
    match serde_json::from_slice(&message.payload) {
        Ok(value) => value,
        Err(_) => json!({
            "topic": message.topic,
            "payload": String::from_utf8_lossy(&message.payload),
        }),
    }
}

async fn mqtt(
    engine: Engine,
    workflow: String,
    connection: String,
    topic: String,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(filter) = topic.parse::<TopicFilter>() else {
        return; // validation refuses such a workflow
    };
    let Some(client) = engine.runtime().connectors().mqtt(&connection).cloned() else {
        tracing::warn!(%workflow, %connection, "MQTT trigger names a connection the host does not have");
        return;
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        // With several nodes, each message goes to one of them.
        let node = &engine.shared.node;
        let subscribed = if node.clustered {
            client
                .clone()
                .subscribe_shared(node.config.mqtt_group.clone(), filter.clone())
                .await
        } else {
            client.clone().subscribe(filter.clone()).await
        };
        match subscribed {
            Ok(mut messages) => {
                backoff = Duration::from_millis(200);
                loop {
                    let message = tokio::select! {
                        _ = &mut stop => return,
                        m = messages.recv() => match m {
                            Some(m) => m,
                            None => break,
                        },
                    };
                    // A retained message is old news: it must not start a run
                    // every time the server starts.
                    if message.retain || !filter.matches(&message.topic) {
                        continue;
                    }
                    let options = StartOptions {
                        trigger: format!("mqtt:{}", message.topic),
                        actor: Some(format!("mqtt:{connection}")),
                        ..StartOptions::default()
                    };
                    match engine
                        .start_run(&workflow, message_input(&message), options)
                        .await
                    {
                        Ok(started) => {
                            tracing::info!(%workflow, run = %started.run_id, topic = %message.topic, "started by MQTT")
                        }
                        Err(e) => {
                            tracing::warn!(%workflow, topic = %message.topic, error = %e, "MQTT trigger could not start a run")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(%workflow, %topic, error = %e, "MQTT trigger cannot subscribe yet; retrying")
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn cron(engine: Engine, workflow: String, expr: String, mut stop: oneshot::Receiver<()>) {
    let Ok(schedule) = expr.parse::<croner::Cron>() else {
        return; // validation refuses such a workflow
    };
    loop {
        let now = chrono::Local::now();
        let Ok(next) = schedule.find_next_occurrence(&now, false) else {
            tracing::warn!(%workflow, %expr, "cron schedule has no next time");
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        // The key makes one run per scheduled instant, even across restarts
        // or with several servers on one database.
        let options = StartOptions {
            idempotency_key: Some(format!("cron:{expr}@{}", next.to_rfc3339())),
            trigger: format!("cron:{expr}"),
            actor: Some("cron".into()),
            audit: None,
            ..StartOptions::default()
        };
        match engine
            .start_run(
                &workflow,
                json!({"scheduled_for": next.to_rfc3339()}),
                options,
            )
            .await
        {
            Ok(started) => tracing::info!(%workflow, run = %started.run_id, "started by schedule"),
            Err(e) => tracing::warn!(%workflow, error = %e, "cron trigger could not start a run"),
        }
    }
}
