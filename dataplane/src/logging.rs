//! The daemon's log: `tracing` events on stderr, as text or one JSON object a line.
//! Levels come from `--log-level` when given, else from `RUST_LOG`, else `info`.
//! Workers never log: what happens per packet is counted, and the control thread
//! logs what it sees.

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The filter: `level` (a level or a `RUST_LOG`-style directive list), else
/// `RUST_LOG`, else `info`.
pub fn filter(level: Option<&str>) -> Result<EnvFilter, String> {
    match level {
        Some(level) => {
            EnvFilter::try_new(level).map_err(|e| format!("--log-level: \"{level}\": {e}"))
        }
        None => Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))),
    }
}

/// Installs the process' subscriber (once; later calls change nothing).
pub fn init(level: Option<&str>, format: LogFormat) -> Result<(), String> {
    let filter = filter(level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_level_names_the_option() {
        let error = filter(Some("loud=[")).unwrap_err();
        assert!(error.starts_with("--log-level: \"loud=[\""), "{error}");
        assert!(filter(Some("debug")).is_ok());
    }
}
