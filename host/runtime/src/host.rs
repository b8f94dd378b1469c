//! The `log`, `plc` and `mqtt` interfaces, as the guest sees them.
//!
//! Every capability call is checked in the same order: arguments against
//! protocol limits (`invalid-argument`), then the node's grants (`denied`,
//! recorded on the attempt), then the host's configured connections
//! (`unknown-device` / `unknown-connection`). Only then is I/O done. Errors are
//! returned to the guest as WIT variants; nothing here traps.

use std::time::Duration;

use baton_connectors::mqtt::{self as conn_mqtt, MqttError as ConnMqttError, TopicFilter};
use baton_connectors::plc::{PlcError as ConnPlcError, PlcRequest, PlcResponse};
use baton_grant::plc::{Access, Area};

use crate::attempt::LogLevel;
use crate::bindings::log::{self, Level};
use crate::bindings::mqtt::{self, Message, MqttError, Qos};
use crate::bindings::plc::{self, PlcError};
use crate::bindings::types;
use crate::state::TaskState;

impl types::Host for TaskState {}

impl log::Host for TaskState {
    async fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.journal.log(level, message);
    }
}

impl TaskState {
    async fn plc(&mut self, device: String, request: PlcRequest) -> Result<PlcResponse, PlcError> {
        request.validate().map_err(plc_error)?;
        let (area, address, count) = request.target();
        let access = if request.is_write() {
            Access::Write
        } else {
            Access::Read
        };
        if let Err(denied) = self.grants.check_plc(&device, access, area, address, count) {
            self.journal.deny(denied.0.clone());
            return Err(PlcError::Denied(denied.0));
        }
        if request.is_write() && crate::state::past(self.act_until) {
            let reason = format!(
                "plc device `{device}`: write refused, this node's hold on the run has ended"
            );
            self.journal.deny(reason.clone());
            return Err(PlcError::Denied(reason));
        }
        if request.is_write() && !self.interlock.allows(crate::interlock::CONFIRM_WAIT).await {
            let reason =
                format!("plc device `{device}`: write refused, the safety interlock is engaged");
            self.journal.deny(reason.clone());
            return Err(PlcError::Denied(reason));
        }
        let Some(target) = self.connectors.plc(&device).cloned() else {
            return Err(PlcError::UnknownDevice(device));
        };
        target
            .call(request)
            .await
            .map_err(plc_error)
            .inspect_err(|e| self.errors.record("plc", &device, plc_kind(e)))
    }

    async fn plc_read(
        &mut self,
        device: String,
        area: Area,
        address: u16,
        count: u16,
    ) -> Result<PlcResponse, PlcError> {
        self.plc(
            device,
            PlcRequest::Read {
                area,
                address,
                count,
            },
        )
        .await
    }
}

fn plc_error(e: ConnPlcError) -> PlcError {
    match e {
        ConnPlcError::Timeout => PlcError::Timeout,
        ConnPlcError::Unavailable(m) => PlcError::Unavailable(m),
        ConnPlcError::Exception(m) => PlcError::Exception(m),
        ConnPlcError::InvalidArgument(m) => PlcError::InvalidArgument(m),
    }
}

fn plc_kind(e: &PlcError) -> &'static str {
    match e {
        PlcError::Timeout => "timeout",
        PlcError::Unavailable(_) => "unavailable",
        PlcError::InvalidArgument(_) => "invalid_argument",
        _ => "exception",
    }
}

fn mqtt_kind(e: &MqttError) -> &'static str {
    match e {
        MqttError::Timeout => "timeout",
        MqttError::Unavailable(_) => "unavailable",
        MqttError::InvalidArgument(_) => "invalid_argument",
        _ => "exception",
    }
}

fn registers(r: PlcResponse) -> Result<Vec<u16>, PlcError> {
    match r {
        PlcResponse::Registers(v) => Ok(v),
        other => Err(PlcError::Exception(format!("unexpected answer {other:?}"))),
    }
}

fn bits(r: PlcResponse) -> Result<Vec<bool>, PlcError> {
    match r {
        PlcResponse::Bits(v) => Ok(v),
        other => Err(PlcError::Exception(format!("unexpected answer {other:?}"))),
    }
}

impl plc::Host for TaskState {
    async fn read_holding_registers(
        &mut self,
        device: String,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, PlcError> {
        registers(self.plc_read(device, Area::Holding, address, count).await?)
    }

    async fn read_input_registers(
        &mut self,
        device: String,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, PlcError> {
        registers(self.plc_read(device, Area::Input, address, count).await?)
    }

    async fn read_coils(
        &mut self,
        device: String,
        address: u16,
        count: u16,
    ) -> Result<Vec<bool>, PlcError> {
        bits(self.plc_read(device, Area::Coil, address, count).await?)
    }

    async fn read_discrete_inputs(
        &mut self,
        device: String,
        address: u16,
        count: u16,
    ) -> Result<Vec<bool>, PlcError> {
        bits(
            self.plc_read(device, Area::Discrete, address, count)
                .await?,
        )
    }

    async fn write_registers(
        &mut self,
        device: String,
        address: u16,
        values: Vec<u16>,
    ) -> Result<(), PlcError> {
        self.plc(device, PlcRequest::WriteRegisters { address, values })
            .await
            .map(drop)
    }

    async fn write_coils(
        &mut self,
        device: String,
        address: u16,
        values: Vec<bool>,
    ) -> Result<(), PlcError> {
        self.plc(device, PlcRequest::WriteCoils { address, values })
            .await
            .map(drop)
    }
}

fn mqtt_error(e: ConnMqttError) -> MqttError {
    match e {
        ConnMqttError::Timeout => MqttError::Timeout,
        ConnMqttError::Unavailable(m) => MqttError::Unavailable(m),
        ConnMqttError::InvalidArgument(m) => MqttError::InvalidArgument(m),
    }
}

impl mqtt::Host for TaskState {
    async fn publish(
        &mut self,
        connection: String,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
        retain: bool,
    ) -> Result<(), MqttError> {
        baton_grant::mqtt::validate_topic(&topic)
            .map_err(|e| MqttError::InvalidArgument(format!("topic `{topic}`: {e}")))?;
        if let Err(denied) = self.grants.check_publish(&connection, &topic) {
            self.journal.deny(denied.0.clone());
            return Err(MqttError::Denied(denied.0));
        }
        if crate::state::past(self.act_until) {
            let reason = format!(
                "mqtt connection `{connection}`: publish to `{topic}` refused, this node's hold on the run has ended"
            );
            self.journal.deny(reason.clone());
            return Err(MqttError::Denied(reason));
        }
        if (self.connectors.mqtt_interlocked(&connection)
            || self.grants.publish_interlocked(&connection, &topic))
            && !self.interlock.allows(crate::interlock::CONFIRM_WAIT).await
        {
            let reason = format!(
                "mqtt connection `{connection}`: publish to `{topic}` refused, the safety interlock is engaged"
            );
            self.journal.deny(reason.clone());
            return Err(MqttError::Denied(reason));
        }
        let Some(client) = self.connectors.mqtt(&connection).cloned() else {
            return Err(MqttError::UnknownConnection(connection));
        };
        let qos = match qos {
            Qos::AtMostOnce => conn_mqtt::QoS::AtMostOnce,
            Qos::AtLeastOnce => conn_mqtt::QoS::AtLeastOnce,
            Qos::ExactlyOnce => conn_mqtt::QoS::ExactlyOnce,
        };
        client
            .publish(topic, payload, qos, retain)
            .await
            .map_err(mqtt_error)
            .inspect_err(|e| self.errors.record("mqtt", &connection, mqtt_kind(e)))
    }

    async fn receive(
        &mut self,
        connection: String,
        filter: String,
        timeout_ms: u32,
    ) -> Result<Option<Message>, MqttError> {
        let filter: TopicFilter = filter
            .parse()
            .map_err(|e: baton_grant::ParseError| MqttError::InvalidArgument(e.to_string()))?;
        if let Err(denied) = self.grants.check_subscribe(&connection, &filter) {
            self.journal.deny(denied.0.clone());
            return Err(MqttError::Denied(denied.0));
        }
        let Some(client) = self.connectors.mqtt(&connection).cloned() else {
            return Err(MqttError::UnknownConnection(connection));
        };
        let message = client
            .receive(filter, Duration::from_millis(u64::from(timeout_ms)))
            .await
            .map_err(mqtt_error)
            .inspect_err(|e| self.errors.record("mqtt", &connection, mqtt_kind(e)))?;
        Ok(message.map(|m| Message {
            topic: m.topic,
            payload: m.payload,
            retain: m.retain,
        }))
    }
}
