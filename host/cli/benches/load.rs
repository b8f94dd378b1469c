//! Load benchmark: a real `baton serve` on loopback, driven over HTTP at a
//! fixed concurrency with a short three-step workflow.
//!
//! `cargo bench -p baton-cli --bench load [-- --concurrency 32 --seconds 10]`;
//! `BATON_BIN=path/to/baton` runs another build's server instead, and
//! `--rate N` runs only the open loop, at N runs/s, to compare builds at
//! the same load; `--trace FILE` writes each open-loop accept's due time
//! and latency to FILE.
//!
//! It reports, as medians and percentiles from one run:
//! - `GET /healthz`: the HTTP floor, the baseline the others are compared to;
//! - accept: `POST /workflows/{name}/runs` to its 202, with the run durable;
//! - end to end: `POST ...?wait=60`, trigger to the finished run;
//! - sustained runs/s: runs accepted and finished per second, all on SQLite;
//! - healthz, open loop: `GET /healthz` on the open loop's schedule, the
//!   floor of the client and the loopback at that rate, with the CPU each
//!   side spends per request;
//! - accept, open loop: requests sent on a fixed schedule at half the
//!   sustained rate, each latency counted from when it was due, with the
//!   accepts over 10 ms (stalls) and the slowest, and the client's CPU per
//!   run beside the server's: on one machine they share the cores. Both
//!   open loops run their client on one thread, with 32 connections opened
//!   before the first request, so that the client costs the shared cores
//!   as little as it can, and each loop prints how late its requests were
//!   sent: the client's own share of their latencies;
//! - the disk's writes and cache flushes during that loop, as the block
//!   device counts them (`/proc/diskstats`: the whole device, so another
//!   process writing to it meanwhile counts too);
//! - and, as the baselines of the commits: an fsync microbenchmark of the
//!   server's data directory, the disk's own tail (40 KiB synced writes
//!   for 3 s, alone and with a second file synced beside them, as a
//!   checkpoint does), the group commits' times during the open loop (from
//!   `/metrics`), and the transitions per group commit.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

const TOKEN: &str = "baton_load_benchmark_token";

const WORKFLOW: &str = r#"
name: three-steps
nodes:
  a:
    plugin: transform@1
    config: { reshape: { v: /value } }
  b:
    needs: [a]
    plugin: transform@1
    input: "nodes.a.output"
    config: { reshape: { w: /v } }
  c:
    needs: [b]
    plugin: transform@1
    input: "nodes.b.output"
    config: { reshape: { x: /w } }
"#;

/// The number given to option `name`, or `default`; a value that is not a
/// whole number stops the bench, naming the option.
fn arg(name: &str, default: u64) -> u64 {
    text_arg(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} takes a whole number, not `{v}`"))
    })
}

/// The value of option `name`, if given.
fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: &str) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self { sender }
    }

    async fn call(&mut self, method: Method, path: &str, body: &'static str) -> (u16, Bytes) {
        self.sender.ready().await.unwrap();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "baton")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }
}

/// Run `concurrency` workers calling `method path` for `seconds`; each
/// call's latency, and the wall time.
async fn drive(
    addr: &str,
    concurrency: u64,
    seconds: u64,
    method: Method,
    path: &'static str,
    body: &'static str,
    expect: u16,
) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let addr = addr.to_string();
        let method = method.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let (status, body) = conn.call(method.clone(), path, body).await;
                assert_eq!(status, expect, "{}", String::from_utf8_lossy(&body));
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    (all, start.elapsed())
}

/// Most connections the open loop keeps: under the server's own cap
/// (`[server] max_connections`, 512), so that a stall of the server makes
/// requests queue here, counted from when they were due, rather than in the
/// kernel's backlog until an idle connection times out.
const OPEN_LOOP_CONNECTIONS: usize = 256;

/// Connections the open loop opens before its first request; more are
/// opened, and counted in the latencies, when they are all busy.
const OPEN_LOOP_WARM: usize = 32;

/// Send `rate` requests per second for `seconds`, on a schedule that does
/// not wait for answers (connections are reused when free, opened when not,
/// up to [`OPEN_LOOP_CONNECTIONS`]). Each latency runs from when its request
/// was due to its answer.
async fn open_loop(
    addr: &str,
    rate: f64,
    seconds: u64,
    (method, path, body): (Method, &'static str, &'static str),
    expect: u16,
) -> OpenLoop {
    // Connections open before the schedule starts, as a client that keeps
    // them alive has them: the first requests are not each a TCP connect.
    let mut warm = Vec::new();
    for _ in 0..OPEN_LOOP_WARM {
        warm.push(Conn::open(addr).await);
    }
    let free = std::sync::Arc::new(std::sync::Mutex::new(warm));
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(OPEN_LOOP_CONNECTIONS));
    let mut pending = tokio::task::JoinSet::new();
    let start = Instant::now();
    let total = (rate * seconds as f64) as u64;
    // Tokio's timer ticks in whole milliseconds, so a request due between
    // two ticks would go out up to 1 ms late, counted against the server.
    // A thread of its own keeps the schedule with the system's finer sleep.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    std::thread::spawn(move || {
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if due_tx.send(due).is_err() {
                break;
            }
        }
    });
    while let Some(due) = due_rx.recv().await {
        let (addr, free, slots) = (addr.to_string(), free.clone(), slots.clone());
        let method = method.clone();
        pending.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            let conn = free.lock().unwrap().pop();
            let mut conn = match conn {
                Some(conn) => conn,
                None => Conn::open(&addr).await,
            };
            let late = due.elapsed();
            let (status, answer) = conn.call(method, path, body).await;
            assert_eq!(status, expect, "{}", String::from_utf8_lossy(&answer));
            let latency = due.elapsed();
            free.lock().unwrap().push(conn);
            Sent {
                due: due - start,
                late,
                latency,
            }
        });
    }
    let mut trace = Vec::new();
    while let Some(done) = pending.join_next().await {
        trace.push(done.unwrap());
    }
    trace.sort_by_key(|r| r.due);
    let sorted = |of: fn(&Sent) -> Duration| {
        let mut all: Vec<Duration> = trace.iter().map(of).collect();
        all.sort();
        all
    };
    OpenLoop {
        sorted: sorted(|r| r.latency),
        late: sorted(|r| r.late),
        from_sent: sorted(|r| r.latency.saturating_sub(r.late)),
        trace,
    }
}

/// One request of an open loop.
struct Sent {
    /// When it was due, from the loop's start.
    due: Duration,
    /// How long after that it was sent: the client's own share of its
    /// latency (its timer thread, its runtime and a free connection), which
    /// a client on another machine would not add.
    late: Duration,
    /// From when it was due to its answer.
    latency: Duration,
}

/// An open loop's requests in the order they were due, and their latencies
/// sorted three ways, for percentiles.
struct OpenLoop {
    trace: Vec<Sent>,
    /// From due to answered.
    sorted: Vec<Duration>,
    /// From due to sent.
    late: Vec<Duration>,
    /// From sent to answered.
    from_sent: Vec<Duration>,
}

/// Latencies over this count as a stall in the open loop's report.
const STALL: Duration = Duration::from_millis(10);

impl OpenLoop {
    /// How many requests took longer than [`STALL`], and the slowest.
    fn stalls(&self) -> (usize, Duration) {
        let over = self.sorted.iter().filter(|l| **l > STALL).count();
        (over, self.sorted.last().copied().unwrap_or_default())
    }

    /// Write `due_s latency_ms` lines to `path`, to see when the slow
    /// requests were due.
    fn write_trace(&self, path: &str) {
        let text: String = self
            .trace
            .iter()
            .map(|r| {
                format!(
                    "{:.6} {:.3}\n",
                    r.due.as_secs_f64(),
                    r.latency.as_secs_f64() * 1e3
                )
            })
            .collect();
        std::fs::write(path, text).unwrap_or_else(|e| panic!("--trace: cannot write {path}: {e}"));
    }
}

/// Microseconds of CPU per run that process `pid` used since it had used
/// `since`, over `runs` runs.
fn cpu_per_run(pid: u32, since: Duration, runs: usize) -> f64 {
    (cpu_time(pid) - since).as_secs_f64() * 1e6 / runs.max(1) as f64
}

/// CPU time process `pid` has used so far, user and system, from
/// `/proc/PID/stat`: the steadier figure on a machine whose speed drifts.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The server's `/metrics` text.
async fn metrics(addr: &str) -> String {
    let mut conn = Conn::open(addr).await;
    let (_, body) = conn.call(Method::GET, "/metrics", "").await;
    String::from_utf8_lossy(&body).into_owned()
}

/// A counter or gauge from `/metrics`, by its whole name and labels.
async fn metric(addr: &str, name: &str) -> Option<u64> {
    metrics(addr)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map(|n| n as u64)
}

/// Group commits and the transitions they held, so far.
async fn commits(addr: &str) -> (u64, u64) {
    (
        metric(addr, "baton_store_commits_total").await.unwrap_or(0),
        metric(addr, "baton_store_transitions_total")
            .await
            .unwrap_or(0),
    )
}

/// The writer's commit times, in `/metrics`.
const WRITER: &str = "baton_store_commit_seconds";

/// The intake log's commit times, in `/metrics`.
const INTAKE: &str = "baton_store_intake_commit_seconds";

/// The cumulative buckets of the commit-time histogram `name`, by upper
/// bound.
async fn commit_times(addr: &str, name: &str) -> Vec<(String, u64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    metrics(addr)
        .await
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(prefix.as_str())?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.to_string(), count.trim().parse().ok()?))
        })
        .collect()
}

/// The bucket bound under which a share `p` of the commits between two
/// snapshots fell, in milliseconds, and how many commits there were.
fn commit_pct(before: &[(String, u64)], after: &[(String, u64)], p: f64) -> (String, u64) {
    let counts: Vec<(String, u64)> = after
        .iter()
        .map(|(le, n)| {
            let was = before.iter().find(|(b, _)| b == le).map_or(0, |(_, n)| *n);
            (le.clone(), n - was)
        })
        .collect();
    let total = counts.last().map_or(0, |(_, n)| *n);
    let bound = counts
        .iter()
        .find(|(_, n)| *n as f64 >= p * total as f64)
        .map_or("+Inf".to_string(), |(le, _)| match le.parse::<f64>() {
            Ok(s) => format!("{:.2} ms", s * 1e3),
            Err(_) => le.clone(),
        });
    (bound, total)
}

async fn running(addr: &str) -> u64 {
    metric(addr, "baton_runs{status=\"running\"}")
        .await
        .expect("/metrics has the running runs")
}

/// One closed-loop phase's line: its rate, its latencies, and those over
/// the `/healthz` baseline's.
fn against_health(
    label: &str,
    unit: &str,
    (lat, wall): &(Vec<Duration>, Duration),
    health: &[Duration],
) {
    println!(
        "{label:<20} {:>8.0} {unit}  p50 {}   p99 {}   ({:.1}x / {:.1}x healthz)",
        lat.len() as f64 / wall.as_secs_f64(),
        ms(pct(lat, 0.5)),
        ms(pct(lat, 0.99)),
        pct(lat, 0.5).as_secs_f64() / pct(health, 0.5).as_secs_f64(),
        pct(lat, 0.99).as_secs_f64() / pct(health, 0.99).as_secs_f64(),
    );
}

/// The closed-loop phases: `/healthz`, runs awaited to their end, and runs
/// accepted and drained; the sustained rate, in runs/s.
async fn closed_loop(addr: &str, pid: u32, concurrency: u64, seconds: u64) -> f64 {
    let (health, wall) = drive(addr, concurrency, seconds, Method::GET, "/healthz", "", 200).await;
    println!(
        "healthz (baseline)   {:>8.0} req/s   p50 {}   p99 {}",
        health.len() as f64 / wall.as_secs_f64(),
        ms(pct(&health, 0.5)),
        ms(pct(&health, 0.99))
    );
    let e2e = drive(
        addr,
        concurrency,
        seconds,
        Method::POST,
        "/api/v1/workflows/three-steps/runs?wait=60",
        r#"{"input": {"value": 1}}"#,
        200,
    )
    .await;
    against_health("end to end", "runs/s", &e2e, &health);

    let t0 = Instant::now();
    let cpu0 = cpu_time(pid);
    let accept = drive(
        addr,
        concurrency,
        seconds,
        Method::POST,
        "/api/v1/workflows/three-steps/runs",
        r#"{"input": {"value": 1}}"#,
        202,
    )
    .await;
    while running(addr).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = t0.elapsed();
    let cpu = cpu_per_run(pid, cpu0, accept.0.len());
    against_health("accept", "runs/s", &accept, &health);
    let sustained = accept.0.len() as f64 / drained.as_secs_f64();
    println!(
        "sustained            {:>8.0} runs/s  ({} three-step runs accepted and finished in {:.1} s; server CPU {:.0} µs per run)",
        sustained,
        accept.0.len(),
        drained.as_secs_f64(),
        cpu
    );
    sustained.max(2.0)
}

/// Run `job` to its end on a runtime of one thread: the open loop's client,
/// whose requests and connections then share that thread rather than wake
/// one another across the runtime's workers (only the schedule's own thread
/// wakes it). The caller's runtime waits meanwhile.
fn on_one_thread<T: Send>(job: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(job)
        })
        .join()
        .unwrap()
    })
}

fn main() {
    let concurrency = arg("--concurrency", 32);
    let seconds = arg("--seconds", 10);
    // A fixed open-loop rate, to compare builds at the same load; the
    // closed-loop phases are skipped then.
    let fixed_rate = arg("--rate", 0);
    let data = tempfile::tempdir().unwrap();
    // Another build's binary, to compare two builds in one session.
    let bin = std::env::var("BATON_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_baton").into());
    let mut server = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("BATON_ADMIN_TOKEN", TOKEN)
        .env_remove("BATON_DATABASE_URL")
        .env_remove("BATON_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = server.id();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut addr = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(a) = line.trim().strip_prefix("baton listening on http://") {
            addr = a.to_string();
            break;
        }
        line.clear();
    }
    assert!(!addr.is_empty(), "the server did not start");
    std::thread::spawn(move || for _ in stderr.lines() {});

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut conn = Conn::open(&addr).await;
        let (status, body) = conn
            .call(Method::PUT, "/api/v1/workflows/three-steps", WORKFLOW)
            .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        // Warm up: compile caches, connections, the SQLite file.
        drive(&addr, concurrency, 1, Method::POST, "/api/v1/workflows/three-steps/runs?wait=60", r#"{"input": {"value": 1}}"#, 200).await;

        println!("baton load benchmark: {concurrency} concurrent clients, {seconds} s per phase, SQLite, loopback");
        println!(
            "fsync (4 KiB write + fdatasync) in {}: median {:.0} µs",
            data.path().display(),
            baton_sim::disk::fsync_median(data.path()).unwrap().as_secs_f64() * 1e6
        );
        // The floor of any durable accept on this disk, at its tail.
        let tail = |beside| {
            baton_sim::disk::sync_tail(data.path(), Duration::from_secs(3), beside).unwrap()
        };
        let (alone, beside) = (tail(false), tail(true));
        println!(
            "disk tail            40 KiB write + fdatasync, 3 s each: alone p50 {} p99 {} max {}; \
             with a second file synced beside it p50 {} p99 {} max {}",
            ms(alone.p50),
            ms(alone.p99),
            ms(alone.max),
            ms(beside.p50),
            ms(beside.p99),
            ms(beside.max)
        );
        let before = commits(&addr).await;
        let rate = if fixed_rate > 0 {
            fixed_rate as f64
        } else {
            closed_loop(&addr, pid, concurrency, seconds).await / 2.0
        };
        // Open loop: requests are sent on a schedule, whatever the answers
        // do, and each latency is counted from the moment its request was
        // due.
        // The floor at this rate: the same schedule of requests that the
        // server answers without work, so the client's share and the
        // loopback's are measured in the same run.
        let me = std::process::id();
        let (cpu0, client0) = (cpu_time(pid), cpu_time(me));
        let floor = on_one_thread(open_loop(&addr, rate, seconds, (Method::GET, "/healthz", ""), 200));
        println!(
            "healthz, open loop   {:>8.0} req/s   p50 {}   p99 {}   (the HTTP floor at this rate; server CPU {:.0} µs, client CPU {:.0} µs per request)",
            rate,
            ms(pct(&floor.sorted, 0.5)),
            ms(pct(&floor.sorted, 0.99)),
            cpu_per_run(pid, cpu0, floor.sorted.len()),
            cpu_per_run(me, client0, floor.sorted.len()),
        );
        let times = commit_times(&addr, WRITER).await;
        let intake = commit_times(&addr, INTAKE).await;
        let disk0 = baton_sim::disk::device_counters(data.path());
        let (cpu0, client0) = (cpu_time(pid), cpu_time(me));
        let began = Instant::now();
        let accepts = on_one_thread(open_loop(&addr, rate, seconds, (Method::POST, "/api/v1/workflows/three-steps/runs", r#"{"input": {"value": 1}}"#), 202));
        while running(&addr).await > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wall = began.elapsed().as_secs_f64();
        let disk = baton_sim::disk::device_counters(data.path()).zip(disk0).map(|(b, a)| b.since(a));
        let open = &accepts.sorted;
        let cpu = cpu_per_run(pid, cpu0, open.len());
        let client = cpu_per_run(me, client0, open.len());
        println!(
            "accept, open loop    {:>8.0} runs/s  p50 {}   p99 {}   ({}; {} requests; server CPU {:.0} µs, client CPU {:.0} µs per run)",
            rate,
            ms(pct(open, 0.5)),
            ms(pct(open, 0.99)),
            if fixed_rate > 0 { "the rate asked for" } else { "half the sustained rate" },
            open.len(),
            cpu,
            client
        );
        println!(
            "sent late, open loop healthz p50 {} p99 {}; accept p50 {} p99 {} (from due to sent: the client's share of the latencies above); \
             from sent to answered: healthz p50 {} p99 {}, accept p50 {} p99 {}",
            ms(pct(&floor.late, 0.5)),
            ms(pct(&floor.late, 0.99)),
            ms(pct(&accepts.late, 0.5)),
            ms(pct(&accepts.late, 0.99)),
            ms(pct(&floor.from_sent, 0.5)),
            ms(pct(&floor.from_sent, 0.99)),
            ms(pct(&accepts.from_sent, 0.5)),
            ms(pct(&accepts.from_sent, 0.99)),
        );
        let (stalled, slowest) = accepts.stalls();
        println!(
            "stalls, open loop    {stalled} accepts over {} ({:.2}%); the slowest {}",
            ms(STALL),
            stalled as f64 * 100.0 / open.len().max(1) as f64,
            ms(slowest)
        );
        if let Some(path) = text_arg("--trace") {
            accepts.write_trace(&path);
            println!("trace                {path}: each accept's due time (s) and latency (ms)");
        }
        // What the runs cost the disk, as the device itself counts it.
        match disk {
            Some(d) => println!(
                "disk, open loop      {:.1} MB/s written in {:.0} writes/s and {:.0} cache flushes/s, over the loop and its drain ({:.1} KiB per run)",
                d.bytes_written as f64 / wall / 1e6,
                d.writes as f64 / wall,
                d.flushes as f64 / wall,
                d.bytes_written as f64 / 1024.0 / open.len().max(1) as f64
            ),
            None => println!("disk, open loop      the data directory's device is not in /proc/diskstats"),
        }
        // The disk's share: the writer's commits, and the intake log's,
        // which a run's accept waits for (the one in flight, then its own).
        for (label, name, before) in [("commits", WRITER, &times), ("intake", INTAKE, &intake)] {
            let later = commit_times(&addr, name).await;
            let (p50, n) = commit_pct(before, &later, 0.5);
            let (p99, _) = commit_pct(before, &later, 0.99);
            let label = format!("{label}, open loop");
            println!("{label:<21}{n} commits, p50 under {p50}, p99 under {p99} (buckets of /metrics)");
        }
        let after = commits(&addr).await;
        println!(
            "group commit         {:.1} transitions per commit over the phases ({} commits)",
            (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64,
            after.0 - before.0
        );
    });
    server.kill().unwrap();
    server.wait().unwrap();
}
