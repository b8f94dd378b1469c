//! The OpenAPI document: valid OpenAPI 3, every route of the router in it,
//! and every operation in it answered by the router. A third-party validator
//! (openapi-spec-validator) checks it too: without it that check prints one
//! `skipped:` line, and under `CI=true` it fails.

use std::collections::BTreeSet;

use baton_sim::suite::{optional_suite, python_module};

use crate::client::{Plant, Server};

/// What the API offers; a route added without its entry in the document, or
/// an entry without its route, fails here.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/plugins"),
    ("get", "/api/v1/plugins"),
    ("get", "/api/v1/plugins/{name}"),
    ("get", "/api/v1/plugins/{name}/{version}"),
    ("delete", "/api/v1/plugins/{name}/{version}"),
    ("get", "/api/v1/workflows"),
    ("put", "/api/v1/workflows/{name}"),
    ("get", "/api/v1/workflows/{name}"),
    ("post", "/api/v1/workflows/{name}/validate"),
    ("get", "/api/v1/workflows/{name}/versions/{version}"),
    ("post", "/api/v1/workflows/{name}/runs"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("get", "/api/v1/runs/{id}/events"),
    ("post", "/api/v1/runs/{id}/cancel"),
    ("post", "/api/v1/runs/{id}/nodes/{node}/approve"),
    ("post", "/api/v1/runs/{id}/nodes/{node}/reject"),
    ("get", "/api/v1/incidents"),
    ("get", "/api/v1/locks"),
    ("post", "/api/v1/runs/{id}/nodes/{node}/retry"),
    ("post", "/api/v1/runs/{id}/nodes/{node}/complete"),
    ("post", "/api/v1/runs/{id}/nodes/{node}/skip"),
    ("post", "/api/v1/runs/{id}/nodes/{node}/fail"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/interlock"),
    ("post", "/api/v1/interlock"),
    ("delete", "/api/v1/interlock"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/cluster"),
    ("get", "/api/v1/approvals"),
    ("post", "/api/v1/session"),
    ("get", "/api/v1/session"),
    ("delete", "/api/v1/session"),
];

/// What an operation that needs no token answers an empty request: the
/// health checks, and signing in (a 400 without a token) and out.
fn open(method: &str, path: &str) -> Option<u16> {
    match (method, path) {
        (_, "/healthz" | "/readyz") => Some(200),
        ("post", "/api/v1/session") => Some(400),
        ("delete", "/api/v1/session") => Some(204),
        _ => None,
    }
}

#[test]
fn the_document_is_openapi_3_and_matches_the_router() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let spec = server.get("/api/v1/openapi.json");
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        spec["openapi"]
    );
    assert_eq!(spec["info"]["title"], "Baton");

    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            if open(method, path).is_none() {
                assert_eq!(
                    op["security"][0]["bearer"],
                    serde_json::json!([]),
                    "{method} {path}"
                );
                assert_eq!(
                    op["security"][1]["session"],
                    serde_json::json!([]),
                    "{method} {path}: the session cookie is the other way in"
                );
                let refused = &op["responses"]["401"]["content"]["application/json"]["schema"];
                assert_eq!(
                    refused["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
            }
        }
    }
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Every documented operation is routed: without a token it is refused
    // (or, for the health checks, answered), never the fallback 404 or a 405.
    for (method, path) in OPERATIONS {
        let concrete = path
            .replace("{name}", "x")
            .replace("{version}", "1")
            .replace("{id}", "x")
            .replace("{node}", "x");
        let (status, body) = server.call(&method.to_uppercase(), &concrete, None, b"");
        let expected = open(method, path).unwrap_or(401);
        assert_eq!(status, expected, "{method} {path}: {body}");
    }

    // A third-party validator agrees (required under CI).
    if !python_module("openapi_spec_validator") {
        optional_suite(
            "third-party OpenAPI check",
            "python3 with openapi-spec-validator is not installed (pip install openapi-spec-validator)",
        );
        return;
    }
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, json\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "invalid OpenAPI: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
