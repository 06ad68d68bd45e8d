//! `reimage`: reinstall and change the OS of cloud servers safely, from a terminal.
//!
//! Every command prints one clear line and a hint on error, never a panic or a debug dump, and
//! exits with a documented code (see `docs/cli.md`, generated from these definitions by
//! `cargo xtask codegen`).

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod after;
mod common;
mod config_cmd;
mod demo;
mod ecs;
mod edis;
mod emulator;
mod fleet;
mod reference;
mod validate;

/// The text after `reimage --help`: exit codes, credentials, logs.
const AFTER_HELP: &str = "\
## Exit codes

The provider commands (`reimage edis …`, `reimage ecs …`, `reimage demo`):

| code | meaning |
|---|---|
| 0 | done |
| 1 | the operation failed: the provider refused it (its code, message and request id are shown), or the job ended in FAIL |
| 2 | usage: a bad flag or id, a missing setting or credential, an unreadable file, no `--yes` without a terminal |
| 3 | the user data was refused: cloud-init would report errors, it leaves no way to log in (without `--allow-lockout`), it is over the provider's size limit, or it cannot work with the chosen image; nothing was sent |
| 4 | the credentials were refused or have expired |
| 5 | a wait or a request ran out of time; the operation may still finish |
| 6 | outcome unknown, not retried: a reinstall or change of OS was sent, its answer was lost, and the server shows no sign either way. Look at the server before running the command again |
| 7 | not confirmed: the answer to the prompt was not `yes`; nothing was sent |
| 8 | the provider could not be reached (connection, TLS, proxy), even after retries; nothing was sent |
| 9 | busy: another run holds what this one needs (`fleet apply` of the same plan holds its journal); nothing was sent |
| 10 | re-imaged, but cloud-init reported errors (`--wait=cloud-init`): the new system runs and its host key was verified, and cloud-init's console lists failed modules or errors, which the message names (`fleet apply`: every target done, some of them `cloud_init_errors`) |
| 130 | interrupted (Ctrl-C) during a wait: what was sent goes on at the provider, and the message gives the command that follows it again |

Every timeout (5), outcome unknown (6) and interruption (130) prints the exact command that \
looks again (`reimage ecs job JOB --wait`, `reimage ecs server --server ID`, \
`reimage edis wait --kvm ID`). Before a destructive command asks, it names the account (the \
access key's first four characters, or the IAM user and domain; the EDIS e-mail), the project, \
the endpoint and the region, each with where it came from.

With `--output json` (or `-o json`), every outcome prints one JSON document on stdout, errors \
included: `ok` (false), `exit_code`, and `error` with `kind`, `message`, `hint`, \
`provider_code` and `request_id`, where `kind` is one of `failed`, `usage`, `user_data_refused`, `auth`, \
`timeout`, `outcome_unknown`, `not_confirmed`, `unreachable`, `busy`, `cloud_init_errors`, `interrupted` \
(with `cloud_init_errors`, `result` holds the document a success would have printed). Durations (`--deadline`, \
`--request-timeout`) take seconds or units: `90s`, `5m`, `1h`, `1h30m`.

## After the job: `--wait=job|ssh|cloud-init` (ECS)

`ecs reinstall` and `ecs change-os` follow the operation in stages, each shown on the progress \
line (`stage ssh: …`, `stage cloud-init: …`):

- `job` (a bare `--wait`): the job reads `SUCCESS` and the server has left `REBUILD`. This proves \
the provider finished; nothing about the new system. It stays the default because it needs \
nothing but the provider's API: no network path from this machine to the server, no OpenSSH, \
and no file of yours changed, so every script that used `--wait` keeps working as it did.
- `ssh`: then the host keys that the new system's cloud-init wrote to the server's console \
(ECS's console log, read through the API, so out of band: no trust on first use), only from \
the last boot; then the key the SSH server on the public address (port `--ssh-port`, 22) \
presents, read with OpenSSH's own `ssh-keyscan`, must be one of them. A key that is not is \
refused (exit 1): the message names both fingerprints and known_hosts is not touched. The \
verified keys then go into `--known-hosts FILE` (default `~/.ssh/known_hosts`; `none` leaves \
every file alone): the entries of that address and port are removed (plain, `[host]:port` and \
hashed), the verified keys added (hashed if the file already holds hashed entries), every other \
line kept byte for byte, the file replaced atomically (written, fsynced, renamed). A key that \
was not verified is never written. A later `ssh -o StrictHostKeyChecking=yes` connects without \
a prompt or a warning.
- `cloud-init`: then cloud-init's own verdict, from the same console: its final message \
(`Cloud-init v. … finished at …`) and the modules that failed (`Running module … failed`) or \
errors it logged. Errors end with exit code 10. Taken on trust: that the console is the \
server's (the provider says so), and that the user data keeps cloud-init's default \
`ssh: {emit_keys_to_console: true}` and final message; without them reimage cannot verify and \
says so.

Why `ssh-keyscan` rather than an SSH library: it is OpenSSH's own key exchange (the same code \
that will later connect), it reads every host key type the server offers, it adds no \
cryptographic stack to reimage, and it writes nothing. It does not read `~/.ssh/config` (no \
`ProxyJump`): the address must be reachable directly.

EDIS has no console. There `reimage edis reinstall --host-keys inject` makes the key known \
before the KVM boots: reimage generates it and adds it to the cloud-config as cloud-init's \
`ssh_keys` (redacted in `--dry-run`), and `--wait=ssh` requires the KVM to present exactly that \
key before writing it to known_hosts. The private key then travels through EDIS's API in the \
user data and stays in the instance's user data ([edis.md](edis.md)). Without it, EDIS's \
`--wait=ssh` waits until the KVM presents a host key other than the ones it presented before \
the reinstall was sent: proof that a new system answers, not of who it is, so the key is \
reported as changed (JSON `changed_host_keys`), not verified, and known_hosts is left alone. \
`--wait=cloud-init` is refused for EDIS before anything is sent.

`reimage validate` keeps its own codes: 0 valid (warnings allowed), 1 invalid, 2 usage or read error. \
`reimage emulator` exits 0 when stopped by SIGINT or SIGTERM and 2 when it cannot start.

## Credentials and endpoints

Flags first, then environment variables, then a profile of `~/.config/reimage/config.toml`. \
A profile named explicitly (`--profile NAME`, or a fleet plan's `profile`) wins over the \
environment: its settings are used and the variables are not read (a warning lists the ones that \
were set). One credential always comes whole from one place: an access key from the environment \
with a secret key from a profile (or a user name from one and a password from the other) is \
refused, never mixed; a `--*-file` flag completes the credential of either place.

- ECS with an IAM token: `OS_USERNAME`, `OS_PASSWORD`, `OS_USER_DOMAIN_NAME` (or \
`OS_DOMAIN_NAME`), `OS_PROJECT_ID` or `OS_PROJECT_NAME`, `OS_AUTH_URL`, `OS_REGION_NAME`.
- ECS with AK/SK signing: `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`, \
`HUAWEICLOUD_SDK_PROJECT_ID` (and `HUAWEICLOUD_SDK_SECURITY_TOKEN` for temporary keys).
- EDIS: `EDIS_EMAIL`, `EDIS_PASSWORD`, `EDIS_AUTH_URL`.
- `--region` (with `--cloud huawei|otc`, or `cloud` in a profile) builds the public endpoints. \
`HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured; loopback is never proxied.

`reimage config show [--profile NAME]` prints every setting with where it came from, secrets \
masked. The config file and every one of its keys, with an example of each: \
[config.md](config.md).

Passwords are read from files or stdin (`--admin-password-file -`), never from the command line. \
A config file that holds secrets and that others can read gets a warning.

## Logs

`RUST_LOG` sets what goes to stderr (default `warn`; `RUST_LOG=reimage_client=debug` shows one \
line per HTTP call with its status, request id and duration). No secret reaches a log at any level.";

/// The text after `reimage validate --help`: the formats.
const VALIDATE_AFTER_HELP: &str = "\
In `--output text`, each finding is one line: `FILE:LINE:COL: error|warning|info[CODE]: PATH: \
message`; in a MIME multipart message or `#cloud-config-archive`, `FILE[part N filename]:LINE:COL`, \
with the line inside the decoded part. CODE is `schema`, `yaml`, `kind`, `deprecated`, `jinja`, \
`cloudbase-init`, or a lint's code. PATH is cloud-init's dotted path, or `(root)` for the whole \
document. A finding in what a `## template: jinja` renders to is at the rendered text's line, and \
its message says so (with the file's line where the two map one to one). Control characters in a path or message (a newline \
in a YAML key, say) are escaped, so one finding is always one line. Schema messages never quote \
a value under a password key.

In `--output json`, each file is one line (JSON Lines): `file`, `kind`, `valid`, `errors[]`, \
`warnings[]`, and when there are any `notes[]` (info) and `parts[]` (`index`, `filename`, \
`content_type`, `kind`); each finding has `path`, `line`, `column`, `code`, `message`, and \
`part` (`index`, `filename`) in a multipart message.

Exit codes: 0 every file is valid (warnings allowed); 1 at least one file is invalid; 2 a usage \
or read error (a bad flag, a missing file, a directory, a file over 16 MiB). See \
[cloud-init.md](cloud-init.md).";

/// Reinstall and change the operating system of cloud servers, safely.
#[derive(Debug, Parser)]
#[command(
    name = "reimage",
    version,
    about = "Reinstall and change the operating system of cloud servers (EDIS Global KVM, ECS on \
             Huawei Cloud and Open Telekom Cloud), safely: user data checked before it leaves, \
             secrets never printed, no second wipe after a lost answer, and every job followed to \
             its end.",
    after_long_help = AFTER_HELP,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job on the built-in emulator: validate a cloud-config, reinstall an EDIS
    /// KVM, reinstall an ECS server with an IAM token, and change another's OS with AK/SK, each
    /// followed to its end; after each ECS job, the host key its SSH presents is checked against
    /// its console (a real sshd on loopback, when OpenSSH is installed) and written to a
    /// known_hosts of the demo's own, and cloud-init's verdict read; then print a summary table.
    Demo(demo::Args),
    /// EDIS Global KVM: images, reinstall, power and status.
    Edis(edis::Args),
    /// ECS (Huawei Cloud, Open Telekom Cloud): token, reinstall, change-os, job, server, stop
    /// and start.
    Ecs(Box<ecs::Args>),
    /// Re-image many servers, on both providers, from one plan file: check it offline, apply it
    /// with bounded concurrency and a rate limit, resume it after a crash without re-imaging any
    /// server twice, and show its journal.
    Fleet(fleet::cmd::Args),
    /// Check cloud-init user data with cloud-init's own verdicts, at line and column, plus
    /// reimage's lints. Exit code: 0 when every file is valid (warnings allowed), 1 when any is
    /// invalid, 2 on a usage or read error.
    #[command(after_long_help = VALIDATE_AFTER_HELP)]
    Validate(validate::Args),
    /// Show the settings the provider commands would use: `reimage config show [--profile NAME]`
    /// prints each with where it came from, secrets masked.
    Config(config_cmd::Args),
    /// Run the local EDIS + ECS + IAM emulator in the foreground. Its first line on stdout is
    /// `listening on http://ADDR`; it stops cleanly on SIGINT and SIGTERM.
    Emulator(emulator::Args),
    /// Print the completion script of SHELL (bash, elvish, fish, powershell, zsh) on stdout,
    /// e.g. `reimage completions bash > ~/.local/share/bash-completion/completions/reimage`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Prints the Markdown command-line reference (docs/cli.md).
    #[command(name = "__reference", hide = true)]
    Reference,
    /// Writes the man pages (docs/man/*.1), in roff, into DIR.
    #[command(name = "__man", hide = true)]
    Man {
        /// The folder to write them in.
        dir: std::path::PathBuf,
    },
}

/// `reimage validate …` alone: the same program name, version and subcommand as [`Cli`], with
/// only that subcommand built. `validate` runs once per file in editors, hooks and CI steps, and
/// building the whole command tree was a third of its start-up; the test
/// `the_validate_fast_path_parses_as_the_full_cli_does` keeps the two in step.
#[derive(Debug, Parser)]
#[command(name = "reimage", version, propagate_version = true)]
struct ValidateCli {
    #[command(subcommand)]
    command: ValidateOnly,
}

#[derive(Debug, Subcommand)]
enum ValidateOnly {
    /// Check cloud-init user data with cloud-init's own verdicts, at line and column, plus
    /// reimage's lints. Exit code: 0 when every file is valid (warnings allowed), 1 when any is
    /// invalid, 2 on a usage or read error.
    #[command(after_long_help = VALIDATE_AFTER_HELP)]
    Validate(validate::Args),
}

fn main() -> ExitCode {
    // `validate` starts with only the work it needs: its own parser, no log subscriber, no
    // runtime.
    // Its plain command lines are read without building even that parser.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|arg| arg == "validate") {
        let args = match validate::Args::from_plain(&argv[2..]) {
            Some(args) => args,
            None => {
                let ValidateCli {
                    command: ValidateOnly::Validate(args),
                } = ValidateCli::parse_from(argv);
                args
            }
        };
        return finish(validate::run(&args));
    }
    let cli = Cli::parse();
    init_tracing();
    let code = match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Edis(args) => edis::run(args),
        Command::Ecs(args) => ecs::run(args),
        Command::Fleet(args) => fleet::cmd::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Config(args) => config_cmd::run(args),
        Command::Emulator(args) => emulator::run(args),
        Command::Reference => {
            let text = reference::markdown(&Cli::command());
            match std::io::stdout().write_all(text.as_bytes()) {
                Ok(()) => 0,
                Err(_) => common::exit::FAILED,
            }
        }
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails (`… | head`).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut completed(), "reimage", &mut script);
            match std::io::stdout().write_all(&script) {
                Ok(()) => 0,
                Err(_) => common::exit::FAILED,
            }
        }
        Command::Man { dir } => match reference::write_man_pages(Cli::command(), dir) {
            Ok(()) => 0,
            Err(e) => {
                note(&format!("reimage __man: {}: {e}", dir.display()));
                common::exit::FAILED
            }
        },
    };
    finish(code)
}

/// Flushes stdout and exits with `code`.
fn finish(code: u8) -> ExitCode {
    // A closed stdout (`reimage validate … | head`) is not an error worth a panic.
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}

/// The command line as shells complete it: the hidden subcommands (`__reference`, `__man`),
/// which clap_complete would offer, are left out.
fn completed() -> clap::Command {
    let full = Cli::command();
    let mut shown = clap::Command::new("reimage")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true);
    if let Some(about) = full.get_about() {
        shown = shown.about(about.clone());
    }
    shown
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`).
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true)
        .try_init();
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
        super::ValidateCli::command().debug_assert();
    }

    /// The fast path for `reimage validate` has the same subcommand as the full CLI: the same
    /// help, the same version, and the same arguments parsed the same way.
    #[test]
    fn the_validate_fast_path_parses_as_the_full_cli_does() {
        use clap::Parser;

        let mut full = super::Cli::command();
        let mut fast = super::ValidateCli::command();
        assert_eq!(fast.get_version(), full.get_version());
        let full_sub = full
            .find_subcommand_mut("validate")
            .expect("validate")
            .clone();
        let fast_sub = fast
            .find_subcommand_mut("validate")
            .expect("validate")
            .clone();
        assert_eq!(
            fast_sub.clone().render_long_help().to_string(),
            full_sub.clone().render_long_help().to_string()
        );
        assert_eq!(
            fast_sub.clone().render_help().to_string(),
            full_sub.clone().render_help().to_string()
        );
        let argv = [
            "reimage",
            "validate",
            "--cloud-init",
            "22.4",
            "-o",
            "json",
            "a.yaml",
        ];
        let super::Command::Validate(full_args) = super::Cli::parse_from(argv).command else {
            panic!("not validate");
        };
        let super::ValidateCli {
            command: super::ValidateOnly::Validate(fast_args),
        } = super::ValidateCli::parse_from(argv);
        assert_eq!(format!("{fast_args:?}"), format!("{full_args:?}"));
        // A usage error reads the same from both.
        let bad = ["reimage", "validate", "--cloud-init", "9.9", "a.yaml"];
        let full_error = super::Cli::try_parse_from(bad).unwrap_err().to_string();
        let fast_error = super::ValidateCli::try_parse_from(bad)
            .unwrap_err()
            .to_string();
        assert_eq!(fast_error, full_error);
    }

    /// The plain parser of `validate`'s arguments reads every command line it takes as clap
    /// does, takes the common ones, and leaves the rest (errors, help, odd forms) to clap.
    #[test]
    fn the_plain_validate_parser_agrees_with_clap() {
        use clap::Parser;
        use proptest::prelude::*;
        use std::ffi::OsString;

        fn check(tail: &[&str]) -> bool {
            let argv: Vec<OsString> = ["reimage", "validate"]
                .iter()
                .chain(tail)
                .map(OsString::from)
                .collect();
            let plain = super::validate::Args::from_plain(&argv[2..]);
            let clap = super::ValidateCli::try_parse_from(&argv);
            if let Some(plain) = &plain {
                let super::ValidateCli {
                    command: super::ValidateOnly::Validate(clap),
                } = clap.unwrap_or_else(|e| panic!("{tail:?}: plain took what clap refuses: {e}"));
                assert_eq!(format!("{plain:?}"), format!("{clap:?}"), "{tail:?}");
            }
            plain.is_some()
        }

        // What editors, hooks, CI steps and the bench run: all taken by the plain parser.
        for tail in [
            &["a.yaml"][..],
            &["--cloud-init", "22.4", "small.yaml"],
            &["--cloud-init=26.2", "-o", "json", "a.yaml", "b.yaml"],
            &["-o", "github", "--provider", "ecs", "--provider-login", "-"],
            &[
                "--output=sarif",
                "--disable-lint",
                "lockout",
                "--disable-lint=size-limit",
                "x",
            ],
            &[
                "-i",
                "instance-data.json",
                "--os",
                "windows",
                "--explode",
                "out",
                "t.yaml",
            ],
            &["--instance-data=d.json", "--provider=edis", "a.yaml"],
        ] {
            assert!(check(tail), "{tail:?} is plain");
        }
        // Left to clap.
        for tail in [
            &[][..],
            &["--help"],
            &["-V"],
            &["--cloud-init", "9.9", "a.yaml"],
            &["--cloud-init", "22.4", "--cloud-init", "26.2", "a.yaml"],
            &["-ojson", "a.yaml"],
            &["--", "-a.yaml"],
            &["--provider-login", "--provider-login", "a.yaml"],
            &["--os", "beos", "a.yaml"],
        ] {
            assert!(!check(tail), "{tail:?} is left to clap");
        }
        const TOKENS: &[&str] = &[
            "a.yaml",
            "-",
            "",
            "--cloud-init",
            "22.4",
            "26.2",
            "9.9",
            "--cloud-init=22.4",
            "-o",
            "--output",
            "--output=json",
            "json",
            "text",
            "github",
            "sarif",
            "xml",
            "--provider",
            "ecs",
            "edis",
            "--provider=ecs",
            "--provider-login",
            "--provider-login=true",
            "--disable-lint",
            "lockout",
            "size-limit",
            "nope",
            "--disable-lint=plaintext-password",
            "--explode",
            "dir",
            "-i",
            "--instance-data",
            "--instance-data=d.json",
            "--os",
            "linux",
            "windows",
            "--os=windows",
            "--",
            "--help",
            "-h",
            "-V",
            "-x",
            "-oj",
            "--unknown",
            "-o=json",
        ];
        proptest!(ProptestConfig::with_cases(3_000), |(picks in prop::collection::vec(0..TOKENS.len(), 0..7))| {
            let tail: Vec<&str> = picks.iter().map(|&i| TOKENS[i]).collect();
            check(&tail);
        });
    }
}
