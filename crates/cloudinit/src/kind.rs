//! The kind of user data, recognised as cloud-init 22.4.2 recognises it, and the near misses:
//! files that look like cloud-config but that cloud-init will not treat as such.
//!
//! cloud-init (`user_data.py`, `convert_string`, then `handlers.type_from_starts_with`):
//!
//! 1. tries to gunzip the bytes, once; if that fails for any reason, it keeps them as they are;
//! 2. reads a MIME message if `mime-version:` appears, in any case, in the first 4096 bytes;
//! 3. otherwise decodes the bytes as UTF-8 (bad bytes become surrogates), lower-cases them,
//!    strips leading whitespace (Python's `str.lstrip`) and matches the longest header first:
//!    `#cloud-config-archive` before `#cloud-config`, `#include-once` before `#include`.
//!
//! A header only has to *start* the text: `#cloud-config foo` and `#Cloud-Config` are
//! cloud-config. A byte order mark, `# cloud-config` or a `---` line before the header are not.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use crate::finding::{Code, Finding, Severity};
use crate::yaml::Mark;

/// The most a gzipped payload may decompress to (cloud-init sets no limit; this one stops gzip
/// bombs).
pub const MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// How far cloud-init looks for `mime-version:`.
const MIME_WINDOW: usize = 4096;

/// The kind of user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `#cloud-config`: YAML, validated against cloud-init's schema.
    CloudConfig,
    /// `#!`: a script, run once per instance.
    Script,
    /// `#cloud-boothook`: run early, at every boot.
    Boothook,
    /// `#include`: a list of URLs to fetch.
    Include,
    /// `#include-once`: a list of URLs to fetch once.
    IncludeOnce,
    /// `#cloud-config-archive`: a YAML list of parts.
    CloudConfigArchive,
    /// `#cloud-config-jsonp`: a JSON patch to the merged cloud-config.
    CloudConfigJsonp,
    /// `## template: jinja`: a Jinja template, rendered before its own kind is recognised.
    JinjaTemplate,
    /// `#part-handler`: Python code that handles other parts.
    PartHandler,
    /// `text/x-shellscript-per-boot`: a script run at every boot.
    ScriptPerBoot,
    /// `text/x-shellscript-per-instance`: a script run once per instance.
    ScriptPerInstance,
    /// `text/x-shellscript-per-once`: a script run once ever.
    ScriptPerOnce,
    /// A MIME message (`mime-version:` in its first 4096 bytes): [`crate::multipart`] splits
    /// it into parts.
    Multipart,
    /// `#ps1`, `#ps1_sysnative`, `#ps1_x86` or EC2's `<powershell>`: a PowerShell script, which
    /// Cloudbase-Init runs on Windows (cloud-init does not recognise it).
    PowerShell,
    /// `rem cmd`: a cmd.exe batch script, which Cloudbase-Init runs on Windows.
    Batch,
    /// Nothing cloud-init recognises: it ignores this user data.
    Unknown,
    /// No user data, or only whitespace.
    Empty,
}

impl Kind {
    /// The kind as written in reports: `cloud-config`, `script`, `multipart`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudConfig => "cloud-config",
            Self::Script => "script",
            Self::Boothook => "boothook",
            Self::Include => "include",
            Self::IncludeOnce => "include-once",
            Self::CloudConfigArchive => "cloud-config-archive",
            Self::CloudConfigJsonp => "cloud-config-jsonp",
            Self::JinjaTemplate => "jinja-template",
            Self::PartHandler => "part-handler",
            Self::ScriptPerBoot => "script-per-boot",
            Self::ScriptPerInstance => "script-per-instance",
            Self::ScriptPerOnce => "script-per-once",
            Self::Multipart => "multipart",
            Self::PowerShell => "powershell",
            Self::Batch => "batch",
            Self::Unknown => "unknown",
            Self::Empty => "empty",
        }
    }

    /// The MIME type cloud-init gives this kind (`text/cloud-config`), if it handles it.
    pub fn content_type(self) -> Option<&'static str> {
        Some(match self {
            Self::CloudConfig => "text/cloud-config",
            Self::Script => "text/x-shellscript",
            Self::Boothook => "text/cloud-boothook",
            Self::Include => "text/x-include-url",
            Self::IncludeOnce => "text/x-include-once-url",
            Self::CloudConfigArchive => "text/cloud-config-archive",
            Self::CloudConfigJsonp => "text/cloud-config-jsonp",
            Self::JinjaTemplate => "text/jinja2",
            Self::PartHandler => "text/part-handler",
            Self::ScriptPerBoot => "text/x-shellscript-per-boot",
            Self::ScriptPerInstance => "text/x-shellscript-per-instance",
            Self::ScriptPerOnce => "text/x-shellscript-per-once",
            Self::Multipart => "multipart/mixed",
            Self::PowerShell | Self::Batch | Self::Unknown | Self::Empty => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// cloud-init's headers (`handlers.INCLUSION_TYPES_MAP`), longest first as it searches them.
const HEADERS: [(&str, Kind); 12] = [
    ("text/x-shellscript-per-instance", Kind::ScriptPerInstance),
    ("text/x-shellscript-per-boot", Kind::ScriptPerBoot),
    ("text/x-shellscript-per-once", Kind::ScriptPerOnce),
    ("#cloud-config-archive", Kind::CloudConfigArchive),
    ("#cloud-config-jsonp", Kind::CloudConfigJsonp),
    ("## template: jinja", Kind::JinjaTemplate),
    ("#cloud-boothook", Kind::Boothook),
    ("#include-once", Kind::IncludeOnce),
    ("#cloud-config", Kind::CloudConfig),
    ("#part-handler", Kind::PartHandler),
    ("#include", Kind::Include),
    ("#!", Kind::Script),
];

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Detection<'a> {
    /// The kind of user data, after gunzipping.
    pub kind: Kind,
    /// Whether the bytes were gzip (and decompressed).
    pub gzipped: bool,
    /// The user data as cloud-init reads it: decompressed if it was gzip.
    pub payload: Cow<'a, [u8]>,
    /// Near misses and gzip problems (code `kind`).
    pub findings: Vec<Finding>,
}

impl Detection<'_> {
    /// The payload as text, if it is UTF-8 (cloud-init's YAML reader needs it to be).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// Python's `str.isspace()`: Unicode white space, plus the separators U+001C to U+001F.
pub(crate) fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn finding(severity: Severity, mark: Mark, message: impl Into<String>) -> Finding {
    Finding::new(severity, Code::Kind, "", mark, message)
}

fn start_mark() -> Mark {
    Mark {
        line: 1,
        column: 1,
        index: 0,
    }
}

/// The position of character `index` of `text`.
fn mark_of(text: &str, index: usize) -> Mark {
    let mut line = 1u32;
    let mut column = 1u32;
    for c in text.chars().take(index) {
        if c == '\n' {
            line = line.saturating_add(1);
            column = 1;
        } else {
            column = column.saturating_add(1);
        }
    }
    Mark {
        line,
        column,
        index,
    }
}

/// Gunzips `bytes` as Python's `gzip` module does (every member, and zero padding after a
/// member is skipped), up to [`MAX_DECOMPRESSED`].
pub(crate) fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let room = (MAX_DECOMPRESSED + 1).saturating_sub(out.len());
        let room = u64::try_from(room).unwrap_or(u64::MAX);
        (&mut decoder)
            .take(room)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        if out.len() > MAX_DECOMPRESSED {
            return Err(format!(
                "it decompresses to more than {} MiB",
                MAX_DECOMPRESSED / (1024 * 1024)
            ));
        }
        rest = decoder.into_inner();
        let padding = rest.iter().take_while(|&&b| b == 0).count();
        rest = &rest[padding..];
        if rest.is_empty() {
            return Ok(out);
        }
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Err("Not a gzipped file (trailing bytes after the gzip data)".to_owned());
        }
    }
}

/// Whether cloud-init would read `bytes` as a MIME message: `mime-version:` in the first 4096
/// bytes, and (as Python's `email` parser needs to find any header) a first line that is a
/// header field.
fn is_mime(bytes: &[u8]) -> bool {
    let window = &bytes[..bytes.len().min(MIME_WINDOW)];
    let marker = b"mime-version:";
    let found = window
        .windows(marker.len())
        .any(|w| w.eq_ignore_ascii_case(marker));
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = first_line
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|colon| {
            colon > 0
                && first_line[..colon]
                    .iter()
                    .all(|&b| (0x21..=0x7e).contains(&b) && b != b':')
        });
    found && header
}

/// The header cloud-init matches at the start of `text` (already stripped), if any.
pub(crate) fn header_kind(text: &str) -> Option<(Kind, usize)> {
    // Lower-casing may change lengths (`İ`), so compare a lower-cased prefix of each length.
    let head: String = text.chars().take(40).collect();
    let lower = head.to_lowercase();
    HEADERS
        .iter()
        .find(|(header, _)| lower.starts_with(header))
        .map(|&(header, kind)| (kind, header.len()))
}

/// Recognises the kind of `bytes` as cloud-init 22.4.2 does, and explains the near misses.
///
/// ```
/// use reimage_cloudinit::kind::{detect, Kind};
///
/// assert_eq!(detect(b"#cloud-config\npackages: [htop]\n").kind, Kind::CloudConfig);
/// assert_eq!(detect(b"#!/bin/sh\necho hi\n").kind, Kind::Script);
/// let near_miss = detect(b"# cloud-config\npackages: [htop]\n");
/// assert_eq!(near_miss.kind, Kind::Unknown);
/// assert_eq!(near_miss.findings.len(), 1);
/// ```
pub fn detect(bytes: &[u8]) -> Detection<'_> {
    let mut findings = Vec::new();
    let mut gzipped = false;
    let mut payload = Cow::Borrowed(bytes);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        match gunzip(bytes) {
            Ok(data) => {
                gzipped = true;
                payload = Cow::Owned(data);
            }
            Err(problem) => {
                findings.push(finding(
                    Severity::Error,
                    start_mark(),
                    format!(
                        "the user data is gzip, but it cannot be decompressed ({problem}); \
                         cloud-init would keep it compressed and ignore it: compress it again"
                    ),
                ));
                return Detection {
                    kind: Kind::Unknown,
                    gzipped: false,
                    payload,
                    findings,
                };
            }
        }
    }
    let kind = kind_of(&payload, gzipped, &mut findings);
    Detection {
        kind,
        gzipped,
        payload,
        findings,
    }
}

fn kind_of(payload: &[u8], gzipped: bool, findings: &mut Vec<Finding>) -> Kind {
    if is_mime(payload) {
        return Kind::Multipart;
    }
    if gzipped && payload.starts_with(&[0x1f, 0x8b]) {
        findings.push(finding(
            Severity::Error,
            start_mark(),
            "the user data is gzip inside gzip: cloud-init decompresses once and then ignores \
             it; compress it only once",
        ));
        return Kind::Unknown;
    }
    let text = String::from_utf8_lossy(payload);
    let stripped = text.trim_start_matches(is_python_space);
    if stripped.is_empty() {
        return Kind::Empty;
    }
    let offset = text.chars().count() - stripped.chars().count();
    let at = mark_of(&text, offset);
    if let Some((kind, len)) = header_kind(stripped) {
        match kind {
            Kind::CloudConfig => header_warning(stripped, len, offset, at, findings),
            Kind::Script if looks_like_cloud_config(stripped) => findings.push(finding(
                Severity::Error,
                at,
                "the first line starts with `#!`: cloud-init runs this file as a script, not as cloud-config; write `#cloud-config`",
            )),
            _ => {}
        }
        return kind;
    }
    near_miss(stripped, at, findings);
    Kind::Unknown
}

/// `#cloud-config` that cloud-init accepts at boot but not exactly as written: leading
/// whitespace or another case (`cloud-init schema` wants the exact bytes `#cloud-config` at the
/// very start), or more text on the line (`#cloud-config-archiv` is plain cloud-config).
fn header_warning(stripped: &str, len: usize, offset: usize, at: Mark, out: &mut Vec<Finding>) {
    let line = stripped.lines().next().unwrap_or_default().trim_end();
    let mut problems = Vec::new();
    if offset > 0 {
        problems.push("blank space before it");
    }
    if !stripped.starts_with("#cloud-config") {
        problems.push("not in lower case");
    }
    if !problems.is_empty() {
        out.push(finding(
            Severity::Warning,
            at,
            format!(
                "the #cloud-config header has {}: cloud-init accepts it at boot, but `cloud-init \
                 schema` and other tools want the file to start with exactly `#cloud-config`",
                problems.join(" and ")
            ),
        ));
    }
    if line.len() > len {
        out.push(finding(
            Severity::Warning,
            at,
            format!(
                "the header line is {line:?}: cloud-init reads it as `#cloud-config` and \
                 ignores the rest of the line; write `#cloud-config` alone"
            ),
        ));
    }
}

/// Files meant as cloud-config that cloud-init will not recognise.
fn near_miss(stripped: &str, at: Mark, out: &mut Vec<Finding>) {
    if let Some(after_bom) = stripped.strip_prefix('\u{feff}') {
        let inner = after_bom.trim_start_matches(is_python_space);
        let what = header_kind(inner).map_or("this user data", |(kind, _)| kind.as_str());
        out.push(finding(
            Severity::Error,
            at,
            format!(
                "the file starts with a byte order mark (U+FEFF): cloud-init does not recognise \
                 {what} after it and ignores the file; save it as UTF-8 without BOM"
            ),
        ));
        return;
    }
    let first_line = stripped.lines().next().unwrap_or_default();
    if first_line.trim_end() == "---" {
        let rest = stripped[first_line.len()..].trim_start_matches(is_python_space);
        if header_kind(rest).is_some() || looks_like_cloud_config(rest) {
            out.push(finding(
                Severity::Error,
                at,
                "the file starts with `---`: cloud-init only recognises a header such as \
                 `#cloud-config` on the first line and ignores the file; remove the `---` line",
            ));
            return;
        }
    }
    if looks_like_cloud_config(stripped) {
        let shown: String = first_line.chars().take(40).collect();
        out.push(finding(
            Severity::Error,
            at,
            format!(
                "the first line is {shown:?}, not `#cloud-config`: cloud-init does not \
                 recognise it and ignores the file; write `#cloud-config` exactly (no space \
                 after `#`)"
            ),
        ));
        return;
    }
    out.push(finding(
        Severity::Error,
        at,
        "the user data starts with no header cloud-init recognises (`#cloud-config`, `#!`, \
         `#include`, …): cloud-init ignores it",
    ));
}

/// A first line that means `#cloud-config` but is not it: `# cloud-config`,
/// `#cloud_config`, `#cloudconfig`, `cloud-config:`.
fn looks_like_cloud_config(stripped: &str) -> bool {
    let first_line = stripped.lines().next().unwrap_or_default();
    let squeezed: String = first_line
        .chars()
        .filter(|c| !matches!(c, '#' | ' ' | '\t' | '-' | '_' | ':' | '!'))
        .flat_map(char::to_lowercase)
        .collect();
    squeezed.starts_with("cloudconfig") || squeezed.starts_with("cloudcfg")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Every row was checked against cloud-init 22.4.2 in the peer (`target/cloud-init-peer`, made by `cargo xtask cloud-init-peer`):
    /// `UserDataProcessor.process(blob)` and the content type of the part it produced.
    #[test]
    fn headers_are_matched_as_cloud_init_matches_them() {
        let rows: &[(&[u8], Kind)] = &[
            (b"#cloud-config\na: 1\n", Kind::CloudConfig),
            (b"#Cloud-Config\na: 1\n", Kind::CloudConfig),
            (b"#CLOUD-CONFIG\n", Kind::CloudConfig),
            (b"  \n\t#cloud-config\n", Kind::CloudConfig),
            (b"\r\n#cloud-config\n", Kind::CloudConfig),
            (b"\x0c#cloud-config\n", Kind::CloudConfig),
            (b"\x1c#cloud-config\n", Kind::CloudConfig),
            (b"\xc2\xa0#cloud-config\n", Kind::CloudConfig),
            (b"\xe2\x80\x83#cloud-config\n", Kind::CloudConfig),
            (b"#cloud-config", Kind::CloudConfig),
            (b"#cloud-config foo\n", Kind::CloudConfig),
            (b"#cloud-configuration\n", Kind::CloudConfig),
            (b"#cloud-config\n\xff\xfe bad\n", Kind::CloudConfig),
            (
                b"#cloud-config\n# mime-version: 1.0\na: 1\n",
                Kind::CloudConfig,
            ),
            (b"#!cloud-config\n", Kind::Script),
            (b"\xef\xbb\xbf#cloud-config\n", Kind::Unknown),
            (b"# cloud-config\n", Kind::Unknown),
            (b"---\n#cloud-config\n", Kind::Unknown),
            (b"\xff#cloud-config\n", Kind::Unknown),
            (b"hello\n", Kind::Unknown),
            (b"#cloud-config-archive\n- a\n", Kind::CloudConfigArchive),
            (b"#Cloud-Config-Archive\n", Kind::CloudConfigArchive),
            (b"#cloud-config-jsonp\n[]\n", Kind::CloudConfigJsonp),
            (b"## template: jinja\n#cloud-config\n", Kind::JinjaTemplate),
            (b"## Template: Jinja\n", Kind::JinjaTemplate),
            (b"##template: jinja\n", Kind::Unknown),
            (b"#part-handler\n", Kind::PartHandler),
            (b"#cloud-boothook\n", Kind::Boothook),
            (b"#!/bin/sh\n", Kind::Script),
            (b"#! /bin/bash\n", Kind::Script),
            (b"#!", Kind::Script),
            (b"#include\nhttp://x\n", Kind::Include),
            (b"#Include\n", Kind::Include),
            (b"#include-once\nhttp://x\n", Kind::IncludeOnce),
            (b"text/x-shellscript-per-boot\n", Kind::ScriptPerBoot),
            (
                b"text/x-shellscript-per-instance\n",
                Kind::ScriptPerInstance,
            ),
            (b"text/x-shellscript-per-once\n", Kind::ScriptPerOnce),
            (b"", Kind::Empty),
            (b"   ", Kind::Empty),
            (b"\n\n", Kind::Empty),
            (
                b"Content-Type: multipart/mixed; boundary=XX\nMIME-Version: 1.0\n\n--XX\n\
                  Content-Type: text/cloud-config\n\n#cloud-config\na: 1\n--XX--\n",
                Kind::Multipart,
            ),
        ];
        for &(bytes, want) in rows {
            let got = detect(bytes);
            assert_eq!(got.kind, want, "{:?}", String::from_utf8_lossy(bytes));
            assert!(!got.gzipped);
        }
    }

    #[test]
    fn kinds_have_names_and_content_types() {
        assert_eq!(Kind::CloudConfig.as_str(), "cloud-config");
        assert_eq!(Kind::CloudConfig.to_string(), "cloud-config");
        assert_eq!(Kind::JinjaTemplate.content_type(), Some("text/jinja2"));
        assert_eq!(Kind::Unknown.content_type(), None);
        for (header, kind) in HEADERS {
            assert_eq!(detect(header.as_bytes()).kind, kind, "{header}");
            if header.starts_with('#') && header != "#!" {
                assert!(kind.content_type().is_some());
            }
        }
    }

    /// Checked against the peer: gzip is decompressed once; one that does not decompress (cut
    /// short, trailing bytes) is kept as it is and ignored; zero padding is allowed.
    #[test]
    fn gzip_is_decompressed_once() {
        let config = b"#cloud-config\na: 1\n";
        let once = gzip(config);
        let got = detect(&once);
        assert_eq!((got.kind, got.gzipped), (Kind::CloudConfig, true));
        assert_eq!(&*got.payload, config);
        assert_eq!(got.text(), Some("#cloud-config\na: 1\n"));
        assert!(got.findings.is_empty());

        let double = gzip(&once);
        let twice = detect(&double);
        assert_eq!((twice.kind, twice.gzipped), (Kind::Unknown, true));
        assert_eq!(twice.findings.len(), 1);

        let cut = detect(&once[..once.len() - 5]);
        assert_eq!((cut.kind, cut.gzipped), (Kind::Unknown, false));
        assert!(cut.findings[0].message.contains("cannot be decompressed"));

        let mut junk = once.clone();
        junk.extend_from_slice(b"junk");
        assert_eq!(detect(&junk).kind, Kind::Unknown);

        let mut padded = once.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(detect(&padded).kind, Kind::CloudConfig);

        let mut two_members = once.clone();
        two_members.extend_from_slice(&gzip(b"b: 2\n"));
        assert_eq!(
            &*detect(&two_members).payload,
            b"#cloud-config\na: 1\nb: 2\n"
        );

        let multipart = gzip(b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n");
        assert_eq!(detect(&multipart).kind, Kind::Multipart);
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let bomb = gzip(&vec![b'a'; MAX_DECOMPRESSED + 1]);
        let got = detect(&bomb);
        assert_eq!(got.kind, Kind::Unknown);
        assert!(got.findings[0].message.contains("more than 16 MiB"));
        let fits = gzip(&vec![b' '; MAX_DECOMPRESSED]);
        assert_eq!(detect(&fits).kind, Kind::Empty);
    }

    /// Bytes, the kind, and the one finding: its severity, a part of its message, its place.
    type NearMiss = (&'static [u8], Kind, Severity, &'static str, (u32, u32));

    /// What each near miss is told, and where.
    #[test]
    fn near_misses_are_explained() {
        let rows: &[NearMiss] = &[
            (
                b"\xef\xbb\xbf#cloud-config\n",
                Kind::Unknown,
                Severity::Error,
                "byte order mark",
                (1, 1),
            ),
            (
                b"# cloud-config\na: 1\n",
                Kind::Unknown,
                Severity::Error,
                "\"# cloud-config\"",
                (1, 1),
            ),
            (
                b"#cloud_config\n",
                Kind::Unknown,
                Severity::Error,
                "not `#cloud-config`",
                (1, 1),
            ),
            (
                b"\n\n#cloudconfig\n",
                Kind::Unknown,
                Severity::Error,
                "not `#cloud-config`",
                (3, 1),
            ),
            (
                b"cloud-config:\n",
                Kind::Unknown,
                Severity::Error,
                "not `#cloud-config`",
                (1, 1),
            ),
            (
                b"---\n#cloud-config\na: 1\n",
                Kind::Unknown,
                Severity::Error,
                "starts with `---`",
                (1, 1),
            ),
            (
                b"---\npackages: [a]\n",
                Kind::Unknown,
                Severity::Error,
                "no header",
                (1, 1),
            ),
            (
                b"packages: [a]\n",
                Kind::Unknown,
                Severity::Error,
                "no header",
                (1, 1),
            ),
            (
                b"#Cloud-Config\n",
                Kind::CloudConfig,
                Severity::Warning,
                "not in lower case",
                (1, 1),
            ),
            (
                b"\n  #cloud-config\n",
                Kind::CloudConfig,
                Severity::Warning,
                "blank space before",
                (2, 3),
            ),
            (
                b"#cloud-config foo\n",
                Kind::CloudConfig,
                Severity::Warning,
                "ignores the rest of the line",
                (1, 1),
            ),
            (
                b"#!cloud-config\n",
                Kind::Script,
                Severity::Error,
                "runs this file as a script",
                (1, 1),
            ),
        ];
        for &(bytes, kind, severity, needle, (line, column)) in rows {
            let got = detect(bytes);
            let shown = String::from_utf8_lossy(bytes);
            assert_eq!(got.kind, kind, "{shown:?}");
            assert_eq!(got.findings.len(), 1, "{shown:?}: {:?}", got.findings);
            let f = &got.findings[0];
            assert_eq!((f.severity, f.code), (severity, Code::Kind), "{shown:?}");
            assert!(f.message.contains(needle), "{shown:?}: {}", f.message);
            assert_eq!((f.line, f.column), (line, column), "{shown:?}");
        }
        for clean in [
            &b"#cloud-config\na: 1\n"[..],
            b"#cloud-config\r\n",
            b"#cloud-config  \n",
            b"#!/bin/sh\n",
            b"",
        ] {
            assert!(
                detect(clean).findings.is_empty(),
                "{:?}",
                String::from_utf8_lossy(clean)
            );
        }
    }

    /// Any MIME message is reported as such; its parts are not inspected.
    #[test]
    fn mime_needs_the_marker_and_a_header_first() {
        assert_eq!(
            detect(b"MIME-Version: 1.0\n\n#cloud-config\n").kind,
            Kind::Multipart
        );
        assert_eq!(detect(b"mime-version: 1.0\n").kind, Kind::Multipart);
        let far = [
            &b"X-A: b\n"[..],
            &[b' '; MIME_WINDOW],
            b"\nMIME-Version: 1.0\n",
        ]
        .concat();
        assert_eq!(detect(&far).kind, Kind::Unknown);
    }

    #[test]
    fn payload_is_borrowed_when_not_gzipped() {
        let bytes = b"#cloud-config\n";
        assert!(matches!(detect(bytes).payload, Cow::Borrowed(_)));
        assert_eq!(detect(b"#cloud-config\n\xff").text(), None);
    }
}
