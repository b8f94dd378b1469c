//! Makes the capability calls listed in its input and reports each outcome,
//! error variant included, so tests can see exactly what a guest observes.
//!
//! Input: `{"calls": [{"op": "write-registers", "device": "oven-1", "address": 10, "values": [1]}, ...]}`.
//! Output: one `{"ok": ...}` or `{"err": "<variant>", "message": "..."}` per call
//! (`http-many` gives a list of them, one per request).
use std::time::Duration;

use baton_sdk::http::{HttpError, Request};
use baton_sdk::mqtt::{MqttError, Qos};
use baton_sdk::plc::PlcError;
use baton_sdk::{Context, Error, Task, mqtt, plc};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct Input {
    calls: Vec<Call>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Call {
    ReadHolding {
        device: String,
        address: u16,
        count: u16,
    },
    WriteRegisters {
        device: String,
        address: u16,
        values: Vec<u16>,
    },
    WriteCoils {
        device: String,
        address: u16,
        values: Vec<bool>,
    },
    Publish {
        connection: String,
        topic: String,
        payload: String,
    },
    Receive {
        connection: String,
        filter: String,
        timeout_ms: u64,
    },
    /// `timeout_ms` is the request's own timeout: 5000 when absent, none when `null`.
    Http {
        url: String,
        #[serde(default = "five_seconds")]
        timeout_ms: Option<u64>,
    },
    /// `count` GETs of `url` started at once, before any response is read.
    HttpMany {
        url: String,
        count: usize,
    },
    ReadFile {
        path: String,
    },
    WriteFile {
        path: String,
        contents: String,
    },
    Env,
    TcpConnect {
        addr: String,
    },
}

fn five_seconds() -> Option<u64> {
    Some(5000)
}

fn plc_err(e: PlcError) -> Value {
    let (variant, message) = match &e {
        PlcError::Denied(m) => ("denied", m.clone()),
        PlcError::UnknownDevice(m) => ("unknown-device", m.clone()),
        PlcError::Timeout => ("timeout", String::new()),
        PlcError::Unavailable(m) => ("unavailable", m.clone()),
        PlcError::Exception(m) => ("exception", m.clone()),
        PlcError::InvalidArgument(m) => ("invalid-argument", m.clone()),
    };
    json!({"err": variant, "message": message})
}

fn mqtt_err(e: MqttError) -> Value {
    let (variant, message) = match &e {
        MqttError::Denied(m) => ("denied", m.clone()),
        MqttError::UnknownConnection(m) => ("unknown-connection", m.clone()),
        MqttError::Timeout => ("timeout", String::new()),
        MqttError::Unavailable(m) => ("unavailable", m.clone()),
        MqttError::InvalidArgument(m) => ("invalid-argument", m.clone()),
    };
    json!({"err": variant, "message": message})
}

fn io<T: Into<Value>>(r: std::io::Result<T>) -> Value {
    match r {
        Ok(v) => json!({"ok": v.into()}),
        Err(e) => json!({"err": "io", "message": e.to_string()}),
    }
}

fn call(c: Call) -> Value {
    match c {
        Call::ReadHolding {
            device,
            address,
            count,
        } => match plc::read_holding_registers(&device, address, count) {
            Ok(v) => json!({"ok": v}),
            Err(e) => plc_err(e),
        },
        Call::WriteRegisters {
            device,
            address,
            values,
        } => match plc::write_registers(&device, address, &values) {
            Ok(()) => json!({"ok": null}),
            Err(e) => plc_err(e),
        },
        Call::WriteCoils {
            device,
            address,
            values,
        } => match plc::write_coils(&device, address, &values) {
            Ok(()) => json!({"ok": null}),
            Err(e) => plc_err(e),
        },
        Call::Publish {
            connection,
            topic,
            payload,
        } => {
            match mqtt::publish(
                &connection,
                &topic,
                payload.as_bytes(),
                Qos::AtLeastOnce,
                false,
            ) {
                Ok(()) => json!({"ok": null}),
                Err(e) => mqtt_err(e),
            }
        }
        Call::Receive {
            connection,
            filter,
            timeout_ms,
        } => match mqtt::receive(&connection, &filter, Duration::from_millis(timeout_ms)) {
            Ok(Some(m)) => {
                json!({"ok": {"topic": m.topic, "payload": String::from_utf8_lossy(&m.payload)}})
            }
            Ok(None) => json!({"ok": null}),
            Err(e) => mqtt_err(e),
        },
        Call::Http { url, timeout_ms } => {
            let mut request = Request::get(&url);
            if let Some(ms) = timeout_ms {
                request = request.timeout(Duration::from_millis(ms));
            }
            match request.send() {
                Ok(r) => json!({"ok": {"status": r.status, "body": r.text()}}),
                Err(HttpError::Denied) => json!({"err": "denied", "message": ""}),
                Err(e) => json!({"err": "other", "message": e.to_string()}),
            }
        }
        Call::HttpMany { url, count } => json!(many::get(&url, count)),
        Call::ReadFile { path } => io(std::fs::read_to_string(path)),
        Call::WriteFile { path, contents } => {
            io(std::fs::write(&path, &contents).and_then(|()| std::fs::read_to_string(&path)))
        }
        Call::Env => json!({"ok": std::env::vars().map(|(k, _)| k).collect::<Vec<_>>()}),
        Call::TcpConnect { addr } => {
            io(std::net::TcpStream::connect(addr.as_str()).map(|_| "connected"))
        }
    }
}

/// Concurrent requests, through the raw `wasi:http` bindings: the SDK's
/// client sends one request at a time.
mod many {
    use serde_json::{Value, json};

    #[cfg(target_arch = "wasm32")]
    pub fn get(url: &str, count: usize) -> Vec<Value> {
        use baton_sdk::bindings::wasi::http::outgoing_handler;
        use baton_sdk::bindings::wasi::http::types::{
            Fields, FutureIncomingResponse, OutgoingRequest, Scheme,
        };
        let Some(rest) = url.strip_prefix("http://") else {
            return vec![json!({"err": "invalid", "message": url})];
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let started: Vec<Result<FutureIncomingResponse, String>> = (0..count)
            .map(|_| {
                let request = OutgoingRequest::new(Fields::new());
                let _ = request.set_scheme(Some(&Scheme::Http));
                let _ = request.set_authority(Some(authority));
                let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
                outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))
            })
            .collect();
        // Every request is in flight before the first response is looked at.
        started
            .into_iter()
            .map(|started| {
                let future = match started {
                    Ok(future) => future,
                    Err(e) => return json!({"err": e}),
                };
                future.subscribe().block();
                match future.get() {
                    Some(Ok(Ok(response))) => json!({"ok": response.status()}),
                    Some(Ok(Err(e))) => json!({"err": format!("{e:?}")}),
                    _ => json!({"err": "no response"}),
                }
            })
            .collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn get(_url: &str, _count: usize) -> Vec<Value> {
        vec![json!({"err": "wasm32 only"})]
    }
}

pub struct Probe;

impl Task for Probe {
    const NAME: &'static str = "probe";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Reports what each capability call returns.";
    type Config = Value;
    type Input = Input;
    type Output = Vec<Value>;

    fn run(_ctx: &Context, _config: Value, input: Input) -> Result<Vec<Value>, Error> {
        Ok(input.calls.into_iter().map(call).collect())
    }
}

baton_sdk::export!(Probe);
