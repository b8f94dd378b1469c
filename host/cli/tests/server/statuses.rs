//! Each error status a client can cause, as the server actually answers it,
//! and the token endpoints with their roles.

use serde_json::{Value, json};

use crate::client::{ADMIN, Plant, Server, unique};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[test]
fn tokens_roles_and_every_error_status() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));

    // Health checks are the only open endpoints.
    assert_eq!(server.call("GET", "/healthz", None, b"").0, 200);
    assert_eq!(server.call("GET", "/readyz", None, b"").0, 200);
    for path in [
        "/api/v1/runs",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/audit",
    ] {
        let (status, body) = server.call("GET", path, None, b"");
        assert_eq!((status, code(&body)), (401, "unauthorized"), "{path}");
    }
    let (status, _) = server.call("GET", "/api/v1/runs", Some("baton_not_a_token"), b"");
    assert_eq!(status, 401);

    // Tokens: an admin creates a viewer and an operator.
    let (status, viewer) = server.post(
        "/api/v1/tokens",
        &json!({"name": "screen", "role": "viewer"}),
    );
    assert_eq!(status, 201, "{viewer}");
    let viewer_token = viewer["token"].as_str().unwrap().to_string();
    let (_, operator) = server.post(
        "/api/v1/tokens",
        &json!({"name": "ana", "role": "operator"}),
    );
    let operator_token = operator["token"].as_str().unwrap().to_string();
    let (status, body) = server.post("/api/v1/tokens", &json!({"name": "x", "role": "root"}));
    assert_eq!((status, code(&body)), (400, "bad_request"));
    let listed = server.get("/api/v1/tokens");
    assert!(listed.to_string().contains("screen"));
    assert!(
        !listed.to_string().contains(&viewer_token),
        "secrets are never listed"
    );

    // 403: a viewer reads but cannot start or upload; an operator cannot make tokens.
    assert_eq!(
        server
            .call("GET", "/api/v1/runs", Some(&viewer_token), b"")
            .0,
        200
    );
    let (status, body) = server.call("POST", "/api/v1/interlock", Some(&viewer_token), b"");
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, _) = server.call_with(
        "POST",
        "/api/v1/tokens",
        Some(&operator_token),
        &[("Content-Type", "application/json")],
        br#"{"name": "y", "role": "admin"}"#,
    );
    assert_eq!(status, 403);

    // 404: unknown ids and endpoints.
    for path in [
        "/api/v1/runs/no-such-run",
        "/api/v1/workflows/no-such-workflow",
        "/api/v1/plugins/no-such-plugin",
        "/api/v1/no-such-endpoint",
    ] {
        let (status, body) = server.call("GET", path, Some(ADMIN), b"");
        assert_eq!((status, code(&body)), (404, "not_found"), "{path}");
    }
    let (status, _) = server.post("/api/v1/runs/no-such-run/nodes/approve/approve", &json!({}));
    assert_eq!(status, 404);

    // 422: an invalid workflow, with every problem naming its node and field.
    let (status, body) = server.call(
        "PUT",
        "/api/v1/workflows/bad",
        Some(ADMIN),
        b"name: bad\nnodes:\n  a: { plugin: modbus-read@9 }\n  b: { needs: [ghost], plugin: transform@1 }\n",
    );
    assert_eq!((status, code(&body)), (422, "invalid_workflow"), "{body}");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["node"] == "a" && p["field"] == "plugin"),
        "{body}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["node"] == "b" && p["field"] == "needs[0]"),
        "{body}"
    );
    // 422: a component that is not one.
    let (status, body) = server.call_with(
        "POST",
        "/api/v1/plugins",
        Some(ADMIN),
        &[("Content-Type", "application/wasm")],
        b"\0asm\x01\0\0\0",
    );
    assert_eq!((status, code(&body)), (422, "invalid_plugin"), "{body}");

    // 413: a body over the limit.
    let big = vec![b'#'; 2 << 20];
    let (status, body) = server.call("PUT", "/api/v1/workflows/big", Some(ADMIN), &big);
    assert_eq!((status, code(&body)), (413, "too_large"), "{body}");

    // 409: a plugin version a workflow uses cannot be deleted.
    let name = unique("uses-transform");
    server.apply(
        &name,
        &format!("name: {name}\nnodes:\n  t: {{ plugin: transform@1, config: {{ reshape: {{ v: /v }} }} }}\n"),
    );
    let plugin = server.get("/api/v1/plugins/transform");
    let version = plugin["versions"][0]["version"].as_str().unwrap();
    let (status, body) = server.call(
        "DELETE",
        &format!("/api/v1/plugins/transform/{version}"),
        Some(ADMIN),
        b"",
    );
    assert_eq!((status, code(&body)), (409, "in_use"), "{body}");

    // A revoked token is refused at once.
    let id = viewer["id"].as_str().unwrap();
    assert_eq!(
        server
            .call("DELETE", &format!("/api/v1/tokens/{id}"), Some(ADMIN), b"")
            .0,
        204
    );
    assert_eq!(
        server
            .call("GET", "/api/v1/runs", Some(&viewer_token), b"")
            .0,
        401
    );
}
