//! Cluster benchmark: real `baton serve` nodes on one PostgreSQL database
//! (`BATON_TEST_DATABASE_URL`, a fresh database of its own), in one run:
//!
//! - failover: a node is killed (`SIGKILL`) while it runs an attempt; the time
//!   from the kill to that attempt's rerun (`attempt_started` with
//!   `resumed: true`) on the surviving node, with a 2 s lease and a 200 ms
//!   heartbeat, `--failovers` times (default 10): median and range;
//! - throughput: 10-step chains of pure `transform@1` steps, started and
//!   waited for (`?wait=`) by `--clients` callers (default 16) for
//!   `--seconds` (default 10), against one node, then against two nodes
//!   taking turns, on the same database: runs/s and the ratio.
//!
//! `cargo bench -p baton-cli --bench cluster [-- --failovers 10 --seconds 10 --clients 16]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const TOKEN: &str = "baton_cluster_benchmark_token";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Node {
    child: Child,
    addr: String,
}

impl Node {
    fn start(dir: &Path, id: &str, database: &str) -> Self {
        let data = dir.join(id);
        std::fs::create_dir_all(&data).unwrap();
        let config = data.join("baton.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\ndatabase = \"{database}\"\n\
                 [engine.cluster]\nnode_id = \"{id}\"\nheartbeat = \"200ms\"\nlease = \"2s\"\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--config-file")
            .arg(&config)
            .env("BATON_ADMIN_TOKEN", TOKEN)
            .env("BATON_LOG", "error")
            .env_remove("BATON_DATABASE_URL")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "node {id} did not start"
            );
            if let Some(a) = line.trim().strip_prefix("baton listening on http://") {
                break a.to_string();
            }
        };
        std::thread::spawn(move || for _ in stderr.lines() {});
        Self { child, addr }
    }

    fn call(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head[9..12].parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn kill(mut self) -> Instant {
        self.child.kill().unwrap();
        let at = Instant::now();
        self.child.wait().unwrap();
        at
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn database() -> String {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(baton_sim::suite::fresh_database(
            "cluster benchmark",
            "baton_bench_cluster",
        ))
        .expect(
            "set BATON_TEST_DATABASE_URL to a PostgreSQL server (a fresh database is made on it)",
        )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Kill the node running a long attempt; the time until the survivor
/// reruns it.
fn failover(victim: Node, survivor: &Node) -> Duration {
    let (status, started) = victim.call(
        "POST",
        "/api/v1/workflows/long/runs",
        "application/json",
        br#"{"input": {}}"#,
    );
    assert_eq!(status, 202, "{started}");
    let run = started["run_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let killed_ms = now_ms();
    let killed = victim.kill();
    loop {
        let (_, events) = survivor.call(
            "GET",
            &format!("/api/v1/runs/{run}/events"),
            "text/plain",
            b"",
        );
        let resumed = events["events"].as_array().and_then(|all| {
            all.iter()
                .find(|e| e["kind"] == "attempt_started" && e["data"]["resumed"] == true)
                .and_then(|e| e["at"].as_i64())
        });
        if let Some(at) = resumed {
            return Duration::from_millis((at - killed_ms).max(0) as u64);
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "run {run} was not taken over"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs finished per second by `clients` callers spread over `nodes`.
fn throughput(nodes: &[&Node], clients: usize, window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        for c in 0..clients {
            let node = nodes[c % nodes.len()];
            let (done, stop, counting) = (done.clone(), stop.clone(), counting.clone());
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = node.call(
                        "POST",
                        "/api/v1/workflows/chain/runs?wait=30",
                        "application/json",
                        br#"{"input": {"value": 1}}"#,
                    );
                    assert_eq!(status, 200, "{body}");
                    if counting.load(Ordering::Relaxed) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(2));
        counting.store(true, Ordering::Relaxed);
        let began = Instant::now();
        std::thread::sleep(window);
        counting.store(false, Ordering::Relaxed);
        let rate = done.load(Ordering::Relaxed) as f64 / began.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        rate
    })
}

fn main() {
    let database = database();
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(dir.path(), "a", &database);
    let (status, body) = a.call(
        "POST",
        "/api/v1/plugins",
        "application/wasm",
        &std::fs::read(baton_plugins::test_programs::SCRIPTED).unwrap(),
    );
    assert!(status == 201 || status == 200, "{body}");
    let long = "name: long\nnodes:\n  work: { plugin: scripted@1, config: { sleep_ms: 20000 }, timeout: 60s }\n";
    let mut chain =
        "name: chain\nnodes:\n  s0: { plugin: transform@1, config: { reshape: { v: /value } } }\n"
            .to_string();
    for i in 1..10 {
        chain += &format!(
            "  s{i}: {{ needs: [s{}], plugin: transform@1, input: \"nodes.s{}.output\", config: {{ reshape: {{ v: /v }} }} }}\n",
            i - 1,
            i - 1
        );
    }
    for (name, yaml) in [("long", long.to_string()), ("chain", chain)] {
        let (status, body) = a.call(
            "PUT",
            &format!("/api/v1/workflows/{name}"),
            "application/yaml",
            yaml.as_bytes(),
        );
        assert_eq!(status, 201, "{body}");
    }

    let failovers = arg("--failovers", 10) as usize;
    let mut survivor = Node::start(dir.path(), "b", &database);
    let mut victim = a;
    let mut times = Vec::new();
    for i in 0..failovers {
        let t = failover(victim, &survivor);
        println!("failover {}: {} ms", i + 1, t.as_millis());
        times.push(t);
        // The killed node comes back (waiting out its own lease) and is
        // the survivor of the next round.
        let back = Node::start(dir.path(), if i % 2 == 0 { "a" } else { "b" }, &database);
        victim = std::mem::replace(&mut survivor, back);
    }
    times.sort();
    println!(
        "summary: failover (SIGKILL to the attempt's rerun on another node), lease 2 s, heartbeat 200 ms: \
         median {} ms, min {} ms, max {} ms over {failovers}",
        times[times.len() / 2].as_millis(),
        times[0].as_millis(),
        times[times.len() - 1].as_millis()
    );

    let clients = arg("--clients", 16) as usize;
    let window = Duration::from_secs(arg("--seconds", 10));
    let one = throughput(&[&victim], clients, window);
    let two = throughput(&[&victim, &survivor], clients, window);
    println!(
        "summary: 10-step pure chains, {clients} callers with ?wait=, same database: \
         one node {one:.1} runs/s, two nodes {two:.1} runs/s ({:.2}x)",
        two / one
    );
}
