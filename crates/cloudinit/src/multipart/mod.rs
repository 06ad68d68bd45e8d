//! MIME multipart user data and `#cloud-config-archive`, split into parts as cloud-init splits
//! them, so each part can be checked as what it is.
//!
//! cloud-init (`cloudinit/user_data.py`, `UserDataProcessor._process_msg`) walks the message
//! depth first (`email.message.Message.walk`), skipping the `multipart/*` containers, and for
//! each part:
//!
//! 1. decodes its `Content-Transfer-Encoding` (base64, quoted-printable, 7bit, 8bit);
//! 2. gunzips it when its type is one of the gzip types (`DECOMP_TYPES`: `application/gzip`,
//!    `application/x-gzip`, …), and then forgets the type;
//! 3. for `text/plain`, `text/x-not-multipart`, `text/x-shellscript` and a forgotten type, looks
//!    at the start of the payload (`handlers.type_from_starts_with`: `#cloud-config`, `#!`, …)
//!    and takes the type it names, if any;
//! 4. fetches `text/x-include-url` / `text/x-include-once-url` parts' URLs (reimage does not:
//!    they are listed), expands `text/cloud-config-archive` parts (`_explode_archive`, see
//!    [`archive`]) and keeps every other part, with its `Content-Disposition` filename and
//!    `Launch-Index`.
//!
//! The parts are then given to the handler of their type (`cloudinit/handlers/`):
//! `text/cloud-config` and `text/cloud-config-jsonp` to `cloud_config.py`, which merges them
//! ([`merge`]); the shell script types to `shell_script.py` and
//! `shell_script_by_frequency.py`; `text/cloud-boothook` to `boot_hook.py`; `text/jinja2` to
//! `jinja_template.py`; `text/part-handler` registers a handler. A type no handler takes is
//! ignored.
//!
//! The message is read with the `mail-parser` crate; nested multiparts are followed to
//! [`MAX_DEPTH`] levels.

pub mod archive;
mod check;
pub mod merge;

pub(crate) use check::check;

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};

use crate::finding::{Code, Finding, PartRef, Severity};
use crate::kind::{self, Kind};
use crate::yaml::Mark;

/// How many multiparts may nest inside one another: deeper parts are not read.
pub const MAX_DEPTH: usize = 8;

/// The gzip content types cloud-init decompresses (`user_data.py`, `DECOMP_TYPES`).
const DECOMP_TYPES: [&str; 8] = [
    "application/gzip",
    "application/gzip-compressed",
    "application/gzipped",
    "application/x-compress",
    "application/x-compressed",
    "application/x-gunzip",
    "application/x-gzip",
    "application/x-gzip-compressed",
];

/// The types whose payload cloud-init sniffs for a header (`user_data.py`, `TYPE_NEEDED` and
/// `text/x-shellscript`).
const SNIFFED_TYPES: [&str; 3] = ["text/plain", "text/x-not-multipart", "text/x-shellscript"];

/// One part, as cloud-init hands it to its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Part {
    /// 1-based, in the order cloud-init handles the parts.
    pub index: usize,
    /// The `Content-Disposition` filename (or the archive entry's `filename`).
    pub filename: Option<String>,
    /// The content type cloud-init settles on, in lower case (`text/cloud-config`).
    pub content_type: String,
    /// The kind of the handler that takes the part; [`Kind::Unknown`] when no handler of
    /// cloud-init's own takes its type.
    pub kind: Kind,
    /// The payload, decoded (transfer encoding undone, gunzipped).
    pub payload: Vec<u8>,
    /// Whether the part was gzip.
    pub gzipped: bool,
    /// Whether the part came from a `#cloud-config-archive`.
    pub from_archive: bool,
    /// The `Launch-Index` header, as written.
    pub launch_index: Option<String>,
    /// The `Merge-Type` (or `X-Merge-Type`) header, as written.
    pub merge_type: Option<String>,
}

impl Part {
    /// How findings name this part.
    pub fn reference(&self) -> PartRef {
        PartRef::new(self.index, self.filename.clone())
    }

    /// A file name to write the part under: its index and a safe form of its filename
    /// (`02-bad.yaml`), never a path (`../x` becomes `02-x`).
    ///
    /// ```
    /// use reimage_cloudinit::multipart::split;
    ///
    /// let message = b"Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n\
    ///     --b\nContent-Type: text/cloud-config\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\n\
    ///     #cloud-config\nhostname: a\n--b--\n";
    /// let parts = split(message).parts;
    /// assert_eq!(parts[0].file_name(), "01-etc_passwd");
    /// ```
    pub fn file_name(&self) -> String {
        let mut safe = String::new();
        if let Some(name) = &self.filename {
            // Path separators and `.`/`..` segments go first, then every other character that
            // could mean something to a file system.
            let name = name
                .split(['/', '\\'])
                .filter(|s| !s.is_empty() && *s != "." && *s != "..")
                .collect::<Vec<_>>()
                .join("_");
            safe = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                        c
                    } else {
                        '_'
                    }
                })
                .take(100)
                .collect();
            safe = safe.trim_start_matches('.').to_owned();
        }
        if safe.is_empty() {
            format!("{:02}", self.index)
        } else {
            format!("{:02}-{safe}", self.index)
        }
    }
}

/// What [`split`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Split {
    /// The parts, in cloud-init's order.
    pub parts: Vec<Part>,
    /// Problems with the message itself (unreadable, nested too deep, a gzip part that does not
    /// decompress), located at the part where they are (`part` set) or at the file.
    pub findings: Vec<Finding>,
}

fn start() -> Mark {
    Mark {
        line: 1,
        column: 1,
        index: 0,
    }
}

/// The kind of handler cloud-init gives a part of `content_type` (`handlers/*.py`, each
/// handler's `prefixes` mapped through `INCLUSION_TYPES_MAP`).
pub fn kind_of_type(content_type: &str) -> Kind {
    match content_type {
        "text/cloud-config" => Kind::CloudConfig,
        "text/cloud-config-jsonp" => Kind::CloudConfigJsonp,
        "text/x-shellscript" => Kind::Script,
        "text/x-shellscript-per-boot" => Kind::ScriptPerBoot,
        "text/x-shellscript-per-instance" => Kind::ScriptPerInstance,
        "text/x-shellscript-per-once" => Kind::ScriptPerOnce,
        "text/cloud-boothook" => Kind::Boothook,
        "text/part-handler" => Kind::PartHandler,
        "text/jinja2" => Kind::JinjaTemplate,
        "text/x-include-url" => Kind::Include,
        "text/x-include-once-url" => Kind::IncludeOnce,
        "text/cloud-config-archive" => Kind::CloudConfigArchive,
        _ => Kind::Unknown,
    }
}

/// `handlers.type_from_starts_with`: the type the start of `payload` names, if it is UTF-8 and
/// starts (after white space) with one of cloud-init's headers.
fn sniff(payload: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(payload).ok()?;
    let stripped = text.trim_start_matches(kind::is_python_space);
    kind::header_kind(stripped).and_then(|(kind, _)| kind.content_type())
}

/// Splits MIME multipart user data (after gzip, as [`kind::detect`] gives it) into the parts
/// cloud-init hands to its handlers, with `#cloud-config-archive` parts expanded.
///
/// ```
/// use reimage_cloudinit::{Kind, multipart::split};
///
/// let message = b"Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n\
///     --b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n\
///     --b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n\
///     I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogYQo=\n--b--\n";
/// let split = split(message);
/// assert_eq!(split.parts.len(), 2);
/// assert_eq!(split.parts[0].kind, Kind::Script);
/// assert_eq!(split.parts[1].kind, Kind::CloudConfig);
/// assert_eq!(split.parts[1].payload, b"#cloud-config\nhostname: a\n");
/// ```
pub fn split(message: &[u8]) -> Split {
    let mut out = Split::default();
    let Some(parsed) = MessageParser::new().parse(message) else {
        out.findings.push(Finding::new(
            Severity::Error,
            Code::Kind,
            "",
            start(),
            "the user data has `MIME-Version:` but cannot be read as a MIME message: \
             cloud-init would fail to read it; make it with `cloud-init devel make-mime`",
        ));
        return out;
    };
    walk(&parsed, 0, 0, &mut out);
    out
}

fn walk(message: &mail_parser::Message<'_>, id: u32, depth: usize, out: &mut Split) {
    let Some(part) = message.part(id) else {
        return;
    };
    match &part.body {
        PartType::Multipart(children) => {
            if depth >= MAX_DEPTH {
                out.findings.push(Finding::new(
                    Severity::Error,
                    Code::Kind,
                    "",
                    start(),
                    format!(
                        "multipart messages are nested more than {MAX_DEPTH} deep: reimage does \
                         not read the parts below; flatten the message"
                    ),
                ));
                return;
            }
            for &child in children {
                walk(message, child, depth + 1, out);
            }
        }
        PartType::Message(inner) => walk(inner, 0, depth + 1, out),
        _ => leaf(part, out),
    }
}

fn header_text(part: &MessagePart<'_>, name: &str) -> Option<String> {
    part.headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .and_then(|h| h.value().as_text())
        .map(|v| v.trim().to_owned())
}

fn leaf(part: &MessagePart<'_>, out: &mut Split) {
    let index = out.parts.len() + 1;
    let filename = part.attachment_name().map(str::to_owned);
    let mut content_type = part.content_type().map_or_else(
        || "text/plain".to_owned(),
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => "text/plain".to_owned(),
        },
    );
    let mut payload = part.contents().to_vec();
    let mut gzipped = false;
    let mut forgotten = false;
    if DECOMP_TYPES.contains(&content_type.as_str()) {
        match kind::gunzip(&payload) {
            Ok(data) if std::str::from_utf8(&data).is_ok() => {
                payload = data;
                gzipped = true;
                forgotten = true;
            }
            result => {
                let problem = match result {
                    Err(problem) => problem,
                    Ok(_) => "what it decompresses to is not UTF-8".to_owned(),
                };
                let reference = PartRef::new(index, filename.clone());
                out.findings.push(
                    Finding::new(
                        Severity::Error,
                        Code::Kind,
                        "",
                        start(),
                        format!(
                            "this part is {content_type}, but it cannot be decompressed \
                             ({problem}): cloud-init skips it, and the next part takes its number; \
                             compress it again"
                        ),
                    )
                    .in_part(reference),
                );
                return;
            }
        }
    }
    if forgotten || SNIFFED_TYPES.contains(&content_type.as_str()) {
        match sniff(&payload) {
            Some(found) => content_type = found.to_owned(),
            None if forgotten => content_type = "text/plain".to_owned(),
            None => {}
        }
    }
    let kind = kind_of_type(&content_type);
    if kind == Kind::CloudConfigArchive {
        archive::expand(&payload, &mut out.parts, &mut out.findings);
        return;
    }
    out.parts.push(Part {
        index,
        filename,
        content_type,
        kind,
        payload,
        gzipped,
        from_archive: false,
        launch_index: header_text(part, "Launch-Index"),
        merge_type: header_text(part, "Merge-Type").or_else(|| header_text(part, "X-Merge-Type")),
    });
}

#[cfg(test)]
mod tests;
