//! A reader that stops early (`dpctl stats -o json | head`) closes the pipe; the
//! standard library's print macros then panic. For a command-line tool that is the
//! normal end of its output, so the commands end quietly with status 0 instead.

use std::panic::PanicHookInfo;

/// Installs a panic hook that turns "failed printing to stdout: Broken pipe" into a
/// quiet exit 0; every other panic is reported as before.
pub fn end_quietly_on_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_stdout_broken_pipe(info) {
            std::process::exit(0);
        }
        previous(info);
    }));
}

fn is_stdout_broken_pipe(info: &PanicHookInfo<'_>) -> bool {
    let message = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("");
    message.starts_with("failed printing to stdout") && message.contains("Broken pipe")
}
