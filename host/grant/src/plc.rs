//! PLC grants: a device name plus register and coil ranges, split into read and write.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Denied, ParseError};

/// One of the four Modbus data areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// Holding registers: 16-bit, read and write.
    Holding,
    /// Input registers: 16-bit, read only.
    Input,
    /// Coils: single bits, read and write.
    Coil,
    /// Discrete inputs: single bits, read only.
    Discrete,
}

impl Area {
    /// The name used in grants and messages (`holding`, `input`, `coil`, `discrete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Holding => "holding",
            Area::Input => "input",
            Area::Coil => "coil",
            Area::Discrete => "discrete",
        }
    }

    /// Whether the Modbus protocol allows writing this area at all.
    pub fn is_writable(self) -> bool {
        matches!(self, Area::Holding | Area::Coil)
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Area {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "holding" => Ok(Area::Holding),
            "input" => Ok(Area::Input),
            "coil" => Ok(Area::Coil),
            "discrete" => Ok(Area::Discrete),
            other => Err(format!(
                "unknown area `{other}`, expected holding, input, coil or discrete"
            )),
        }
    }
}

/// Whether a call reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading registers, coils or inputs.
    Read,
    /// Writing registers or coils.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// An inclusive address range in one area, written `holding:0-99` or `coil:3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressRange {
    /// The data area.
    pub area: Area,
    /// First address in the range.
    pub first: u16,
    /// Last address in the range (inclusive).
    pub last: u16,
}

impl AddressRange {
    /// The range a call touches: `count` addresses from `address`.
    /// `None` if the range is empty or runs past address 65535.
    pub fn of_call(area: Area, address: u16, count: u16) -> Option<Self> {
        let last = address.checked_add(count.checked_sub(1)?)?;
        Some(Self {
            area,
            first: address,
            last,
        })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}:{}", self.area, self.first)
        } else {
            write!(f, "{}:{}-{}", self.area, self.first, self.last)
        }
    }
}

impl FromStr for AddressRange {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseError::new(s, reason);
        let (area, range) = s.split_once(':').ok_or_else(|| {
            err("expected `AREA:ADDRESS` or `AREA:FIRST-LAST`, e.g. `holding:0-99`".into())
        })?;
        let area: Area = area.trim().parse().map_err(err)?;
        let number = |n: &str| {
            n.trim()
                .parse::<u16>()
                .map_err(|_| err(format!("`{n}` is not an address between 0 and 65535")))
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let a = number(range)?;
                (a, a)
            }
        };
        if first > last {
            return Err(err(format!("range starts at {first} but ends at {last}")));
        }
        Ok(Self { area, first, last })
    }
}

impl TryFrom<String> for AddressRange {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AddressRange> for String {
    fn from(r: AddressRange) -> String {
        r.to_string()
    }
}

/// What one node may do on one PLC device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlcGrant {
    /// The device name, as configured under `[plc.<name>]` on the host.
    pub device: String,
    /// Ranges the task may read.
    #[serde(default)]
    pub read: Vec<AddressRange>,
    /// Ranges the task may write. Only holding registers and coils are writable.
    #[serde(default)]
    pub write: Vec<AddressRange>,
}

impl PlcGrant {
    /// Problems with this grant that parsing alone does not catch.
    pub fn problems(&self) -> Vec<String> {
        self.write
            .iter()
            .filter(|r| !r.area.is_writable())
            .map(|r| format!("`{r}` cannot be granted for write: {} is read-only", r.area))
            .collect()
    }

    fn ranges(&self, access: Access) -> &[AddressRange] {
        match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        }
    }
}

/// Check a PLC call against a set of grants.
///
/// The call is allowed when the union of the granted ranges for this device,
/// area and access covers every address it touches.
pub fn check(
    grants: &[PlcGrant],
    device: &str,
    access: Access,
    area: Area,
    address: u16,
    count: u16,
) -> Result<(), Denied> {
    let Some(wanted) = AddressRange::of_call(area, address, count) else {
        return Err(Denied(format!(
            "plc device `{device}`: {count} addresses from {area}:{address} is not a valid range"
        )));
    };
    let mut granted: Vec<AddressRange> = grants
        .iter()
        .filter(|g| g.device == device)
        .flat_map(|g| g.ranges(access).iter().copied())
        .filter(|r| r.area == area)
        .collect();
    if covers(&mut granted, wanted) {
        return Ok(());
    }
    let have: Vec<String> = grants
        .iter()
        .filter(|g| g.device == device)
        .flat_map(|g| g.ranges(access).iter().map(ToString::to_string))
        .collect();
    let have = if have.is_empty() {
        "nothing".to_string()
    } else {
        have.join(", ")
    };
    Err(Denied(format!(
        "plc device `{device}`: {access} of {wanted} is not granted (granted {access}: {have})"
    )))
}

/// Whether the union of `ranges` (all in `wanted.area`) covers `wanted`.
fn covers(ranges: &mut [AddressRange], wanted: AddressRange) -> bool {
    ranges.sort_by_key(|r| r.first);
    // `next` is the first address not yet known to be covered.
    let mut next = u32::from(wanted.first);
    for r in ranges.iter() {
        if u32::from(r.first) > next {
            break;
        }
        next = next.max(u32::from(r.last) + 1);
        if next > u32::from(wanted.last) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(read: &[&str], write: &[&str]) -> Vec<PlcGrant> {
        vec![PlcGrant {
            device: "oven-1".into(),
            read: read.iter().map(|s| s.parse().unwrap()).collect(),
            write: write.iter().map(|s| s.parse().unwrap()).collect(),
        }]
    }

    #[test]
    fn parses_and_prints_ranges() {
        let r: AddressRange = "holding:0-99".parse().unwrap();
        assert_eq!((r.area, r.first, r.last), (Area::Holding, 0, 99));
        assert_eq!(r.to_string(), "holding:0-99");
        assert_eq!(
            "coil:3".parse::<AddressRange>().unwrap().to_string(),
            "coil:3"
        );
    }

    #[test]
    fn rejects_malformed_ranges_with_reasons() {
        for (input, reason) in [
            ("holding", "expected `AREA:ADDRESS`"),
            ("register:1", "unknown area `register`"),
            ("coil:70000", "not an address"),
            ("coil:9-3", "starts at 9 but ends at 3"),
        ] {
            let e = input.parse::<AddressRange>().unwrap_err();
            assert!(e.reason.contains(reason), "{input}: {e}");
        }
    }

    #[test]
    fn read_inside_grant_is_allowed() {
        let g = grant(&["holding:0-99"], &[]);
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 10, 5).is_ok());
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 95, 5).is_ok());
    }

    #[test]
    fn read_crossing_the_end_of_a_grant_is_denied() {
        let g = grant(&["holding:0-99"], &[]);
        let e = check(&g, "oven-1", Access::Read, Area::Holding, 96, 5).unwrap_err();
        assert!(e.0.contains("read of holding:96-100 is not granted"), "{e}");
    }

    #[test]
    fn adjacent_ranges_combine() {
        let g = grant(&["holding:0-9", "holding:10-19", "holding:30-40"], &[]);
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 5, 15).is_ok());
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 5, 16).is_err());
    }

    #[test]
    fn read_grant_does_not_allow_write() {
        let g = grant(&["coil:0-15"], &["coil:3"]);
        assert!(check(&g, "oven-1", Access::Write, Area::Coil, 3, 1).is_ok());
        assert!(check(&g, "oven-1", Access::Write, Area::Coil, 4, 1).is_err());
        assert!(check(&g, "oven-1", Access::Read, Area::Coil, 4, 1).is_ok());
    }

    #[test]
    fn other_area_and_other_device_are_denied() {
        let g = grant(&["holding:0-99"], &[]);
        assert!(check(&g, "oven-1", Access::Read, Area::Input, 0, 1).is_err());
        let e = check(&g, "oven-2", Access::Read, Area::Holding, 0, 1).unwrap_err();
        assert!(e.0.contains("granted read: nothing"), "{e}");
    }

    #[test]
    fn zero_count_and_overflow_are_denied() {
        let g = grant(&["holding:0-65535"], &[]);
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 0, 0).is_err());
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 65535, 2).is_err());
        assert!(check(&g, "oven-1", Access::Read, Area::Holding, 65535, 1).is_ok());
    }

    #[test]
    fn write_grant_on_read_only_area_is_a_problem() {
        let g = grant(&[], &["input:0-3"]);
        assert_eq!(g[0].problems().len(), 1);
        assert!(g[0].problems()[0].contains("read-only"));
    }
}
