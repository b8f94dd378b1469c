//! HTTP grants: `scheme://host[:port][/path]` patterns, the canonical request
//! target they are checked against, and the addresses that stay refused after
//! DNS resolution unless a grant names them literally.
//!
//! Patterns look like `https://mes.local:443/api/*`:
//! - the scheme is `http` or `https`;
//! - the host is a name, `*.domain` (any subdomain), or an IP literal;
//! - the port defaults to the scheme's (80 or 443);
//! - the path is exact, or a prefix when it ends in `*`; no path means any path.
//!
//! A request is first put in canonical form ([`Target`]); the grants match
//! that form, and the runtime sends exactly that form.
//!
//! An entry is the pattern alone, or `{url: PATTERN, interlocked: true}` for
//! an endpoint that actuates something: while the site's safety interlock is
//! engaged, a request that any interlocked grant matches is refused.

mod target;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Denied, ParseError};

pub use target::{Target, canonical_path};

/// One allowed HTTP endpoint pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    text: String,
    https: bool,
    host: Host,
    port: u16,
    path: String,
    interlocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    /// `*.example.com`, stored as `.example.com`.
    AnySubdomainOf(String),
    Ip(IpAddr),
}

impl HttpGrant {
    /// Whether a request falls inside this grant.
    fn permits(&self, target: &Target) -> bool {
        if self.https != target.https() || self.port != target.port() {
            return false;
        }
        let host = target.host();
        let host_ok = match &self.host {
            Host::Name(name) => name == host,
            Host::AnySubdomainOf(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            Host::Ip(ip) => target.ip() == Some(*ip),
        };
        host_ok && path_matches(&self.path, target.path())
    }

    /// Whether this grant reaches an endpoint that actuates something, so that
    /// the safety interlock refuses requests it matches.
    pub fn interlocked(&self) -> bool {
        self.interlocked
    }

    /// Whether this grant names `ip` literally, which is the only way to reach
    /// a [restricted](restricted_reason) address.
    pub fn names_ip(&self, ip: IpAddr) -> bool {
        matches!(self.host, Host::Ip(granted) if canonical(granted) == canonical(ip))
    }
}

fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            path.starts_with(prefix) || prefix.strip_suffix('/').is_some_and(|p| path == p)
        }
        None => pattern == path,
    }
}

impl fmt::Display for HttpGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for HttpGrant {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ParseError::new(s, reason);
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| err("expected a URL pattern such as `https://mes.local/api/*`"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(err("the scheme must be `http` or `https`")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/*"),
        };
        if path.contains(['?', '#']) {
            return Err(err("a query or fragment cannot be granted; grant the path"));
        }
        let prefix = path.strip_suffix('*').unwrap_or(path);
        if prefix.contains('*') {
            return Err(err("`*` is only allowed at the end of the path"));
        }
        // Requests are matched in canonical form, so a pattern in any other
        // form could never match what it seems to name.
        let canonical = canonical_path(prefix).map_err(|e| err(&e))?;
        if canonical != prefix {
            let star = if path.ends_with('*') { "*" } else { "" };
            return Err(err(&format!(
                "the path is not in canonical form; write it as `{canonical}{star}`"
            )));
        }
        let (host, port) = target::split_authority(authority).map_err(|e| err(&e))?;
        let port = port.unwrap_or(target::default_port(https));
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            match target::canonical_host(suffix).map_err(|e| err(&e))? {
                (suffix, None) => Host::AnySubdomainOf(format!(".{suffix}")),
                (_, Some(_)) => return Err(err("`*.` must be followed by a domain name")),
            }
        } else if host.contains('*') {
            return Err(err(
                "a host wildcard must be a whole leading label, as in `*.domain`",
            ));
        } else {
            match target::canonical_host(host).map_err(|e| err(&e))? {
                (_, Some(ip)) => Host::Ip(ip),
                (name, None) => Host::Name(name),
            }
        };
        Ok(Self {
            text: s.to_string(),
            https,
            host,
            port,
            path: path.to_string(),
            interlocked: false,
        })
    }
}

/// The object form of an entry: the pattern with its options.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryObject {
    url: String,
    #[serde(default)]
    interlocked: bool,
}

impl Serialize for HttpGrant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The plain form whenever it says everything, so that existing
        // definitions round-trip unchanged.
        if self.interlocked {
            EntryObject {
                url: self.text.clone(),
                interlocked: true,
            }
            .serialize(serializer)
        } else {
            serializer.serialize_str(&self.text)
        }
    }
}

impl<'de> Deserialize<'de> for HttpGrant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = HttpGrant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL pattern, or `{url: PATTERN, interlocked: true}`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<HttpGrant, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<HttpGrant, A::Error> {
                let entry =
                    EntryObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let mut grant: HttpGrant = entry.url.parse().map_err(serde::de::Error::custom)?;
                grant.interlocked = entry.interlocked;
                Ok(grant)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Check a request against a set of grants; on success returns the grant that allowed it.
pub fn check<'g>(grants: &'g [HttpGrant], target: &Target) -> Result<&'g HttpGrant, Denied> {
    if let Some(g) = grants.iter().find(|g| g.permits(target)) {
        return Ok(g);
    }
    let granted: Vec<&str> = grants.iter().map(|g| g.text.as_str()).collect();
    let granted = if granted.is_empty() {
        "nothing".to_string()
    } else {
        granted.join(", ")
    };
    Err(Denied(format!(
        "http {target} is not granted (granted http: {granted})"
    )))
}

/// The first interlocked grant that matches a request, if any: while the
/// safety interlock is engaged such a request is refused, even when another,
/// non-interlocked grant matches it too.
pub fn interlocked<'g>(grants: &'g [HttpGrant], target: &Target) -> Option<&'g HttpGrant> {
    grants.iter().find(|g| g.interlocked && g.permits(target))
}

/// Why an address is refused after DNS resolution even though its host name
/// was granted, or `None` for an ordinary address.
///
/// These are the addresses a name can be pointed at to reach the Baton host
/// itself or its cloud metadata service (DNS rebinding, SSRF). A grant that
/// names the IP literally (e.g. `http://127.0.0.1:8080/*`) still reaches it.
pub fn restricted_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_unspecified() {
                Some("the unspecified address")
            } else if v4 == std::net::Ipv4Addr::new(169, 254, 169, 254) || o == [100, 100, 100, 200]
            {
                Some("a cloud metadata address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_broadcast() || v4.is_multicast() {
                Some("a broadcast or multicast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254] {
                Some("a cloud metadata address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_multicast() {
                Some("a broadcast or multicast address")
            } else {
                None
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> HttpGrant {
        s.parse().unwrap()
    }

    /// Check `scheme://authority` + `path` against `grants`, canonicalising first.
    fn allowed(grants: &[HttpGrant], url: &str) -> Result<(), Denied> {
        let (https, rest) = match url.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, url.strip_prefix("http://").unwrap()),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        check(grants, &Target::new(https, authority, path)?).map(|_| ())
    }

    #[test]
    fn scheme_host_port_and_path_must_all_match() {
        let grants = [g("https://mes.local:443/api/*")];
        assert!(allowed(&grants, "https://mes.local/api/batches").is_ok());
        assert!(allowed(&grants, "https://MES.local:443/api/").is_ok());
        assert!(allowed(&grants, "https://mes.local./api").is_ok());
        assert!(allowed(&grants, "http://mes.local:443/api/x").is_err());
        assert!(allowed(&grants, "https://mes.local:8443/api/x").is_err());
        assert!(allowed(&grants, "https://evil.local/api/x").is_err());
        assert!(allowed(&grants, "https://mes.local/apix").is_err());
        let e = allowed(&grants, "https://mes.local/admin").unwrap_err();
        assert_eq!(
            e.0,
            "http https://mes.local:443/admin is not granted (granted http: https://mes.local:443/api/*)"
        );
    }

    #[test]
    fn port_defaults_to_the_scheme() {
        let grants = [g("http://historian.plant")];
        assert!(allowed(&grants, "http://historian.plant:80/anything?q=1").is_ok());
        assert!(allowed(&grants, "http://historian.plant:/x").is_ok());
        assert!(allowed(&grants, "http://historian.plant:8080/").is_err());
    }

    #[test]
    fn exact_path_matches_only_itself() {
        let grants = [g("https://mes.local/api/batch")];
        assert!(allowed(&grants, "https://mes.local/api/batch").is_ok());
        assert!(allowed(&grants, "https://mes.local/api/batch?id=2").is_ok());
        assert!(allowed(&grants, "https://mes.local/api/batch/2").is_err());
        assert!(allowed(&grants, "https://mes.local/api/batch/").is_err());
    }

    #[test]
    fn dot_segments_cannot_escape_a_prefix() {
        let grants = [g("https://mes.local/api/*")];
        assert!(allowed(&grants, "https://mes.local/api/../admin").is_err());
        assert!(allowed(&grants, "https://mes.local/api/./x/../y").is_ok());
        assert!(allowed(&grants, "https://mes.local/api/x/../../api/y").is_ok());
        assert!(allowed(&grants, "https://mes.local/api/x/../../../admin").is_err());
    }

    #[test]
    fn every_path_trick_is_refused_with_its_reason() {
        let grants = [g("https://mes.local/api/*")];
        for (path, why) in [
            ("/api/%2e%2e/admin", "encoded `.`"),
            ("/api/%2E./admin", "encoded `.`"),
            ("/api/.%2e/admin", "encoded `.`"),
            ("/api/..%2fadmin", "encoded `/`"),
            ("/api/..%2Fadmin", "encoded `/`"),
            ("/api/..%5cadmin", "encoded `\\`"),
            ("/api/..\\admin", "backslash"),
            ("/api/..;/admin", "path parameters"),
            ("/api/x;jsessionid=1", "path parameters"),
            ("/api/%3b/x", "encoded `;`"),
            ("/api/%252e%252e/admin", "encoded `%`"),
            ("//admin", "empty segment"),
            ("/api//../admin", "empty segment"),
            ("/api/.../admin", "only dots"),
            ("/api/x%00", "encoded control"),
            ("/api/x\0", "control character"),
            ("/api/x\n", "control character"),
            ("/api/%0d%0aHost:evil", "encoded control"),
            ("/api/%zz", "two hex digits"),
            ("/api/%2", "two hex digits"),
            ("/api/%c0%ae%c0%ae/admin", "not UTF-8"),
            ("/api/%ef%bc%8e%ef%bc%8e/admin", "U+FF0E"),
            ("/api/\u{FF0E}\u{FF0E}/admin", "U+FF0E"),
            ("/api/\u{2215}admin", "U+2215"),
            ("/api/%e2%80%a5/admin", "U+2025"),
        ] {
            let e = allowed(&grants, &format!("https://mes.local{path}")).unwrap_err();
            assert!(e.0.contains(why), "{path}: {e}");
        }
        let e = Target::new(true, "mes.local", "api/x").unwrap_err();
        assert!(e.0.contains("does not start with `/`"), "{e}");
    }

    #[test]
    fn the_target_sent_is_the_target_checked() {
        for (path, sent) in [
            ("/api/./x", "/api/x"),
            ("/api/x/.", "/api/x/"),
            ("/api/x/..", "/api/"),
            ("/..", "/"),
            ("", "/"),
            ("?q=1", "/?q=1"),
            ("/api/%41%7e%5f", "/api/A~_"),
            ("/api/%c3%a4", "/api/%C3%A4"),
            ("/api/ä", "/api/%C3%A4"),
            ("/api/a b", "/api/a%20b"),
            ("/api/{x}", "/api/%7Bx%7D"),
            ("/api/%20", "/api/%20"),
            ("/api/x?a=1&b=/../c;d", "/api/x?a=1&b=/../c;d"),
            ("/api/x?q=%2e%2e%2f", "/api/x?q=..%2F"),
            ("/api/x?q=ä", "/api/x?q=%C3%A4"),
            ("/api/x#/../../admin", "/api/x"),
        ] {
            let t = Target::new(true, "mes.local", path).unwrap();
            assert_eq!(t.request_target(), sent, "{path}");
            assert_eq!(
                Target::new(true, "mes.local", &t.request_target()).unwrap(),
                t,
                "{path} is not stable"
            );
        }
    }

    #[test]
    fn the_authority_is_canonical_too() {
        let t = Target::new(true, "MES.Local.:443", "/").unwrap();
        assert_eq!(
            (t.host(), t.port(), t.host_header()),
            ("mes.local", 443, "mes.local".into())
        );
        let t = Target::new(false, "10.0.4.30:8080", "/").unwrap();
        assert_eq!(t.host_header(), "10.0.4.30:8080");
        assert_eq!(t.ip(), Some("10.0.4.30".parse().unwrap()));
        let t = Target::new(false, "[0:0::1]:9000", "/").unwrap();
        assert_eq!(t.host_header(), "[::1]:9000");
        for (authority, why) in [
            ("user:pw@mes.local", "credentials"),
            ("mes.local@evil.local", "credentials"),
            ("127.1", "IPv4"),
            ("2130706433", "IPv4"),
            ("0x7f.0.0.1", "IPv4"),
            ("127.000.000.001", "IPv4"),
            ("mes..local", "label is empty"),
            ("mes%2elocal", "`%`"),
            ("m\u{E9}s.local", "xn--"),
            ("[fe80::1%25eth0]", "zone"),
            ("[::1]x", "after the IPv6"),
            ("mes.local:8o", "not a number"),
            ("mes.local:0", "port 0"),
            ("", "host is missing"),
        ] {
            let e = Target::new(false, authority, "/").unwrap_err();
            assert!(e.0.contains(why), "{authority}: {e}");
        }
    }

    #[test]
    fn subdomain_wildcard() {
        let grants = [g("https://*.mes.local/*")];
        assert!(allowed(&grants, "https://a.mes.local/").is_ok());
        assert!(allowed(&grants, "https://A.MES.local./").is_ok());
        assert!(allowed(&grants, "https://mes.local/").is_err());
        assert!(allowed(&grants, "https://evilmes.local/").is_err());
    }

    #[test]
    fn ip_literals_and_v6() {
        let grants = [g("http://127.0.0.1:8080/*"), g("http://[::1]:9000/x")];
        assert!(allowed(&grants, "http://127.0.0.1:8080/a").is_ok());
        assert!(allowed(&grants, "http://[::1]:9000/x").is_ok());
        assert!(allowed(&grants, "http://[0::1]:9000/x").is_ok());
        assert!(allowed(&grants, "http://127.1:8080/a").is_err());
        assert!(grants[0].names_ip("127.0.0.1".parse().unwrap()));
        assert!(grants[0].names_ip("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!grants[0].names_ip("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        for (s, why) in [
            ("mes.local/api", "URL pattern"),
            ("ftp://mes.local", "scheme"),
            ("https://mes.local:99999/", "port"),
            ("https://mes.*.local/", "whole leading label"),
            ("https://mes.local/a*/b", "end of the path"),
            ("https://user:pw@mes.local/", "credentials"),
            ("https:///x", "host is missing"),
            ("https://127.1/", "IPv4"),
            ("https://*.10.0.0.1/", "domain name"),
            ("https://*.0x7f/", "IPv4"),
            ("https://mes.local/api/../admin/*", "write it as `/admin/*`"),
            ("https://mes.local/%61pi/*", "write it as `/api/*`"),
            ("https://mes.local/api//x", "empty segment"),
            ("https://mes.local/api;x/*", "path parameters"),
        ] {
            let e = s.parse::<HttpGrant>().unwrap_err();
            assert!(e.reason.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn an_entry_is_a_string_or_an_object_with_interlocked() {
        let grants: Vec<HttpGrant> = serde_json::from_str(
            r#"["https://mes.local/api/*", {"url": "https://mes.local/api/start/*", "interlocked": true}, {"url": "http://10.0.4.30/x"}]"#,
        )
        .unwrap();
        assert!(!grants[0].interlocked() && grants[1].interlocked() && !grants[2].interlocked());
        let start = Target::new(true, "mes.local", "/api/start/oven").unwrap();
        let read = Target::new(true, "mes.local", "/api/batches").unwrap();
        assert_eq!(check(&grants, &start).unwrap(), &grants[0]);
        // A broader plain grant does not lift the interlock off an actuating path.
        assert_eq!(interlocked(&grants, &start), Some(&grants[1]));
        assert_eq!(interlocked(&grants, &read), None);
        // Plain entries stay plain strings; interlocked ones keep their object form.
        let text = serde_json::to_string(&grants).unwrap();
        assert_eq!(
            text,
            r#"["https://mes.local/api/*",{"url":"https://mes.local/api/start/*","interlocked":true},"http://10.0.4.30/x"]"#
        );
        assert_eq!(
            serde_json::from_str::<Vec<HttpGrant>>(&text).unwrap(),
            grants
        );
        let yaml: Vec<HttpGrant> =
            serde_yaml_ng::from_str("- {url: 'https://mes.local/api/*', interlocked: true}\n")
                .unwrap();
        assert!(yaml[0].interlocked());
        for (text, why) in [
            (r#"[{"url": "ftp://x"}]"#, "scheme"),
            (
                r#"[{"url": "https://x", "interlock": true}]"#,
                "unknown field `interlock`",
            ),
            (r#"[{"interlocked": true}]"#, "missing field `url`"),
            (r#"[5]"#, "a URL pattern"),
        ] {
            let e = serde_json::from_str::<Vec<HttpGrant>>(text).unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn restricted_addresses() {
        for ip in [
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "fd00:ec2::254",
        ] {
            assert!(restricted_reason(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["10.0.4.21", "192.168.1.10", "8.8.8.8", "2001:db8::1"] {
            assert!(restricted_reason(ip.parse().unwrap()).is_none(), "{ip}");
        }
    }
}
