//! The desired state on disk (`--state FILE`): the running configuration as a
//! topology file, replaced atomically after each accepted change (write a temporary
//! file beside it, fsync, rename over, fsync the directory) so that a crash leaves the
//! old state or the new one, never a mix, and a restart resumes what was running.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use topology::file::TopologyFile;

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Replaces `path` with `file`, atomically and durably.
pub fn save(path: &Path, file: &TopologyFile) -> io::Result<()> {
    let context = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("state file {}: {error}", path.display()),
        )
    };
    let temporary = temporary(path);
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(context)?;
    out.write_all(HEADER.as_bytes()).map_err(context)?;
    out.write_all(file.to_toml().as_bytes()).map_err(context)?;
    out.sync_all().map_err(context)?;
    drop(out);
    std::fs::rename(&temporary, path).map_err(context)?;
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(context)
}

const HEADER: &str = "# The dataplane's running configuration, saved after each accepted change.\n\
                      # Written by the daemon: edit through dpctl, or stop the daemon first.\n";

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: &str = include_str!("../../dataplane/tests/data/control.toml");

    #[test]
    fn saves_a_file_that_reads_back_equal_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        let file: TopologyFile = toml::from_str(TOPOLOGY).unwrap();
        std::fs::write(&path, "old contents").unwrap();
        save(&path, &file).unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(toml::from_str::<TopologyFile>(&saved).unwrap(), file);
        assert!(!temporary(&path).exists());
    }

    #[test]
    fn a_failed_save_leaves_the_old_state_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir/state.toml");
        let file: TopologyFile = toml::from_str(TOPOLOGY).unwrap();
        let error = save(&path, &file).unwrap_err().to_string();
        assert!(error.starts_with("state file "), "{error}");
        assert!(error.contains("missing-dir/state.toml"), "{error}");
    }
}
