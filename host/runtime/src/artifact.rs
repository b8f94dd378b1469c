//! The on-disk cache of compiled components.
//!
//! Artifacts are keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a Baton upgrade or a config change that affects
//! code generation never loads a stale artifact. Only files this cache wrote
//! itself are ever deserialized (the directory belongs to Baton), and each is
//! written to a temporary file first and renamed into place, so a crash cannot
//! leave a half-written artifact under a valid name.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{Error, Result};

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Cache {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached artifact for `digest`, if there is a usable one.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was produced by `Component::serialize` for an
        // engine with this exact compatibility hash and written only by this
        // cache, in a directory Baton owns.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store a compiled component. Failure only costs a recompile later, so it is logged, not fatal.
    pub(crate) fn store(&self, digest: &str, component: &Component) {
        if let Err(e) = self.try_store(digest, component) {
            tracing::warn!(digest, error = %e, "could not cache compiled plugin");
        }
    }

    fn try_store(&self, digest: &str, component: &Component) -> std::result::Result<(), String> {
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| e.to_string())?;
        tmp.write_all(&bytes).map_err(|e| e.to_string())?;
        tmp.as_file().sync_all().map_err(|e| e.to_string())?;
        tmp.persist(self.path(digest)).map_err(|e| e.to_string())?;
        Ok(())
    }
}
