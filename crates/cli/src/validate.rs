//! `reimage validate`: cloud-init's verdicts and reimage's lints, as text or JSON Lines.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use clap::builder::TypedValueParser as _;
use reimage_cloudinit::jinja::InstanceData;
use reimage_cloudinit::lint::Lint;
use reimage_cloudinit::schema::Version;
use reimage_cloudinit::{Finding, Options, Os, Report, Severity};
use reimage_core::Provider;

/// Exit codes of `reimage validate`.
pub(crate) mod exit {
    /// Every file is valid (warnings allowed).
    pub(crate) const VALID: u8 = 0;
    /// At least one file is invalid.
    pub(crate) const INVALID: u8 = 1;
    /// A usage or read error.
    pub(crate) const USAGE: u8 = 2;
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The cloud-init version whose schema to check against.
    #[arg(long = "cloud-init", value_name = "VERSION", default_value = "26.2", value_parser = parse_version)]
    cloud_init: Version,

    /// `text`: one line per finding, `FILE:LINE:COL: error|warning[CODE]: PATH: message`.
    /// `json`: JSON Lines, one object per file.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,

    /// Where the user data goes: `ecs` checks ECS's 32 KB limit (`size-limit`, an error with the
    /// provider known: ECS refuses such user data). EDIS documents no limit.
    #[arg(
        long,
        value_name = "PROVIDER",
        value_parser = clap::builder::PossibleValuesParser::new(["ecs", "edis"])
            .map(|s| if s == "ecs" { Provider::Ecs } else { Provider::Edis })
    )]
    provider: Option<Provider>,

    /// The provider is given a password or key pair for the new OS, so the `lockout` lint counts
    /// that as a way in.
    #[arg(long = "provider-login")]
    provider_login: bool,

    /// Switch off one of reimage's lints by its code (lockout, plaintext-password,
    /// flattened-content, early-power-state, size-limit). Repeatable.
    #[arg(long = "disable-lint", value_name = "CODE", value_parser = parse_lint)]
    disabled: Vec<Lint>,

    /// Render `## template: jinja` files with this instance data (cloud-init's
    /// `instance-data.json`, as `cloud-init schema -c FILE -i FILE` takes it). Without it,
    /// templates are rendered with none, and the variables they use are listed as unknown until
    /// boot (a warning).
    #[arg(long = "instance-data", short = 'i', value_name = "FILE")]
    instance_data: Option<PathBuf>,

    /// The image's operating system: `windows` checks the user data as Cloudbase-Init reads it
    /// (`#ps1_sysnative`, `rem cmd`, its cloud-config keys) and switches cloud-init's lints off.
    #[arg(long, value_enum, default_value_t = TargetOs::Linux)]
    os: TargetOs,

    /// The files to check (`-` reads stdin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetOs {
    Linux,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse::<Version>()
        .map_err(|_| format!("{s:?} is not a supported cloud-init version; use 22.4 or 26.2"))
}

fn parse_lint(s: &str) -> Result<Lint, String> {
    Lint::from_code(s).ok_or_else(|| {
        let codes: Vec<&str> = Lint::ALL.iter().map(|l| l.code()).collect();
        format!(
            "{s:?} is not a lint code; the codes are {}",
            codes.join(", ")
        )
    })
}

/// Runs the command and returns its exit code.
pub(crate) fn run(args: &Args) -> u8 {
    let mut options = Options::default()
        .with_version(args.cloud_init)
        .with_provider_login(args.provider_login)
        .with_size_limit(args.provider.and_then(Provider::user_data_limit));
    for lint in &args.disabled {
        options = options.disable(*lint);
    }
    if args.os == TargetOs::Windows {
        options = options.with_os(Os::Windows);
    }
    if let Some(path) = &args.instance_data {
        match read_instance_data(path) {
            Ok(data) => options = options.with_instance_data(data),
            Err(message) => {
                crate::note(&format!(
                    "reimage validate: --instance-data {}: {message}",
                    path.display()
                ));
                return exit::USAGE;
            }
        }
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut code = exit::VALID;
    for path in &args.files {
        let shown = path.display().to_string();
        let bytes = match read(path) {
            Ok(bytes) => bytes,
            Err(message) => {
                crate::note(&format!("reimage validate: {shown}: {message}"));
                code = exit::USAGE;
                continue;
            }
        };
        let mut report = reimage_cloudinit::validate(&bytes, &options);
        // With the provider known, user data over its limit is an error: cloud-init would take
        // it, but the provider refuses it.
        for finding in &mut report.findings {
            if finding.code == reimage_cloudinit::Code::Lint(Lint::SizeLimit) {
                finding.severity = Severity::Error;
            }
        }
        if !report.valid() && code == exit::VALID {
            code = exit::INVALID;
        }
        let written = match args.output {
            Output::Text => write_text(&mut out, &shown, &report),
            Output::Json => write_json(&mut out, &shown, &report),
        };
        if written.is_err() {
            // stdout is gone (a closed pipe): nothing more can be said there.
            return code;
        }
    }
    code
}

/// Reads `instance-data.json`; the error says what is wrong, without the path.
fn read_instance_data(path: &Path) -> Result<InstanceData, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    InstanceData::from_json(&bytes)
}

/// Reads a user data file (`-`: stdin), at most 16 MiB; the error says what is wrong, without
/// the path. `reimage-fleet` holds the one copy of the rules, which a plan's files follow too.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    reimage_fleet::user_data::read_user_data_source(path, io::stdin)
}

fn write_text(out: &mut impl Write, file: &str, report: &Report) -> io::Result<()> {
    for f in &report.findings {
        let path = if f.path.is_empty() { "(root)" } else { &f.path };
        writeln!(
            out,
            "{}:{}:{}: {}[{}]: {}: {}",
            one_line(file),
            f.line,
            f.column,
            f.severity,
            f.code,
            one_line(path),
            one_line(&f.message)
        )?;
    }
    Ok(())
}

/// Escapes control characters (a newline in a YAML key, say), so one finding is always one
/// line and a crafted key cannot forge another; `reimage-fleet`'s, shared with the fleet's tables.
pub(crate) use reimage_fleet::text::one_line;

/// One line of `--output json`, with its fields in the documented order.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    file: &'a str,
    kind: &'a str,
    valid: bool,
    errors: Vec<JsonFinding<'a>>,
    warnings: Vec<JsonFinding<'a>>,
}

#[derive(serde::Serialize)]
struct JsonFinding<'a> {
    path: &'a str,
    line: u32,
    column: u32,
    code: &'a str,
    message: &'a str,
}

fn write_json(out: &mut impl Write, file: &str, report: &Report) -> io::Result<()> {
    let of = |severity: Severity| -> Vec<JsonFinding<'_>> {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f: &Finding| JsonFinding {
                path: &f.path,
                line: f.line,
                column: f.column,
                code: f.code.as_str(),
                message: &f.message,
            })
            .collect()
    };
    let line = JsonReport {
        file,
        kind: report.kind.as_str(),
        valid: report.valid(),
        errors: of(Severity::Error),
        warnings: of(Severity::Warning),
    };
    serde_json::to_writer(&mut *out, &line)?;
    writeln!(out)
}
