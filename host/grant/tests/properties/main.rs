//! Property tests: each grant check agrees with a simple reference model on
//! generated inputs, and HTTP paths in canonical form leave no room for a
//! server to read them differently.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod http;
mod mqtt;
mod plc;
