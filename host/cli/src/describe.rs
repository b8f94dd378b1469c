//! One line of text per run event, for `workflow run` and `run watch`.

use baton_engine::Event;

/// The lines for a stored event: one, or a pure step committed whole as
/// the four it stands for.
pub fn lines(event: &Event) -> Vec<String> {
    event.unfolded().iter().map(describe).collect()
}

/// One line for an event.
fn describe(event: &Event) -> String {
    let short = |v: &serde_json::Value| crate::table::truncate(v.to_string(), 100);
    match event {
        Event::RunStarted { input, .. } => format!("run started with input {}", short(input)),
        Event::NodeStarted {
            node,
            items: Some(items),
            ..
        } => {
            format!("{node}: started, {} items", items.len())
        }
        Event::NodeStarted { node, input, .. } => {
            format!("{node}: started with input {}", short(input))
        }
        Event::AttemptStarted {
            node,
            item,
            attempt,
            resumed,
            phase,
        } => format!(
            "{node}{}: {}attempt {attempt}{}",
            item.map(|i| format!("[{i}]")).unwrap_or_default(),
            if *phase == baton_store::Phase::Compensate {
                "compensation "
            } else {
                ""
            },
            if *resumed { " (resumed)" } else { "" }
        ),
        Event::AttemptSucceeded {
            node,
            item,
            output,
            duration_ms,
            denials,
            ..
        } => format!(
            "{node}{}: attempt succeeded in {duration_ms} ms: {}{}",
            item.map(|i| format!("[{i}]")).unwrap_or_default(),
            short(output),
            if denials.is_empty() {
                String::new()
            } else {
                format!(" (denied: {})", denials.join("; "))
            }
        ),
        Event::AttemptFailed {
            node,
            item,
            attempt,
            error,
            retry_in_ms,
            ..
        } => format!(
            "{node}{}: attempt {attempt} failed: {error}{}",
            item.map(|i| format!("[{i}]")).unwrap_or_default(),
            retry_in_ms
                .map(|ms| format!("; retrying in {ms} ms"))
                .unwrap_or_default()
        ),
        Event::NodeWaiting { node, reason, .. } => {
            format!("{node}: waiting ({reason:?})").to_lowercase()
        }
        Event::NodeApproved { node, comment } => {
            format!(
                "{node}: approved{}",
                comment
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        }
        Event::NodeRejected { node, comment } => {
            format!(
                "{node}: rejected{}",
                comment
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        }
        Event::NodeTimedOut { node, outcome } => {
            format!("{node}: timed out ({outcome:?})").to_lowercase()
        }
        Event::NodeSucceeded { node, .. } => format!("{node}: succeeded"),
        Event::NodeFailed { node, error } => format!("{node}: FAILED: {error}"),
        Event::LocksRequested { node, locks, .. } => {
            let names: Vec<&str> = locks.iter().map(|l| l.key.as_str()).collect();
            let who = node.as_deref().unwrap_or("run");
            format!("{who}: waits for lock {}", names.join(", "))
        }
        Event::LocksAcquired { node } => {
            format!("{}: holds its locks", node.as_deref().unwrap_or("run"))
        }
        Event::IncidentOpened { node, error } => {
            format!("{node}: INCIDENT, the run is held: {error}")
        }
        Event::IncidentResolved {
            node,
            action,
            comment,
            ..
        } => match comment {
            Some(c) => format!("{node}: incident resolved: {} ({c})", action.as_str()),
            None => format!("{node}: incident resolved: {}", action.as_str()),
        },
        Event::NodeSkipped { node, reason } => format!("{node}: skipped ({reason})"),
        Event::NodeCancelled { node } => format!("{node}: cancelled"),
        Event::RunStopping { reason, .. } => format!("run stopping: {reason}"),
        Event::CompensationStarted { node, .. } => format!("{node}: compensating"),
        Event::CompensationSucceeded { node, .. } => format!("{node}: compensated"),
        Event::CompensationFailed { node, error } => {
            format!("{node}: compensation FAILED: {error}")
        }
        Event::RunSucceeded { .. } => "run succeeded".into(),
        Event::RunFailed { error } => format!("run FAILED: {error}"),
        Event::RunCancelled { reason } => format!("run cancelled: {reason}"),
    }
}
