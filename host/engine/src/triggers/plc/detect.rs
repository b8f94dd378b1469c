//! What a PLC trigger makes of each reading: edges, hysteresis and debounce,
//! with no I/O, so that every rule is tested without a device or a clock.
//!
//! A trigger has a *level*: the bit itself, or for a register whether it is
//! above its threshold. A register's level goes up when the value rises
//! above `above`, and down only once it is below `below`. A reading whose
//! level differs from the stable one is *pending*; it becomes the new stable
//! level when every reading for `debounce` has agreed. A reading back at the
//! stable level drops what was pending.

use std::time::{Duration, Instant};

use baton_workflow::plc_trigger::Watch;

/// A settled state: the level and the reading that settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stable {
    /// The bit, or whether the register is above its threshold.
    pub(crate) level: bool,
    /// The reading (a bit as 0 or 1).
    pub(crate) value: u16,
}

/// What one reading (or failed read) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing changed, or a change is still inside its debounce.
    Quiet,
    /// The first good reading without a baseline (nothing stored yet, or the
    /// device is back from an outage): it becomes the baseline and starts
    /// nothing. `changed` says whether the level differs from the one
    /// before the outage (always true when there was none).
    Baseline {
        /// The new baseline.
        stable: Stable,
        /// Whether its level differs from the previous baseline's.
        changed: bool,
    },
    /// The level changed and held for the debounce.
    Changed {
        /// The new stable state.
        to: Stable,
        /// The last reading at the old level.
        previous: u16,
    },
    /// The device could not be read, for the first time since it answered.
    Lost,
}

/// The state of one trigger between readings.
#[derive(Debug, Clone)]
pub(crate) struct Detector {
    watch: Watch,
    debounce: Duration,
    stable: Option<Stable>,
    /// The last reading at the stable level.
    quiet: Option<u16>,
    /// Since when the readings have disagreed with the stable level.
    pending: Option<Instant>,
    /// Set by a failed read; the next good reading is a baseline.
    offline: bool,
    /// The next good reading is a baseline, though the device answered.
    rebase: bool,
}

impl Detector {
    /// A detector whose baseline is `stored` (the state a previous run of
    /// the engine, or another node, settled), or the first reading.
    pub(crate) fn new(watch: Watch, debounce: Duration, stored: Option<Stable>) -> Self {
        Self {
            watch,
            debounce,
            stable: stored,
            quiet: None,
            pending: None,
            offline: false,
            rebase: false,
        }
    }

    /// The current baseline, if there is one.
    #[cfg(test)]
    pub(crate) fn stable(&self) -> Option<Stable> {
        self.stable
    }

    /// The level `value` means, coming from `from`.
    fn level(&self, from: Option<bool>, value: u16) -> bool {
        match self.watch {
            Watch::Bit(_) => value != 0,
            Watch::Threshold { above, below } => match from {
                Some(true) => value >= below,
                _ => value > above,
            },
        }
    }

    /// Make `stable` the baseline and drop anything pending: what the store
    /// says when it disagrees, or the old state again when a change could
    /// not be acted on (it is then seen anew, debounce and all).
    pub(crate) fn adopt(&mut self, stable: Stable) {
        self.stable = Some(stable);
        self.quiet = None;
        self.pending = None;
    }

    /// A good reading at `now`.
    pub(crate) fn read(&mut self, value: u16, now: Instant) -> Step {
        let Some(stable) = self.stable.filter(|_| !self.offline && !self.rebase) else {
            let before = self.stable.map(|s| s.level);
            let level = self.level(before, value);
            let stable = Stable { level, value };
            self.offline = false;
            self.rebase = false;
            self.adopt(stable);
            self.quiet = Some(value);
            return Step::Baseline {
                stable,
                changed: before != Some(level),
            };
        };
        let level = self.level(Some(stable.level), value);
        if level == stable.level {
            self.pending = None;
            self.quiet = Some(value);
            return Step::Quiet;
        }
        let since = *self.pending.get_or_insert(now);
        if now.saturating_duration_since(since) < self.debounce {
            return Step::Quiet;
        }
        let previous = self.quiet.unwrap_or(stable.value);
        let to = Stable { level, value };
        self.adopt(to);
        self.quiet = Some(value);
        Step::Changed { to, previous }
    }

    /// Take the next good reading as a baseline again: a baseline that could
    /// not be stored must not turn into an edge at the next poll.
    pub(crate) fn rebase(&mut self) {
        self.rebase = true;
        self.pending = None;
    }

    /// A failed read. Whatever was pending is dropped, and the next good
    /// reading is a baseline: a device that was away may have restarted, so
    /// its first value says nothing about an edge.
    pub(crate) fn failed(&mut self) -> Step {
        self.pending = None;
        if std::mem::replace(&mut self.offline, true) {
            Step::Quiet
        } else {
            Step::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use baton_workflow::plc_trigger::Edge;

    use super::*;

    const BIT: Watch = Watch::Bit(Edge::Rising);
    const OVEN: Watch = Watch::Threshold {
        above: 180,
        below: 170,
    };

    /// Feed readings taken every 100 ms from `t0`; the steps that are not quiet.
    fn feed(d: &mut Detector, t0: Instant, values: &[u16]) -> Vec<(usize, Step)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i, d.read(v, t0 + Duration::from_millis(100 * i as u64))))
            .filter(|(_, s)| *s != Step::Quiet)
            .collect()
    }

    fn stable(level: bool, value: u16) -> Stable {
        Stable { level, value }
    }

    #[test]
    fn the_first_reading_is_a_baseline_and_then_each_edge_counts_once() {
        let mut d = Detector::new(BIT, Duration::ZERO, None);
        let steps = feed(&mut d, Instant::now(), &[0, 0, 1, 1, 1, 0, 0]);
        assert_eq!(
            steps,
            vec![
                (
                    0,
                    Step::Baseline {
                        stable: stable(false, 0),
                        changed: true
                    }
                ),
                (
                    2,
                    Step::Changed {
                        to: stable(true, 1),
                        previous: 0
                    }
                ),
                (
                    5,
                    Step::Changed {
                        to: stable(false, 0),
                        previous: 1
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_stored_baseline_is_not_an_edge_but_a_change_from_it_is() {
        let mut d = Detector::new(BIT, Duration::ZERO, Some(stable(true, 1)));
        assert_eq!(feed(&mut d, Instant::now(), &[1, 1]), vec![]);
        let mut d = Detector::new(BIT, Duration::ZERO, Some(stable(false, 0)));
        assert_eq!(
            feed(&mut d, Instant::now(), &[1]),
            vec![(
                0,
                Step::Changed {
                    to: stable(true, 1),
                    previous: 0
                }
            )]
        );
    }

    #[test]
    fn a_change_must_hold_for_the_debounce() {
        let mut d = Detector::new(BIT, Duration::from_millis(300), Some(stable(false, 0)));
        let t0 = Instant::now();
        // Flapping every 100-200 ms never holds for 300 ms.
        assert_eq!(feed(&mut d, t0, &[1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0]), vec![]);
        assert_eq!(d.stable(), Some(stable(false, 0)));
        // Held: pending at 2000 ms, still on at 2300 ms.
        let steps = feed(&mut d, t0 + Duration::from_secs(2), &[1, 1, 1, 1, 1]);
        assert_eq!(
            steps,
            vec![(
                3,
                Step::Changed {
                    to: stable(true, 1),
                    previous: 0
                }
            )]
        );
    }

    #[test]
    fn a_register_fires_above_and_rearms_only_below() {
        let mut d = Detector::new(OVEN, Duration::ZERO, None);
        let values = [150, 179, 180, 181, 190, 175, 185, 171, 169, 175, 200];
        let steps = feed(&mut d, Instant::now(), &values);
        assert_eq!(
            steps,
            vec![
                (
                    0,
                    Step::Baseline {
                        stable: stable(false, 150),
                        changed: true
                    }
                ),
                // 180 is not above 180.
                (
                    3,
                    Step::Changed {
                        to: stable(true, 181),
                        previous: 180
                    }
                ),
                // 175 and 171 are still within the hysteresis band.
                (
                    8,
                    Step::Changed {
                        to: stable(false, 169),
                        previous: 171
                    }
                ),
                (
                    10,
                    Step::Changed {
                        to: stable(true, 200),
                        previous: 175
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_register_dipping_below_above_inside_the_debounce_starts_nothing() {
        let mut d = Detector::new(OVEN, Duration::from_millis(200), Some(stable(false, 100)));
        assert_eq!(
            feed(&mut d, Instant::now(), &[185, 186, 179, 185, 179]),
            vec![]
        );
    }

    #[test]
    fn an_outage_is_reported_once_and_its_end_is_a_baseline() {
        let mut d = Detector::new(BIT, Duration::ZERO, Some(stable(false, 0)));
        let t0 = Instant::now();
        assert_eq!(d.failed(), Step::Lost);
        assert_eq!(d.failed(), Step::Quiet, "reported once per outage");
        // Back with the bit set: a baseline, not an edge.
        assert_eq!(
            d.read(1, t0),
            Step::Baseline {
                stable: stable(true, 1),
                changed: true
            }
        );
        assert_eq!(d.read(1, t0 + Duration::from_millis(100)), Step::Quiet);
        assert_eq!(d.failed(), Step::Lost, "a new outage is reported again");
        assert_eq!(
            d.read(1, t0 + Duration::from_millis(200)),
            Step::Baseline {
                stable: stable(true, 1),
                changed: false
            }
        );
    }

    #[test]
    fn an_outage_drops_a_pending_change() {
        let mut d = Detector::new(BIT, Duration::from_millis(200), Some(stable(false, 0)));
        let t0 = Instant::now();
        assert_eq!(d.read(1, t0), Step::Quiet);
        assert_eq!(d.failed(), Step::Lost);
        assert!(matches!(
            d.read(1, t0 + Duration::from_millis(300)),
            Step::Baseline { .. }
        ));
    }

    #[test]
    fn a_register_back_from_an_outage_keeps_its_hysteresis() {
        // Above the threshold before; back inside the band: still above.
        let mut d = Detector::new(OVEN, Duration::ZERO, Some(stable(true, 185)));
        d.failed();
        assert_eq!(
            d.read(175, Instant::now()),
            Step::Baseline {
                stable: stable(true, 175),
                changed: false
            }
        );
    }

    #[test]
    fn a_rebase_makes_the_next_reading_a_baseline() {
        let mut d = Detector::new(BIT, Duration::ZERO, Some(stable(false, 0)));
        d.rebase();
        assert_eq!(
            d.read(1, Instant::now()),
            Step::Baseline {
                stable: stable(true, 1),
                changed: true
            }
        );
        assert_eq!(d.failed(), Step::Lost, "a rebase is not an outage");
    }

    #[test]
    fn adopting_a_state_drops_the_pending_change() {
        let mut d = Detector::new(BIT, Duration::from_millis(200), Some(stable(false, 0)));
        let t0 = Instant::now();
        assert_eq!(d.read(1, t0), Step::Quiet);
        d.adopt(stable(false, 0));
        // The debounce starts again from the next reading.
        assert_eq!(d.read(1, t0 + Duration::from_millis(300)), Step::Quiet);
        assert!(matches!(
            d.read(1, t0 + Duration::from_millis(500)),
            Step::Changed { .. }
        ));
    }
}
