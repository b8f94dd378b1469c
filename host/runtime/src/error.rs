/// Why a plugin could not be loaded, or the runtime could not start.
///
/// Each variant says what was wrong with the upload in words a vendor can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Zero bytes were uploaded.
    #[error("the file is empty; expected a WebAssembly component")]
    Empty,
    /// The bytes are over the configured size limit.
    #[error("the component is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the upload.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The bytes do not start with the WebAssembly magic number.
    #[error("not a WebAssembly binary (it does not start with `\\0asm`)")]
    NotWasm,
    /// A core WebAssembly module rather than a component.
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2, \
         or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// The component is malformed or fails validation.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// The component imports interfaces Baton does not provide.
    #[error(
        "the component imports {}, which Baton does not provide; a task may import only \
         baton:plugin@0.1 (log, plc, mqtt) and WASI 0.2 interfaces",
        .0.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownImports(Vec<String>),
    /// The component is not of the `baton:plugin/task` world.
    #[error(
        "the component does not export the baton:plugin/task world (`describe` and `run`); \
         it exports: {0}"
    )]
    WrongWorld(String),
    /// `describe` failed or returned something unusable.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// The artifact cache directory could not be used.
    #[error("artifact cache at {path}: {source}")]
    Cache {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Setting up the engine failed.
    #[error("runtime setup: {0}")]
    Setup(String),
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
