//! A small oven model behind a Modbus register map.
//!
//! | area     | address | meaning                                 |
//! |----------|---------|-----------------------------------------|
//! | holding  | 10      | oven temperature, °C                    |
//! | holding  | 11      | temperature setpoint, °C                |
//! | input    | 0       | oven temperature, °C (read-only mirror) |
//! | coil     | 3       | heater on                               |
//! | discrete | 0       | door closed                             |
//!
//! Each tick the oven warms by [`HEAT_PER_TICK`] while the heater is on, and
//! cools by one degree towards [`AMBIENT`] while it is off. Every area has
//! [`SIZE`] addresses; anything beyond is an illegal data address.

use std::sync::{Arc, Mutex, MutexGuard};

/// Addresses per data area.
pub const SIZE: usize = 1000;
/// Holding register with the temperature.
pub const TEMPERATURE: u16 = 10;
/// Holding register with the setpoint.
pub const SETPOINT: u16 = 11;
/// Coil that switches the heater.
pub const HEATER: u16 = 3;
/// Discrete input that reports the door closed.
pub const DOOR_CLOSED: u16 = 0;
/// Room temperature, °C.
pub const AMBIENT: u16 = 20;
/// Degrees gained per tick with the heater on.
pub const HEAT_PER_TICK: u16 = 5;
/// Hottest the oven gets, °C.
pub const MAX_TEMPERATURE: u16 = 400;

/// The oven's memory: four Modbus data areas. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Oven {
    memory: Arc<Mutex<Memory>>,
}

/// The four data areas.
pub struct Memory {
    /// Holding registers.
    pub holding: Vec<u16>,
    /// Input registers.
    pub input: Vec<u16>,
    /// Coils.
    pub coils: Vec<bool>,
    /// Discrete inputs.
    pub discrete: Vec<bool>,
}

impl Default for Oven {
    fn default() -> Self {
        Self::new()
    }
}

impl Oven {
    /// A cold oven with the door closed and a setpoint of 180 °C.
    pub fn new() -> Self {
        let mut memory = Memory {
            holding: vec![0; SIZE],
            input: vec![0; SIZE],
            coils: vec![false; SIZE],
            discrete: vec![false; SIZE],
        };
        memory.holding[usize::from(TEMPERATURE)] = AMBIENT;
        memory.holding[usize::from(SETPOINT)] = 180;
        memory.input[0] = AMBIENT;
        memory.discrete[usize::from(DOOR_CLOSED)] = true;
        Self {
            memory: Arc::new(Mutex::new(memory)),
        }
    }

    /// Lock the memory to read or change it directly.
    pub fn memory(&self) -> MutexGuard<'_, Memory> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current temperature, °C.
    pub fn temperature(&self) -> u16 {
        self.memory().holding[usize::from(TEMPERATURE)]
    }

    /// Whether the heater coil is on.
    pub fn heater(&self) -> bool {
        self.memory().coils[usize::from(HEATER)]
    }

    /// Advance the model by one tick.
    pub fn tick(&self) {
        let mut m = self.memory();
        let t = m.holding[usize::from(TEMPERATURE)];
        let t = if m.coils[usize::from(HEATER)] {
            t.saturating_add(HEAT_PER_TICK).min(MAX_TEMPERATURE)
        } else if t > AMBIENT {
            t - 1
        } else {
            t
        };
        m.holding[usize::from(TEMPERATURE)] = t;
        m.input[0] = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heater_warms_and_cooling_stops_at_ambient() {
        let oven = Oven::new();
        oven.tick();
        assert_eq!(oven.temperature(), AMBIENT);
        oven.memory().coils[usize::from(HEATER)] = true;
        oven.tick();
        oven.tick();
        assert_eq!(oven.temperature(), AMBIENT + 2 * HEAT_PER_TICK);
        assert_eq!(oven.memory().input[0], AMBIENT + 2 * HEAT_PER_TICK);
        oven.memory().coils[usize::from(HEATER)] = false;
        oven.tick();
        assert_eq!(oven.temperature(), AMBIENT + 2 * HEAT_PER_TICK - 1);
    }
}
