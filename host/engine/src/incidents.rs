//! Incidents: runs held on a node that failed for good (`on_failure: hold`),
//! and what an operator does about them: retry the node (perhaps with a
//! corrected config or input), complete it by hand, skip it, or fail the run.

use baton_store::{Millis, RunFilter, RunStatus};
use baton_workflow::{NodeKind, Problems};
use serde::Serialize;
use serde_json::Value;

use crate::engine::Engine;
use crate::event::Resolution;
use crate::relay::Action;
use crate::scheduler::Fix;
use crate::{Error, Result};

/// Most held runs [`Engine::incidents`] lists.
pub const MAX_LISTED: u32 = 500;

/// An open incident: a node of a held run that failed for good.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// The held run.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// The workflow version it is pinned to.
    pub version: i64,
    /// The run's batch or serial key.
    pub key: Option<String>,
    /// The failed node.
    pub node: String,
    /// Why it failed.
    pub error: String,
    /// When the run was held.
    pub since: Millis,
}

impl Engine {
    /// Resolve the incident on `node` of held run `run_id`. A corrected
    /// config is checked as applying the workflow would check it, before
    /// anything changes. Returns once the resolution is durable.
    pub async fn resolve_incident(
        &self,
        run_id: &str,
        node: &str,
        fix: Fix,
        actor: &str,
    ) -> Result<()> {
        if fix.action != Resolution::Retry && (fix.config.is_some() || fix.input.is_some()) {
            return Err(Error::BadRequest(format!(
                "`config` and `input` go only with retry, not with {}",
                fix.action.as_str()
            )));
        }
        if fix.action != Resolution::Complete && fix.output.is_some() {
            return Err(Error::BadRequest(format!(
                "`output` goes only with complete, not with {}",
                fix.action.as_str()
            )));
        }
        let commented = fix.comment.as_deref().is_some_and(|c| !c.trim().is_empty());
        if fix.action == Resolution::Complete && !commented {
            return Err(Error::BadRequest(
                "complete needs `comment`: why the node is completed by hand, for the record"
                    .into(),
            ));
        }
        if fix.action == Resolution::Complete && fix.output.is_none() {
            return Err(Error::BadRequest(
                "complete needs `output`: what the node's dependants read as its output".into(),
            ));
        }
        if fix.config.is_some() || fix.input.is_some() {
            self.check_override(run_id, node, &fix).await?;
        }
        let action = Action::Incident {
            node: node.to_string(),
            fix,
            actor: actor.to_string(),
        };
        self.send(run_id, action).await
    }

    /// Refuse a corrected config that the node's plugin would refuse, or an
    /// override for a node that cannot take it.
    async fn check_override(&self, run_id: &str, node: &str, fix: &Fix) -> Result<()> {
        let run = self.record(run_id).await?;
        let wf = self.compiled(&run.workflow, run.version).await?;
        let i = wf
            .index(node)
            .ok_or_else(|| Error::NotFound(format!("the workflow has no node `{node}`")))?;
        let def = &wf.nodes[i].def;
        if def.kind != NodeKind::Task {
            return Err(Error::BadRequest(format!(
                "node `{node}` is a {} node; only a task takes a config or an input",
                def.kind
            )));
        }
        if fix.input.is_some() && def.foreach.is_some() {
            return Err(Error::BadRequest(format!(
                "node `{node}` runs once per item of its `foreach`; its input cannot be \
                 replaced as a whole (retry it without `input`)"
            )));
        }
        let Some(config) = &fix.config else {
            return Ok(());
        };
        let mut workflow = wf.def.clone();
        workflow.nodes = wf
            .def
            .nodes
            .iter()
            .map(|(id, n)| {
                let mut n = n.clone();
                if id == node {
                    n.config = config.clone();
                }
                (id.to_string(), n)
            })
            .collect();
        match self.check_parsed(workflow, String::new()).await {
            Ok(_) => Ok(()),
            Err(Error::Invalid(problems)) => {
                // Only what the new config causes: the rest was accepted
                // when the version was applied.
                let own: Vec<_> = problems
                    .0
                    .into_iter()
                    .filter(|p| p.node.as_deref() == Some(node) && p.field.starts_with("config"))
                    .collect();
                if own.is_empty() {
                    Ok(())
                } else {
                    Err(Error::Invalid(Problems(own)))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Open incidents, newest held run first.
    pub async fn incidents(&self) -> Result<Vec<Incident>> {
        let held = self
            .store()
            .list_runs(&RunFilter {
                status: Some(RunStatus::Held),
                limit: MAX_LISTED,
                ..Default::default()
            })
            .await?;
        let mut out = Vec::new();
        for run in held {
            let (run, state, wf) = self.inspect_record(run).await?;
            // Resolved, cancelled or ended since the list was read.
            if !state.held() {
                continue;
            }
            for i in state.incidents() {
                out.push(Incident {
                    run_id: run.id.clone(),
                    workflow: run.workflow.clone(),
                    version: run.version,
                    key: run.key.clone(),
                    node: wf.nodes[i].id.clone(),
                    error: state.nodes[i].error.clone().unwrap_or_default(),
                    since: run.updated_at,
                });
            }
        }
        Ok(out)
    }
}

/// The JSON of a resolution's optional fields, as the API takes them.
pub fn fix_from(action: Resolution, body: &serde_json::Map<String, Value>) -> Result<Fix> {
    let text = |k: &str| -> Result<Option<String>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::BadRequest(format!("`{k}` must be text"))),
        }
    };
    let config = match body.get("config") {
        None | Some(Value::Null) => None,
        Some(c @ Value::Object(_)) => Some(c.clone()),
        Some(_) => {
            return Err(Error::BadRequest(
                "`config` must be an object: the node's whole config".into(),
            ));
        }
    };
    Ok(Fix {
        comment: text("comment")?,
        config,
        input: body.get("input").filter(|v| !v.is_null()).cloned(),
        output: body.get("output").cloned(),
        ..Fix::new(action)
    })
}
