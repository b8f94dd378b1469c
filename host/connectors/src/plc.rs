//! PLC access: the request model every device speaks, and its errors.

mod modbus;

pub use baton_grant::plc::Area;
pub use modbus::ModbusDevice;

use crate::BoxFuture;
use crate::health::Health;

/// Most registers one Modbus read may return (protocol limit).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most coils or discrete inputs one Modbus read may return.
pub const MAX_READ_BITS: u16 = 2000;
/// Most registers one Modbus write may carry.
pub const MAX_WRITE_REGISTERS: usize = 123;
/// Most coils one Modbus write may carry.
pub const MAX_WRITE_COILS: usize = 1968;

/// One request to a PLC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlcRequest {
    /// Read `count` values of `area` starting at `address`.
    Read {
        /// Which data area.
        area: Area,
        /// First address.
        address: u16,
        /// How many values.
        count: u16,
    },
    /// Write holding registers starting at `address`.
    WriteRegisters {
        /// First address.
        address: u16,
        /// Values to write.
        values: Vec<u16>,
    },
    /// Write coils starting at `address`.
    WriteCoils {
        /// First address.
        address: u16,
        /// Values to write.
        values: Vec<bool>,
    },
}

impl PlcRequest {
    /// Check protocol limits before anything is sent or granted.
    pub fn validate(&self) -> Result<(), PlcError> {
        let bad = |m: String| Err(PlcError::InvalidArgument(m));
        match self {
            PlcRequest::Read { area, count, .. } => {
                let max = match area {
                    Area::Holding | Area::Input => MAX_READ_REGISTERS,
                    Area::Coil | Area::Discrete => MAX_READ_BITS,
                };
                if *count == 0 || *count > max {
                    return bad(format!(
                        "a {area} read must ask for 1 to {max} values, not {count}"
                    ));
                }
            }
            PlcRequest::WriteRegisters { values, .. } => {
                if values.is_empty() || values.len() > MAX_WRITE_REGISTERS {
                    return bad(format!(
                        "a register write must carry 1 to {MAX_WRITE_REGISTERS} values, not {}",
                        values.len()
                    ));
                }
            }
            PlcRequest::WriteCoils { values, .. } => {
                if values.is_empty() || values.len() > MAX_WRITE_COILS {
                    return bad(format!(
                        "a coil write must carry 1 to {MAX_WRITE_COILS} values, not {}",
                        values.len()
                    ));
                }
            }
        }
        let (first, count) = self.span();
        if u32::from(first) + u32::from(count) > 65_536 {
            return bad(format!(
                "{count} values from address {first} run past address 65535"
            ));
        }
        Ok(())
    }

    /// The area, first address and number of addresses the request touches.
    pub fn target(&self) -> (Area, u16, u16) {
        let (address, count) = self.span();
        let area = match self {
            PlcRequest::Read { area, .. } => *area,
            PlcRequest::WriteRegisters { .. } => Area::Holding,
            PlcRequest::WriteCoils { .. } => Area::Coil,
        };
        (area, address, count)
    }

    /// Whether the request writes.
    pub fn is_write(&self) -> bool {
        !matches!(self, PlcRequest::Read { .. })
    }

    fn span(&self) -> (u16, u16) {
        match self {
            PlcRequest::Read { address, count, .. } => (*address, *count),
            PlcRequest::WriteRegisters { address, values } => (*address, clamp(values.len())),
            PlcRequest::WriteCoils { address, values } => (*address, clamp(values.len())),
        }
    }
}

fn clamp(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlcResponse {
    /// Register values.
    Registers(Vec<u16>),
    /// Coil or discrete input values.
    Bits(Vec<bool>),
    /// A write was acknowledged.
    Written,
}

/// Why a PLC request failed. Mirrors the WIT `plc-error` variants a device can cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlcError {
    /// The device did not answer within its request timeout.
    #[error("the device did not answer in time")]
    Timeout,
    /// The device cannot be reached right now.
    #[error("device unavailable: {0}")]
    Unavailable(String),
    /// The device answered with a Modbus exception.
    #[error("device answered with an exception: {0}")]
    Exception(String),
    /// The request breaks a protocol limit.
    #[error("invalid request: {0}")]
    InvalidArgument(String),
}

/// A PLC the runtime can send requests to.
///
/// Implementations serialise access to the device themselves: a Modbus TCP
/// device answers one request at a time on a connection.
pub trait PlcDevice: Send + Sync {
    /// Send one request and wait for its answer.
    fn call(&self, request: PlcRequest) -> BoxFuture<'_, Result<PlcResponse, PlcError>>;

    /// How the device is doing, for operators. Must not wait on a request
    /// in flight. Implementations that do not track it say `unknown`.
    fn health(&self) -> Health {
        Health::unknown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_limits_are_enforced() {
        let read = |area, count| PlcRequest::Read {
            area,
            address: 0,
            count,
        };
        assert!(read(Area::Holding, 125).validate().is_ok());
        assert!(read(Area::Holding, 126).validate().is_err());
        assert!(read(Area::Coil, 2000).validate().is_ok());
        assert!(read(Area::Input, 0).validate().is_err());
        let w = PlcRequest::WriteRegisters {
            address: 0,
            values: vec![0; 124],
        };
        assert!(
            matches!(w.validate(), Err(PlcError::InvalidArgument(m)) if m.contains("1 to 123"))
        );
        let w = PlcRequest::WriteCoils {
            address: 65535,
            values: vec![true; 2],
        };
        assert!(w.validate().is_err());
    }

    #[test]
    fn target_names_area_and_span() {
        let w = PlcRequest::WriteCoils {
            address: 3,
            values: vec![true, false],
        };
        assert_eq!(w.target(), (Area::Coil, 3, 2));
        assert!(w.is_write());
    }
}
