//! The README's commands work as written: the main job's `cargo run` picks the right
//! binary and its arguments are accepted, and the test command is the one CI runs.

mod support;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The commands of the README's `sh` blocks, continuation lines joined.
fn shell_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim_start() == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    commands.push(current.trim().to_owned());
                }
                current.clear();
            }
        }
    }
    commands
}

#[test]
fn main_job_command_names_a_package_whose_default_binary_runs_it() {
    let commands = shell_commands(&readme());
    let command = commands
        .iter()
        .find(|c| c.starts_with("cargo run"))
        .expect("the README shows a cargo run command");
    let words: Vec<&str> = command.split_whitespace().collect();
    let package = words
        .windows(2)
        .find(|w| w[0] == "-p")
        .map(|w| w[1])
        .expect("cargo run -p PACKAGE");
    assert!(
        !words.contains(&"--bin"),
        "the README's command relies on the default binary"
    );
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join(package).join("Cargo.toml")).unwrap())
            .unwrap();
    let bins = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .map_or(0, Vec::len);
    let default_run = manifest["package"]
        .get("default-run")
        .and_then(|d| d.as_str());
    assert!(
        bins <= 1 || default_run == Some("dataplane"),
        "{package} has {bins} binaries, default-run {default_run:?}: cargo run cannot pick one"
    );

    // The arguments after `--`, run from the workspace root with the output elsewhere.
    let args = &words[words.iter().position(|w| *w == "--").unwrap() + 1..];
    let out = tempfile::tempdir().unwrap();
    let mut run = support::dataplane();
    run.current_dir(root());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if *arg == "--out-dir" {
            rest.next();
            run.arg("--out-dir").arg(out.path());
        } else {
            run.arg(arg);
        }
    }
    let output = run.output().unwrap();
    assert!(
        output.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(std::fs::read_dir(out.path()).unwrap().count() > 0);
}

#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    let commands = shell_commands(&readme());
    let test = commands
        .iter()
        .find(|c| c.starts_with("scripts/"))
        .expect("the README shows the test script");
    let script = root().join(test.split_whitespace().next().unwrap());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&script).unwrap().permissions());
    assert!(mode & 0o111 != 0, "{} is executable", script.display());
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let ci_commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('#') && !l.starts_with("set ") && !l.starts_with("cd ")
        })
        .collect();
    assert_eq!(ci_commands, [format!("exec {test}")]);
    let body = std::fs::read_to_string(&script).unwrap();
    for needed in [
        "tshark",
        "scapy",
        "grpc",
        "generate.py",
        "validate.sh",
        "cargo fmt",
        "cargo clippy",
        "cargo test --workspace",
    ] {
        assert!(body.contains(needed), "{test} handles {needed}");
    }
}

/// The text of the README section `## title`, up to the next `## `.
fn section(text: &str, title: &str) -> String {
    let start = text
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("README has a \"{title}\" section"));
    let body = &text[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 3);
    body[..end].to_owned()
}

#[test]
fn the_drop_reasons_are_the_codes_table() {
    let text = section(&readme(), "Drop reasons");
    let table = dataplane::counters::DropReason::markdown_table();
    assert!(
        text.contains(&table),
        "the README's drop reasons are not the code's; they are:\n{table}"
    );
}

/// The long options a command's `--help` lists (without --help and --version).
fn help_flags(mut command: std::process::Command) -> std::collections::BTreeSet<String> {
    let output = command.arg("--help").output().unwrap();
    assert!(output.status.success());
    // The option each line of the options list starts with (not those its help
    // text mentions).
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| flags(line.split("  ").next().unwrap()).into_iter().next())
        .filter(|flag| flag != "--help" && flag != "--version")
        .collect()
}

fn flags(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if word.len() > 2
            && word.starts_with("--")
            && word[2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
        {
            found.insert(word.to_owned());
        }
    }
    found
}

#[test]
fn the_command_reference_lists_every_option_and_no_other() {
    let text = section(&readme(), "Command-line reference");
    let block = text
        .split("```")
        .nth(1)
        .expect("the reference has a code block");
    // Each command starts a line; its continuation lines are indented.
    let mut usages: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with(' ') {
            usages.last_mut().expect("a command first").1.push_str(line);
        } else if !line.trim().is_empty() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let name = if words[0] == "dpctl" {
                "dpctl".to_owned()
            } else {
                format!("{} {}", words[0], words[1])
            };
            usages.push((name, line.to_owned()));
        }
    }
    let names: Vec<&str> = usages.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dataplane replay",
            "dataplane run",
            "dataplane check",
            "dpctl"
        ]
    );
    for (name, usage) in &usages {
        let command = match name.split_once(' ') {
            Some((_, sub)) => {
                let mut command = support::dataplane();
                command.arg(sub);
                command
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_dpctl")),
        };
        assert_eq!(flags(usage), help_flags(command), "{name}");
    }
}
