//! `baton audit`: who changed what through the API, and when, newest first.

use std::process::ExitCode;

use clap::Args;

use crate::client::{Client, Remote, segment};
use crate::table;

/// Filters of `baton audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// Only calls by this token name.
    #[arg(long)]
    actor: Option<String>,
    /// Only actions that start with this, e.g. `run.` or `interlock.release`.
    #[arg(long)]
    action: Option<String>,
    /// At most this many (the server gives at most 1000).
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

/// Run `baton audit`.
pub async fn run(args: AuditArgs, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let mut query = format!("?limit={}", args.limit);
    if let Some(a) = &args.actor {
        query.push_str(&format!("&actor={}", segment(a)));
    }
    if let Some(a) = &args.action {
        query.push_str(&format!("&action={}", segment(a)));
    }
    let answer = client.get(&format!("/api/v1/audit{query}")).await?;
    if remote.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = table::rows(&answer["entries"], |e| {
        vec![
            table::time(&e["at"]),
            table::cell(&e["actor"]),
            table::cell(&e["data"]["role"]),
            table::cell(&e["kind"]),
            table::truncate(e["data"]["details"].to_string(), 80),
        ]
    });
    table::print(&["AT", "ACTOR", "ROLE", "ACTION", "DETAILS"], &rows);
    Ok(ExitCode::SUCCESS)
}
