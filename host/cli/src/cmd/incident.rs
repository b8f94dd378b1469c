//! `baton run incidents|retry|complete|skip|fail`: held runs and what an
//! operator does about their failed nodes.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{Client, Remote, segment};
use crate::table;

/// `baton run incidents`: the open incidents, newest held run first.
pub async fn list(client: &Client, remote: &Remote) -> anyhow::Result<ExitCode> {
    let answer = client.get("/api/v1/incidents").await?;
    if remote.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = table::rows(&answer["incidents"], |i| {
        vec![
            table::cell(&i["run_id"]),
            format!("{} v{}", table::cell(&i["workflow"]), i["version"]),
            table::cell(&i["key"]),
            table::cell(&i["node"]),
            table::time(&i["since"]),
            table::truncate(table::cell(&i["error"]), 60),
        ]
    });
    table::print(
        &["RUN", "WORKFLOW", "KEY", "NODE", "HELD SINCE", "ERROR"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

/// `verb` is `retry`, `complete`, `skip` or `fail`.
pub async fn resolve(
    client: &Client,
    remote: &Remote,
    id: &str,
    node: &str,
    verb: &str,
    body: Value,
) -> anyhow::Result<ExitCode> {
    let path = format!(
        "/api/v1/runs/{}/nodes/{}/{verb}",
        segment(id),
        segment(node)
    );
    let (_, answer) = client.post(&path, &body).await?;
    let message = match verb {
        "retry" => format!("retrying `{node}` of run {id}"),
        "complete" => format!("completed `{node}` of run {id} by hand"),
        "skip" => format!("skipped `{node}` of run {id}"),
        _ => format!("failing run {id}"),
    };
    super::run::done(remote, &answer, &message)
}
