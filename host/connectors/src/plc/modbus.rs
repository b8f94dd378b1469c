//! Modbus TCP devices through tokio-modbus.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::{Slave, client::tcp};

use super::{Area, PlcDevice, PlcError, PlcRequest, PlcResponse};
use crate::BoxFuture;
use crate::config::PlcConfig;
use crate::health::{Health, HealthState};

/// First wait before reconnecting to a device that just failed.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);

/// One Modbus TCP device with a lazily opened, shared connection.
///
/// Requests are serialised through one mutex: a device answers one request at
/// a time, and interleaving two tasks' frames on one socket would mix their
/// answers. A failed connection is dropped and re-opened on a later request,
/// waiting an exponentially growing back-off in between; during the back-off
/// requests fail at once with `unavailable` instead of hanging.
pub struct ModbusDevice {
    name: String,
    config: PlcConfig,
    state: Mutex<State>,
    /// A copy of how the device is doing, kept apart from `state` because
    /// that lock is held across a request, and [`PlcDevice::health`] must
    /// answer while a request hangs until its timeout.
    health: std::sync::Mutex<Health>,
}

#[derive(Default)]
struct State {
    connection: Option<Context>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl ModbusDevice {
    /// A device that connects on first use.
    pub fn new(name: impl Into<String>, config: PlcConfig) -> Self {
        Self {
            name: name.into(),
            config,
            state: Mutex::new(State::default()),
            health: std::sync::Mutex::new(Health::new(HealthState::Idle)),
        }
    }

    fn health_mut(&self) -> std::sync::MutexGuard<'_, Health> {
        // A plain snapshot: a panic cannot leave it half-updated.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `message` naming the device's address, for operators looking at many devices.
    fn located(&self, message: &str) -> String {
        match self.config.endpoint() {
            Ok((host, port)) if !message.contains(&format!("{host}:{port}")) => {
                format!("{host}:{port}: {message}")
            }
            _ => message.to_string(),
        }
    }

    fn reachable(&self) {
        self.health_mut().state = HealthState::Connected;
    }

    async fn call_inner(&self, request: PlcRequest) -> Result<PlcResponse, PlcError> {
        request.validate()?;
        let mut state = self.state.lock().await;
        if state.connection.is_none() {
            let connection = self.connect(&mut state).await?;
            state.connection = Some(connection);
        }
        let Some(connection) = state.connection.as_mut() else {
            return Err(PlcError::Unavailable("no connection".into()));
        };
        match tokio::time::timeout(self.config.timeout, send(connection, request)).await {
            Ok(Ok(Ok(response))) => {
                self.reachable();
                Ok(response)
            }
            Ok(Ok(Err(exception))) => {
                // The device answered: it is reachable, it only refused this request.
                self.reachable();
                Err(PlcError::Exception(exception.to_string()))
            }
            Ok(Err(error)) => {
                // A transport or framing error leaves the stream in an unknown state.
                let message = error.to_string();
                self.fail(&mut state, message.clone());
                Err(PlcError::Unavailable(message))
            }
            Err(_) => {
                // A late answer would be read as the answer to the next request.
                self.fail(&mut state, "request timed out".into());
                Err(PlcError::Timeout)
            }
        }
    }

    async fn connect(&self, state: &mut State) -> Result<Context, PlcError> {
        if let Some(at) = state.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(PlcError::Unavailable(format!(
                    "device `{}` is offline ({}); next reconnect attempt in {} ms",
                    self.name,
                    state.last_error,
                    (at - now).as_millis()
                )));
            }
        }
        let (host, port) = self.config.endpoint().map_err(PlcError::Unavailable)?;
        let attempt = async {
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other(format!("`{host}` resolved to no address")))?;
            tcp::connect_slave(addr, Slave(self.config.unit)).await
        };
        match tokio::time::timeout(self.config.connect_timeout, attempt).await {
            Ok(Ok(connection)) => {
                if state.failures > 0 {
                    tracing::info!(device = %self.name, "plc device reconnected");
                }
                state.failures = 0;
                state.retry_at = None;
                self.reachable();
                Ok(connection)
            }
            Ok(Err(e)) => {
                let message = format!("cannot connect to {host}:{port}: {e}");
                self.fail(state, message.clone());
                Err(PlcError::Unavailable(message))
            }
            Err(_) => {
                let message = format!("connecting to {host}:{port} timed out");
                self.fail(state, message.clone());
                Err(PlcError::Unavailable(message))
            }
        }
    }

    fn fail(&self, state: &mut State, message: String) {
        tracing::warn!(device = %self.name, error = %message, "plc device failed");
        state.connection = None;
        state.failures = state.failures.saturating_add(1);
        let backoff = INITIAL_BACKOFF
            .saturating_mul(1 << state.failures.min(16).saturating_sub(1))
            .min(self.config.max_backoff);
        state.retry_at = Some(Instant::now() + backoff);
        self.health_mut().failed(self.located(&message));
        state.last_error = message;
    }
}

impl PlcDevice for ModbusDevice {
    fn call(&self, request: PlcRequest) -> BoxFuture<'_, Result<PlcResponse, PlcError>> {
        Box::pin(self.call_inner(request))
    }

    fn health(&self) -> Health {
        self.health_mut().clone()
    }
}

async fn send(connection: &mut Context, request: PlcRequest) -> tokio_modbus::Result<PlcResponse> {
    Ok(match request {
        PlcRequest::Read {
            area,
            address,
            count,
        } => match area {
            Area::Holding => connection
                .read_holding_registers(address, count)
                .await?
                .map(PlcResponse::Registers),
            Area::Input => connection
                .read_input_registers(address, count)
                .await?
                .map(PlcResponse::Registers),
            Area::Coil => connection
                .read_coils(address, count)
                .await?
                .map(|mut bits| {
                    // Coils arrive packed in bytes; drop the padding bits.
                    bits.truncate(usize::from(count));
                    PlcResponse::Bits(bits)
                }),
            Area::Discrete => {
                connection
                    .read_discrete_inputs(address, count)
                    .await?
                    .map(|mut bits| {
                        bits.truncate(usize::from(count));
                        PlcResponse::Bits(bits)
                    })
            }
        },
        PlcRequest::WriteRegisters { address, values } => connection
            .write_multiple_registers(address, &values)
            .await?
            .map(|()| PlcResponse::Written),
        PlcRequest::WriteCoils { address, values } => connection
            .write_multiple_coils(address, &values)
            .await?
            .map(|()| PlcResponse::Written),
    })
}
