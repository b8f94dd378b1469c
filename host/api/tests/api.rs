//! The API on a real socket: every endpoint's success path and each error
//! status a client can cause.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use baton_api::auth::{Role, create_token};
use baton_api::{ApiState, serve};
use baton_engine::{Engine, EngineConfig};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_store::{Store, StoreOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

struct Server {
    addr: std::net::SocketAddr,
    engine: Engine,
    admin: String,
    operator: String,
    viewer: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    server_with(|_| {}).await
}

/// A server whose API state `adjust` changes first.
async fn server_with(adjust: impl FnOnce(&mut ApiState)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("sqlite://{}", dir.path().join("api.db").display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let runtime = Runtime::new(
        RuntimeConfig {
            cache_dir: Some(
                std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api-artifacts"),
            ),
            ..RuntimeConfig::default()
        },
        baton_connectors::Connectors::default(),
    )
    .unwrap();
    let engine = Engine::start(store, Arc::new(runtime), EngineConfig::default())
        .await
        .unwrap();
    let (_, admin) = create_token(engine.store(), "root", Role::Admin)
        .await
        .unwrap();
    let (_, operator) = create_token(engine.store(), "ana", Role::Operator)
        .await
        .unwrap();
    let (_, viewer) = create_token(engine.store(), "screen", Role::Viewer)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut state = ApiState::new(engine.clone());
    state.max_plugin_bytes = 4 << 20;
    adjust(&mut state);
    tokio::spawn(serve(listener, state, std::future::pending()));
    Server {
        addr,
        engine,
        admin,
        operator,
        viewer,
        _dir: dir,
    }
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, Value) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "baton");
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = sender
            .send_request(request.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), &[], Bytes::new())
            .await
    }

    async fn install_plugins(&self) {
        for wasm in [
            scripted(),
            std::fs::read(baton_plugins::test_programs::NOOP).unwrap(),
        ] {
            let (status, body) = self.upload(&wasm, &self.admin).await;
            assert!(status.is_success(), "{body}");
        }
    }

    /// `PUT /workflows/{name}` with `yaml`, as the admin.
    async fn apply(&self, name: &str, yaml: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/workflows/{name}");
        self.call(Method::PUT, &path, Some(&self.admin), &[], yaml.to_string())
            .await
    }

    /// The test plugins and the `flow` workflow.
    async fn install_flow(&self) {
        self.install_plugins().await;
        let (status, body) = self.apply("flow", FLOW).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Poll `GET /runs/{id}` until `done` accepts it.
    async fn run_until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let (_, run) = self.get(&format!("/api/v1/runs/{id}"), &self.viewer).await;
            if done(&run) {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("run {id} never reached the awaited state");
    }

    async fn upload(&self, wasm: &[u8], token: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/plugins",
            Some(token),
            &[("content-type", "application/wasm")],
            Bytes::copy_from_slice(wasm),
        )
        .await
    }
}

const FLOW: &str = "name: flow\nnodes:\n  a: { plugin: scripted@1, input: \"input\" }\n  ok: { needs: [a], type: approval }\n  b: { needs: [ok], plugin: noop@1 }\n";

fn scripted() -> Vec<u8> {
    std::fs::read(baton_plugins::test_programs::SCRIPTED).unwrap()
}

#[tokio::test]
async fn health_checks_are_open_and_nothing_else_is() {
    let s = server().await;
    let (status, body) = s
        .call(Method::GET, "/healthz", None, &[], Bytes::new())
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, _) = s
        .call(Method::GET, "/readyz", None, &[], Bytes::new())
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = s
        .call(Method::GET, "/api/v1/runs", None, &[], Bytes::new())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = s.get("/api/v1/runs", "baton_wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = s.get("/api/v1/nothing-here", &s.viewer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn readyz_answers_503_without_the_stores_error_when_the_store_is_gone() {
    let s = server().await;
    s.engine.store().close().await;
    let (status, body) = s
        .call(Method::GET, "/readyz", None, &[], Bytes::new())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "not ready: the store does not answer; the server log has the details"
    );
    assert_eq!(body["error"]["details"], Value::Null);
    // The process itself is still up.
    let (status, _) = s
        .call(Method::GET, "/healthz", None, &[], Bytes::new())
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn plugins_upload_is_idempotent_conflicts_are_409_and_bad_input_is_refused() {
    let s = server().await;
    let wasm = scripted();
    let (status, body) = s.upload(&wasm, &s.admin).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "scripted");
    assert_eq!(body["version"], "1.0.0");
    assert!(!body["imports"].as_array().unwrap().is_empty(), "{body}");
    let (status, again) = s.upload(&wasm, &s.admin).await;
    assert_eq!(
        (status, &again["digest"]),
        (StatusCode::OK, &body["digest"])
    );

    // Roles: an operator may not upload.
    let (status, body) = s.upload(&wasm, &s.operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin role")
    );
    // Not a component: 422 with the reason.
    let (status, body) = s.upload(b"\0asm\x01\0\0\0", &s.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_plugin");
    // Too large: 413.
    let (status, body) = s.upload(&vec![0u8; 5 << 20], &s.admin).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Wrong content type: 415.
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/plugins",
            Some(&s.admin),
            &[("content-type", "text/plain")],
            Bytes::from_static(b"x"),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (status, body) = s.get("/api/v1/plugins/scripted/1.0.0", &s.viewer).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::OK, Some("scripted"))
    );
    let (status, body) = s.get("/api/v1/plugins/scripted", &s.viewer).await;
    assert_eq!(
        (status, body["versions"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (status, _) = s.get("/api/v1/plugins/ghost/1.0.0", &s.viewer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = s.get("/api/v1/plugins", &s.viewer).await;
    assert_eq!(list["plugins"].as_array().unwrap().len(), 1);

    // In use by a workflow version: 409; unused: deleted.
    s.upload(
        &std::fs::read(baton_plugins::test_programs::NOOP).unwrap(),
        &s.admin,
    )
    .await;
    let (status, _) = s.apply("flow", FLOW).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = s
        .call(
            Method::DELETE,
            "/api/v1/plugins/scripted/1.0.0",
            Some(&s.admin),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["details"]["workflows"], json!(["flow@1"]));
}

/// The value of the unlabelled sample `name` in the Prometheus text
/// `metrics`.
fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("missing `{name}` in:\n{metrics}"))
        .parse()
        .unwrap()
}

async fn start(s: &Server, token: &str) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/api/v1/workflows/flow/runs",
        Some(token),
        &[("idempotency-key", "batch-1")],
        r#"{"input": {"batch": 1}}"#,
    )
    .await
}

#[tokio::test]
async fn a_run_through_the_api_from_apply_to_approval_with_audit() {
    let s = server().await;
    s.install_plugins().await;

    // Invalid: 422 with every problem, each with node and field.
    let (status, body) = s
        .apply(
            "flow",
            "name: flow\nnodes:\n  a: { plugin: ghost@1, needs: [zz] }\n",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{body}");
    assert!(problems.iter().all(|p| p["node"] == "a"));
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/workflows/flow/validate",
            Some(&s.viewer),
            &[],
            FLOW,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.apply("other", FLOW).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, body) = s.apply("flow", FLOW).await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (StatusCode::CREATED, Some(1))
    );
    let (_, body) = s.get("/api/v1/workflows/flow", &s.viewer).await;
    assert_eq!(body["versions"].as_array().unwrap().len(), 1);
    let (status, _) = s.get("/api/v1/workflows/flow/versions/1", &s.viewer).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.get("/api/v1/workflows/flow/versions/9", &s.viewer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Start twice with the same key: one run. Viewers may not start runs.
    let (status, first) = start(&s, &s.operator).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (_, second) = start(&s, &s.operator).await;
    assert_eq!(first["run_id"], second["run_id"]);
    assert_eq!(second["created"], false);
    let (status, _) = start(&s, &s.viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = first["run_id"].as_str().unwrap().to_string();

    // Wait for the approval, approve, and the run succeeds.
    s.run_until(&id, |run| {
        run["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "ok" && n["status"] == "waiting")
    })
    .await;
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{id}/nodes/a/approve"),
            Some(&s.operator),
            &[],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{id}/nodes/ok/approve"),
            Some(&s.operator),
            &[],
            r#"{"comment": "go"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let finished = s.run_until(&id, |run| run["status"] != "running").await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let a = finished["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "a")
        .unwrap();
    assert_eq!(a["output"]["input"], json!({"batch": 1}));
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1);

    let (_, events) = s.get(&format!("/api/v1/runs/{id}/events"), &s.viewer).await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_succeeded"));
    let (_, runs) = s
        .get("/api/v1/runs?workflow=flow&status=succeeded", &s.viewer)
        .await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    let (status, _) = s.get("/api/v1/runs?status=bogus", &s.viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = s.get("/api/v1/runs?limit=many", &s.viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    let (status, _) = s.get("/api/v1/runs/nope", &s.viewer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{id}/cancel"),
            Some(&s.operator),
            &[],
            "",
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a finished run cannot be cancelled"
    );

    let (status, metrics) = s.get("/metrics", &s.viewer).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    for expected in [
        "baton_runs{status=\"succeeded\"} 1",
        "baton_attempt_duration_seconds_count{outcome=\"succeeded\"} 2",
        "baton_plugin_compile_seconds{plugin=\"scripted@1.0.0\"}",
        "baton_queue_depth 0",
    ] {
        assert!(
            metrics.contains(expected),
            "missing `{expected}` in:\n{metrics}"
        );
    }
    // Every group commit is timed: the histogram counts as many as the
    // counter, and its last bucket holds them all.
    let value = |name: &str| metric(metrics, name);
    let commits = value("baton_store_commits_total");
    assert!(commits > 0);
    assert_eq!(value("baton_store_commit_seconds_count"), commits);
    assert_eq!(
        value("baton_store_commit_seconds_bucket{le=\"+Inf\"}"),
        commits
    );
    // One line per bound and +Inf, cumulative, and the time they took.
    let buckets: Vec<u64> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("baton_store_commit_seconds_bucket{le=\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), baton_store::COMMIT_BUCKETS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    let sum: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("baton_store_commit_seconds_sum "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(sum > 0.0, "the commits took no time: {sum}");
    let (status, _) = s
        .call(Method::GET, "/metrics", None, &[], Bytes::new())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, audit) = s.get("/api/v1/audit", &s.viewer).await;
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        ("run.approve", "ana"),
        ("run.start", "ana"),
        ("workflow.apply", "root"),
        ("plugin.upload", "root"),
    ] {
        assert!(
            actions.contains(&(expected.0.into(), expected.1.into())),
            "{actions:?}"
        );
    }
}

#[tokio::test]
async fn events_stream_live_as_server_sent_events_in_order_and_resume() {
    let s = server().await;
    s.install_flow().await;
    let (_, started) = s
        .call(
            Method::POST,
            "/api/v1/workflows/flow/runs",
            Some(&s.operator),
            &[],
            "{}",
        )
        .await;
    let id = started["run_id"].as_str().unwrap().to_string();

    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get(format!("/api/v1/runs/{id}/events"))
        .header("host", "baton")
        .header("accept", "text/event-stream")
        .header("authorization", format!("Bearer {}", s.viewer))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();

    let mut text = String::new();
    let mut approved = false;
    while !text.contains("event: run_succeeded") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(20), body.frame())
            .await
            .expect("the stream keeps coming")
            .expect("the stream stays open until the run ends")
            .unwrap();
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
        if !approved && text.contains("event: node_waiting") {
            let (status, _) = s
                .call(
                    Method::POST,
                    &format!("/api/v1/runs/{id}/nodes/ok/approve"),
                    Some(&s.operator),
                    &[],
                    "",
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            approved = true;
        }
    }
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {ids:?}"
    );
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_succeeded"));
    for k in ["node_waiting", "node_approved", "attempt_succeeded"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    // The JSON form after a given event has exactly the rest.
    let (_, rest) = s
        .get(
            &format!("/api/v1/runs/{id}/events?after={}", ids[2]),
            &s.viewer,
        )
        .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), ids.len() - 3);
}

#[tokio::test]
async fn the_interlock_stops_new_runs_until_released() {
    let s = server().await;
    s.install_flow().await;
    let (status, _) = s
        .call(Method::POST, "/api/v1/interlock", Some(&s.viewer), &[], "")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/interlock",
            Some(&s.operator),
            &[],
            "",
        )
        .await;
    assert_eq!(
        (status, body["engaged"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/workflows/flow/runs",
            Some(&s.operator),
            &[],
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "interlock");
    let (_, shown) = s.get("/api/v1/interlock", &s.viewer).await;
    assert_eq!(shown["engaged"], true);
    assert_eq!(shown["release_role"], "admin");
    // Releasing takes an admin (by default) and a comment.
    let (status, _) = s
        .call(
            Method::DELETE,
            "/api/v1/interlock",
            Some(&s.operator),
            &[],
            r#"{"comment": "line clear"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for body in ["", "{}", r#"{"comment": "  "}"#, r#"{"comment": 5}"#] {
        let (status, answer) = s
            .call(
                Method::DELETE,
                "/api/v1/interlock",
                Some(&s.admin),
                &[],
                body,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (_, shown) = s.get("/api/v1/interlock", &s.viewer).await;
    assert_eq!(shown["engaged"], true, "a refused release changes nothing");
    let (status, _) = s
        .call(
            Method::DELETE,
            "/api/v1/interlock",
            Some(&s.admin),
            &[],
            r#"{"comment": "line clear, checked by J. Ortiz"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, audit) = s.get("/api/v1/audit", &s.admin).await;
    let release = audit
        .to_string()
        .contains("line clear, checked by J. Ortiz");
    assert!(release, "the release and its comment are audited: {audit}");
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/workflows/flow/runs",
            Some(&s.operator),
            &[],
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_release_role_is_configurable() {
    let s = server_with(|state| state.interlock_release_role = Role::Operator).await;
    let release = r#"{"comment": "cleared by the shift lead"}"#;
    for (method, token, body) in [
        (Method::POST, &s.operator, ""),
        (Method::DELETE, &s.operator, release),
    ] {
        let (status, answer) = s
            .call(method, "/api/v1/interlock", Some(token), &[], body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, shown) = s.get("/api/v1/interlock", &s.viewer).await;
    assert_eq!(
        shown,
        serde_json::json!({"engaged": false, "confirmed": true, "release_role": "operator"})
    );
    let (status, _) = s
        .call(
            Method::DELETE,
            "/api/v1/interlock",
            Some(&s.viewer),
            &[],
            release,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A chain of pure steps awaited whole is stored as one event per step and
/// no execution rows; its run still lists every step's attempt.
#[tokio::test]
async fn a_pure_chain_lists_each_steps_attempt_though_none_has_a_row() {
    let s = server().await;
    s.install_plugins().await;
    let chain = "name: chain\nnodes:\n  a: { plugin: scripted@1, input: \"input\" }\n  b: { needs: [a], plugin: scripted@1 }\n  c: { needs: [b], plugin: scripted@1 }\n";
    let (status, body) = s.apply("chain", chain).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, run) = s
        .call(
            Method::POST,
            "/api/v1/workflows/chain/runs?wait=30",
            Some(&s.operator),
            &[],
            r#"{"input": {"batch": 7}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let id = run["id"].as_str().unwrap();
    let rows = s.engine.store().executions(id).await.unwrap();
    assert!(rows.is_empty(), "folded steps wrote rows: {rows:?}");
    let (_, shown) = s.get(&format!("/api/v1/runs/{id}"), &s.viewer).await;
    for node in shown["nodes"].as_array().unwrap() {
        let attempts = node["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{node}");
        assert_eq!(attempts[0]["status"], "succeeded", "{node}");
        assert_eq!(attempts[0]["attempt"], 1, "{node}");
        assert_eq!(attempts[0]["output"], node["output"], "{node}");
        let (started, finished) = (&attempts[0]["started_at"], &attempts[0]["finished_at"]);
        assert!(
            finished.as_i64().unwrap() >= started.as_i64().unwrap(),
            "{node}"
        );
    }
    assert_eq!(
        shown["nodes"][0]["attempts"][0]["output"]["input"],
        json!({"batch": 7})
    );
}

#[tokio::test]
async fn an_accepted_run_is_found_at_once_and_counted_by_the_intake_log() {
    let s = server().await;
    s.install_plugins().await;
    let (status, _) = s.apply("flow", FLOW).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, before) = s.get("/metrics", &s.viewer).await;
    let mut ids = Vec::new();
    for batch in 0..5 {
        // No idempotency key and a pure first step: answered from the
        // intake log, before the writer has created the run.
        let (status, body) = s
            .call(
                Method::POST,
                "/api/v1/workflows/flow/runs",
                Some(&s.operator),
                &[],
                format!(r#"{{"input": {{"batch": {batch}}}}}"#),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = body["run_id"].as_str().unwrap().to_string();
        // Asked at once, the run is there, with its start.
        let (status, run) = s.get(&format!("/api/v1/runs/{id}"), &s.viewer).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["input"], json!({"batch": batch}));
        let (status, events) = s.get(&format!("/api/v1/runs/{id}/events"), &s.viewer).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(events["events"][0]["kind"], "run_started", "{events}");
        ids.push(id);
    }
    let (_, list) = s.get("/api/v1/runs?workflow=flow", &s.viewer).await;
    let listed: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.iter().all(|id| listed.contains(&id.as_str())), "{list}");
    let (_, after) = s.get("/metrics", &s.viewer).await;
    assert_eq!(
        metric(after.as_str().unwrap(), "baton_store_accepted_total")
            - metric(before.as_str().unwrap(), "baton_store_accepted_total"),
        5
    );
    assert!(
        metric(
            after.as_str().unwrap(),
            "baton_store_intake_commit_seconds_count"
        ) >= 1
    );
}
