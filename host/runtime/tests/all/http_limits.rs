//! What a task's outgoing HTTP can make the host do, against a real local
//! server: requests in flight, response body size, connect and first-byte
//! timeouts, and the safety interlock on actuating endpoints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_plugins::test_programs;
use baton_runtime::{Attempt, Limits};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::support::{Env, output, read_head};

/// A server that records each request's path and answers by its prefix:
/// `/silent` never answers, `/endless` sends a body that never ends,
/// `/stall` sends part of its body and then nothing; anything else is `200 ok`.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    /// Set when writing an endless body fails: the client closed the connection.
    endless_closed: Arc<Mutex<bool>>,
}

impl Server {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let endless_closed = Arc::new(Mutex::new(false));
        let (record, closed) = (seen.clone(), endless_closed.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (record, closed) = (record.clone(), closed.clone());
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut stream).await else {
                        return;
                    };
                    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                    record.lock().unwrap().push(path.clone());
                    if path.starts_with("/silent") {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    } else if path.starts_with("/endless") {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                            .await;
                        let chunk = vec![b'x'; 64 << 10];
                        while stream.write_all(&chunk).await.is_ok() {}
                        *closed.lock().unwrap() = true;
                    } else if path.starts_with("/stall") {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst")
                            .await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    } else {
                        let reply =
                            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                        let _ = stream.write_all(reply.as_bytes()).await;
                    }
                });
            }
        });
        Self {
            port,
            seen,
            endless_closed,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn probe(env: &Env, calls: Value, grants: Value, limits: Limits) -> (Value, Attempt) {
    let plugin = env.program(test_programs::PROBE).await;
    let attempt = env
        .run_with(
            &plugin,
            json!(null),
            json!({ "calls": calls }),
            grants,
            limits,
        )
        .await;
    (output(&attempt), attempt)
}

fn logged(attempt: &Attempt, text: &str) -> bool {
    attempt.logs.iter().any(|l| l.message.contains(text))
}

#[tokio::test]
async fn requests_past_http_requests_in_flight_are_refused_and_recorded() {
    let env = Env::new().await;
    let server = Server::start().await;
    let limits = Limits {
        http_requests: 2,
        ..Limits::default()
    };
    let (out, attempt) = probe(
        &env,
        json!([
            {"op": "http-many", "url": server.url("/api/a"), "count": 4},
            {"op": "http", "url": server.url("/api/after")},
        ]),
        json!({"http": [server.url("/api/*")]}),
        limits,
    )
    .await;
    let many = out[0].as_array().unwrap();
    assert_eq!(many[..2], [json!({"ok": 200}), json!({"ok": 200})], "{out}");
    for refused in &many[2..] {
        assert!(
            refused["err"]
                .as_str()
                .unwrap()
                .contains("HttpRequestDenied"),
            "{out}"
        );
    }
    // The slots come back when the responses are dropped.
    assert_eq!(out[1]["ok"]["status"], json!(200), "{out}");
    assert_eq!(server.seen(), ["/api/a", "/api/a", "/api/after"]);
    assert_eq!(attempt.denials.len(), 2, "{:?}", attempt.denials);
    for denial in &attempt.denials {
        assert!(
            denial
                .contains("2 requests of this attempt are already in flight (limit http_requests)"),
            "{denial}"
        );
    }
}

#[tokio::test]
async fn an_endless_response_body_is_cut_at_http_response_bytes() {
    let env = Env::new().await;
    let server = Server::start().await;
    let limits = Limits {
        http_response_bytes: 256 << 10,
        ..Limits::default()
    };
    let (out, attempt) = probe(
        &env,
        json!([{"op": "http", "url": server.url("/endless")}]),
        json!({"http": [server.url("/*")]}),
        limits,
    )
    .await;
    assert_eq!(out[0]["err"], json!("other"), "{out}");
    assert!(
        logged(
            &attempt,
            "over the limit of 262144 bytes (http_response_bytes)"
        ),
        "{:?}",
        attempt.logs
    );
    // Cutting the body closes the connection: the server cannot write on.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !*server.endless_closed.lock().unwrap() {
        assert!(Instant::now() < deadline, "the connection stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_http_first_byte_timeout() {
    let env = Env::new().await;
    let server = Server::start().await;
    let limits = Limits {
        http_first_byte_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (out, attempt) = probe(
        &env,
        json!([
            // No timeout of its own, one longer than the host's: both get 500 ms.
            {"op": "http", "url": server.url("/silent/1"), "timeout_ms": null},
            {"op": "http", "url": server.url("/silent/2"), "timeout_ms": 5000},
            // Part of a body, then nothing: the same bound applies between chunks.
            {"op": "http", "url": server.url("/stall"), "timeout_ms": null},
        ]),
        json!({"http": [server.url("/*")]}),
        limits,
    )
    .await;
    for i in 0..3 {
        assert_eq!(out[i]["err"], json!("other"), "call {i}: {out}");
    }
    assert!(
        attempt.duration < Duration::from_secs(4),
        "took {:?}",
        attempt.duration
    );
    assert_eq!(server.seen().len(), 3);
    assert!(
        logged(
            &attempt,
            "not answered within 500ms (http_first_byte_timeout"
        ),
        "{:?}",
        attempt.logs
    );
    assert!(
        logged(&attempt, "no response body data for 500ms"),
        "{:?}",
        attempt.logs
    );
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so
/// a connection attempt hangs as it would against a blackholed host.
async fn blackhole() -> (tokio::net::TcpListener, u16, Vec<tokio::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = socket.listen(0).unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(Ok(stream)) => held.push(stream),
            _ => return (listener, port, held),
        }
    }
    panic!("the accept queue never filled");
}

#[tokio::test]
async fn a_host_that_does_not_accept_fails_within_http_connect_timeout() {
    let env = Env::new().await;
    let (_listener, port, _held) = blackhole().await;
    let limits = Limits {
        http_connect_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let url = format!("http://127.0.0.1:{port}");
    let (out, attempt) = probe(
        &env,
        json!([{"op": "http", "url": format!("{url}/x"), "timeout_ms": 5000}]),
        json!({"http": [format!("{url}/*")]}),
        limits,
    )
    .await;
    assert_eq!(out[0]["err"], json!("other"), "{out}");
    assert!(
        out[0]["message"]
            .as_str()
            .unwrap()
            .contains("ConnectionTimeout"),
        "{out}"
    );
    assert!(
        attempt.duration < Duration::from_secs(3),
        "took {:?}",
        attempt.duration
    );
    assert!(
        logged(&attempt, "not connected within 300ms (http_connect_timeout"),
        "{:?}",
        attempt.logs
    );
}

#[tokio::test]
async fn the_interlock_denies_requests_an_interlocked_grant_matches() {
    let env = Env::new().await;
    let server = Server::start().await;
    let grants = json!({"http": [
        {"url": server.url("/actuate/*"), "interlocked": true},
        server.url("/read/*"),
    ]});
    let calls = json!([
        {"op": "http", "url": server.url("/actuate/start")},
        {"op": "http", "url": server.url("/read/state")},
    ]);
    env.runtime.set_interlock(true);
    let (out, attempt) = probe(&env, calls.clone(), grants.clone(), Limits::default()).await;
    assert_eq!(out[0]["err"], json!("denied"), "{out}");
    assert_eq!(out[1]["ok"]["status"], json!(200), "{out}");
    assert_eq!(
        server.seen(),
        ["/read/state"],
        "the denied request reached the server"
    );
    assert_eq!(attempt.denials.len(), 1, "{:?}", attempt.denials);
    assert!(
        attempt.denials[0].contains("the safety interlock is engaged"),
        "{:?}",
        attempt.denials
    );

    env.runtime.set_interlock(false);
    let (out, attempt) = probe(&env, calls, grants, Limits::default()).await;
    assert_eq!(out[0]["ok"]["status"], json!(200), "{out}");
    assert_eq!(out[1]["ok"]["status"], json!(200), "{out}");
    assert!(attempt.denials.is_empty(), "{:?}", attempt.denials);
    assert_eq!(
        server.seen(),
        ["/read/state", "/actuate/start", "/read/state"]
    );
}
