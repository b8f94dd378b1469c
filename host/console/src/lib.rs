//! The Baton operator console: a small web app that the server mounts beside
//! the API on the same listener, at `/`.
//!
//! The app is plain ES modules and CSS under `assets/`, with one vendored
//! library (`@dagrejs/dagre`, for laying out graphs; see
//! `assets/vendor/README.md`). Every file is embedded in the binary at build
//! time, so nothing is fetched from disk or from another machine at run
//! time, and no JavaScript toolchain is needed to build Baton.
//!
//! The pages talk to the server only through the public API (`/api/v1`)
//! and its event streams, authenticated by the session cookie that
//! `POST /api/v1/session` sets.
//!
//! # Layout
//! - [`assets`]: the embedded files, their content types and validators.
//! - [`routes`]: `/` and `/console/...`, with caching and security headers.
#![deny(missing_docs)]

pub mod assets;
pub mod routes;

pub use routes::router;
