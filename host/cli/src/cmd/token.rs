//! `baton token create|list|revoke`: API tokens (admin only).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::client::{Client, Remote, segment};
use crate::table;

/// `baton token ...`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        /// Who or what it is for, e.g. `mes-line1`; recorded as the actor of its calls.
        name: String,
        /// admin (plugins, workflows, tokens), operator (runs, approvals, interlock) or viewer (read).
        #[arg(long, value_parser = ["admin", "operator", "viewer"])]
        role: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id; its next call is refused.
    Revoke {
        /// The token's id, from `baton token list`.
        id: String,
    },
}

/// Run `baton token ...`.
pub async fn run(command: TokenCommand, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    match command {
        TokenCommand::Create { name, role } => {
            let (_, answer) = client
                .post("/api/v1/tokens", &json!({"name": name, "role": role}))
                .await?;
            if remote.json {
                println!("{answer}");
            } else {
                eprintln!(
                    "created {} token `{name}` (id {}); the secret is shown once:",
                    role,
                    table::cell(&answer["id"])
                );
                println!("{}", table::cell(&answer["token"]));
            }
        }
        TokenCommand::List => {
            let answer = client.get("/api/v1/tokens").await?;
            if remote.json {
                println!("{answer}");
                return Ok(ExitCode::SUCCESS);
            }
            let rows = table::rows(&answer["tokens"], |t| {
                vec![
                    table::cell(&t["id"]),
                    table::cell(&t["name"]),
                    table::cell(&t["role"]),
                    table::time(&t["created_at"]),
                ]
            });
            table::print(&["ID", "NAME", "ROLE", "CREATED"], &rows);
        }
        TokenCommand::Revoke { id } => {
            client
                .call(
                    hyper::Method::DELETE,
                    &format!("/api/v1/tokens/{}", segment(&id)),
                    &[],
                    Vec::new(),
                )
                .await?;
            println!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
