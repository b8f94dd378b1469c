//! The embedded files: what type each is, and the validators that let a
//! browser keep them between visits.

use std::sync::OnceLock;

use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

/// Everything under `assets/`, embedded at build time (also in debug
/// builds: the binary never reads them from disk).
#[derive(RustEmbed)]
#[folder = "assets/"]
#[exclude = "*.md"]
struct Files;

/// One embedded file.
pub struct Asset {
    /// The bytes.
    pub body: std::borrow::Cow<'static, [u8]>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// A strong validator: a quoted prefix of the SHA-256 of the bytes.
    pub etag: String,
}

/// The file at `path` (relative to `assets/`), if there is one.
pub fn get(path: &str) -> Option<Asset> {
    let file = Files::get(path)?;
    let etag = format!("\"{}\"", &hex::encode(file.metadata.sha256_hash())[..20]);
    Some(Asset {
        body: file.data,
        content_type: content_type(path),
        etag,
    })
}

/// The names of every embedded file.
pub fn names() -> impl Iterator<Item = String> {
    Files::iter().map(|n| n.into_owned())
}

/// One hash of every embedded file: the `?v=` that the page puts on the
/// URLs it loads, so that a new build is never served from an old cache.
pub fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut names: Vec<String> = names().collect();
        names.sort();
        let mut hash = Sha256::new();
        for name in names {
            if let Some(file) = Files::get(&name) {
                hash.update(name.as_bytes());
                hash.update(file.metadata.sha256_hash());
            }
        }
        hex::encode(hash.finalize())[..16].to_string()
    })
}

/// The `Content-Type` for a file name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
