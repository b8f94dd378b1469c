//! A `baton serve` child process with a simulated oven PLC and a broker,
//! and a small blocking HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};
use serde_json::Value;

pub const ADMIN: &str = "baton_test_admin_token";

/// The simulated plant the server talks to: an oven PLC and an MQTT broker
/// (Mosquitto at `BATON_TEST_MQTT_URL`, else the embedded one).
pub struct Plant {
    pub rt: tokio::runtime::Runtime,
    pub plc: SimulatedPlc,
    pub mqtt: String,
}

impl Plant {
    pub fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (plc, mqtt) = rt.block_on(async {
            let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
                .await
                .unwrap();
            (
                plc,
                EmbeddedBroker::test_url()
                    .await
                    .unwrap_or_else(|e| panic!("the test broker: {e}")),
            )
        });
        Self { rt, plc, mqtt }
    }

    pub fn coil(&self, n: usize) -> bool {
        self.plc.oven().memory().coils[n]
    }

    /// Publish `payload` on `topic` at QoS 1.
    pub fn publish(&self, topic: &str, payload: &str) {
        self.rt.block_on(publish(&self.mqtt, topic, payload));
    }

    /// A `baton.toml` naming the oven `oven-1` and the broker `plant`.
    pub fn config(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("baton.toml");
        std::fs::write(
            &path,
            format!(
                "[plc.oven-1]\nurl = \"{}\"\n[mqtt.plant]\nurl = \"{}\"\n",
                self.plc.url(),
                self.mqtt
            ),
        )
        .unwrap();
        path
    }
}

/// Publish `payload` on `topic` at QoS 1 to the broker at `url`.
pub async fn publish(url: &str, topic: &str, payload: &str) {
    use baton_connectors::MqttClient as _;
    use baton_connectors::config::MqttConfig;
    use baton_connectors::mqtt::{MqttConnection, QoS};
    let client = MqttConnection::connect(&unique("test-publisher"), &MqttConfig::new(url)).unwrap();
    assert!(client.wait_connected(Duration::from_secs(5)).await);
    client
        .publish(
            topic.into(),
            payload.as_bytes().to_vec(),
            QoS::AtLeastOnce,
            false,
        )
        .await
        .unwrap();
}

/// A `baton.toml` in `dir` whose PLC device `oven-1` is on a port nothing
/// listens on, with a short connect timeout: an offline PLC; and that port.
pub fn offline_plc_config(dir: &Path) -> (std::path::PathBuf, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("baton.toml");
    std::fs::write(
        &config,
        format!("[plc.oven-1]\nurl = \"tcp://127.0.0.1:{port}\"\nconnect_timeout = \"200ms\"\n"),
    )
    .unwrap();
    (config, port)
}

/// An answer with its headers (lowercase names).
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (null if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A running `baton demo` on an ephemeral port and its own data directory,
/// with the variables it printed as `export` lines; killed when dropped.
pub struct Demo {
    child: Child,
    /// `BATON_SERVER`, `BATON_TOKEN` and `BATON_MQTT`, as printed.
    pub env: Vec<(String, String)>,
}

impl Demo {
    /// Start `baton demo` on `data` and read what it prints up to its last
    /// line; the rest of its output is drained.
    pub fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env_remove("BATON_ADMIN_TOKEN")
            .env_remove("BATON_CONFIG")
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut env = Vec::new();
        let mut printed = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            printed.push_str(&line);
            if let Some(exports) = line.trim().strip_prefix("export ") {
                for pair in exports.split_whitespace() {
                    let (k, v) = pair.split_once('=').unwrap();
                    env.push((k.to_string(), v.to_string()));
                }
            }
            if line.contains("Ctrl-C stops the demo") {
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || for _ in stdout.lines() {});
        assert_eq!(env.len(), 3, "the demo prints the exports:\n{printed}");
        Self { child, env }
    }

    /// The printed value of `name`.
    pub fn var(&self, name: &str) -> String {
        self.env.iter().find(|(n, _)| n == name).unwrap().1.clone()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `baton serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Start `baton serve` on `data` with `config`, the admin token [`ADMIN`].
    pub fn start(data: &Path, config: &Path) -> Self {
        Self::start_as(data, config, ADMIN).0
    }

    /// Start `baton serve` with `BATON_ADMIN_TOKEN=admin`; the server, and
    /// what it said on stderr before it listened.
    pub fn start_as(data: &Path, config: &Path, admin: &str) -> (Self, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--config-file")
            .arg(config)
            .env("BATON_ADMIN_TOKEN", admin)
            .env("BATON_LOG", "warn,rumqttd=off")
            .env_remove("BATON_DATABASE_URL")
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut addr = None;
        let mut seen = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            if let Some(a) = line.trim().strip_prefix("baton listening on http://") {
                addr = Some(a.to_string());
                break;
            }
            seen.push_str(&line);
            line.clear();
        }
        let addr = addr.unwrap_or_else(|| panic!("the server did not start:\n{seen}"));
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stderr.lines() {
                match line {
                    Ok(l) => eprintln!("[server] {l}"),
                    Err(_) => break,
                }
            }
        });
        (Self { child, addr }, seen)
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
        self.call_with(method, path, token, &[], body)
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        all.extend_from_slice(headers);
        let answer = self.request(method, path, &all, body);
        let value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|_| Value::String(answer.body.clone()));
        (answer.status, value)
    }

    /// One HTTP/1.0 request with exactly these headers; the status, the
    /// headers and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        // The server may answer (413) before reading a large body.
        let _ = stream.write_all(body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).to_string();
        // HTTP/1.0: the body is not chunked, it ends with the connection.
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_string(),
        }
    }

    /// GET as admin, expecting 200.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(ADMIN), b"");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST JSON as admin; the status and body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call_with(
            "POST",
            path,
            Some(ADMIN),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    /// Upload the scripted test plugin as admin.
    pub fn push_scripted(&self) {
        let (status, body) = self.call_with(
            "POST",
            "/api/v1/plugins",
            Some(ADMIN),
            &[("Content-Type", "application/wasm")],
            &scripted_wasm(),
        );
        assert!(status == 201 || status == 200, "{status}: {body}");
    }

    /// PUT a workflow definition as admin, expecting 201.
    pub fn apply(&self, name: &str, yaml: &str) {
        let (status, body) = self.call(
            "PUT",
            &format!("/api/v1/workflows/{name}"),
            Some(ADMIN),
            yaml.as_bytes(),
        );
        assert_eq!(status, 201, "{body}");
    }

    /// Start a run by HTTP; its id.
    pub fn start_run(&self, workflow: &str, input: Value) -> String {
        let (status, body) = self.post(
            &format!("/api/v1/workflows/{workflow}/runs"),
            &serde_json::json!({ "input": input }),
        );
        assert_eq!(status, 202, "{body}");
        body["run_id"].as_str().unwrap().to_string()
    }

    /// Poll until the run's node `node` has status `status`.
    pub fn wait_node(&self, run: &str, node: &str, status: &str) -> Value {
        self.wait(&format!("node `{node}` of {run} to be {status}"), || {
            let run = self.get(&format!("/api/v1/runs/{run}"));
            let n = run["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == node)
                .cloned()
                .unwrap();
            (n["status"] == status).then_some(run)
        })
    }

    /// Poll until the run has finished; the run.
    pub fn wait_finished(&self, run: &str) -> Value {
        self.wait(&format!("run {run} to finish"), || {
            let r = self.get(&format!("/api/v1/runs/{run}"));
            (r["status"] != "running" && r["status"] != "held").then_some(r)
        })
    }

    pub fn wait<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(t) = check() {
                return t;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Read `path` as Server-Sent Events until `stop` says so; the events' data.
    pub fn sse(&self, path: &str, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: baton\r\nAccept: text/event-stream\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
        )
        .unwrap();
        let reader = BufReader::new(stream);
        let mut events = Vec::new();
        for line in reader.lines() {
            let line = line.expect("the stream stays open until the run ends");
            if let Some(data) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                let event: Value = serde_json::from_str(data.trim()).unwrap();
                let end = stop(&event);
                events.push(event);
                if end {
                    break;
                }
            }
        }
        events
    }

    /// Kill the process without warning.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the `baton` client against `server` as admin; its exit code, and
/// its stdout followed by its stderr.
pub fn baton(server: &Server, args: &[&str]) -> (i32, String) {
    baton_as(server, ADMIN, args)
}

/// [`baton`] with another token.
pub fn baton_as(server: &Server, token: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env("BATON_SERVER", format!("http://{}", server.addr))
        .env("BATON_TOKEN", token)
        .env_remove("BATON_CONFIG")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("baton {args:?}: {stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr,
    )
}

/// The scripted test guest: sleeps, fails or succeeds as its config says.
pub fn scripted_wasm() -> Vec<u8> {
    std::fs::read(baton_plugins::test_programs::SCRIPTED).unwrap()
}

/// A fresh name, so tests sharing a broker do not see each other's messages.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007
}
