//! A simulated MES: an HTTP server that accepts records and remembers them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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

/// A running simulated MES on a local port. It answers every request with
/// `201 {"accepted":true}` and records it. Stops when dropped.
pub struct SimulatedMes {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl SimulatedMes {
    /// Start on `127.0.0.1` at a free port.
    pub async fn start() -> std::io::Result<Self> {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = received.clone();
        let app = Router::new().fallback(move |request: Request| {
            let record = record.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
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
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                (
                    StatusCode::CREATED,
                    [("content-type", "application/json")],
                    r#"{"accepted":true}"#,
                )
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
}

impl Drop for SimulatedMes {
    fn drop(&mut self) {
        self.server.abort();
    }
}
