//! HTTP grants: `scheme://host[:port][/path]` patterns, and the addresses that
//! stay refused after DNS resolution unless a grant names them literally.
//!
//! Patterns look like `https://mes.local:443/api/*`:
//! - the scheme is `http` or `https`;
//! - the host is a name, `*.domain` (any subdomain), or an IP literal;
//! - the port defaults to the scheme's (80 or 443);
//! - the path is exact, or a prefix when it ends in `*`; no path means any path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Denied, ParseError};

/// One allowed HTTP endpoint pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpGrant {
    text: String,
    https: bool,
    host: Host,
    port: u16,
    path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    /// `*.example.com`, stored as `.example.com`.
    AnySubdomainOf(String),
    Ip(IpAddr),
}

impl HttpGrant {
    /// Whether a request to `scheme://host:port/path` falls inside this grant.
    /// `path` must already be normalised (see [`normalise_path`]).
    fn permits(&self, https: bool, host: &str, port: u16, path: &str) -> bool {
        if self.https != https || self.port != port {
            return false;
        }
        let host_ok = match &self.host {
            Host::Name(name) => name == host,
            Host::AnySubdomainOf(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            Host::Ip(ip) => host.trim_matches(['[', ']']).parse::<IpAddr>().ok() == Some(*ip),
        };
        host_ok && path_matches(&self.path, path)
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
        if path[..path.len() - 1].contains('*') {
            return Err(err("`*` is only allowed at the end of the path"));
        }
        if authority.contains('@') {
            return Err(err("credentials are not allowed in a grant"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| err("invalid port"))?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        if host.is_empty() {
            return Err(err("the host is missing"));
        }
        let host = host.to_ascii_lowercase();
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                return Err(err("use `*.domain` to grant every subdomain"));
            }
            Host::AnySubdomainOf(format!(".{suffix}"))
        } else if host.contains('*') {
            return Err(err(
                "a host wildcard must be a whole leading label, as in `*.domain`",
            ));
        } else if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Host::Ip(ip)
        } else {
            Host::Name(host.trim_end_matches('.').to_string())
        };
        Ok(Self {
            text: s.to_string(),
            https,
            host,
            port,
            path: path.to_string(),
        })
    }
}

/// Split `host:port`, `[v6]:port`, `host` or `[v6]`. `None` on a bad port.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find("]:") {
            Some(i) => (&authority[..=i], Some(&authority[i + 2..])),
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match port {
        Some(p) => Some((host, Some(p.parse().ok()?))),
        None => Some((host, None)),
    }
}

impl TryFrom<String> for HttpGrant {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<HttpGrant> for String {
    fn from(g: HttpGrant) -> String {
        g.text
    }
}

/// Resolve `.` and `..` segments so that `/api/../admin` cannot pass as `/api/*`.
///
/// Percent-encoded dots, slashes and backslashes are refused outright: servers
/// disagree on how to decode them, so no prefix check on them is sound.
pub fn normalise_path(path: &str) -> Result<String, String> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path.contains('\\')
    {
        return Err(format!(
            "path `{path}` contains an encoded `.`, `/` or `\\`"
        ));
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i == segments.len() - 1;
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    Ok(format!("/{}", out.join("/")))
}

/// Check a request against a set of grants; on success returns the grant that allowed it.
pub fn check<'g>(
    grants: &'g [HttpGrant],
    https: bool,
    host: &str,
    port: u16,
    path: &str,
) -> Result<&'g HttpGrant, Denied> {
    let scheme = if https { "https" } else { "http" };
    let shown = format!("{scheme}://{host}:{port}{path}");
    let path = normalise_path(path).map_err(|e| Denied(format!("http {shown}: {e}")))?;
    let host = host.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if let Some(g) = grants.iter().find(|g| g.permits(https, host, port, &path)) {
        return Ok(g);
    }
    let granted: Vec<&str> = grants.iter().map(|g| g.text.as_str()).collect();
    let granted = if granted.is_empty() {
        "nothing".to_string()
    } else {
        granted.join(", ")
    };
    Err(Denied(format!(
        "http {shown} is not granted (granted http: {granted})"
    )))
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

    #[test]
    fn scheme_host_port_and_path_must_all_match() {
        let grants = [g("https://mes.local:443/api/*")];
        assert!(check(&grants, true, "mes.local", 443, "/api/batches").is_ok());
        assert!(check(&grants, true, "MES.local", 443, "/api/").is_ok());
        assert!(check(&grants, true, "mes.local", 443, "/api").is_ok());
        assert!(check(&grants, false, "mes.local", 443, "/api/x").is_err());
        assert!(check(&grants, true, "mes.local", 8443, "/api/x").is_err());
        assert!(check(&grants, true, "evil.local", 443, "/api/x").is_err());
        assert!(check(&grants, true, "mes.local", 443, "/apix").is_err());
        assert!(check(&grants, true, "mes.local", 443, "/admin").is_err());
    }

    #[test]
    fn port_defaults_to_the_scheme() {
        let grants = [g("http://historian.plant")];
        assert!(check(&grants, false, "historian.plant", 80, "/anything?q=1").is_ok());
        assert!(check(&grants, false, "historian.plant", 8080, "/").is_err());
    }

    #[test]
    fn exact_path_matches_only_itself() {
        let grants = [g("https://mes.local/api/batch")];
        assert!(check(&grants, true, "mes.local", 443, "/api/batch").is_ok());
        assert!(check(&grants, true, "mes.local", 443, "/api/batch/2").is_err());
    }

    #[test]
    fn dot_segments_cannot_escape_a_prefix() {
        let grants = [g("https://mes.local/api/*")];
        assert!(check(&grants, true, "mes.local", 443, "/api/../admin").is_err());
        assert!(check(&grants, true, "mes.local", 443, "/api/./x/../y").is_ok());
        let e = check(&grants, true, "mes.local", 443, "/api/%2e%2e/admin").unwrap_err();
        assert!(e.0.contains("encoded"), "{e}");
    }

    #[test]
    fn subdomain_wildcard() {
        let grants = [g("https://*.mes.local/*")];
        assert!(check(&grants, true, "a.mes.local", 443, "/").is_ok());
        assert!(check(&grants, true, "mes.local", 443, "/").is_err());
        assert!(check(&grants, true, "evilmes.local", 443, "/").is_err());
    }

    #[test]
    fn ip_literals_and_v6() {
        let grants = [g("http://127.0.0.1:8080/*"), g("http://[::1]:9000/x")];
        assert!(check(&grants, false, "127.0.0.1", 8080, "/a").is_ok());
        assert!(check(&grants, false, "[::1]", 9000, "/x").is_ok());
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
        ] {
            let e = s.parse::<HttpGrant>().unwrap_err();
            assert!(e.reason.contains(why), "{s}: {e}");
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
