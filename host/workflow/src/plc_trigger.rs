//! The PLC-change trigger: a run starts when a coil or discrete input rises
//! or falls, or when a register rises above a threshold (with hysteresis).
//!
//! ```yaml
//! triggers:
//!   - plc: { device: oven-1, coil: 5, edge: rising }
//!   - plc: { device: oven-1, holding: 10, above: 180, below: 170, interval: 200ms, debounce: 300ms }
//! ```
//!
//! The engine polls the address every `interval`. A new state must hold for
//! `debounce` before it counts, so a signal flapping faster than that starts
//! nothing.

use std::fmt;
use std::time::Duration;

use baton_grant::plc::Area;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;

/// How often the address is read when `interval` is not given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);
/// The shortest `interval`: faster polling would load the device, which
/// answers tasks on the same connection, for no gain on a PLC's scan cycle.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// The longest `interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// The longest `debounce`.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(3600);

/// Which change of a bit starts a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// From off to on.
    #[default]
    Rising,
    /// From on to off.
    Falling,
    /// Either.
    Both,
}

impl Edge {
    /// The name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Edge::Rising => "rising",
            Edge::Falling => "falling",
            Edge::Both => "both",
        }
    }

    /// Whether a change to `on` (a rise) or to off (a fall) starts a run.
    pub fn fires(self, on: bool) -> bool {
        match self {
            Edge::Rising => on,
            Edge::Falling => !on,
            Edge::Both => true,
        }
    }
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PLC trigger as written: a device, exactly one address, and the
/// condition on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlcTrigger {
    /// PLC connection name from the host configuration (`[plc.NAME]`).
    pub device: String,
    /// A coil address: a bit, watched for an `edge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coil: Option<u16>,
    /// A discrete input address: a bit, watched for an `edge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete: Option<u16>,
    /// A holding register address, watched against `above` and `below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holding: Option<u16>,
    /// An input register address, watched against `above` and `below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<u16>,
    /// For a bit: which change starts a run (default `rising`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<Edge>,
    /// For a register: a run starts when the value rises above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<u16>,
    /// For a register: the trigger re-arms only once the value is back
    /// below this (default: `above`, so no hysteresis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<u16>,
    /// How often the address is read (default 200ms, at least 50ms).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub interval: Option<Duration>,
    /// How long a new state must hold before it counts (default 0).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub debounce: Option<Duration>,
}

/// What a valid PLC trigger watches, resolved from the fields as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A coil or discrete input, and which change starts a run.
    Bit(Edge),
    /// A register, with hysteresis: a run starts when the value goes above
    /// `above`; the next may start only after it has gone below `below`.
    Threshold {
        /// The value must rise above this to start a run.
        above: u16,
        /// The value must fall below this to re-arm.
        below: u16,
    },
}

impl PlcTrigger {
    /// The data areas given, with their addresses, in a fixed order.
    fn addresses(&self) -> impl Iterator<Item = (Area, u16)> + '_ {
        [
            (Area::Coil, self.coil),
            (Area::Discrete, self.discrete),
            (Area::Holding, self.holding),
            (Area::Input, self.input),
        ]
        .into_iter()
        .filter_map(|(area, address)| address.map(|a| (area, a)))
    }

    /// The area and address watched; `None` unless exactly one is given.
    pub fn target(&self) -> Option<(Area, u16)> {
        let mut all = self.addresses();
        let first = all.next();
        match all.next() {
            Some(_) => None,
            None => first,
        }
    }

    /// The condition watched; `None` for a trigger validation refuses.
    pub fn watch(&self) -> Option<Watch> {
        match self.target()?.0 {
            Area::Coil | Area::Discrete => Some(Watch::Bit(self.edge.unwrap_or_default())),
            Area::Holding | Area::Input => {
                let above = self.above?;
                let below = self.below.unwrap_or(above);
                (below <= above).then_some(Watch::Threshold { above, below })
            }
        }
    }

    /// How often the address is read.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(DEFAULT_INTERVAL)
    }

    /// How long a new state must hold before it counts.
    pub fn debounce(&self) -> Duration {
        self.debounce.unwrap_or_default()
    }

    /// What identifies this trigger's stored state within its workflow:
    /// the device, the address and the condition, e.g.
    /// `oven-1/coil:5/rising` or `oven-1/holding:10/above:180/below:170`.
    /// Changing any of them starts from a fresh baseline; the interval and
    /// debounce are not part of it.
    pub fn key(&self) -> String {
        let target = match self.target() {
            Some((area, address)) => format!("{area}:{address}"),
            None => "?".into(),
        };
        let watch = match self.watch() {
            Some(Watch::Bit(edge)) => edge.to_string(),
            Some(Watch::Threshold { above, below }) => format!("above:{above}/below:{below}"),
            None => "?".into(),
        };
        format!("{}/{target}/{watch}", self.device)
    }

    /// Every problem with this trigger, as `(field under it, message)`.
    pub fn problems(&self, catalog: &dyn Catalog) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !catalog.has_plc(&self.device) {
            out.push((
                "device",
                format!("no PLC device `{}` is configured on the host", self.device),
            ));
        }
        let areas: Vec<Area> = self.addresses().map(|(area, _)| area).collect();
        let bit = match areas.as_slice() {
            [area] => Some(matches!(area, Area::Coil | Area::Discrete)),
            [] => {
                out.push((
                    "plc",
                    "name exactly one address: `coil`, `discrete`, `holding` or `input`".into(),
                ));
                None
            }
            many => {
                let names: Vec<&str> = many.iter().map(|a| a.as_str()).collect();
                out.push((
                    "plc",
                    format!(
                        "name exactly one address, not {}: `coil`, `discrete`, `holding` or `input`",
                        names.join(" and ")
                    ),
                ));
                None
            }
        };
        match bit {
            Some(true) => {
                for (field, given) in [("above", self.above), ("below", self.below)] {
                    if given.is_some() {
                        out.push((
                            field,
                            "applies to a register (`holding` or `input`); a bit has an `edge`"
                                .into(),
                        ));
                    }
                }
            }
            Some(false) => {
                if self.edge.is_some() {
                    out.push((
                        "edge",
                        "applies to a bit (`coil` or `discrete`); a register has `above` and `below`"
                            .into(),
                    ));
                }
                match (self.above, self.below) {
                    (None, _) => out.push((
                        "above",
                        "a register trigger needs `above`: a run starts when the value rises above it"
                            .into(),
                    )),
                    (Some(above), Some(below)) if below > above => out.push((
                        "below",
                        format!(
                            "must be at most `above` ({above}), not {below}: the trigger re-arms once the value is back below it"
                        ),
                    )),
                    _ => {}
                }
            }
            None => {}
        }
        if let Some(interval) = self.interval
            && !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval)
        {
            out.push((
                "interval",
                format!(
                    "must be from {}ms to {}h, not {}",
                    MIN_INTERVAL.as_millis(),
                    MAX_INTERVAL.as_secs() / 3600,
                    humantime_serde::re::humantime::format_duration(interval)
                ),
            ));
        }
        if let Some(debounce) = self.debounce
            && debounce > MAX_DEBOUNCE
        {
            out.push((
                "debounce",
                format!("must be at most {}h", MAX_DEBOUNCE.as_secs() / 3600),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> PlcTrigger {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn a_bit_defaults_to_rising_and_a_register_to_no_hysteresis() {
        let coil = parse("{ device: oven-1, coil: 5 }");
        assert_eq!(coil.target(), Some((Area::Coil, 5)));
        assert_eq!(coil.watch(), Some(Watch::Bit(Edge::Rising)));
        assert_eq!(coil.interval(), DEFAULT_INTERVAL);
        assert_eq!(coil.debounce(), Duration::ZERO);
        assert_eq!(coil.key(), "oven-1/coil:5/rising");

        let reg = parse("{ device: oven-1, input: 0, above: 180, interval: 1s, debounce: 300ms }");
        assert_eq!(
            reg.watch(),
            Some(Watch::Threshold {
                above: 180,
                below: 180
            })
        );
        assert_eq!(reg.interval(), Duration::from_secs(1));
        assert_eq!(reg.debounce(), Duration::from_millis(300));
        assert_eq!(reg.key(), "oven-1/input:0/above:180/below:180");
    }

    #[test]
    fn edges_fire_on_their_direction() {
        assert!(Edge::Rising.fires(true) && !Edge::Rising.fires(false));
        assert!(Edge::Falling.fires(false) && !Edge::Falling.fires(true));
        assert!(Edge::Both.fires(true) && Edge::Both.fires(false));
    }

    #[test]
    fn two_addresses_have_no_target() {
        let t = parse("{ device: oven-1, coil: 5, holding: 3 }");
        assert_eq!(t.target(), None);
        assert_eq!(t.watch(), None);
    }

    /// A host with PLC `oven-1` and MQTT `plant`, and no plugins.
    struct Host;

    impl Catalog for Host {
        fn plugin(&self, _: &str, _: u64) -> Option<crate::PluginMeta> {
            None
        }
        fn has_plc(&self, device: &str) -> bool {
            device == "oven-1"
        }
        fn has_mqtt(&self, connection: &str) -> bool {
            connection == "plant"
        }
    }

    /// The problems of a workflow with these triggers, as `field: message`.
    fn problems(triggers: &str) -> Vec<String> {
        let yaml = format!("name: t\ntriggers:\n{triggers}\nnodes:\n  a: {{ type: approval }}\n");
        let wf = crate::Workflow::parse(&yaml).unwrap();
        match crate::validate(&wf, &Host) {
            Ok(()) => Vec::new(),
            Err(p) => {
                p.0.iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect()
            }
        }
    }

    #[test]
    fn good_triggers_pass() {
        assert_eq!(
            problems(
                "  - plc: { device: oven-1, coil: 5, edge: both }\n  \
                 - plc: { device: oven-1, discrete: 0, edge: falling, interval: 50ms, debounce: 1s }\n  \
                 - plc: { device: oven-1, holding: 10, above: 180, below: 170 }\n  \
                 - plc: { device: oven-1, input: 0, above: 100, below: 100 }"
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_mistake_names_its_field() {
        let one = |t: &str, expected: &str| {
            let found = problems(&format!("  - plc: {t}"));
            assert_eq!(found.len(), 1, "{t}: {found:#?}");
            assert!(found[0].starts_with(expected), "{t}: {}", found[0]);
        };
        one(
            "{ device: oven-2, coil: 5 }",
            "triggers[0].plc.device: no PLC device `oven-2`",
        );
        one(
            "{ device: oven-1 }",
            "triggers[0].plc: name exactly one address",
        );
        one(
            "{ device: oven-1, coil: 5, holding: 3, above: 1 }",
            "triggers[0].plc: name exactly one address, not coil and holding",
        );
        one(
            "{ device: oven-1, coil: 5, above: 3 }",
            "triggers[0].plc.above: applies to a register",
        );
        one(
            "{ device: oven-1, holding: 5, above: 3, edge: rising }",
            "triggers[0].plc.edge: applies to a bit",
        );
        one(
            "{ device: oven-1, input: 5, below: 3 }",
            "triggers[0].plc.above: a register trigger needs `above`",
        );
        one(
            "{ device: oven-1, holding: 10, above: 170, below: 180 }",
            "triggers[0].plc.below: must be at most `above` (170), not 180",
        );
        one(
            "{ device: oven-1, coil: 5, interval: 10ms }",
            "triggers[0].plc.interval: must be from 50ms to 1h, not 10ms",
        );
        one(
            "{ device: oven-1, coil: 5, debounce: 2h }",
            "triggers[0].plc.debounce: must be at most 1h",
        );
    }

    #[test]
    fn a_trigger_is_one_kind() {
        assert_eq!(
            problems("  - { cron: \"* * * * *\", plc: { device: oven-1, coil: 5 } }"),
            vec!["triggers[0]: a trigger is exactly one of `mqtt`, `cron` or `plc`"]
        );
    }

    #[test]
    fn unknown_fields_and_edges_are_refused_when_parsed() {
        let parse = |t: &str| {
            serde_yaml_ng::from_str::<PlcTrigger>(t)
                .unwrap_err()
                .to_string()
        };
        assert!(parse("{ device: oven-1, coil: 5, edge: up }").contains("rising"));
        assert!(parse("{ device: oven-1, coil: 5, treshold: 3 }").contains("treshold"));
    }

    #[test]
    fn round_trips_as_written() {
        let t = parse("{ device: oven-1, holding: 10, above: 180, below: 170, interval: 200ms }");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"device": "oven-1", "holding": 10, "above": 180, "below": 170, "interval": "200ms"})
        );
        assert_eq!(serde_json::from_value::<PlcTrigger>(json).unwrap(), t);
    }
}
