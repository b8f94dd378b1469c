//! The grants of one workflow node.

use serde::{Deserialize, Serialize};

use crate::http::HttpGrant;
use crate::mqtt::{MqttGrant, TopicFilter};
use crate::plc::{Access, Area, PlcGrant};
use crate::{Denied, http, mqtt, plc};

/// Everything one node's task may reach. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// PLC devices and address ranges.
    #[serde(default)]
    pub plc: Vec<PlcGrant>,
    /// MQTT connections and topic filters.
    #[serde(default)]
    pub mqtt: Vec<MqttGrant>,
    /// HTTP endpoint patterns.
    #[serde(default)]
    pub http: Vec<HttpGrant>,
    /// Whether the task gets a private scratch directory, mounted at `/scratch`
    /// and deleted when the attempt ends.
    #[serde(default)]
    pub scratch: bool,
}

impl Grants {
    /// Check a PLC call.
    pub fn check_plc(
        &self,
        device: &str,
        access: Access,
        area: Area,
        address: u16,
        count: u16,
    ) -> Result<(), Denied> {
        plc::check(&self.plc, device, access, area, address, count)
    }

    /// Check an MQTT publish.
    pub fn check_publish(&self, connection: &str, topic: &str) -> Result<(), Denied> {
        mqtt::check_publish(&self.mqtt, connection, topic)
    }

    /// Whether a publish to `topic` on `connection` is granted by an entry
    /// marked `interlocked`, so the safety interlock denies it.
    pub fn publish_interlocked(&self, connection: &str, topic: &str) -> bool {
        self.mqtt.iter().any(|g| {
            g.interlocked
                && g.connection == connection
                && g.publish.iter().any(|f| f.matches(topic))
        })
    }

    /// Whether these grants let a task act on equipment: a PLC write, an
    /// MQTT publish that is interlocked (by its grant, or because
    /// `interlocked_connection` says its connection is), or an interlocked
    /// HTTP grant. Engaging the safety interlock aborts running attempts that
    /// hold such grants.
    pub fn actuates(&self, interlocked_connection: impl Fn(&str) -> bool) -> bool {
        self.plc.iter().any(|g| !g.write.is_empty())
            || self.mqtt.iter().any(|g| {
                !g.publish.is_empty() && (g.interlocked || interlocked_connection(&g.connection))
            })
            || self.http.iter().any(HttpGrant::interlocked)
    }

    /// Whether these grants reach nothing outside the sandbox: no PLC, MQTT
    /// or HTTP entry (a scratch directory is private to the attempt and
    /// deleted when it ends). A task with such grants cannot act on the
    /// world, so running it again changes nothing but its own result.
    pub fn is_pure(&self) -> bool {
        self.plc.is_empty() && self.mqtt.is_empty() && self.http.is_empty()
    }

    /// Check an MQTT subscription.
    pub fn check_subscribe(&self, connection: &str, filter: &TopicFilter) -> Result<(), Denied> {
        mqtt::check_subscribe(&self.mqtt, connection, filter)
    }

    /// Check an HTTP request, in the canonical form that will be sent; on
    /// success returns the grant that allowed it, so that the resolved address
    /// can be checked against it too.
    pub fn check_http(&self, target: &http::Target) -> Result<&HttpGrant, Denied> {
        http::check(&self.http, target)
    }

    /// The interlocked HTTP grant that matches a request, if any: the
    /// runtime refuses such a request while the safety interlock is engaged.
    pub fn http_interlocked(&self, target: &http::Target) -> Option<&HttpGrant> {
        http::interlocked(&self.http, target)
    }

    /// The PLC devices and MQTT connections these grants name, so that a
    /// workflow can be checked against the host's configured connections.
    pub fn connections(&self) -> (Vec<&str>, Vec<&str>) {
        (
            self.plc.iter().map(|g| g.device.as_str()).collect(),
            self.mqtt.iter().map(|g| g.connection.as_str()).collect(),
        )
    }

    /// Problems that parsing alone does not catch, such as a write grant on a
    /// read-only area. Each names the entry at fault.
    pub fn problems(&self) -> Vec<String> {
        self.plc
            .iter()
            .enumerate()
            .flat_map(|(i, g)| {
                g.problems()
                    .into_iter()
                    .map(move |p| format!("plc[{i}]: {p}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example_from_yaml() {
        let yaml = r#"
plc:  [{ device: oven-1, read: ["holding:0-99", "coil:0-15"], write: ["coil:3"] }]
mqtt: [{ connection: plant, publish: ["plant/line1/+/status"], subscribe: ["plant/line1/cmd/#"] }]
http: ["https://mes.local:443/api/*"]
"#;
        let g: Grants = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(
            g.check_plc("oven-1", Access::Write, Area::Coil, 3, 1)
                .is_ok()
        );
        assert!(
            g.check_plc("oven-1", Access::Write, Area::Coil, 2, 1)
                .is_err()
        );
        assert!(g.check_publish("plant", "plant/line1/oven/status").is_ok());
        let target = http::Target::new(true, "mes.local", "/api/batch").unwrap();
        assert!(g.check_http(&target).is_ok());
        assert!(!g.scratch);
        assert!(g.problems().is_empty());
    }

    #[test]
    fn bad_entries_are_named_in_the_error() {
        let e =
            serde_json::from_str::<Grants>(r#"{"plc":[{"device":"d","read":["holding:5-1"]}]}"#)
                .unwrap_err();
        assert!(e.to_string().contains("holding:5-1"), "{e}");
        let e = serde_json::from_str::<Grants>(r#"{"plcs":[]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `plcs`"), "{e}");
    }

    #[test]
    fn what_actuates_and_what_the_interlock_denies() {
        let grants = |yaml: &str| serde_yaml_ng::from_str::<Grants>(yaml).unwrap();
        let read = grants(
            "plc: [{device: oven-1, read: ['holding:0-9']}]\nmqtt: [{connection: plant, subscribe: ['a/#']}]",
        );
        assert!(!read.actuates(|_| true));
        assert!(grants("plc: [{device: oven-1, write: ['coil:3']}]").actuates(|_| false));
        let publish = grants("mqtt: [{connection: plant, publish: ['a/+']}]");
        assert!(!publish.actuates(|_| false));
        assert!(publish.actuates(|c| c == "plant"));
        assert!(!publish.publish_interlocked("plant", "a/b"));
        let marked = grants(
            "mqtt: [{connection: plant, publish: ['a/+'], interlocked: true}, {connection: plant, publish: ['b/#']}]",
        );
        assert!(marked.actuates(|_| false));
        assert!(marked.publish_interlocked("plant", "a/b"));
        assert!(!marked.publish_interlocked("plant", "b/c"));
        assert!(!marked.publish_interlocked("other", "a/b"));
        let http = grants("http: [{url: 'https://mes.local/api/*', interlocked: true}]");
        assert!(http.actuates(|_| false));
        assert!(!grants("http: ['https://mes.local/api/*']").actuates(|_| false));
    }

    #[test]
    fn empty_grants_deny_everything() {
        let g = Grants::default();
        assert!(
            g.check_plc("oven-1", Access::Read, Area::Holding, 0, 1)
                .is_err()
        );
        assert!(g.check_publish("plant", "a").is_err());
        let target = http::Target::new(false, "example.com", "/").unwrap();
        assert!(g.check_http(&target).is_err());
    }
}
