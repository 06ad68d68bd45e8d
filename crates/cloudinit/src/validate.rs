//! The whole pipeline: kind, YAML, schema, lints; one [`Report`] per file.

use crate::finding::{Code, Finding, Severity};
use crate::jinja::{self, InstanceData};
use crate::kind::{self, Kind};
use crate::lint::{self, Lint, LintContext};
use crate::multipart;
use crate::schema::{self, Version};
use crate::yaml::{self, Mark, Node, Value};

/// What to check, and against which cloud-init.
///
/// ```
/// use reimage_cloudinit::{Options, lint::Lint, schema::Version};
///
/// let options = Options::default().with_version(Version::V22_4).disable(Lint::PlaintextPassword);
/// assert_eq!(options.version, Version::V22_4);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The cloud-init release whose schema applies; the latest by default.
    pub version: Version,
    /// The lints: which are off, and what they know about the target.
    pub lints: LintContext,
    /// The instance data a `## template: jinja` is rendered with (cloud-init's `-i`); without
    /// it, templates are rendered with none and the missing variables are listed.
    pub instance_data: Option<InstanceData>,
    /// The operating system of the image: on Windows, Cloudbase-Init reads the user data.
    pub os: Os,
}

/// The operating system the user data is for, which says who reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Os {
    /// Linux and the BSDs: cloud-init.
    #[default]
    Linux,
    /// Windows: Cloudbase-Init, with its own headers and a subset of cloud-config.
    Windows,
}

impl Os {
    /// `linux` or `windows`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
        }
    }
}

impl Options {
    /// Targets `version`'s schema.
    #[must_use]
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Switches `lint` off.
    #[must_use]
    pub fn disable(mut self, lint: Lint) -> Self {
        self.lints.disabled.insert(lint);
        self
    }

    /// Says that the provider is given a password or key pair, which the lockout check counts as
    /// a way in.
    #[must_use]
    pub fn with_provider_login(mut self, provider_login: bool) -> Self {
        self.lints.provider_login = provider_login;
        self
    }

    /// Renders Jinja templates with `data` (cloud-init's `instance-data.json`).
    #[must_use]
    pub fn with_instance_data(mut self, data: InstanceData) -> Self {
        self.instance_data = Some(data);
        self
    }

    /// Targets an image of `os` (Windows: Cloudbase-Init's rules).
    #[must_use]
    pub fn with_os(mut self, os: Os) -> Self {
        self.os = os;
        self
    }

    /// Sets the target provider's size limit (bytes before encoding) for the `size-limit` lint.
    #[must_use]
    pub fn with_size_limit(mut self, limit: Option<usize>) -> Self {
        self.lints.size_limit = limit;
        self
    }
}

/// What validation found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The kind of user data, as cloud-init recognises it (after gzip, if it was gzipped).
    pub kind: Kind,
    /// Whether the bytes were gzip.
    pub gzipped: bool,
    /// Every finding, in file order (the file's own first, then part by part).
    pub findings: Vec<Finding>,
    /// The parts of a MIME multipart message or `#cloud-config-archive`, decoded, in the order
    /// cloud-init handles them; empty for other kinds.
    pub parts: Vec<multipart::Part>,
}

impl Report {
    /// Whether cloud-init would accept the file: no error (warnings are allowed).
    pub fn valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// The `lockout` finding that says the config leaves no way to log in at all, if there is
    /// one. cloud-init accepts such a config, so it is a warning here; a command that sends it to
    /// a server treats it as a refusal unless the person says they mean it (`--allow-lockout`).
    /// The other `lockout` findings (a locked password, SSH closed to passwords) leave a way in
    /// and are not returned.
    ///
    /// ```
    /// use reimage_cloudinit::Options;
    ///
    /// let report = reimage_cloudinit::validate(b"#cloud-config\nhostname: web\n", &Options::default());
    /// assert!(report.valid());
    /// assert!(report.lockout().is_some());
    /// let given = Options::default().with_provider_login(true);
    /// assert!(reimage_cloudinit::validate(b"#cloud-config\nhostname: web\n", &given).lockout().is_none());
    /// ```
    pub fn lockout(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.code == Code::Lint(Lint::Lockout) && f.path.is_empty())
    }

    /// The `size-limit` finding, if the user data is over the target provider's limit: the
    /// provider refuses such user data whatever cloud-init would say.
    pub fn oversize(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.code == Code::Lint(Lint::SizeLimit))
    }
}

/// Validates user data: recognises its kind; for `#cloud-config`, parses it as YAML 1.1 and
/// checks it against cloud-init's schema and reimage's lints.
///
/// ```
/// use reimage_cloudinit::{Options, schema::Version};
///
/// let report = reimage_cloudinit::validate(
///     b"#cloud-config\npower_state:\n  mode: restart\n",
///     &Options::default().with_version(Version::V22_4),
/// );
/// assert!(!report.valid());
/// let error = report.errors().next().unwrap();
/// assert_eq!(error.path, "power_state.mode");
/// assert_eq!((error.line, error.column), (3, 9));
/// ```
pub fn validate(bytes: &[u8], options: &Options) -> Report {
    if options.os == Os::Windows {
        return crate::windows::validate(bytes, options);
    }
    let detection = kind::detect(bytes);
    let mut findings = detection.findings.clone();
    if let Some(finding) = lint::check_size(bytes, &options.lints) {
        findings.push(finding);
    }
    if detection.kind == Kind::CloudConfig {
        match std::str::from_utf8(&detection.payload) {
            // PyYAML refuses such bytes before it has a position, so cloud-init 22.4 reports
            // the error at line 1, column 1; so does reimage, with the offset in the message.
            // cloud-init 26.2 decodes the file first and stops there (`UnicodeDecodeError`, no
            // path): the whole file is not user data it can read.
            Err(e) => {
                let mark = Mark {
                    line: 1,
                    column: 1,
                    index: 0,
                };
                let offset = e.valid_up_to();
                findings.push(match options.version {
                    Version::V22_4 => Finding::new(
                        Severity::Error,
                        Code::Yaml,
                        "format-l1.c1",
                        mark,
                        format!(
                            "the cloud-config is not UTF-8 (invalid byte at offset {offset}); \
                             save it as UTF-8"
                        ),
                    ),
                    _ => Finding::new(
                        Severity::Error,
                        Code::Yaml,
                        "",
                        mark,
                        format!(
                            "the cloud-config is not UTF-8 (invalid byte at offset {offset}), so \
                             cloud-init {} cannot read it; save it as UTF-8",
                            options.version
                        ),
                    ),
                });
            }
            Ok(text) => cloud_config(text, options, &mut findings),
        }
    }
    if detection.kind == Kind::JinjaTemplate {
        let text = String::from_utf8_lossy(&detection.payload);
        template(&text, options, &mut findings);
    }
    // MIME multipart and `#cloud-config-archive`: each part checked as what it is, the
    // cloud-config parts merged and linted (`multipart`).
    let parts = multipart::check(&detection, options, &mut findings);
    findings.sort_by_key(|f| {
        (
            f.part.as_ref().map(|p| p.index),
            f.line,
            f.column,
            f.severity,
        )
    });
    Report {
        kind: detection.kind,
        gzipped: detection.gzipped,
        findings,
        parts,
    }
}

/// Renders a `## template: jinja` with the instance data of `options` and validates what it
/// renders to as its own kind, as cloud-init hands it on. The rendered text's findings are at its
/// own lines (the template's header line removed), and their messages say which line of the
/// file that is where the mapping is exact. A MIME part `text/jinja2` goes through here too.
pub fn template(text: &str, options: &Options, findings: &mut Vec<Finding>) {
    let empty = InstanceData::empty();
    let data = options.instance_data.as_ref().unwrap_or(&empty);
    let rendered = match jinja::render_template(text, data) {
        Ok(rendered) => rendered,
        Err(finding) => {
            findings.push(finding);
            return;
        }
    };
    if !rendered.missing.is_empty() {
        let names: Vec<String> = rendered.missing.iter().map(|n| format!("'{n}'")).collect();
        let without = match &options.instance_data {
            None => {
                " (no instance data was given, so they are unknown until boot; pass cloud-init's \
                 instance-data.json to render with it)"
            }
            Some(data) if !data.is_complete() => " (unknown until boot)",
            Some(_) => "",
        };
        let first = rendered
            .text
            .lines()
            .position(|l| l.contains(jinja::MISSING_PREFIX))
            .map_or(1, |i| u32::try_from(i + 1).unwrap_or(u32::MAX));
        findings.push(Finding::new(
            Severity::Warning,
            Code::Jinja,
            "",
            Mark {
                line: rendered.template_line(first).unwrap_or(1),
                column: 1,
                index: 0,
            },
            format!(
                "the template uses variables the instance data does not have: {}{without}; \
                 cloud-init renders each as CI_MISSING_JINJA_VAR/<name>",
                names.join(", ")
            ),
        ));
    }
    let inner = kind::detect(rendered.text.as_bytes());
    let mut sub = inner.findings.clone();
    match inner.kind {
        Kind::CloudConfig => cloud_config(&rendered.text, options, &mut sub),
        Kind::Empty => sub.push(Finding::new(
            Severity::Error,
            Code::Jinja,
            "",
            Mark {
                line: 1,
                column: 1,
                index: 0,
            },
            "the template renders to nothing: cloud-init ignores it",
        )),
        _ => {}
    }
    // Without complete instance data, a scalar that is only a variable's placeholder is not
    // known yet: what the schema says of the placeholder (a boolean, a number, one of a list of
    // words) is a warning, unknown until boot. Where a list or a mapping was wanted, no scalar
    // value can do, so that stays an error (a `runcmd:` that renders to a string); and with
    // cloud-init's own instance data, given with `-i`, every finding stays as cloud-init says.
    let complete = options
        .instance_data
        .as_ref()
        .is_some_and(InstanceData::is_complete);
    for mut finding in sub {
        let wants_a_collection = ["a list", "a mapping"]
            .iter()
            .any(|wanted| finding.message.contains(&format!("expected {wanted}")));
        if !complete
            && finding.severity == Severity::Error
            && finding.code == Code::Schema
            && finding.message.contains(jinja::MISSING_PREFIX)
            && !wants_a_collection
        {
            finding.severity = Severity::Warning;
            finding.message.push_str(
                " (the value is a variable unknown until boot: checked when it is known)",
            );
        }
        let place = match rendered.template_line(finding.line) {
            Some(line) => format!(
                " [line {} of the rendered template, line {line} of the file]",
                finding.line
            ),
            None => format!(" [line {} of the rendered template]", finding.line),
        };
        finding.message.push_str(&place);
        findings.push(finding);
    }
}

fn cloud_config(text: &str, options: &Options, findings: &mut Vec<Finding>) {
    if let Some(root) = checked_cloud_config(text, options, findings) {
        findings.extend(lint::check_cloud_config(&root, &options.lints));
    }
}

/// The YAML and schema checks of one cloud-config text, without the lints (a multipart message
/// runs those once, on the merged config); returns the document's root.
pub(crate) fn checked_cloud_config(
    text: &str,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> Option<Node> {
    let document = match yaml::parse(text) {
        Ok(document) => document,
        Err(error) => {
            findings.push(Finding::new(
                Severity::Error,
                Code::Yaml,
                format!("format-l{}.c{}", error.mark.line, error.mark.column),
                error.mark,
                format!(
                    "the YAML cannot be read: {error}; cloud-init would ignore this whole part"
                ),
            ));
            return None;
        }
    };
    for duplicate in &document.duplicate_keys {
        let path = if duplicate.path.is_empty() {
            duplicate.key.clone()
        } else {
            duplicate.path.clone()
        };
        findings.push(Finding::new(
            Severity::Warning,
            Code::Yaml,
            path,
            duplicate.last,
            format!(
                "key {:?} appears twice (first at line {}): the last one wins and the first is \
                 ignored; remove one",
                duplicate.key, duplicate.first.line
            ),
        ));
    }
    let mut schema_findings = schema::validate_document(&document, options.version);
    if let Some(root) = &document.root {
        let mut secrets = Vec::new();
        secret_values(root, false, &mut secrets);
        secrets.retain(|s| s.chars().count() > 2);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        for finding in &mut schema_findings {
            for secret in &secrets {
                finding.message = finding.message.replace(secret.as_str(), "[REDACTED]");
            }
        }
    }
    findings.extend(schema_findings);
    document.root
}

/// The keys whose values are passwords: a schema message about them must not quote the value
/// (`password: 987654321` is "expected a string, got an integer", never the digits).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "hashed_passwd",
    "plain_text_passwd",
    "chpasswd",
];

/// Every scalar under a password key, as text. The caller drops one- and two-character values
/// (replacing them would garble every message, and they hide nothing) and replaces the longest
/// first, so a longer secret goes before a shorter one inside it.
fn secret_values(node: &Node, under_secret: bool, out: &mut Vec<String>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                let secret = under_secret || SECRET_KEYS.contains(&key.value.key_text().as_str());
                secret_values(value, secret, out);
            }
        }
        Value::Seq(items) => items
            .iter()
            .for_each(|item| secret_values(item, under_secret, out)),
        Value::Str(s) if under_secret && !s.is_empty() => out.push(s.clone()),
        Value::Int(n) if under_secret => out.push(n.to_string()),
        Value::Float(f) if under_secret => out.push(f.to_string()),
        Value::Timestamp(t) if under_secret => out.push(t.clone()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_messages_never_quote_a_password() {
        let cases: &[&[u8]] = &[
            b"#cloud-config\npassword: 987654321\n",
            b"#cloud-config\nusers:\n  - name: ops\n    plain_text_passwd: 31337424242\n",
            b"#cloud-config\nchpasswd:\n  users:\n    - {name: root, password: 424242424, type: text}\n",
            b"#cloud-config\npassword: !!int Secr3tPw\n",
        ];
        for (bytes, secret) in
            cases
                .iter()
                .zip(["987654321", "31337424242", "424242424", "Secr3tPw"])
        {
            let report = validate(bytes, &Options::default().with_version(Version::V22_4));
            assert!(!report.valid(), "{}", String::from_utf8_lossy(bytes));
            for finding in &report.findings {
                assert!(
                    !finding.message.contains(secret),
                    "{}: {}",
                    finding.path,
                    finding.message
                );
                assert!(!finding.path.contains(secret), "{}", finding.path);
            }
        }
    }

    #[test]
    fn other_values_are_still_quoted() {
        let report = validate(
            b"#cloud-config\nhostname: 42\n",
            &Options::default().with_version(Version::V22_4),
        );
        let error = report.errors().next().expect("hostname must be a string");
        assert!(error.message.contains("42"), "{}", error.message);
    }
}
