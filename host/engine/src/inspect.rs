//! Reading a run back: its record, its state folded from its events, its
//! workflow, and with them its executions.

use std::sync::Arc;

use baton_store::{Execution, Millis, RunRecord};

use crate::compiled::CompiledWorkflow;
use crate::engine::{Engine, parse_events};
use crate::event::Event;
use crate::executions::with_folded;
use crate::state::RunState;
use crate::{Error, Result};

impl Engine {
    /// A run's record, its state rebuilt from its events, and its workflow.
    pub async fn inspect(
        &self,
        run_id: &str,
    ) -> Result<(RunRecord, RunState, Arc<CompiledWorkflow>)> {
        self.inspect_record(self.record(run_id).await?).await
    }

    /// A run's record, or [`Error::NotFound`] naming the run.
    pub(crate) async fn record(&self, run_id: &str) -> Result<RunRecord> {
        self.shared
            .store
            .run(run_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no run `{run_id}`")))
    }

    /// [`Engine::inspect`] for a run already read.
    pub async fn inspect_record(
        &self,
        run: RunRecord,
    ) -> Result<(RunRecord, RunState, Arc<CompiledWorkflow>)> {
        let (run, state, wf, _) = self.replay_record(run).await?;
        Ok((run, state, wf))
    }

    /// [`Engine::inspect_record`], with the events the state was folded from.
    pub(crate) async fn replay_record(
        &self,
        run: RunRecord,
    ) -> Result<(
        RunRecord,
        RunState,
        Arc<CompiledWorkflow>,
        Vec<(Event, Millis)>,
    )> {
        let run_id = run.id.as_str();
        let wf = self.compiled(&run.workflow, run.version).await?;
        let stored = self.shared.store.all_events(run_id).await?;
        let events = parse_events(&stored)?;
        let state = RunState::replay(
            run_id,
            run.input.clone(),
            &wf,
            events.iter().map(|(e, at)| (e, *at)),
        );
        Ok((run, state, wf, events))
    }

    /// [`Engine::inspect`] and [`Engine::executions`] together, from one
    /// read of the run's events.
    pub async fn inspect_executions(
        &self,
        run_id: &str,
    ) -> Result<(RunRecord, RunState, Arc<CompiledWorkflow>, Vec<Execution>)> {
        let (run, state, wf, events) = self.replay_record(self.record(run_id).await?).await?;
        let rows = self.shared.store.executions(run_id).await?;
        Ok((run, state, wf, with_folded(rows, run_id, &events)))
    }
}
