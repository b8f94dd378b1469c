//! A Modbus TCP server exposing an [`Oven`].

use std::future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::server::Service;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response};

use crate::oven::{Memory, Oven};

/// A running simulated PLC. Dropping it (or [`stop`](Self::stop)) closes the
/// listener and every open connection, like a PLC being unplugged.
pub struct SimulatedPlc {
    addr: SocketAddr,
    oven: Oven,
    writes: Arc<Mutex<Vec<Write>>>,
    server: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

impl SimulatedPlc {
    /// Serve `oven` on `addr` (use port 0 for any free port). With `tick`, the
    /// oven model advances on that interval; without, values change only when
    /// written.
    pub async fn start(
        addr: SocketAddr,
        oven: Oven,
        tick: Option<Duration>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let writes: Arc<Mutex<Vec<Write>>> = Arc::default();
        let service = Arc::new(OvenService {
            oven: oven.clone(),
            writes: writes.clone(),
        });
        let server = tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = |stream, socket_addr| {
                let service = service.clone();
                async move {
                    accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(service.clone())))
                }
            };
            if let Err(e) = server
                .serve(
                    &on_connected,
                    |e| tracing::debug!(error = %e, "simulated plc connection ended"),
                )
                .await
            {
                tracing::warn!(error = %e, "simulated plc stopped");
            }
        });
        let ticker = tick.map(|every| {
            let oven = oven.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(every);
                loop {
                    interval.tick().await;
                    oven.tick();
                }
            })
        });
        Ok(Self {
            addr,
            oven,
            writes,
            server,
            ticker,
        })
    }

    /// The address the PLC listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://HOST:PORT`, as used in `[plc.*] url`.
    pub fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// The oven behind the registers.
    pub fn oven(&self) -> &Oven {
        &self.oven
    }

    /// Every write the PLC has applied, in order: a ledger of effects kept
    /// outside the engine. Modbus carries no idempotency key, so a test makes
    /// writes attributable by their address and value.
    pub fn writes(&self) -> Vec<Write> {
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Close the listener and every connection.
    pub fn stop(&self) {
        self.server.abort();
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

impl Drop for SimulatedPlc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One write as the PLC applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// When it was applied, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// `holding` or `coil`.
    pub area: &'static str,
    /// The first address written.
    pub address: u16,
    /// The values, coils as 0 and 1.
    pub values: Vec<u16>,
}

impl Write {
    fn now(area: &'static str, address: u16, values: Vec<u16>) -> Self {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            at_ms,
            area,
            address,
            values,
        }
    }
}

struct OvenService {
    oven: Oven,
    writes: Arc<Mutex<Vec<Write>>>,
}

impl Service for OvenService {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        let write = match &request {
            Request::WriteSingleRegister(a, v) => Some(Write::now("holding", *a, vec![*v])),
            Request::WriteMultipleRegisters(a, v) => Some(Write::now("holding", *a, v.to_vec())),
            Request::WriteSingleCoil(a, v) => Some(Write::now("coil", *a, vec![u16::from(*v)])),
            Request::WriteMultipleCoils(a, v) => Some(Write::now(
                "coil",
                *a,
                v.iter().map(|&b| u16::from(b)).collect(),
            )),
            _ => None,
        };
        let answer = answer(&mut self.oven.memory(), request);
        if let (Some(write), Ok(_)) = (write, &answer) {
            self.writes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(write);
        }
        future::ready(answer)
    }
}

fn answer(m: &mut Memory, request: Request<'_>) -> Result<Response, ExceptionCode> {
    match request {
        Request::ReadHoldingRegisters(a, n) => Ok(Response::ReadHoldingRegisters(
            slice(&m.holding, a, usize::from(n))?.to_vec(),
        )),
        Request::ReadInputRegisters(a, n) => Ok(Response::ReadInputRegisters(
            slice(&m.input, a, usize::from(n))?.to_vec(),
        )),
        Request::ReadCoils(a, n) => Ok(Response::ReadCoils(
            slice(&m.coils, a, usize::from(n))?.to_vec(),
        )),
        Request::ReadDiscreteInputs(a, n) => Ok(Response::ReadDiscreteInputs(
            slice(&m.discrete, a, usize::from(n))?.to_vec(),
        )),
        Request::WriteSingleRegister(a, v) => {
            slice_mut(&mut m.holding, a, 1)?[0] = v;
            Ok(Response::WriteSingleRegister(a, v))
        }
        Request::WriteMultipleRegisters(a, values) => {
            slice_mut(&mut m.holding, a, values.len())?.copy_from_slice(&values);
            Ok(Response::WriteMultipleRegisters(a, count(values.len())))
        }
        Request::WriteSingleCoil(a, v) => {
            slice_mut(&mut m.coils, a, 1)?[0] = v;
            Ok(Response::WriteSingleCoil(a, v))
        }
        Request::WriteMultipleCoils(a, values) => {
            slice_mut(&mut m.coils, a, values.len())?.copy_from_slice(&values);
            Ok(Response::WriteMultipleCoils(a, count(values.len())))
        }
        _ => Err(ExceptionCode::IllegalFunction),
    }
}

fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn slice<T>(area: &[T], address: u16, n: usize) -> Result<&[T], ExceptionCode> {
    let start = usize::from(address);
    area.get(start..start + n)
        .ok_or(ExceptionCode::IllegalDataAddress)
}

fn slice_mut<T>(area: &mut [T], address: u16, n: usize) -> Result<&mut [T], ExceptionCode> {
    let start = usize::from(address);
    area.get_mut(start..start + n)
        .ok_or(ExceptionCode::IllegalDataAddress)
}
