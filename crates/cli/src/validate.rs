//! `reimage validate`: cloud-init's verdicts and reimage's lints, as text or JSON Lines.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use clap::builder::TypedValueParser as _;
use reimage_cloudinit::lint::Lint;
use reimage_cloudinit::schema::Version;
use reimage_cloudinit::{Finding, Options, Report, Severity};
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

    /// `text`: one line per finding, `FILE:LINE:COL: error|warning|info[CODE]: PATH: message`.
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

    /// Write the decoded parts of a MIME multipart message or `#cloud-config-archive` into DIR
    /// (created if missing), one file per part named by its index and filename (`02-bad.yaml`),
    /// to see what the server will get. With several files, each gets a subdirectory.
    #[arg(long, value_name = "DIR")]
    explode: Option<PathBuf>,

    /// The files to check (`-` reads stdin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
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
        if let Some(dir) = &args.explode {
            let dir = if args.files.len() > 1 {
                dir.join(explode_dir_name(path))
            } else {
                dir.clone()
            };
            if let Err(message) = explode(&dir, &report) {
                crate::note(&format!(
                    "reimage validate: --explode {}: {message}",
                    dir.display()
                ));
                code = exit::USAGE;
            }
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

/// Reads a user data file (`-`: stdin), at most 16 MiB; the error says what is wrong, without
/// the path. `reimage-fleet` holds the one copy of the rules, which a plan's files follow too.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    reimage_fleet::user_data::read_user_data_source(path, io::stdin)
}

/// The subdirectory `--explode` uses for one of several files: its file name, made safe.
fn explode_dir_name(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".to_owned())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "file".to_owned()
    } else {
        name.to_owned()
    }
}

/// Writes every part of `report` into `dir`, named by [`reimage_cloudinit::multipart::Part::file_name`]
/// (its index and a safe form of its filename: never a path out of `dir`).
fn explode(dir: &Path, report: &Report) -> Result<(), String> {
    if report.parts.is_empty() {
        crate::note(&format!(
            "reimage validate: --explode: the file is {}, not a MIME multipart message or \
             #cloud-config-archive: it has no parts to write",
            report.kind
        ));
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the directory: {e}"))?;
    for part in &report.parts {
        let target = dir.join(part.file_name());
        std::fs::write(&target, &part.payload)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(())
}

fn write_text(out: &mut impl Write, file: &str, report: &Report) -> io::Result<()> {
    for f in &report.findings {
        writeln!(out, "{}", finding_line(file, f))?;
    }
    Ok(())
}

/// One finding as one line of text, `FILE:LINE:COL: SEVERITY[CODE]: PATH: message`, with
/// `FILE[part N name]` for a part of a multipart message; every command prints findings so.
pub(crate) fn finding_line(file: &str, f: &Finding) -> String {
    let path = if f.path.is_empty() { "(root)" } else { &f.path };
    let file = match &f.part {
        Some(part) => format!("{file}[{part}]"),
        None => file.to_owned(),
    };
    format!(
        "{}:{}:{}: {}[{}]: {}: {}",
        one_line(&file),
        f.line,
        f.column,
        f.severity,
        f.code,
        one_line(path),
        one_line(&f.message)
    )
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
    /// Notes (`info`): what a part is when reimage cannot check it further.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<JsonFinding<'a>>,
    /// The parts of a multipart message or archive.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<JsonPart<'a>>,
}

#[derive(serde::Serialize)]
struct JsonPart<'a> {
    index: usize,
    filename: Option<&'a str>,
    content_type: &'a str,
    kind: &'a str,
}

/// The part a finding is in, for `--output json`.
#[derive(serde::Serialize)]
struct JsonPartRef<'a> {
    index: usize,
    filename: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct JsonFinding<'a> {
    path: &'a str,
    line: u32,
    column: u32,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<JsonPartRef<'a>>,
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
                part: f.part.as_ref().map(|p| JsonPartRef {
                    index: p.index,
                    filename: p.filename.as_deref(),
                }),
            })
            .collect()
    };
    let line = JsonReport {
        file,
        kind: report.kind.as_str(),
        valid: report.valid(),
        errors: of(Severity::Error),
        warnings: of(Severity::Warning),
        notes: of(Severity::Info),
        parts: report
            .parts
            .iter()
            .map(|p| JsonPart {
                index: p.index,
                filename: p.filename.as_deref(),
                content_type: &p.content_type,
                kind: p.kind.as_str(),
            })
            .collect(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    writeln!(out)
}
