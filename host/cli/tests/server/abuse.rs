//! The server under abusive clients, over real sockets: a slowloris header
//! is cut off and connections past the cap cost the server nothing while
//! others are still answered; a slow body gets a 408 while event streams
//! and `?wait=` outlive the request timeout; event streams are capped per
//! token and given back when their clients leave; a run of more than 10,000
//! events streams to its end; a revoked `BATON_ADMIN_TOKEN` is said to be
//! revoked and stays so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{ADMIN, Server};

/// A `baton.toml` with `server` as its `[server]` section.
fn config(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("baton.toml");
    std::fs::write(&path, format!("[server]\n{server}\n")).unwrap();
    path
}

/// A connection to `addr` whose reads give up after `timeout`.
fn connect(addr: &str, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream
}

/// An event stream request over HTTP/1.1, kept open; the status and the
/// reader past the response's head.
fn open_stream(server: &Server, path: &str, token: &str) -> (u16, BufReader<TcpStream>) {
    let mut stream = connect(&server.addr, Duration::from_secs(30));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: baton\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line[9..12].parse().unwrap();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    (status, reader)
}

/// The events of a Server-Sent Events body until the server ends it: each
/// one's `id` and `event`. Over HTTP/1.0, so the body is the bare stream.
fn stream_to_end(addr: &str, path: &str) -> Vec<(i64, String)> {
    let mut stream = connect(addr, Duration::from_secs(60));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: baton\r\nAccept: text/event-stream\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
    )
    .unwrap();
    let mut events = Vec::new();
    let mut id = None;
    for line in BufReader::new(stream).lines() {
        let line = line.expect("the stream ends by closing, not by timing out");
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse::<i64>().unwrap());
        } else if let Some(kind) = line.strip_prefix("event:") {
            events.push((
                id.take().expect("an id before each event"),
                kind.trim().to_string(),
            ));
        }
    }
    events
}

/// The value of the gauge `name` in `/metrics`.
fn gauge(server: &Server, name: &str) -> i64 {
    let (status, text) = server.call("GET", "/metrics", Some(ADMIN), b"");
    assert_eq!(status, 200, "{text}");
    let text = text.as_str().unwrap().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Sockets the server process has open.
fn open_sockets(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

const APPROVAL: &str = "name: gate\nnodes:\n  ok: { type: approval }\n";

#[test]
fn a_slowloris_is_cut_off_and_connections_past_the_cap_wait_while_others_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "header_read_timeout = \"1s\"\nmax_connections = 4",
    );
    let server = Server::start(&dir.path().join("data"), &cfg);
    let idle = open_sockets(&server);

    // Four clients take every slot, each sending its header a byte at a time.
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(&server.addr, Duration::from_millis(100));
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // A hundred more connect (fewer than the listen backlog holds, 128):
    // they wait there, and the server holds no socket, task or buffer for
    // any of them.
    let queued: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let held = open_sockets(&server);
    assert!(
        held <= idle + 4,
        "{held} sockets open with 4 served and 100 waiting (idle: {idle})"
    );

    // Each slow header is cut off after the header timeout, however it trickles.
    for s in &mut slow {
        let mut buf = [0u8; 256];
        let closed_at = loop {
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "a slow header was not cut off"
            );
            if s.write_all(b"x").is_err() {
                break started.elapsed();
            }
            match s.read(&mut buf) {
                Ok(0) => break started.elapsed(),
                Ok(_) => panic!("the server answered a request it never fully got"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break started.elapsed(),
            }
        };
        assert!(
            closed_at >= Duration::from_millis(900),
            "cut off after {closed_at:?}, before the timeout"
        );
    }

    // The waiting connections go away; another client is answered.
    drop(queued);
    let asked = Instant::now();
    let (status, body) = server.call("GET", "/healthz", None, b"");
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "/healthz took {:?}",
        asked.elapsed()
    );
    let (status, _) = server.call("GET", "/api/v1/runs", Some(ADMIN), b"");
    assert_eq!(status, 200);
}

#[test]
fn a_slow_body_gets_a_408_while_a_stream_and_a_wait_outlive_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "request_timeout = \"2s\"");
    let server = Server::start(&dir.path().join("data"), &cfg);

    // A body that never arrives in full: a JSON 408 after the request timeout.
    let started = Instant::now();
    let mut s = connect(&server.addr, Duration::from_secs(10));
    write!(
        s,
        "POST /api/v1/workflows/slow/validate HTTP/1.0\r\nHost: baton\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 1000\r\n\r\nname: slow\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.0 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.request_timeout")
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(6)).contains(&took),
        "answered after {took:?}"
    );

    // A run start that waits longer than the request timeout is answered
    // with the finished run.
    server.apply(
        "pause",
        "name: pause\nnodes:\n  p: { type: delay, duration: 3s }\n",
    );
    let started = Instant::now();
    let (status, run) = server.post("/api/v1/workflows/pause/runs?wait=20", &json!({}));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(started.elapsed() >= Duration::from_secs(3));

    // An event stream stays open past the request timeout and ends with its run.
    server.apply("gate", APPROVAL);
    let run = server.start_run("gate", json!({}));
    server.wait_node(&run, "ok", "waiting");
    let follower = {
        let (addr, path) = (server.addr.clone(), format!("/api/v1/runs/{run}/events"));
        std::thread::spawn(move || stream_to_end(&addr, &path))
    };
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = server.post(&format!("/api/v1/runs/{run}/nodes/ok/approve"), &json!({}));
    assert_eq!(status, 200, "{body}");
    let events = follower.join().unwrap();
    assert_eq!(
        events.last().map(|(_, kind)| kind.as_str()),
        Some("run_succeeded"),
        "{events:?}"
    );
}

#[test]
fn event_streams_are_capped_per_token_and_given_back_when_their_clients_leave() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "max_streams_per_token = 2");
    let server = Server::start(&dir.path().join("data"), &cfg);
    let (status, viewer) = server.post(
        "/api/v1/tokens",
        &json!({"name": "screen", "role": "viewer"}),
    );
    assert_eq!(status, 201, "{viewer}");
    let viewer = viewer["token"].as_str().unwrap().to_string();
    server.apply("gate", APPROVAL);
    let run = server.start_run("gate", json!({}));
    server.wait_node(&run, "ok", "waiting");
    let path = format!("/api/v1/runs/{run}/events");

    let first = open_stream(&server, &path, ADMIN);
    let second = open_stream(&server, &path, ADMIN);
    assert_eq!((first.0, second.0), (200, 200));
    // The third of the same token is refused, with the error shape and the limit.
    let (status, body) = server.call_with(
        "GET",
        &path,
        Some(ADMIN),
        &[("Accept", "text/event-stream")],
        b"",
    );
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_streams_per_token")
    );
    assert_eq!(body["error"]["details"], json!({"limit": 2}));
    // The cap is per token: another token may still follow the run, and the
    // JSON form of the events is not a stream.
    let (status, _viewers) = open_stream(&server, &path, &viewer);
    assert_eq!(status, 200);
    let (status, _) = server.call("GET", &path, Some(ADMIN), b"");
    assert_eq!(status, 200);
    assert_eq!(gauge(&server, "baton_event_streams"), 3);

    // The clients leave: their streams end and are given back.
    drop((first, second));
    server.wait("the streams of clients that left to end", || {
        (gauge(&server, "baton_event_streams") == 1).then_some(())
    });
    let (status, mut again) = open_stream(&server, &path, ADMIN);
    assert_eq!(status, 200);
    assert_eq!(gauge(&server, "baton_event_streams"), 2);

    // At SIGTERM the open streams end, and the server stops.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut rest = String::new();
    again
        .read_to_string(&mut rest)
        .expect("the stream ends at shutdown");
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_run_of_more_than_10_000_events_streams_every_event_in_order_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let server = Server::start(&dir.path().join("data"), &cfg);
    server.apply(
        "many",
        "name: many\nnodes:\n  each:\n    plugin: transform@1\n    foreach: input.items\n    config: { compare: { value: \"\", op: ge, threshold: 0 } }\n",
    );
    let items: Vec<u32> = (0..5_100).collect();
    let run = server.start_run("many", json!({ "items": items }));
    let path = format!("/api/v1/runs/{run}/events");
    // One client follows the run live, from its start.
    let live = stream_to_end(&server.addr, &path);
    let finished = server.wait_finished(&run);
    assert_eq!(finished["status"], "succeeded", "{finished}");

    // What the store has, read a page at a time.
    let mut stored = Vec::new();
    loop {
        let after = stored.last().map_or(0, |(seq, _)| *seq);
        let page = server.get(&format!("{path}?after={after}"))["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    e["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>();
        if page.is_empty() {
            break;
        }
        stored.extend(page);
    }
    assert!(stored.len() > 10_000, "only {} events", stored.len());
    assert_eq!(stored.last().unwrap().1, "run_succeeded");
    assert!(
        live == stored,
        "the live stream differs from the stored events"
    );
    // A client that comes after the end gets every event too, and the end.
    let late = stream_to_end(&server.addr, &path);
    assert!(
        late == stored,
        "the late stream differs from the stored events"
    );
    // Resuming after the end gives nothing more, and ends at once.
    let after_end = stream_to_end(
        &server.addr,
        &format!("{path}?after={}", stored.last().unwrap().0),
    );
    assert!(after_end.is_empty(), "{after_end:?}");
}

#[test]
fn a_revoked_admin_token_is_said_to_be_revoked_and_is_never_reactivated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(dir.path(), "");
    let tokens = |server: &Server| server.get("/api/v1/tokens")["tokens"].clone();
    let (server, _) = Server::start_as(&data, &cfg, ADMIN);
    let admin_id = tokens(&server)[0]["id"].as_str().unwrap().to_string();
    let (status, second) = server.post(
        "/api/v1/tokens",
        &json!({"name": "second", "role": "admin"}),
    );
    assert_eq!(status, 201, "{second}");
    let (second, second_id) = (
        second["token"].as_str().unwrap().to_string(),
        second["id"].as_str().unwrap().to_string(),
    );
    let (status, _) = server.call(
        "DELETE",
        &format!("/api/v1/tokens/{admin_id}"),
        Some(ADMIN),
        b"",
    );
    assert_eq!(status, 204);
    server.kill();

    // Other tokens are valid: the revoked one is not installed, and the
    // server says it is not a valid token here.
    let (server, said) = Server::start_as(&data, &cfg, ADMIN);
    assert!(
        said.contains("BATON_ADMIN_TOKEN is not installed"),
        "{said}"
    );
    assert!(said.contains("revoked"), "{said}");
    assert_eq!(server.call("GET", "/api/v1/runs", Some(ADMIN), b"").0, 401);
    assert_eq!(
        server.call("GET", "/api/v1/runs", Some(&second), b"").0,
        200
    );
    // The last valid token revokes itself.
    let (status, _) = server.call(
        "DELETE",
        &format!("/api/v1/tokens/{second_id}"),
        Some(&second),
        b"",
    );
    assert_eq!(status, 204);
    server.kill();

    // No valid token is left: the server starts all the same, says the
    // token is revoked and was not reactivated, and it stays revoked.
    let (server, said) = Server::start_as(&data, &cfg, ADMIN);
    assert!(
        said.contains("BATON_ADMIN_TOKEN is revoked and was not reactivated"),
        "{said}"
    );
    assert!(!said.contains(ADMIN), "the secret is not echoed: {said}");
    assert_eq!(server.call("GET", "/healthz", None, b"").0, 200);
    assert_eq!(server.call("GET", "/api/v1/runs", Some(ADMIN), b"").0, 401);
    server.kill();

    // A new secret is installed as the first token of this tokenless store.
    let (server, said) = Server::start_as(&data, &cfg, "baton_new_secret");
    assert!(!said.contains("BATON_ADMIN_TOKEN"), "{said}");
    assert_eq!(
        server
            .call("GET", "/api/v1/runs", Some("baton_new_secret"), b"")
            .0,
        200
    );
    assert_eq!(server.call("GET", "/api/v1/runs", Some(ADMIN), b"").0, 401);
}
