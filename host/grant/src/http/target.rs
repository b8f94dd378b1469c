//! The one canonical form of an outgoing request's target: what the grant
//! check sees is byte for byte what goes on the wire.
//!
//! See [`Target`] for the rules.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use unicode_normalization::UnicodeNormalization;

use crate::Denied;

/// An outgoing request's scheme, authority and path-with-query in canonical
/// form. The grant check reads it, and the connection, the `Host` header and
/// the request line are all taken from it, so they cannot drift apart.
///
/// A path prefix check is only sound if the server reads the path the same
/// way the checker did. So a request is either rewritten into a form every
/// server reads alike, or refused:
///
/// - rewritten: `.` and `..` segments are resolved (RFC 3986 §5.2.4), percent
///   escapes of unreserved characters are decoded (`%41` is `A`), other escapes
///   get upper-case hex, characters a path may not hold raw are percent-encoded,
///   and the fragment is dropped (it is never sent);
/// - refused, because servers disagree on them: empty segments (`//`), `;`
///   path parameters (Tomcat drops them before resolving `..`, so `..;` is
///   `..`), backslashes, segments of three or more dots, encoded `.`, `/`, `\`,
///   `;` or `%`, malformed escapes, control characters (raw or encoded),
///   encoded bytes that are not UTF-8 (overlong `%C0%AE` is `.` to some
///   decoders) and characters that Unicode compatibility mapping turns into one
///   of those (fullwidth `．`).
///
/// The authority is treated the same way: no credentials, a lower-case host
/// without a trailing dot, IP literals in their standard form, and no numeric
/// host that a resolver would read as an abbreviated IPv4 address (`127.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    https: bool,
    host: String,
    ip: Option<IpAddr>,
    port: u16,
    path: String,
    query: Option<String>,
}

impl Target {
    /// Canonicalise a request given as the guest wrote it: `authority` is
    /// `host[:port]`, `path_and_query` is the request-target (`/api/x?q=1`).
    ///
    /// A form that servers could read differently is refused with a [`Denied`]
    /// that names the URL and what is wrong with it.
    pub fn new(https: bool, authority: &str, path_and_query: &str) -> Result<Self, Denied> {
        let scheme = if https { "https" } else { "http" };
        let refuse = |why: String| {
            let url = format!("{scheme}://{authority}{path_and_query}");
            Denied(format!("http {}: {why}", shown(&url)))
        };
        let (host, port) = split_authority(authority).map_err(refuse)?;
        let (host, ip) = canonical_host(host).map_err(refuse)?;
        let port = match port {
            Some(0) => return Err(refuse("port 0 cannot be connected to".into())),
            Some(port) => port,
            None => default_port(https),
        };
        // The fragment is never sent (RFC 9110 §7.1), so it is not checked either.
        let path_and_query = path_and_query
            .split_once('#')
            .map_or(path_and_query, |(before, _)| before);
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let path = canonical_path(path).map_err(refuse)?;
        let query = query.map(canonical_query).transpose().map_err(refuse)?;
        Ok(Self {
            https,
            host,
            ip,
            port,
            path,
            query,
        })
    }

    /// Whether the scheme is `https`.
    pub fn https(&self) -> bool {
        self.https
    }

    /// The host to connect to: a lower-case name, an IPv4 address, or an IPv6
    /// address in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host's address when it is an IP literal, so no DNS is involved.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The port to connect to, the scheme's default when none was given.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The canonical path, the part the grants match.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request-target for the request line: the path and any query.
    pub fn request_target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    /// The `Host` header: the host, and the port unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        if self.port == default_port(self.https) {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The full URL, with the port always shown, as it appears in denials.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(
            f,
            "{scheme}://{}:{}{}",
            self.host,
            self.port,
            self.request_target()
        )
    }
}

pub(super) fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

/// Split `host[:port]` or `[v6][:port]`. An empty port (`host:`) is the
/// default port (RFC 3986 §6.2.3).
pub(super) fn split_authority(authority: &str) -> Result<(&str, Option<u16>), String> {
    if authority.contains('@') {
        return Err("credentials in the URL (`user@host`) are not allowed".into());
    }
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => (&authority[..=i], authority[i + 1..].strip_prefix(':')),
            None => return Err(format!("`{authority}` has an unclosed `[`")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.len() + port.map_or(0, |p| p.len() + 1) != authority.len() {
        return Err(format!("`{authority}` has text after the IPv6 address"));
    }
    match port {
        None | Some("") => Ok((host, None)),
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse()
            .map(|port| (host, Some(port)))
            .map_err(|_| format!("port `{p}` is larger than 65535")),
        Some(p) => Err(format!("port `{p}` is not a number")),
    }
}

/// The canonical spelling of a host, and its address if it is an IP literal.
pub(super) fn canonical_host(host: &str) -> Result<(String, Option<IpAddr>), String> {
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let v6 = inner
            .strip_suffix(']')
            .and_then(|v6| v6.parse::<Ipv6Addr>().ok())
            .ok_or_else(|| {
                format!(
                    "`{host}` is not an IPv6 address (zone ids such as `%eth0` are not allowed)"
                )
            })?;
        return Ok((format!("[{v6}]"), Some(IpAddr::V6(v6))));
    }
    let lower = host.to_ascii_lowercase();
    // `mes.local.` and `mes.local` are the same name.
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return Ok((v4.to_string(), Some(IpAddr::V4(v4))));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "host `{host}` contains {}; a host name holds only letters, digits, `-`, `_` and `.` \
             (write an international name in its `xn--` form)",
            describe(c)
        ));
    }
    if name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(format!(
            "host `{host}` is not a valid name: a label is empty or longer than 63 characters"
        ));
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        return Err(format!(
            "host `{host}` would be read as an IPv4 address in a short or non-decimal form; \
             write the address as four decimal numbers, such as `10.0.4.30`"
        ));
    }
    Ok((name.to_string(), None))
}

/// The canonical form of a request path (without query), or why it is
/// refused. See [`Target`] for the rules; a canonical path
/// starts with `/`, has no `.` or `..` segment and no `//`, and is its own
/// canonical form.
pub fn canonical_path(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Ok("/".into());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path `{}` does not start with `/`", shown(path)));
    };
    let mut segments: Vec<String> = Vec::new();
    for segment in rest.split('/') {
        segments.push(canonical_part(segment, Part::Segment)?);
    }
    let last = segments.len() - 1;
    let mut out: Vec<String> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.into_iter().enumerate() {
        match segment.as_str() {
            "" if i != last => {
                return Err(format!(
                    "path `{path}` has an empty segment (`//`); servers disagree on whether it counts"
                ));
            }
            "." | ".." => {
                if segment == ".." {
                    out.pop();
                }
                // `/a/.` and `/a/b/..` both name the directory `/a/`.
                if i == last {
                    out.push(String::new());
                }
            }
            s if s.len() > 2 && s.bytes().all(|b| b == b'.') => {
                return Err(format!(
                    "path `{path}` has a segment of only dots (`{s}`), which some servers treat as `..`"
                ));
            }
            _ => out.push(segment),
        }
    }
    Ok(format!("/{}", out.join("/")))
}

/// The query is not granted, but it is sent: escapes must be well formed,
/// raw control characters are refused and other unsafe characters are encoded.
fn canonical_query(query: &str) -> Result<String, String> {
    canonical_part(query, Part::Query)
}

/// Whether text is one path segment (no raw `/`) or the whole query.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Segment,
    Query,
}

/// Characters that no Unicode normalisation maps to ASCII but that some
/// servers' "best fit" code-page conversion reads as `/`, `\` or `.`.
const LOOKALIKES: &[char] = &['\u{2044}', '\u{2215}', '\u{2216}', '\u{29F5}', '\u{3002}'];

/// Canonicalise one path segment or the query; see [`Target`].
fn canonical_part(text: &str, part: Part) -> Result<String, String> {
    let refuse = |why: &str| format!("`{}` contains {why}", shown(text));
    let mut out = String::with_capacity(text.len());
    // A run of non-ASCII bytes in a segment, raw or escaped, checked as UTF-8 together.
    let mut high: Vec<u8> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&raw) = bytes.get(i) {
        let (byte, escaped) = if raw == b'%' {
            let value = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| refuse("a `%` that does not start an escape of two hex digits"))?;
            i += 3;
            (value, true)
        } else {
            i += 1;
            (raw, false)
        };
        if byte >= 0x80 && part == Part::Segment {
            high.push(byte);
            continue;
        }
        flush_high(&mut high, &mut out, text)?;
        if !escaped && (byte < 0x20 || byte == 0x7f) {
            return Err(refuse(&format!("a control character (0x{byte:02X})")));
        }
        if part == Part::Segment
            && let Some(why) = refused_in_path(byte, escaped)
        {
            return Err(refuse(&why));
        }
        let raw_ok = is_unreserved(byte)
            || !escaped
                && match part {
                    Part::Segment => b"!$&'()*+,=:@".contains(&byte),
                    Part::Query => b"!$&'()*+,;=:@/?".contains(&byte),
                };
        if raw_ok {
            out.push(char::from(byte));
        } else {
            push_escape(&mut out, byte);
        }
    }
    flush_high(&mut high, &mut out, text)?;
    Ok(out)
}

/// Why `byte`, raw or escaped, cannot appear in a path segment.
fn refused_in_path(byte: u8, escaped: bool) -> Option<String> {
    match (byte, escaped) {
        (b'\\', false) => Some("a backslash, which some servers read as `/`".into()),
        (b';', false) => Some(
            "`;`: path parameters are refused, because servers such as Tomcat drop them \
             before resolving `..` (so `..;` is `..`)"
                .into(),
        ),
        (0..=0x1f | 0x7f, true) => Some(format!("an encoded control character (`%{byte:02X}`)")),
        (b'.' | b'/' | b'\\' | b';' | b'%', true) => Some(format!(
            "an encoded `{}` (`%{byte:02X}`), which servers decode differently",
            char::from(byte)
        )),
        _ => None,
    }
}

/// Check a run of non-ASCII bytes of a segment and append it percent-encoded.
fn flush_high(high: &mut Vec<u8>, out: &mut String, text: &str) -> Result<(), String> {
    if high.is_empty() {
        return Ok(());
    }
    let decoded = std::str::from_utf8(high).map_err(|_| {
        format!(
            "`{}` encodes bytes that are not UTF-8 (such as the overlong `%C0%AE` for `.`)",
            shown(text)
        )
    })?;
    for c in decoded.chars() {
        let mapped: String = c.nfkc().collect();
        let read_as = if LOOKALIKES.contains(&c) {
            Some("`/`, `\\` or `.`".to_string())
        } else if mapped.contains(['.', '/', '\\', ';', '%'])
            || mapped.chars().any(char::is_control)
        {
            Some(format!("`{}`", shown(&mapped)))
        } else {
            None
        };
        if let Some(read_as) = read_as {
            return Err(format!(
                "`{}` contains `{}` (U+{:04X}), which some servers read as {read_as}",
                shown(text),
                shown(&c.to_string()),
                u32::from(c),
            ));
        }
    }
    for &b in high.iter() {
        push_escape(out, b);
    }
    high.clear();
    Ok(())
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

/// Text for a message: control characters escaped, everything else as written.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("a control character (U+{:04X})", u32::from(c))
    } else {
        format!("`{c}`")
    }
}
