//! `reimage validate`: cloud-init's verdicts and reimage's lints, as text, JSON Lines, GitHub
//! workflow annotations or SARIF 2.1.0.

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

    /// `text`: one line per finding, `FILE:LINE:COL: error|warning|info[CODE]: PATH: message`
    /// (`FILE[part N NAME]:…` inside a multipart message). `json`: JSON Lines, one object per
    /// file. `github`: GitHub Actions workflow commands (`::error file=…,line=…,col=…,title=…::…`),
    /// one per finding. `sarif`: one SARIF 2.1.0 log for all the files, one rule per finding code.
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
    Github,
    Sarif,
}

impl Args {
    /// The arguments after `validate` when each is in its plain form (`--flag`, `--option VALUE`
    /// or `--option=VALUE`, `-o VALUE`, `-i VALUE`, a file), every value is one clap takes, and no
    /// single-valued option is repeated; `None` otherwise, for clap to parse (and to word the
    /// error, the help or the version). What this reads, it reads as clap does: the test
    /// `the_plain_validate_parser_agrees_with_clap` compares the two on generated command lines.
    /// Building clap's parser was the largest part of a small file's `reimage validate` left
    /// after the schema and the loader (`docs/benchmarks.md`).
    pub(crate) fn from_plain(argv: &[std::ffi::OsString]) -> Option<Args> {
        let mut args = Args {
            cloud_init: parse_version("26.2").ok()?,
            output: Output::Text,
            provider: None,
            provider_login: false,
            disabled: Vec::new(),
            explode: None,
            instance_data: None,
            os: TargetOs::Linux,
            files: Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut rest = argv.iter();
        while let Some(arg) = rest.next() {
            let arg = arg.to_str()?;
            if arg == "-" || !arg.starts_with('-') {
                if arg.is_empty() {
                    return None;
                }
                args.files.push(PathBuf::from(arg));
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value)),
                _ => (arg, None),
            };
            let name = match name {
                "-o" if inline.is_none() => "--output",
                "-i" if inline.is_none() => "--instance-data",
                _ => name,
            };
            if name == "--provider-login" {
                if inline.is_some() || args.provider_login {
                    return None;
                }
                args.provider_login = true;
                continue;
            }
            let value = match inline {
                Some(value) => value,
                None => rest.next()?.to_str()?,
            };
            if value.is_empty() || value.starts_with('-') {
                return None;
            }
            if name != "--disable-lint" {
                if seen.contains(&name) {
                    return None;
                }
                seen.push(name);
            }
            match name {
                "--cloud-init" => args.cloud_init = parse_version(value).ok()?,
                "--output" => args.output = Output::from_str(value, false).ok()?,
                "--provider" => {
                    args.provider = Some(match value {
                        "ecs" => Provider::Ecs,
                        "edis" => Provider::Edis,
                        _ => return None,
                    })
                }
                "--disable-lint" => args.disabled.push(parse_lint(value).ok()?),
                "--explode" => args.explode = Some(PathBuf::from(value)),
                "--instance-data" => args.instance_data = Some(PathBuf::from(value)),
                "--os" => args.os = TargetOs::from_str(value, false).ok()?,
                _ => return None,
            }
        }
        (!args.files.is_empty()).then_some(args)
    }
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
    // SARIF is one document for every file: it is written at the end.
    let mut sarif = Vec::new();
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
            Output::Github => write_github(&mut out, &shown, &report),
            Output::Sarif => {
                sarif.push((shown, report));
                Ok(())
            }
        };
        if written.is_err() {
            // stdout is gone (a closed pipe): nothing more can be said there.
            return code;
        }
    }
    if args.output == Output::Sarif {
        // A closed stdout leaves nothing to say it on; the exit code still tells.
        let _ = write_sarif(&mut out, &sarif);
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
        write_private(&target, &part.payload)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(())
}

/// Writes a decoded part, which may hold passwords or private keys: readable by its owner only
/// (0600 on Unix), and always a new file, so a symlink left where it goes is replaced, never
/// followed.
fn write_private(target: &Path, bytes: &[u8]) -> io::Result<()> {
    match std::fs::symlink_metadata(target) {
        Ok(_) => std::fs::remove_file(target)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(target)?.write_all(bytes)
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

/// One GitHub Actions workflow command per finding: `::error` for an error, `::warning` for a
/// warning, `::notice` for anything milder; the file, line and column, the code as the title,
/// and `PATH: message` as the text, escaped as GitHub's toolkit escapes them.
fn write_github(out: &mut impl Write, file: &str, report: &Report) -> io::Result<()> {
    for f in &report.findings {
        let command = match f.severity.as_str() {
            "error" => "error",
            "warning" => "warning",
            _ => "notice",
        };
        writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            github_property(file),
            f.line,
            f.column,
            github_property(&format!("reimage {}", f.code)),
            github_data(&annotation_text(f)),
        )?;
    }
    Ok(())
}

/// The text of an annotation (GitHub, SARIF): `PATH: message`, after `[part N NAME] ` for a
/// finding inside a part of a multipart message, whose line and column count in the decoded
/// part, not in the file.
fn annotation_text(f: &Finding) -> String {
    let path = if f.path.is_empty() { "(root)" } else { &f.path };
    match &f.part {
        Some(part) => format!("[{part}] {path}: {}", f.message),
        None => format!("{path}: {}", f.message),
    }
}

/// A workflow command's message: `%`, `\r` and `\n` escaped (`%25`, `%0D`, `%0A`).
fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as a message, and `:` and `,` escaped too (`%3A`,
/// `%2C`), since they end the value.
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Where reimage's findings are explained, for SARIF's `informationUri` and rules' `helpUri`.
const DOCS_URI: &str = "https://github.com/reimage-rs/reimage/blob/main/docs/cloud-init.md";

/// One SARIF 2.1.0 log for every file: a run of the tool `reimage`, one rule per finding code
/// that occurs (sorted by code, so the output is the same from run to run), one result per
/// finding with its file, line and column (counted in Unicode code points).
fn write_sarif(out: &mut impl Write, reports: &[(String, Report)]) -> io::Result<()> {
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    let codes: BTreeMap<&str, ()> = reports
        .iter()
        .flat_map(|(_, report)| report.findings.iter().map(|f| (f.code.as_str(), ())))
        .collect();
    let index: BTreeMap<&str, usize> = codes.keys().enumerate().map(|(i, c)| (*c, i)).collect();
    let rules: Vec<Value> = codes
        .keys()
        .map(|code| {
            json!({
                "id": code,
                "name": code,
                "shortDescription": { "text": rule_description(code) },
                "helpUri": DOCS_URI,
            })
        })
        .collect();
    let mut results = Vec::new();
    for (file, report) in reports {
        for f in &report.findings {
            let level = match f.severity.as_str() {
                "error" => "error",
                "warning" => "warning",
                _ => "note",
            };
            let mut location = json!({
                "physicalLocation": {
                    "artifactLocation": { "uri": file_uri(file) },
                    "region": { "startLine": f.line.max(1), "startColumn": f.column.max(1) },
                },
            });
            if !f.path.is_empty() {
                location["logicalLocations"] =
                    json!([{ "fullyQualifiedName": f.path, "kind": "member" }]);
            }
            results.push(json!({
                "ruleId": f.code.as_str(),
                "ruleIndex": index[f.code.as_str()],
                "level": level,
                "message": { "text": annotation_text(f) },
                "locations": [location],
            }));
        }
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "reimage",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": DOCS_URI,
                    "rules": rules,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// What a rule checks, by its finding code.
fn rule_description(code: &str) -> String {
    match code {
        "schema" => "cloud-init's JSON schema for cloud-config rejects the value".into(),
        "yaml" => "the YAML cannot be read as cloud-init reads it, or repeats a key".into(),
        "kind" => "the user data is not of a kind cloud-init will treat as intended".into(),
        "deprecated" => "cloud-init deprecates the key or the form of its value".into(),
        "lockout" => "the config leaves no way to log in to the server".into(),
        "plaintext-password" => "a password is given in clear text".into(),
        "flattened-content" => {
            "write_files fields at the top level, or an empty content: empty files".into()
        }
        "early-power-state" => "a reboot or power-off cuts runcmd's work short".into(),
        "size-limit" => "the user data is over the provider's size limit".into(),
        "jinja" => "the Jinja template cannot be rendered as cloud-init renders it, or uses \
                    variables the instance data does not have"
            .into(),
        "cloudbase-init" => "Cloudbase-Init ignores or misreads this part of the user data".into(),
        other => format!("reimage's {other} check"),
    }
}

/// A file name as a SARIF artifact URI: as given (a relative reference for a relative name,
/// `file://` before an absolute one), `/` between folders, and every byte outside the unreserved
/// characters percent-encoded.
fn file_uri(file: &str) -> String {
    let file = if cfg!(windows) {
        file.replace('\\', "/")
    } else {
        file.to_owned()
    };
    let mut uri = String::new();
    if file.starts_with('/') {
        uri.push_str("file://");
    }
    for byte in file.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(char::from(byte));
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}
