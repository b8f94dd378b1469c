//! `Grants` from YAML and JSON, then the PLC, MQTT and HTTP checks the runtime
//! makes before every host call.
//!
//! Input: the grants text, then optionally NUL-separated fields: PLC device,
//! MQTT connection, topic, topic filter, HTTP authority, path and query, and
//! bytes that pick the PLC area, access, address, count and the scheme. A
//! plain grants document is a valid input on its own.
#![no_main]

use baton_grant::Grants;
use baton_grant::http::Target;
use baton_grant::mqtt::{TopicFilter, validate_topic};
use baton_grant::plc::{Access, Area};
use libfuzzer_sys::fuzz_target;

const AREAS: [Area; 4] = [Area::Holding, Area::Input, Area::Coil, Area::Discrete];

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let text = fields.next().unwrap_or_default();
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (device, connection, topic, filter, authority, path) =
        (next(), next(), next(), next(), next(), next());
    let nums = next().into_bytes();
    let byte = |i: usize| nums.get(i).copied().unwrap_or(0);
    let word = |i: usize| u16::from_le_bytes([byte(i), byte(i + 1)]);

    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let mut parsed = Vec::new();
    if let Ok(g) = serde_json::from_str::<Grants>(text) {
        parsed.push(g);
    }
    if let Ok(g) = serde_yaml_ng::from_str::<Grants>(text) {
        parsed.push(g);
    }
    if parsed.is_empty() {
        parsed.push(Grants::default());
    }

    let filter = filter.parse::<TopicFilter>().ok();
    let target = Target::new(byte(5) & 1 == 1, &authority, &path);
    if let Ok(t) = &target {
        // The canonical form is what is sent: canonicalising it again must
        // give the same target, or the check and the request could differ.
        let again = Target::new(t.https(), &t.host_header(), &t.request_target());
        assert_eq!(again.as_ref(), Ok(t), "{t}");
    }

    for grants in &parsed {
        let _ = grants.problems();
        let _ = grants.connections();
        // Serialising and parsing again gives the same grants.
        if let Ok(json) = serde_json::to_string(grants) {
            let back: Grants = serde_json::from_str(&json).expect("grants round-trip");
            assert_eq!(&back, grants, "{json}");
        }

        let access = if byte(4) & 1 == 1 { Access::Write } else { Access::Read };
        let area = AREAS[usize::from(byte(4) >> 1) % 4];
        let _ = grants.check_plc(&device, access, area, word(0), word(2));
        // Every granted range is itself allowed.
        for g in &grants.plc {
            for (access, ranges) in [(Access::Read, &g.read), (Access::Write, &g.write)] {
                for r in ranges {
                    let Ok(count) = u16::try_from(u32::from(r.last) - u32::from(r.first) + 1)
                    else {
                        continue;
                    };
                    assert!(
                        grants
                            .check_plc(&g.device, access, r.area, r.first, count)
                            .is_ok(),
                        "{access} {r} on {} not allowed by its own grant",
                        g.device
                    );
                }
            }
        }

        let _ = grants.check_publish(&connection, &topic);
        if let Some(f) = &filter {
            let _ = grants.check_subscribe(&connection, f);
        }
        for g in &grants.mqtt {
            for f in &g.subscribe {
                assert!(grants.check_subscribe(&g.connection, f).is_ok(), "{f}");
            }
            if validate_topic(&topic).is_ok() {
                for f in &g.publish {
                    if f.matches(&topic) {
                        assert!(grants.check_publish(&g.connection, &topic).is_ok(), "{f}");
                    }
                    // A filter covering another matches everything it does.
                    if let Some(narrow) = &filter {
                        if f.covers(narrow) && narrow.matches(&topic) {
                            assert!(f.matches(&topic), "{f} covers {narrow} but not {topic}");
                        }
                    }
                }
            }
        }

        if let Ok(t) = &target {
            let _ = grants.check_http(t);
        }
    }
});
