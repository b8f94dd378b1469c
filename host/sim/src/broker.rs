//! An embedded MQTT broker (rumqttd) on a local port.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No local port could be reserved.
    #[error("cannot reserve a port for the embedded MQTT broker: {0}")]
    Port(#[from] std::io::Error),
    /// The broker thread did not start listening.
    #[error("the embedded MQTT broker did not start listening on {0}")]
    NotListening(SocketAddr),
}

/// A running embedded MQTT 3.1.1 broker.
///
/// rumqttd runs on its own threads with its own runtime and has no shutdown
/// hook, so the broker lives until the process ends.
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Start a broker on `127.0.0.1` at `port`, or on a free port when `port` is 0.
    pub fn start(port: u16) -> Result<Self, BrokerError> {
        let addr = if port == 0 {
            // Reserve a free port, then hand it to rumqttd, which wants an address up front.
            TcpListener::bind("127.0.0.1:0")?.local_addr()?
        } else {
            SocketAddr::from(([127, 0, 0, 1], port))
        };
        let server = ServerSettings {
            name: "baton-embedded".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 1 << 20,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            router: RouterConfig {
                max_connections: 1000,
                max_outgoing_packet_count: 200,
                max_segment_size: 16 << 20,
                max_segment_count: 10,
                ..RouterConfig::default()
            },
            v4: Some(HashMap::from([("1".to_string(), server)])),
            ..Config::default()
        };
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                let mut broker = Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!(error = %e, "embedded MQTT broker stopped");
                }
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Self { addr });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(BrokerError::NotListening(addr))
    }

    /// One broker for the whole process, started on first use: rumqttd cannot
    /// be stopped, so tests share one rather than leak one each.
    pub fn shared() -> Result<&'static EmbeddedBroker, &'static BrokerError> {
        static SHARED: std::sync::OnceLock<Result<EmbeddedBroker, BrokerError>> =
            std::sync::OnceLock::new();
        SHARED.get_or_init(|| EmbeddedBroker::start(0)).as_ref()
    }

    /// The broker a test suite should use: the one at `BATON_TEST_MQTT_URL`
    /// (Mosquitto, in CI) when that is set, else this process's shared
    /// embedded broker. Under `CI=true` an unset `BATON_TEST_MQTT_URL` is an
    /// error (see [`crate::suite::mqtt_url`]).
    pub async fn test_url() -> Result<String, String> {
        if let Some(url) = crate::suite::mqtt_url()? {
            return Ok(url);
        }
        // Starting the embedded broker blocks while it binds.
        tokio::task::spawn_blocking(|| Self::shared().map(Self::url).map_err(|e| e.to_string()))
            .await
            .map_err(|e| format!("starting the embedded broker failed: {e}"))?
    }

    /// The address the broker listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://HOST:PORT`, as used in `[mqtt.*] url`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}
