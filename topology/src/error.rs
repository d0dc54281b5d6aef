//! Why a topology is refused. A file is refused as a whole: the first error found wins.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read topology file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or not the topology's shape: a wrong type, a missing or misspelt field.
    /// toml's message is kept as is: it shows the line, the column and the key.
    #[error("{}{source}", origin(.path))]
    Syntax {
        path: Option<PathBuf>,
        source: Box<toml::de::Error>,
    },
    /// Well-formed but wrong: names the object (section and name) and its field.
    #[error("{section} \"{name}\": {field}: {message}")]
    Invalid {
        section: &'static str,
        name: String,
        field: &'static str,
        message: String,
    },
}

fn origin(path: &Option<PathBuf>) -> String {
    path.as_deref()
        .map(|p: &Path| format!("{}: ", p.display()))
        .unwrap_or_default()
}
