//! The engine in a child process (`engine-node`) for the crash scenarios,
//! and the databases it runs on.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A running `engine-node`. Dropping it kills it.
pub struct EngineNode {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl EngineNode {
    /// Start `engine-node` with `args` and wait until it prints `ready`; the
    /// ids of the runs it started (`--start N`) are returned with it.
    pub fn start(args: &[String]) -> (Self, Vec<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_engine-node"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start engine-node");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let mut started = Vec::new();
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(id) = line.strip_prefix("started ") {
                started.push(id.to_string());
            } else if line == "ready" {
                ready = true;
                break;
            }
        }
        assert!(
            ready,
            "engine-node exited before it was ready: {:?}",
            child.wait()
        );
        (Self { child, stdin }, started)
    }

    /// Ask the engine to approve `node` of `run`. Best effort: the engine
    /// ignores a node that is not waiting, and a dead engine hears nothing.
    pub fn approve(&mut self, run: &str, node: &str) {
        if let Some(stdin) = &mut self.stdin
            && writeln!(stdin, "approve {run} {node}").is_err()
        {
            self.stdin = None;
        }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for EngineNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new, empty database `NAME_PID` on the PostgreSQL server at
/// `BATON_TEST_DATABASE_URL`, or `None` after skipping `suite` when that is
/// not set (failing under CI).
pub async fn postgres_database(suite: &str, name: &str) -> Option<String> {
    baton_sim::suite::fresh_database(suite, name).await
}
