//! Hostile workflow bodies, sent with a read-only token to the validate
//! endpoint: each is refused with a 422 that names the limit, in bounded
//! time, and the server's peak memory stays bounded and it answers the next
//! request normally.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{ADMIN, Plant, Server};

/// The server process's peak resident memory since the last reset, in bytes.
fn peak_rss(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb << 10
}

/// Start counting the peak again from the current resident size.
fn reset_peak(server: &Server) {
    std::fs::write(format!("/proc/{}/clear_refs", server.child.id()), "5").unwrap();
}

/// `n` nodes, each needing the next: bare (as small as a node can be written)
/// or valid delays.
fn chain_of(n: usize, valid: bool) -> String {
    let mut nodes = serde_json::Map::new();
    for i in 0..n {
        let mut node = match valid {
            true => json!({"type": "delay", "duration": "1s"}),
            false => json!({}),
        };
        if i + 1 < n {
            node["needs"] = json!([format!("n{}", i + 1)]);
        }
        nodes.insert(format!("n{i}"), node);
    }
    json!({"name": "hostile", "nodes": nodes}).to_string()
}

fn with_when(when: &str) -> String {
    json!({"name": "hostile", "nodes": {"a": {"type": "approval", "when": when}}}).to_string()
}

fn with_input(input: &str) -> String {
    json!({"name": "hostile", "nodes": {"a": {"plugin": "transform@1", "input": input}}})
        .to_string()
}

fn aliases(items: usize, copies: usize) -> String {
    let list = vec!["1"; items].join(", ");
    let refs = vec!["*x"; copies].join(", ");
    format!(
        "name: hostile\nnodes:\n  a:\n    plugin: transform@1\n    config:\n      anchor: &x [{list}]\n      copies: [{refs}]\n"
    )
}

#[test]
fn hostile_workflow_bodies_get_a_422_in_bounded_time_and_memory() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let (status, viewer) = server.post(
        "/api/v1/tokens",
        &json!({"name": "screen", "role": "viewer"}),
    );
    assert_eq!(status, 201, "{viewer}");
    let viewer = viewer["token"].as_str().unwrap().to_string();

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "`when` of 1 then +1 x 20,000",
            with_when(&format!("1{}", "+1".repeat(20_000))),
            "max_expression_bytes",
        ),
        (
            "`input` then .b x 20,000",
            with_input(&format!("input{}", ".b".repeat(20_000))),
            "max_expression_bytes",
        ),
        (
            "`when` of 1 then +1 x 2,000 (under the length cap)",
            with_when(&format!("1{}", "+1".repeat(2_000))),
            "max_expression_depth",
        ),
        (
            "30,000 nodes in a chain",
            chain_of(30_000, false),
            "max_values",
        ),
        (
            "5,000 nodes in a chain",
            chain_of(5_000, false),
            "max_nodes",
        ),
        (
            "an anchor of 6,000 items aliased 6,000 times",
            aliases(6_000, 6_000),
            "max_values",
        ),
        (
            "an anchor of 20,000 items aliased 20,000 times",
            aliases(20_000, 20_000),
            "max_values",
        ),
        (
            "lists nested 100 deep",
            format!(
                "{{\"name\": \"hostile\", \"nodes\": {{\"a\": {{\"plugin\": \"transform@1\", \"config\": {{\"x\": {}1{}}}}}}}}}",
                "[".repeat(100),
                "]".repeat(100)
            ),
            "max_depth",
        ),
    ];
    let baseline = {
        reset_peak(&server);
        peak_rss(&server)
    };
    for (what, body, limit) in &cases {
        assert!(body.len() < 1 << 20, "{what} is under the body limit");
        reset_peak(&server);
        let started = Instant::now();
        let (status, answer) = server.call_with(
            "POST",
            "/api/v1/workflows/hostile/validate",
            Some(&viewer),
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        let took = started.elapsed();
        let peak = peak_rss(&server);
        eprintln!(
            "{what}: {status} in {took:?}, peak RSS {} MiB (idle {} MiB)",
            peak >> 20,
            baseline >> 20
        );
        assert_eq!(status, 422, "{what}: {answer}");
        assert!(answer.to_string().contains(limit), "{what}: {answer}");
        assert!(took < Duration::from_secs(5), "{what} took {took:?}");
        assert!(
            peak < baseline + (64 << 20),
            "{what}: peak RSS {} MiB over an idle {} MiB",
            peak >> 20,
            baseline >> 20
        );
        // The server is still there and answers normally.
        assert_eq!(server.call("GET", "/healthz", None, b"").0, 200);
        let (status, _) = server.call("GET", "/api/v1/runs", Some(ADMIN), b"");
        assert_eq!(status, 200, "after {what}");
    }

    // A large valid workflow, up to the node cap, still validates.
    let (status, answer) = server.call_with(
        "POST",
        "/api/v1/workflows/hostile/validate",
        Some(&viewer),
        &[("content-type", "application/json")],
        chain_of(1_000, true).as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], Value::Bool(true));
}
