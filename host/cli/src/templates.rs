//! Plugin project templates for `baton plugin new`, embedded in the binary
//! together with the WIT contract, so a new project is complete on its own.

use std::path::Path;

use anyhow::Context as _;
use clap::ValueEnum;

/// The language of a new plugin project.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Lang {
    /// Rust, with the baton-sdk crate.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Javascript,
}

struct File {
    path: &'static str,
    contents: &'static str,
    executable: bool,
}

macro_rules! file {
    ($path:literal, $source:literal) => {
        File {
            path: $path,
            contents: include_str!(concat!("../../../", $source)),
            executable: false,
        }
    };
    ($path:literal, $source:literal, executable) => {
        File {
            path: $path,
            contents: include_str!(concat!("../../../", $source)),
            executable: true,
        }
    };
}

const RUST: &[File] = &[
    file!("Cargo.toml", "templates/rust/Cargo.toml"),
    file!("src/lib.rs", "templates/rust/src/lib.rs"),
];

const PYTHON: &[File] = &[
    file!("app.py", "templates/python/app.py"),
    file!("build.sh", "templates/python/build.sh", executable),
    file!("requirements.txt", "templates/python/requirements.txt"),
    // The example's HTTP client is the one vendors should start from.
    file!(
        "wasi_http_client.py",
        "examples/plugins/python/vibration-check/wasi_http_client.py"
    ),
];

const JAVASCRIPT: &[File] = &[
    file!("task.js", "templates/javascript/task.js"),
    file!("build.sh", "templates/javascript/build.sh", executable),
    file!("package.json", "templates/javascript/package.json"),
];

/// The contract, copied into Python and JavaScript projects (their build tools read it).
const WIT: &[File] = &[
    file!("wit/types.wit", "wit/types.wit"),
    file!("wit/log.wit", "wit/log.wit"),
    file!("wit/plc.wit", "wit/plc.wit"),
    file!("wit/mqtt.wit", "wit/mqtt.wit"),
    file!("wit/world.wit", "wit/world.wit"),
    file!("wit/deps/cli/cli.wit", "wit/deps/cli/cli.wit"),
    file!("wit/deps/clocks/clocks.wit", "wit/deps/clocks/clocks.wit"),
    file!(
        "wit/deps/filesystem/filesystem.wit",
        "wit/deps/filesystem/filesystem.wit"
    ),
    file!("wit/deps/http/http.wit", "wit/deps/http/http.wit"),
    file!("wit/deps/io/io.wit", "wit/deps/io/io.wit"),
    file!("wit/deps/random/random.wit", "wit/deps/random/random.wit"),
    file!(
        "wit/deps/sockets/sockets.wit",
        "wit/deps/sockets/sockets.wit"
    ),
];

/// Check a plugin name: what `describe` may report.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    anyhow::ensure!(
        ok,
        "`{name}` is not a plugin name: use 1-64 lowercase letters, digits and `-`, starting with a letter"
    );
    Ok(())
}

/// Write a new project for `name` into `dir`, which must not exist yet.
/// `sdk` is the path of the Rust guest SDK, for Rust projects.
pub fn write(
    lang: Lang,
    name: &str,
    dir: &Path,
    sdk: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    check_name(name)?;
    anyhow::ensure!(!dir.exists(), "{} already exists", dir.display());
    let crate_name = name.replace('-', "_");
    let sdk = match (lang, sdk) {
        (Lang::Rust, Some(sdk)) => sdk
            .canonicalize()
            .with_context(|| format!("the SDK path {} does not exist", sdk.display()))?
            .display()
            .to_string(),
        (Lang::Rust, None) => {
            anyhow::bail!("cannot find Baton's Rust guest SDK; pass --sdk PATH/TO/baton/sdk-guest")
        }
        _ => String::new(),
    };
    let files: Vec<&File> = match lang {
        Lang::Rust => RUST.iter().collect(),
        Lang::Python => PYTHON.iter().chain(WIT).collect(),
        Lang::Javascript => JAVASCRIPT.iter().chain(WIT).collect(),
    };
    let mut written = Vec::new();
    for file in files {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let contents = file
            .contents
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(file.path.to_string());
    }
    Ok(written)
}

/// The SDK in the source tree this binary was built from, if it is still there.
pub fn default_sdk() -> Option<std::path::PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk-guest");
    sdk.join("Cargo.toml").exists().then_some(sdk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_python_project_with_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("press-check");
        let files = write(Lang::Python, "press-check", &project, None).unwrap();
        assert!(files.contains(&"wit/world.wit".to_string()));
        let app = std::fs::read_to_string(project.join("app.py")).unwrap();
        assert!(app.contains(r#"name="press-check""#));
        assert!(!app.contains("{{"));
        let build = std::fs::read_to_string(project.join("build.sh")).unwrap();
        assert!(build.contains("press_check.wasm"));
    }

    #[test]
    fn refuses_bad_names_and_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(Lang::Javascript, "Press Check", &dir.path().join("x"), None).is_err());
        let e = write(Lang::Javascript, "ok", dir.path(), None).unwrap_err();
        assert!(e.to_string().contains("already exists"));
        let e = write(Lang::Rust, "ok", &dir.path().join("r"), None).unwrap_err();
        assert!(e.to_string().contains("--sdk"));
    }
}
