//! `baton interlock show|engage|release`: the site's safety interlock.

use std::process::ExitCode;

use clap::Subcommand;
use hyper::Method;
use serde_json::json;

use crate::client::{Client, Remote};

/// `baton interlock ...`
#[derive(Subcommand)]
pub enum InterlockCommand {
    /// Whether it is engaged.
    Show,
    /// Engage it: every PLC write and interlocked MQTT or HTTP call is
    /// denied, running attempts that can actuate are aborted, no run starts.
    Engage {
        /// Why, for the audit log.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Release it (by default an admin's call); a comment is required.
    Release {
        /// Why it is safe to resume, for the audit log.
        #[arg(long)]
        comment: String,
    },
}

/// Run `baton interlock ...`.
pub async fn run(command: InterlockCommand, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let answer = match command {
        InterlockCommand::Show => client.get("/api/v1/interlock").await?,
        InterlockCommand::Engage { comment } => {
            client
                .post("/api/v1/interlock", &json!({"comment": comment}))
                .await?
                .1
        }
        InterlockCommand::Release { comment } => {
            client
                .call(
                    Method::DELETE,
                    "/api/v1/interlock",
                    &[("content-type", "application/json")],
                    serde_json::to_vec(&json!({"comment": comment}))?,
                )
                .await?
                .1
        }
    };
    if remote.json {
        println!("{answer}");
    } else if answer["engaged"] == json!(true) {
        println!("the safety interlock is ENGAGED: actuation is denied and no run starts");
    } else {
        println!("the safety interlock is released");
    }
    Ok(ExitCode::SUCCESS)
}
