//! Findings: what validation says about a file, located at a path, a line and a column.

use std::fmt;

/// How bad a finding is: an error makes the file invalid; a warning or a note does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is invalid: cloud-init would reject or drop this part.
    Error,
    /// The file is valid, but something is likely wrong.
    Warning,
    /// Nothing is wrong, but the person should know: what a part of a multipart message is
    /// (a script, a boothook) when reimage cannot check it further.
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Code {
    /// cloud-init's JSON schema (`schema`).
    Schema,
    /// The YAML itself (`yaml`): syntax errors, and duplicate keys (a warning).
    Yaml,
    /// The kind of user data and its format (`kind`): a header cloud-init will not recognise.
    Kind,
    /// A deprecated key (`deprecated`): cloud-init warns, and so does reimage.
    Deprecated,
    /// A Jinja template (`jinja`): a syntax error, a variable the instance data does not have.
    Jinja,
    /// What Cloudbase-Init does with the user data of a Windows image (`cloudbase-init`).
    CloudbaseInit,
    /// One of reimage's own lints, by its code (`lockout`, `plaintext-password`, …).
    Lint(crate::lint::Lint),
}

impl Code {
    /// The code as printed: `schema`, `yaml`, `kind`, `deprecated`, `jinja`, `cloudbase-init` or
    /// the lint's own code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schema => "schema",
            Self::Yaml => "yaml",
            Self::Kind => "kind",
            Self::Deprecated => "deprecated",
            Self::Jinja => "jinja",
            Self::CloudbaseInit => "cloudbase-init",
            Self::Lint(lint) => lint.code(),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing validation found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The check that found it.
    pub code: Code,
    /// The JSON path in cloud-init's dotted form (`write_files.0.permissions`); empty for the
    /// whole document.
    pub path: String,
    /// The 1-based line in the file (counting the header line).
    pub line: u32,
    /// The 1-based column.
    pub column: u32,
    /// What is wrong, for a person (`power_state.mode: "restart" is not one of reboot, poweroff,
    /// halt`).
    pub message: String,
    /// The part of a MIME multipart message or `#cloud-config-archive` the finding is in; `line`
    /// and `column` are then inside the decoded part. `None` for the file as a whole.
    pub part: Option<PartRef>,
}

/// A part of a MIME multipart message or `#cloud-config-archive`, as findings name it.
///
/// ```
/// use reimage_cloudinit::finding::PartRef;
///
/// assert_eq!(PartRef::new(2, Some("bad.yaml".to_owned())).to_string(), "part 2 bad.yaml");
/// assert_eq!(PartRef::new(1, None).to_string(), "part 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct PartRef {
    /// The 1-based index of the part, in the order cloud-init handles the parts (nested
    /// multiparts flattened, archives expanded).
    pub index: usize,
    /// The part's `Content-Disposition` filename (or the archive entry's `filename`), if it has
    /// one.
    pub filename: Option<String>,
}

impl PartRef {
    /// Part `index` (1-based), named `filename`.
    pub fn new(index: usize, filename: Option<String>) -> Self {
        Self { index, filename }
    }
}

impl fmt::Display for PartRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "part {}", self.index)?;
        if let Some(name) = &self.filename {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

impl Finding {
    /// A finding.
    pub fn new(
        severity: Severity,
        code: Code,
        path: impl Into<String>,
        mark: crate::yaml::Mark,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code,
            path: path.into(),
            line: mark.line,
            column: mark.column,
            message: message.into(),
            part: None,
        }
    }

    /// The same finding, located in `part`.
    #[must_use]
    pub fn in_part(mut self, part: PartRef) -> Self {
        self.part = Some(part);
        self
    }
}
