//! `baton run start|list|waiting|show|watch|cancel|approve|reject`, and for
//! held runs `incidents|retry|complete|skip|fail`: runs on a server.

use std::process::ExitCode;

use anyhow::Context as _;
use baton_engine::Event;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Client, Remote, segment};
use crate::describe;
use crate::table;
use crate::value;

/// `baton run ...`
#[derive(Subcommand)]
pub enum RunCommand {
    /// Start a run of a workflow's newest version.
    Start {
        /// The workflow.
        workflow: String,
        /// The run input (JSON or YAML, or `@file`).
        #[arg(long)]
        input: Option<String>,
        /// Never start the same run twice for this key.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Follow the run's events until it ends, and exit non-zero unless it succeeds.
        #[arg(long)]
        watch: bool,
    },
    /// List runs, newest first.
    List {
        /// Only this workflow's runs.
        #[arg(long)]
        workflow: Option<String>,
        /// Only runs with this status: running, held, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only runs with this batch or serial key (the workflow's `key`).
        #[arg(long)]
        key: Option<String>,
        /// Only runs created since then: an RFC 3339 time (`2026-12-01T06:00:00Z`) or a span ago (`8h`, `2d`).
        #[arg(long, value_parser = parse_when)]
        since: Option<i64>,
        /// Only runs created before then, as for `--since`.
        #[arg(long, value_parser = parse_when)]
        until: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// List the approval nodes of running runs that wait for a decision, oldest first.
    Waiting,
    /// Show a run and every node's state.
    Show {
        /// The run id.
        id: String,
    },
    /// Follow a run's events live until it ends; exits non-zero unless it succeeds.
    Watch {
        /// The run id.
        id: String,
        /// Stop (successfully) as soon as the run waits for an approval.
        #[arg(long)]
        until_waiting: bool,
    },
    /// Cancel a run; its completed nodes are compensated.
    Cancel {
        /// The run id.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Approve a waiting approval node.
    Approve {
        /// The run id.
        id: String,
        /// The approval node.
        node: String,
        /// A comment, for the record.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a waiting approval node.
    Reject {
        /// The run id.
        id: String,
        /// The approval node.
        node: String,
        /// A comment, for the record.
        #[arg(long)]
        comment: Option<String>,
    },
    /// List the open incidents: failed nodes of held runs.
    Incidents,
    /// Run a held run's failed node again; its completed upstream nodes do not rerun.
    Retry {
        /// The run id.
        id: String,
        /// The failed node.
        node: String,
        /// A corrected config for the node, replacing its whole config (JSON or YAML, or `@file`).
        #[arg(long)]
        config: Option<String>,
        /// A corrected input for the node (JSON or YAML, or `@file`).
        #[arg(long)]
        input: Option<String>,
        /// Why, for the record.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Complete a held run's failed node by hand with the given output.
    Complete {
        /// The run id.
        id: String,
        /// The failed node.
        node: String,
        /// The node's output, which its dependants read (JSON or YAML, or `@file`).
        #[arg(long)]
        output: String,
        /// Why; required for the record.
        #[arg(long)]
        comment: String,
    },
    /// Skip a held run's failed node; what needs only it is skipped too.
    Skip {
        /// The run id.
        id: String,
        /// The failed node.
        node: String,
        /// Why, for the record.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Fail a held run; its completed nodes are compensated.
    Fail {
        /// The run id.
        id: String,
        /// The failed node.
        node: String,
        /// Why, for the record.
        #[arg(long)]
        comment: Option<String>,
    },
}

/// Run `baton run ...`.
pub async fn run(command: RunCommand, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    match command {
        RunCommand::Start {
            workflow,
            input,
            idempotency_key,
            watch: follow,
        } => {
            let input: Value = match &input {
                Some(i) => value::parse(i, "--input")?,
                None => json!({}),
            };
            let mut headers = vec![("content-type", "application/json")];
            if let Some(key) = &idempotency_key {
                headers.push(("idempotency-key", key.as_str()));
            }
            let (_, answer) = client
                .call(
                    hyper::Method::POST,
                    &format!("/api/v1/workflows/{}/runs", segment(&workflow)),
                    &headers,
                    serde_json::to_vec(&json!({ "input": input }))?,
                )
                .await?;
            let id = answer["run_id"]
                .as_str()
                .context("no run id in the answer")?;
            if remote.json && !follow {
                println!("{answer}");
            } else if answer["created"] == json!(false) {
                eprintln!("run {id} was started before with this idempotency key");
            } else {
                eprintln!("started run {id}");
            }
            if !remote.json {
                println!("{id}");
            }
            if follow {
                return watch(&client, id, remote.json, false).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::List {
            workflow,
            status,
            key,
            since,
            until,
            limit,
        } => {
            let mut query = format!("?limit={limit}");
            if let Some(t) = since {
                query.push_str(&format!("&since={t}"));
            }
            if let Some(t) = until {
                query.push_str(&format!("&until={t}"));
            }
            if let Some(w) = &workflow {
                query.push_str(&format!("&workflow={}", segment(w)));
            }
            if let Some(s) = &status {
                query.push_str(&format!("&status={}", segment(s)));
            }
            if let Some(k) = &key {
                query.push_str(&format!("&key={}", segment(k)));
            }
            let answer = client.get(&format!("/api/v1/runs{query}")).await?;
            if remote.json {
                println!("{answer}");
                return Ok(ExitCode::SUCCESS);
            }
            let rows = table::rows(&answer["runs"], |r| {
                vec![
                    table::cell(&r["id"]),
                    format!("{} v{}", table::cell(&r["workflow"]), r["version"]),
                    table::cell(&r["status"]),
                    table::cell(&r["trigger"]),
                    table::time(&r["created_at"]),
                    table::time(&r["finished_at"]),
                ]
            });
            table::print(
                &["ID", "WORKFLOW", "STATUS", "TRIGGER", "STARTED", "FINISHED"],
                &rows,
            );
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Waiting => {
            let answer = client.get("/api/v1/approvals").await?;
            if remote.json {
                println!("{answer}");
                return Ok(ExitCode::SUCCESS);
            }
            let rows = table::rows(&answer["approvals"], |a| {
                vec![
                    table::cell(&a["run"]),
                    format!("{} v{}", table::cell(&a["workflow"]), a["version"]),
                    table::cell(&a["node"]),
                    table::time(&a["since"]),
                    table::time(&a["until"]),
                ]
            });
            table::print(
                &["RUN", "WORKFLOW", "NODE", "WAITING SINCE", "TIMES OUT"],
                &rows,
            );
            if answer["truncated"] == json!(true) {
                eprintln!("only the newest 500 running runs were looked at");
            }
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Show { id } => {
            let run = client
                .get(&format!("/api/v1/runs/{}", segment(&id)))
                .await?;
            if remote.json {
                println!("{}", serde_json::to_string_pretty(&run)?);
                return Ok(ExitCode::SUCCESS);
            }
            print_run(&run);
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Watch { id, until_waiting } => {
            watch(&client, &id, remote.json, until_waiting).await
        }
        RunCommand::Cancel { id, reason } => {
            let body = json!({ "reason": reason });
            let (_, answer) = client
                .post(&format!("/api/v1/runs/{}/cancel", segment(&id)), &body)
                .await?;
            done(remote, &answer, &format!("cancelling run {id}"))
        }
        RunCommand::Approve { id, node, comment } => {
            decide(&client, remote, &id, &node, comment, "approve").await
        }
        RunCommand::Reject { id, node, comment } => {
            decide(&client, remote, &id, &node, comment, "reject").await
        }
        RunCommand::Incidents => super::incident::list(&client, remote).await,
        RunCommand::Retry {
            id,
            node,
            config,
            input,
            comment,
        } => {
            let mut body = json!({ "comment": comment });
            if let Some(c) = &config {
                body["config"] = value::parse::<Value>(c, "--config")?;
            }
            if let Some(i) = &input {
                body["input"] = value::parse::<Value>(i, "--input")?;
            }
            super::incident::resolve(&client, remote, &id, &node, "retry", body).await
        }
        RunCommand::Complete {
            id,
            node,
            output,
            comment,
        } => {
            let output: Value = value::parse(&output, "--output")?;
            let body = json!({ "output": output, "comment": comment });
            super::incident::resolve(&client, remote, &id, &node, "complete", body).await
        }
        RunCommand::Skip { id, node, comment } => {
            let body = json!({ "comment": comment });
            super::incident::resolve(&client, remote, &id, &node, "skip", body).await
        }
        RunCommand::Fail { id, node, comment } => {
            let body = json!({ "comment": comment });
            super::incident::resolve(&client, remote, &id, &node, "fail", body).await
        }
    }
}

/// `verb` is `approve` or `reject`.
async fn decide(
    client: &Client,
    remote: &Remote,
    id: &str,
    node: &str,
    comment: Option<String>,
    verb: &str,
) -> anyhow::Result<ExitCode> {
    let body = json!({ "comment": comment });
    let path = format!(
        "/api/v1/runs/{}/nodes/{}/{verb}",
        segment(id),
        segment(node)
    );
    let (_, answer) = client.post(&path, &body).await?;
    let past = if verb == "approve" {
        "approved"
    } else {
        "rejected"
    };
    done(remote, &answer, &format!("{past} `{node}` of run {id}"))
}

pub(super) fn done(remote: &Remote, answer: &Value, message: &str) -> anyhow::Result<ExitCode> {
    if remote.json {
        println!("{answer}");
    } else {
        println!("{message}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_run(run: &Value) {
    println!(
        "run {}  {} v{}  {}",
        table::cell(&run["id"]),
        table::cell(&run["workflow"]),
        run["version"],
        table::cell(&run["status"]).to_uppercase()
    );
    println!(
        "started {} by {}, finished {}",
        table::time(&run["created_at"]),
        table::cell(&run["trigger"]),
        table::time(&run["finished_at"])
    );
    if !run["key"].is_null() {
        println!("key {}", table::cell(&run["key"]));
    }
    if !run["parent"].is_null() {
        println!(
            "started by node `{}` of run {}",
            table::cell(&run["parent"]["node"]),
            table::cell(&run["parent"]["run_id"])
        );
    }
    for child in run["children"].as_array().into_iter().flatten() {
        println!(
            "node `{}` started run {} ({} v{}): {}",
            table::cell(&child["node"]),
            table::cell(&child["id"]),
            table::cell(&child["workflow"]),
            child["version"],
            table::cell(&child["status"])
        );
    }
    if !run["deadline_at"].is_null() {
        println!("deadline {}", table::time(&run["deadline_at"]));
    }
    if !run["error"].is_null() {
        println!("error: {}", table::cell(&run["error"]));
    }
    let rows = table::rows(&run["nodes"], |n| {
        let attempts = n["attempts"].as_array().map_or(0, Vec::len);
        let outcome = if n["error"].is_null() {
            &n["output"]
        } else {
            &n["error"]
        };
        let status = if n["incident"] == json!(true) {
            format!("{} (incident)", table::cell(&n["status"]))
        } else {
            table::cell(&n["status"])
        };
        vec![
            table::cell(&n["id"]),
            table::cell(&n["type"]),
            status,
            attempts.to_string(),
            table::truncate(table::cell(outcome), 60),
        ]
    });
    table::print(
        &["NODE", "TYPE", "STATUS", "ATTEMPTS", "OUTPUT / ERROR"],
        &rows,
    );
    if !run["output"].is_null() {
        println!("output: {}", run["output"]);
    }
}

/// Follow `id` live; exit 0 only if it succeeds (or, with `until_waiting`,
/// waits for an approval).
async fn watch(
    client: &Client,
    id: &str,
    json: bool,
    until_waiting: bool,
) -> anyhow::Result<ExitCode> {
    let mut last = String::new();
    let mut waiting = false;
    client
        .events(&format!("/api/v1/runs/{}/events", segment(id)), |stored| {
            let event = serde_json::from_value::<Event>(stored["data"].clone()).ok();
            if json {
                println!("{stored}");
            } else {
                let at = stored["at"].as_i64().unwrap_or_default();
                let time = chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.format("%H:%M:%S%.3f").to_string())
                    .unwrap_or_default();
                let lines = event
                    .as_ref()
                    .map_or_else(|| vec![table::cell(&stored["kind"])], describe::lines);
                let actor = match stored["actor"].as_str() {
                    Some(a) => format!("  [{a}]"),
                    None => String::new(),
                };
                for line in lines {
                    println!("{time}  {line}{actor}");
                }
            }
            last = table::cell(&stored["kind"]);
            if until_waiting
                && let Some(Event::NodeWaiting {
                    reason: baton_engine::event::WaitReason::Approval,
                    ..
                }) = event
            {
                waiting = true;
                return false;
            }
            !matches!(
                last.as_str(),
                "run_succeeded" | "run_failed" | "run_cancelled"
            )
        })
        .await?;
    Ok(match last.as_str() {
        _ if waiting => ExitCode::SUCCESS,
        "run_succeeded" => ExitCode::SUCCESS,
        "run_failed" | "run_cancelled" => ExitCode::FAILURE,
        _ => anyhow::bail!("the event stream ended before the run did"),
    })
}

/// A time for `--since` and `--until`, in Unix milliseconds: an RFC 3339
/// time, or a span before now (`90m`, `8h`, `2d`).
fn parse_when(text: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let span = humantime_serde::re::humantime::parse_duration(text).map_err(|_| {
        format!(
            "`{text}` is neither an RFC 3339 time (2026-12-01T06:00:00Z) nor a span ago (8h, 2d)"
        )
    })?;
    let ago = chrono::Duration::from_std(span).map_err(|e| e.to_string())?;
    Ok((chrono::Utc::now() - ago).timestamp_millis())
}

#[cfg(test)]
mod when_tests {
    use super::parse_when;

    #[test]
    fn times_and_spans_ago() {
        assert_eq!(parse_when("2026-12-01T00:00:00Z"), Ok(1_796_083_200_000));
        let now = chrono::Utc::now().timestamp_millis();
        let two_hours = parse_when("2h").unwrap();
        assert!(
            (now - two_hours - 7_200_000).abs() < 5_000,
            "{}",
            now - two_hours
        );
        assert!(parse_when("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
