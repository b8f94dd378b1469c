//! `baton lock list`: the equipment locks on a server, who holds each and
//! who waits for it.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::client::{Client, Remote};
use crate::table;

/// `baton lock ...`
#[derive(Subcommand)]
pub enum LockCommand {
    /// Every lock with its holders and its queue (in the order they will get it).
    List,
}

/// Run `baton lock ...`.
pub async fn run(command: LockCommand, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    match command {
        LockCommand::List => {
            let answer = client.get("/api/v1/locks").await?;
            if remote.json {
                println!("{answer}");
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = Vec::new();
            for lock in answer["locks"].as_array().into_iter().flatten() {
                let line = |who: &Value, what: &str, n: usize| {
                    vec![
                        table::cell(&lock["key"]),
                        lock["limit"].to_string(),
                        match n {
                            0 => what.to_string(),
                            n => format!("{what} #{n}"),
                        },
                        table::cell(&who["run_id"]),
                        table::cell(&who["workflow"]),
                        table::cell(&who["node"]),
                        table::time(&who["since"]),
                    ]
                };
                for who in lock["holders"].as_array().into_iter().flatten() {
                    rows.push(line(who, "held", 0));
                }
                for (n, who) in lock["queue"].as_array().into_iter().flatten().enumerate() {
                    rows.push(line(who, "waiting", n + 1));
                }
            }
            if rows.is_empty() {
                println!("no lock is held or waited for");
                return Ok(ExitCode::SUCCESS);
            }
            table::print(
                &["LOCK", "LIMIT", "STATE", "RUN", "WORKFLOW", "NODE", "SINCE"],
                &rows,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
