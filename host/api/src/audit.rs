//! The audit trail: every mutating API call, with its actor and time, as an
//! event outside any run.

use baton_store::{NewEvent, Transition};
use serde_json::Value;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiResult, internal};

/// Record that `caller` did `action` (e.g. `plugin.upload`) with `details`.
/// The call's effect is already committed; the record follows it.
pub async fn record(
    state: &ApiState,
    caller: &Caller,
    action: &str,
    details: Value,
) -> ApiResult<()> {
    state
        .engine
        .store()
        .commit(Transition {
            run_id: None,
            events: vec![entry(caller, action, details)],
            ..Default::default()
        })
        .await
        .map_err(internal)
}

/// The audit record of `caller` doing `action`, for a caller that commits
/// it itself (a run start commits it with the run).
pub fn entry(caller: &Caller, action: &str, details: Value) -> NewEvent {
    NewEvent {
        kind: action.to_string(),
        node_id: None,
        actor: Some(caller.name.clone()),
        data:
            serde_json::json!({"action": action, "role": caller.role.as_str(), "details": details})
                .into(),
    }
}
