//! Read and write PLC registers and coils on a device named in the host config.
//!
//! Every call is checked against the node's `plc` grant; outside it the call
//! returns [`PlcError::Denied`]. Addresses are zero-based protocol addresses.

pub use crate::bindings::baton::plugin::plc::PlcError;

#[cfg(target_arch = "wasm32")]
use crate::bindings::baton::plugin::plc as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::plc as host;

/// Read holding registers (function code 3).
pub fn read_holding_registers(
    device: &str,
    address: u16,
    count: u16,
) -> Result<Vec<u16>, PlcError> {
    host::read_holding_registers(device, address, count)
}

/// Read input registers (function code 4).
pub fn read_input_registers(device: &str, address: u16, count: u16) -> Result<Vec<u16>, PlcError> {
    host::read_input_registers(device, address, count)
}

/// Read coils (function code 1).
pub fn read_coils(device: &str, address: u16, count: u16) -> Result<Vec<bool>, PlcError> {
    host::read_coils(device, address, count)
}

/// Read discrete inputs (function code 2).
pub fn read_discrete_inputs(device: &str, address: u16, count: u16) -> Result<Vec<bool>, PlcError> {
    host::read_discrete_inputs(device, address, count)
}

/// Write holding registers (function code 16).
pub fn write_registers(device: &str, address: u16, values: &[u16]) -> Result<(), PlcError> {
    host::write_registers(device, address, values)
}

/// Write coils (function code 15).
pub fn write_coils(device: &str, address: u16, values: &[bool]) -> Result<(), PlcError> {
    host::write_coils(device, address, values)
}

/// A one-line description of a PLC error, for messages and logs.
pub fn describe(error: &PlcError) -> String {
    match error {
        PlcError::Denied(m) => format!("denied: {m}"),
        PlcError::UnknownDevice(d) => format!("unknown device `{d}`"),
        PlcError::Timeout => "the device did not answer in time".into(),
        PlcError::Unavailable(m) => format!("device unavailable: {m}"),
        PlcError::Exception(m) => format!("device exception: {m}"),
        PlcError::InvalidArgument(m) => format!("invalid argument: {m}"),
    }
}

impl From<PlcError> for crate::Error {
    fn from(e: PlcError) -> Self {
        let message = format!("plc: {}", describe(&e));
        match e {
            PlcError::Timeout | PlcError::Unavailable(_) => crate::Error::Retryable(message),
            _ => crate::Error::Fatal(message),
        }
    }
}
