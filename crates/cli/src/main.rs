//! `reimage`: reinstall and change the OS of cloud servers safely, from a terminal.
//!
//! Every command prints one clear line and a hint on error, never a panic or a debug dump, and
//! exits with a documented code (see `docs/cli.md`).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod emulator;
mod validate;

/// Reinstall and change the operating system of cloud servers, safely.
#[derive(Debug, Parser)]
#[command(name = "reimage", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check cloud-init user data with cloud-init's own verdicts, at line and column, plus
    /// reimage's lints. Exit code: 0 when every file is valid (warnings allowed), 1 when any is
    /// invalid, 2 on a usage or read error.
    Validate(validate::Args),
    /// Run the local EDIS + ECS + IAM emulator in the foreground. Its first line on stdout is
    /// `listening on http://ADDR`; it stops cleanly on SIGINT and SIGTERM.
    Emulator(emulator::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Emulator(args) => emulator::run(&args),
    };
    // A closed stdout (`reimage validate … | head`) is not an error worth a panic.
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}

/// Prints a line on stdout, flushed at once (scripts wait for it).
#[allow(clippy::print_stdout)]
pub(crate) fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// Prints a line for the person on stderr.
#[allow(clippy::print_stderr)]
pub(crate) fn note(line: &str) {
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (unique names, valid defaults) for every subcommand.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
