//! A fake host for unit-testing plugins natively with `cargo test`.
//!
//! On native targets the capability functions of this crate talk to a
//! [`Host`] instead of Baton. Set up devices, scripted HTTP responses and
//! MQTT messages, run the task, then assert on what it wrote and published.
//! Anything not set up is refused the way Baton refuses an ungranted call.
//!
//! ```ignore
//! let host = Host::new();
//! host.device("oven-1").holding(10, 172);
//! let out = host.run::<ReadTemperature>(json!({"device": "oven-1", "address": 10}), json!(null));
//! assert_eq!(out.unwrap()["celsius"], 172);
//! ```
//!
//! This is a unit-test aid only. Test the built component with
//! `baton task run` against a real (or simulated) PLC and broker too.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::rc::Rc;

use crate::{Context, Error, Task};

/// A fake Baton host. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct Host {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    devices: BTreeMap<String, Device>,
    denied: HashSet<String>,
    inbox: VecDeque<(String, crate::mqtt::Message)>,
    published: Vec<Published>,
    responses: Vec<(String, crate::http::Response)>,
    requests: Vec<crate::http::Request>,
    logs: Vec<(crate::log::Level, String)>,
}

/// A fake PLC's memory, and whether it is reachable.
#[derive(Default, Clone)]
struct Device {
    holding: BTreeMap<u16, u16>,
    input: BTreeMap<u16, u16>,
    coils: BTreeMap<u16, bool>,
    discrete: BTreeMap<u16, bool>,
    offline: bool,
}

/// A message the task published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Connection name.
    pub connection: String,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Retain flag.
    pub retain: bool,
}

/// Sets up one fake device.
pub struct DeviceSetup<'a> {
    host: &'a Host,
    name: String,
}

impl DeviceSetup<'_> {
    fn with(&self, f: impl FnOnce(&mut Device)) -> &Self {
        f(self
            .host
            .state
            .borrow_mut()
            .devices
            .entry(self.name.clone())
            .or_default());
        self
    }

    /// Set a holding register.
    pub fn holding(&self, address: u16, value: u16) -> &Self {
        self.with(|d| {
            d.holding.insert(address, value);
        })
    }

    /// Set an input register.
    pub fn input(&self, address: u16, value: u16) -> &Self {
        self.with(|d| {
            d.input.insert(address, value);
        })
    }

    /// Set a coil.
    pub fn coil(&self, address: u16, value: bool) -> &Self {
        self.with(|d| {
            d.coils.insert(address, value);
        })
    }

    /// Set a discrete input.
    pub fn discrete(&self, address: u16, value: bool) -> &Self {
        self.with(|d| {
            d.discrete.insert(address, value);
        })
    }

    /// Make the device unreachable: calls fail with `unavailable`.
    pub fn offline(&self) -> &Self {
        self.with(|d| d.offline = true)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Host>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    CURRENT.with(|current| {
        let current = current.borrow();
        let Some(host) = current.as_ref() else {
            panic!("a Baton capability was called outside baton_sdk::testing::Host::run");
        };
        let mut state = host.state.borrow_mut();
        f(&mut state)
    })
}

impl Host {
    /// An empty host: no devices, no responses, nothing granted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set up (or create) the device called `name`.
    pub fn device(&self, name: &str) -> DeviceSetup<'_> {
        self.state
            .borrow_mut()
            .devices
            .entry(name.to_string())
            .or_default();
        DeviceSetup {
            host: self,
            name: name.to_string(),
        }
    }

    /// Refuse every call naming this device or connection, as an ungranted one.
    pub fn deny(&self, name: &str) {
        self.state.borrow_mut().denied.insert(name.to_string());
    }

    /// Queue a message for `receive` on `connection`.
    pub fn queue_message(&self, connection: &str, topic: &str, payload: &[u8]) {
        self.state.borrow_mut().inbox.push_back((
            connection.to_string(),
            crate::mqtt::Message {
                topic: topic.to_string(),
                payload: payload.to_vec(),
                retain: false,
            },
        ));
    }

    /// Answer requests whose URL starts with `url_prefix` with `status` and `body`.
    pub fn respond(&self, url_prefix: &str, status: u16, body: &str) {
        self.state.borrow_mut().responses.push((
            url_prefix.to_string(),
            crate::http::Response {
                status,
                headers: Vec::new(),
                body: body.as_bytes().to_vec(),
            },
        ));
    }

    /// Run one attempt of `T` with JSON config and input.
    pub fn run<T: Task>(
        &self,
        config: serde_json::Value,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let ctx = Context {
            run_id: "test-run".into(),
            node_id: "test-node".into(),
            attempt: 1,
            idempotency_key: "test-run/test-node".into(),
        };
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        let result = crate::task::run_typed::<T>(&ctx, &config.to_string(), &input.to_string());
        CURRENT.with(|c| c.replace(previous));
        let output = result?;
        serde_json::from_str(&output).map_err(Error::from)
    }

    /// A holding register's current value.
    pub fn holding(&self, device: &str, address: u16) -> Option<u16> {
        self.state
            .borrow()
            .devices
            .get(device)?
            .holding
            .get(&address)
            .copied()
    }

    /// A coil's current value.
    pub fn coil(&self, device: &str, address: u16) -> Option<bool> {
        self.state
            .borrow()
            .devices
            .get(device)?
            .coils
            .get(&address)
            .copied()
    }

    /// Everything published so far.
    pub fn published(&self) -> Vec<Published> {
        self.state.borrow().published.clone()
    }

    /// Every HTTP request sent so far.
    pub fn requests(&self) -> Vec<crate::http::Request> {
        self.state.borrow().requests.clone()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<(crate::log::Level, String)> {
        self.state.borrow().logs.clone()
    }
}

pub(crate) mod plc {
    use super::{Device, with};
    use crate::plc::PlcError;
    use std::collections::BTreeMap;

    fn device<R>(name: &str, f: impl FnOnce(&mut Device) -> R) -> Result<R, PlcError> {
        with(|s| {
            if s.denied.contains(name) {
                return Err(PlcError::Denied(format!("device `{name}` is not granted")));
            }
            let d = s
                .devices
                .get_mut(name)
                .ok_or_else(|| PlcError::UnknownDevice(name.to_string()))?;
            if d.offline {
                return Err(PlcError::Unavailable(format!("device `{name}` is offline")));
            }
            Ok(f(d))
        })
    }

    fn read<T: Copy + Default>(map: &BTreeMap<u16, T>, address: u16, count: u16) -> Vec<T> {
        (0..count)
            .map(|i| {
                map.get(&(address.wrapping_add(i)))
                    .copied()
                    .unwrap_or_default()
            })
            .collect()
    }

    fn write<T: Copy>(map: &mut BTreeMap<u16, T>, address: u16, values: &[T]) {
        for (i, v) in (0u16..).zip(values) {
            map.insert(address.wrapping_add(i), *v);
        }
    }

    pub fn read_holding_registers(d: &str, a: u16, n: u16) -> Result<Vec<u16>, PlcError> {
        device(d, |d| read(&d.holding, a, n))
    }
    pub fn read_input_registers(d: &str, a: u16, n: u16) -> Result<Vec<u16>, PlcError> {
        device(d, |d| read(&d.input, a, n))
    }
    pub fn read_coils(d: &str, a: u16, n: u16) -> Result<Vec<bool>, PlcError> {
        device(d, |d| read(&d.coils, a, n))
    }
    pub fn read_discrete_inputs(d: &str, a: u16, n: u16) -> Result<Vec<bool>, PlcError> {
        device(d, |d| read(&d.discrete, a, n))
    }
    pub fn write_registers(d: &str, a: u16, v: &[u16]) -> Result<(), PlcError> {
        device(d, |d| write(&mut d.holding, a, v))
    }
    pub fn write_coils(d: &str, a: u16, v: &[bool]) -> Result<(), PlcError> {
        device(d, |d| write(&mut d.coils, a, v))
    }
}

pub(crate) mod mqtt {
    use super::{Published, with};
    use crate::mqtt::{Message, MqttError, Qos};

    pub fn publish(
        connection: &str,
        topic: &str,
        payload: &[u8],
        _qos: Qos,
        retain: bool,
    ) -> Result<(), MqttError> {
        with(|s| {
            if s.denied.contains(connection) {
                return Err(MqttError::Denied(format!(
                    "connection `{connection}` is not granted"
                )));
            }
            s.published.push(Published {
                connection: connection.to_string(),
                topic: topic.to_string(),
                payload: payload.to_vec(),
                retain,
            });
            Ok(())
        })
    }

    pub fn receive(
        connection: &str,
        filter: &str,
        _timeout_ms: u32,
    ) -> Result<Option<Message>, MqttError> {
        with(|s| {
            if s.denied.contains(connection) {
                return Err(MqttError::Denied(format!(
                    "connection `{connection}` is not granted"
                )));
            }
            let _ = filter;
            let position = s.inbox.iter().position(|(c, _)| c == connection);
            Ok(position.and_then(|i| s.inbox.remove(i)).map(|(_, m)| m))
        })
    }
}

pub(crate) mod log {
    use crate::log::Level;

    pub fn log(level: Level, message: &str) {
        super::with(|s| s.logs.push((level, message.to_string())));
    }
}

pub(crate) mod http {
    use crate::http::{HttpError, Request, Response};

    pub fn send(request: Request) -> Result<Response, HttpError> {
        super::with(|s| {
            s.requests.push(request.clone());
            s.responses
                .iter()
                .find(|(prefix, _)| request.url.starts_with(prefix.as_str()))
                .map(|(_, r)| r.clone())
                .ok_or(HttpError::Denied)
        })
    }
}
