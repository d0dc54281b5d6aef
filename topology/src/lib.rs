//! The topology: node, ports, chassis, networks, routers, logical ports and the SFC
//! objects, loaded from the TOML file whose shape is the contract
//! `shared/topology-example.toml`. Parsing (`file`) and validation (`validate`) are
//! separate so that the errors name the object and field, not a serde position only.

mod error;
pub mod file;
mod model;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::TopologyError;
pub use model::*;

impl Topology {
    /// Parses and validates a topology file's text; refuses it as a whole.
    pub fn from_toml_str(text: &str) -> Result<Topology, TopologyError> {
        Self::parse(text, None)
    }

    /// Reads, parses and validates a topology file.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Validates already-deserialized file sections (e.g. built by the control plane).
    pub fn from_file(file: &file::TopologyFile) -> Result<Topology, TopologyError> {
        validate::validate(file)
    }

    fn parse(text: &str, path: Option<&Path>) -> Result<Topology, TopologyError> {
        let file: file::TopologyFile =
            toml::from_str(text).map_err(|source| TopologyError::Syntax {
                path: path.map(Path::to_owned),
                source: Box::new(source),
            })?;
        Self::from_file(&file)
    }
}
