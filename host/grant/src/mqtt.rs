//! MQTT grants: a connection name plus topic filters, split into publish and subscribe.
//!
//! Matching follows MQTT 3.1.1/5 §4.7: `+` matches exactly one level, `#` (only
//! as the last level) matches the parent and any number of levels below, and
//! wildcards in the first level never match topics that start with `$`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Denied, ParseError};

/// Largest topic or filter MQTT allows, in bytes.
const MAX_LEN: usize = 65_535;

/// A validated MQTT topic filter, possibly with wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicFilter(String);

impl TopicFilter {
    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a concrete topic (no wildcards) matches this filter.
    pub fn matches(&self, topic: &str) -> bool {
        if topic.starts_with('$') && matches!(self.0.split('/').next(), Some("+" | "#")) {
            return false;
        }
        let mut filter = self.0.split('/');
        let mut levels = topic.split('/');
        loop {
            match (filter.next(), levels.next()) {
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// Whether every topic matched by `narrower` is also matched by `self`.
    ///
    /// This is how a subscribe request is checked: a task granted
    /// `plant/+/cmd/#` may subscribe to `plant/line1/cmd/#` but not to `plant/#`.
    pub fn covers(&self, narrower: &TopicFilter) -> bool {
        if narrower.0.starts_with('$') && matches!(self.0.split('/').next(), Some("+" | "#")) {
            return false;
        }
        let mut wide = self.0.split('/');
        let mut narrow = narrower.0.split('/');
        loop {
            match (wide.next(), narrow.next()) {
                (Some("#"), _) => return true,
                // `+` stands for one level, but `#` could be many.
                (Some("+"), Some(n)) if n != "#" => {}
                (Some(w), Some(n)) if w == n && w != "+" && w != "#" => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TopicFilter {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        validate(s, true).map_err(|reason| ParseError::new(s, reason))?;
        Ok(Self(s.to_string()))
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TopicFilter> for String {
    fn from(f: TopicFilter) -> String {
        f.0
    }
}

/// Check that `topic` is a valid topic name to publish to (no wildcards).
pub fn validate_topic(topic: &str) -> Result<(), String> {
    validate(topic, false)
}

fn validate(s: &str, wildcards: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("an empty topic is not allowed".into());
    }
    if s.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} bytes"));
    }
    if s.contains('\0') {
        return Err("contains a NUL character".into());
    }
    let levels: Vec<&str> = s.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let has_wildcard = level.contains(['+', '#']);
        if !has_wildcard {
            continue;
        }
        if !wildcards {
            return Err("wildcards `+` and `#` are not allowed in a topic name".into());
        }
        match *level {
            "+" => {}
            "#" if i == levels.len() - 1 => {}
            "#" => return Err("`#` is only allowed as the last level".into()),
            _ => {
                return Err(format!(
                    "wildcard inside level `{level}`; a wildcard must be a whole level"
                ));
            }
        }
    }
    Ok(())
}

/// What one node may do on one MQTT connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttGrant {
    /// The connection name, as configured under `[mqtt.<name>]` on the host.
    pub connection: String,
    /// Filters of the topics the task may publish to.
    #[serde(default)]
    pub publish: Vec<TopicFilter>,
    /// Filters the task may subscribe within.
    #[serde(default)]
    pub subscribe: Vec<TopicFilter>,
    /// Whether these publishes actuate equipment: while the safety
    /// interlock is engaged they are denied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interlocked: bool,
}

/// Check a publish against a set of grants.
pub fn check_publish(grants: &[MqttGrant], connection: &str, topic: &str) -> Result<(), Denied> {
    check(
        grants,
        connection,
        "publish",
        topic,
        |g| &g.publish,
        |f| f.matches(topic),
    )
}

/// Check a subscription against a set of grants.
pub fn check_subscribe(
    grants: &[MqttGrant],
    connection: &str,
    filter: &TopicFilter,
) -> Result<(), Denied> {
    check(
        grants,
        connection,
        "subscribe",
        filter.as_str(),
        |g| &g.subscribe,
        |f| f.covers(filter),
    )
}

fn check(
    grants: &[MqttGrant],
    connection: &str,
    action: &str,
    target: &str,
    filters: impl Fn(&MqttGrant) -> &[TopicFilter],
    allows: impl Fn(&TopicFilter) -> bool,
) -> Result<(), Denied> {
    let granted: Vec<&TopicFilter> = grants
        .iter()
        .filter(|g| g.connection == connection)
        .flat_map(&filters)
        .collect();
    if granted.iter().any(|f| allows(f)) {
        return Ok(());
    }
    let names: Vec<&str> = granted.iter().map(|f| f.as_str()).collect();
    let names = if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    };
    Err(Denied(format!(
        "mqtt connection `{connection}`: {action} to `{target}` is not granted (granted {action}: {names})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> TopicFilter {
        s.parse().unwrap()
    }

    #[test]
    fn single_level_wildcard() {
        assert!(f("plant/+/status").matches("plant/line1/status"));
        assert!(!f("plant/+/status").matches("plant/line1/oven/status"));
        assert!(!f("plant/+/status").matches("plant/status"));
        assert!(f("plant/+").matches("plant/"));
    }

    #[test]
    fn multi_level_wildcard_includes_parent() {
        assert!(f("plant/#").matches("plant"));
        assert!(f("plant/#").matches("plant/a/b/c"));
        assert!(!f("plant/#").matches("plants/a"));
        assert!(f("#").matches("anything/at/all"));
    }

    #[test]
    fn wildcards_do_not_match_dollar_topics() {
        assert!(!f("#").matches("$SYS/broker/uptime"));
        assert!(!f("+/broker").matches("$SYS/broker"));
        assert!(f("$SYS/#").matches("$SYS/broker/uptime"));
    }

    #[test]
    fn exact_filter_matches_only_itself() {
        assert!(f("a/b").matches("a/b"));
        assert!(!f("a/b").matches("a/b/c"));
        assert!(!f("a/b").matches("a"));
    }

    #[test]
    fn covers_narrower_filters_only() {
        assert!(f("plant/+/cmd/#").covers(&f("plant/line1/cmd/#")));
        assert!(f("plant/+/cmd/#").covers(&f("plant/+/cmd/start")));
        assert!(f("plant/#").covers(&f("plant/+/x")));
        assert!(!f("plant/+/cmd/#").covers(&f("plant/#")));
        assert!(!f("plant/line1/cmd").covers(&f("plant/+/cmd")));
        assert!(!f("plant/+").covers(&f("plant/#")));
        assert!(f("a/b").covers(&f("a/b")));
        assert!(!f("#").covers(&f("$SYS/#")));
    }

    #[test]
    fn invalid_filters_are_rejected() {
        for (s, why) in [
            ("", "empty"),
            ("a/#/b", "last level"),
            ("a/b+", "whole level"),
            ("a/\0", "NUL"),
        ] {
            let e = s.parse::<TopicFilter>().unwrap_err();
            assert!(e.reason.contains(why), "{s:?}: {e}");
        }
        assert!(validate_topic("a/+").is_err());
        assert!(validate_topic("a/b").is_ok());
    }

    #[test]
    fn publish_and_subscribe_are_checked_separately() {
        let g = vec![MqttGrant {
            connection: "plant".into(),
            publish: vec![f("plant/line1/+/status")],
            subscribe: vec![f("plant/line1/cmd/#")],
            interlocked: false,
        }];
        assert!(check_publish(&g, "plant", "plant/line1/oven/status").is_ok());
        let e = check_publish(&g, "plant", "plant/line2/oven/status").unwrap_err();
        assert!(e.0.contains("granted publish: plant/line1/+/status"), "{e}");
        assert!(check_publish(&g, "plant", "plant/line1/cmd/start").is_err());
        assert!(check_subscribe(&g, "plant", &f("plant/line1/cmd/start")).is_ok());
        assert!(check_subscribe(&g, "plant", &f("plant/line1/+/status")).is_err());
        assert!(check_publish(&g, "other", "plant/line1/oven/status").is_err());
    }
}
