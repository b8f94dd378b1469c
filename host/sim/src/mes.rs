//! A simulated MES: an HTTP server that accepts records and remembers them.
//!
//! Started with [`SimulatedMes::start_deduplicating`] it behaves as an MES that
//! honours `Idempotency-Key`: the first request with a key is applied (`201`),
//! a repeat is recognised and answered `200` without being applied again, and
//! [`SimulatedMes::deliveries`] is the ledger of both.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;

/// One request as the MES received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Received {
    /// The value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request with an `Idempotency-Key`, as the deduplicating MES saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrived, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// Whether the key had been applied before, so this one was not.
    pub duplicate: bool,
    /// The body as text.
    pub body: String,
}

#[derive(Default)]
struct Ledger {
    /// `None` when the MES does not deduplicate.
    seen: Option<HashSet<String>>,
    deliveries: Vec<Delivery>,
}

/// A running simulated MES on a local port. It answers every request with
/// `201 {"accepted":true}` and records it. Stops when dropped.
pub struct SimulatedMes {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    ledger: Arc<Mutex<Ledger>>,
    server: tokio::task::JoinHandle<()>,
}

impl SimulatedMes {
    /// Start on `127.0.0.1` at a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::serve(Ledger::default()).await
    }

    /// Start an MES that applies each `Idempotency-Key` once: a repeated key
    /// is answered `200 {"accepted":true,"duplicate":true}` and not applied.
    /// Every keyed request is recorded in [`deliveries`](Self::deliveries).
    pub async fn start_deduplicating() -> std::io::Result<Self> {
        Self::serve(Ledger {
            seen: Some(HashSet::new()),
            deliveries: Vec::new(),
        })
        .await
    }

    async fn serve(ledger: Ledger) -> std::io::Result<Self> {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let ledger = Arc::new(Mutex::new(ledger));
        let record = received.clone();
        let keys = ledger.clone();
        let app = Router::new().fallback(move |request: Request| {
            let record = record.clone();
            let keys = keys.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                let key = parts
                    .headers
                    .get("idempotency-key")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let mut duplicate = false;
                if let Some(key) = key {
                    let mut ledger = keys.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(seen) = &mut ledger.seen {
                        duplicate = !seen.insert(key.clone());
                    }
                    ledger.deliveries.push(Delivery {
                        at_ms: now_ms(),
                        key,
                        duplicate,
                        body: body.clone(),
                    });
                }
                record
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Received {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_string(),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect(),
                        body,
                    });
                if duplicate {
                    (
                        StatusCode::OK,
                        [("content-type", "application/json")],
                        r#"{"accepted":true,"duplicate":true}"#,
                    )
                } else {
                    (
                        StatusCode::CREATED,
                        [("content-type", "application/json")],
                        r#"{"accepted":true}"#,
                    )
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "simulated MES stopped");
            }
        });
        Ok(Self {
            addr,
            received,
            ledger,
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every request that carried an `Idempotency-Key`, in arrival order:
    /// the ledger of effects, kept outside the engine.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deliveries
            .clone()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Drop for SimulatedMes {
    fn drop(&mut self) {
        self.server.abort();
    }
}
