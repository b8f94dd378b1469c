//! A Modbus TCP server exposing an [`Oven`].

use std::future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
        let service = Arc::new(OvenService { oven: oven.clone() });
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

struct OvenService {
    oven: Oven,
}

impl Service for OvenService {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        future::ready(answer(&mut self.oven.memory(), request))
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
