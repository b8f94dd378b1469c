//! The success paths the journey does not take, through the `baton` client
//! where it has a command and over plain HTTP where it does not.

use serde_json::{Value, json};

use crate::client::{ADMIN, Plant, Server, baton, baton_as, unique};
use crate::journey::workflow;

#[test]
fn every_other_endpoint_succeeds_through_the_client_and_over_http() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    server.push_scripted();
    let name = unique("endpoints");
    let file = dir.path().join("workflow.yaml");
    std::fs::write(&file, workflow(&name, &format!("baton-test/{name}"))).unwrap();
    let file = file.to_str().unwrap();

    // Validate, then apply twice: two versions.
    let (code, out) = baton(&server, &["workflow", "validate", file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is valid"), "{out}");
    assert_eq!(baton(&server, &["workflow", "apply", file]).0, 0);
    let (code, out) = baton(&server, &["workflow", "apply", file]);
    assert_eq!(code, 0);
    assert!(out.contains("as version 2"), "{out}");
    let (_, out) = baton(&server, &["workflow", "list"]);
    assert!(out.contains(&name), "{out}");
    let (_, out) = baton(&server, &["workflow", "show", &name]);
    assert!(out.contains("versions: 1, 2"), "{out}");
    let v1 = server.get(&format!("/api/v1/workflows/{name}/versions/1"));
    assert_eq!(v1["version"], 1);
    // An invalid file is refused with its problems, and nothing is stored.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!("name: {name}\nnodes:\n  a: {{ needs: [ghost], plugin: transform@1 }}\n"),
    )
    .unwrap();
    let (code, out) = baton(&server, &["workflow", "apply", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("node `a`, needs[0]"), "{out}");

    // Reject one run, cancel another.
    let rejected = server.start_run(&name, json!({}));
    server.wait_node(&rejected, "approve", "waiting");
    let (code, out) = baton(
        &server,
        &[
            "run",
            "reject",
            &rejected,
            "approve",
            "--comment",
            "too cold",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(server.wait_finished(&rejected)["status"], "failed");
    let (code, _) = baton(&server, &["run", "watch", &rejected]);
    assert_eq!(code, 1, "watch exits non-zero for a failed run");

    let (code, out) = baton(
        &server,
        &["run", "start", &name, "--input", "{batch: B-3}", "--json"],
    );
    assert_eq!(code, 0, "{out}");
    let started: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let cancelled = started["run_id"].as_str().unwrap().to_string();
    server.wait_node(&cancelled, "approve", "waiting");
    let (code, out) = baton(
        &server,
        &["run", "cancel", &cancelled, "--reason", "shift ended"],
    );
    assert_eq!(code, 0, "{out}");
    let run = server.wait_finished(&cancelled);
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["input"], json!({"batch": "B-3"}));
    let (_, out) = baton(
        &server,
        &["run", "list", "--workflow", &name, "--status", "cancelled"],
    );
    assert!(
        out.contains(&cancelled) && !out.contains(&rejected),
        "{out}"
    );

    // The interlock's state; a plugin version, and deleting an unused one.
    assert_eq!(server.get("/api/v1/interlock")["engaged"], false);
    let scripted = server.get("/api/v1/plugins/scripted/1.0.0");
    assert_eq!(scripted["name"], "scripted");
    let (status, _) = server.call(
        "DELETE",
        "/api/v1/plugins/http-request/1.0.0",
        Some(ADMIN),
        b"",
    );
    assert_eq!(status, 204);
    let (status, _) = server.call(
        "GET",
        "/api/v1/plugins/http-request/1.0.0",
        Some(ADMIN),
        b"",
    );
    assert_eq!(status, 404);

    // Tokens through the client: a viewer can read but not start.
    let (code, out) = baton(
        &server,
        &["token", "create", "wall-screen", "--role", "viewer"],
    );
    assert_eq!(code, 0, "{out}");
    let secret = out
        .lines()
        .find(|l| l.starts_with("baton_"))
        .unwrap()
        .to_string();
    let (_, out) = baton(&server, &["token", "list"]);
    assert!(
        out.contains("wall-screen") && !out.contains(&secret),
        "{out}"
    );
    assert_eq!(baton_as(&server, &secret, &["run", "list"]).0, 0);
    let (code, out) = baton_as(&server, &secret, &["run", "start", &name]);
    assert_eq!(code, 2);
    assert!(out.contains("403"), "{out}");
}
