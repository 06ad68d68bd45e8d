//! `#cloud-config-archive`: a YAML list of parts, expanded as cloud-init's
//! `UserDataProcessor._explode_archive` (`cloudinit/user_data.py`) expands it.
//!
//! The document is read with `util.load_yaml(…, default=[], allowed=(list, set))`: YAML that
//! cannot be read, or a root that is not a list, gives no parts at all. Each entry is either a
//! string (the content of a part) or a mapping with `content`, `type`, `filename`,
//! `launch-index`; any other key becomes a header of the part (`Merge-Type`, say). Without a
//! `type`, the type is what the content starts with (`#!`, `#cloud-config`, …), and
//! `text/cloud-config` when it starts with no header (`application/octet-stream` for
//! `!!binary` content). The type given is kept as it is: an entry is not sniffed again, an
//! archive inside an archive is not expanded, and an include inside an archive is not fetched.

use crate::finding::{Code, Finding, PartRef, Severity};
use crate::kind::Kind;
use crate::yaml::{self, Mark, Node, Value};

use super::{Part, kind_of_type, sniff};

/// The header keys cloud-init does not copy onto the part (`_explode_archive`).
const NOT_HEADERS: [&str; 7] = [
    "content",
    "filename",
    "type",
    "launch-index",
    "content-disposition",
    "number-attachments",
    "content-type",
];

fn get<'a>(entries: &'a [(Node, Node)], key: &str) -> Option<&'a Node> {
    entries
        .iter()
        .rev()
        .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
        .map(|(_, v)| v)
}

/// A scalar as Python's `str()` writes it.
fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Map(_) | Value::Seq(_) | Value::Binary(_) => None,
        other => Some(other.key_text()),
    }
}

fn error(mark: Mark, message: String) -> Finding {
    Finding::new(Severity::Error, Code::Kind, "", mark, message)
}

/// Expands the archive `payload` into `parts` (numbered after those already there); problems
/// go to `findings`, located in the archive's text.
pub(crate) fn expand(payload: &[u8], parts: &mut Vec<Part>, findings: &mut Vec<Finding>) {
    let at_start = Mark {
        line: 1,
        column: 1,
        index: 0,
    };
    let Ok(text) = std::str::from_utf8(payload) else {
        findings.push(error(
            at_start,
            "the #cloud-config-archive is not UTF-8: cloud-init cannot read it and uses none of \
             its parts; save it as UTF-8"
                .to_owned(),
        ));
        return;
    };
    let document = match yaml::parse(text) {
        Ok(document) => document,
        Err(e) => {
            findings.push(Finding::new(
                Severity::Error,
                Code::Yaml,
                format!("format-l{}.c{}", e.mark.line, e.mark.column),
                e.mark,
                format!(
                    "the #cloud-config-archive cannot be read: {e}; cloud-init uses none of its \
                     parts"
                ),
            ));
            return;
        }
    };
    let entries = match document.root.as_ref().map(|r| &r.value) {
        Some(Value::Seq(entries)) => entries.as_slice(),
        _ => {
            findings.push(error(
                document.root.as_ref().map_or(at_start, |r| r.mark),
                "a #cloud-config-archive must be a YAML list of parts: cloud-init uses none of \
                 this one; write `- content: …` entries"
                    .to_owned(),
            ));
            return;
        }
    };
    for entry in entries {
        let index = parts.len() + 1;
        let (content, fields): (Option<&Node>, &[(Node, Node)]) = match &entry.value {
            Value::Str(_) => (Some(entry), &[]),
            Value::Map(fields) => (get(fields, "content"), fields.as_slice()),
            // cloud-init skips an entry that is neither a string nor a mapping.
            _ => {
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        Code::Kind,
                        "",
                        entry.mark,
                        "this archive entry is neither a string nor a mapping: cloud-init skips \
                         it; write `- content: …`",
                    )
                    .in_part(PartRef::new(index, None)),
                );
                continue;
            }
        };
        let at = content.map_or(entry.mark, |c| c.mark);
        let (bytes, binary) = match content.map(|c| &c.value) {
            None => (Vec::new(), false),
            Some(Value::Str(s)) => (s.clone().into_bytes(), false),
            Some(Value::Binary(b)) => (b.clone(), true),
            Some(_) => {
                findings.push(error(
                    at,
                    "this archive entry's `content` is not a string: cloud-init fails on it and \
                     the user data is not used; quote it or write it as a block (`content: |`)"
                        .to_owned(),
                ));
                continue;
            }
        };
        let given = get(fields, "type").and_then(scalar_text);
        let content_type = match given.filter(|t| !t.is_empty()) {
            Some(t) if t.contains('/') => t.to_ascii_lowercase(),
            Some(t) => {
                findings.push(error(
                    at,
                    format!(
                        "this archive entry's type {t:?} is not a MIME type (`main/sub`): \
                         cloud-init fails on it and the user data is not used; write \
                         `text/cloud-config`, `text/x-shellscript`, …"
                    ),
                ));
                continue;
            }
            None if binary => "application/octet-stream".to_owned(),
            None => sniff(&bytes).unwrap_or("text/cloud-config").to_owned(),
        };
        parts.push(part(index, &content_type, bytes, fields));
    }
}

fn part(index: usize, content_type: &str, payload: Vec<u8>, fields: &[(Node, Node)]) -> Part {
    let header = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| {
                matches!(&k.value, Value::Str(s) if s.eq_ignore_ascii_case(name)
                    && !NOT_HEADERS.contains(&s.to_ascii_lowercase().as_str()))
            })
            .and_then(|(_, v)| scalar_text(v))
    };
    let mut kind = kind_of_type(content_type);
    // Only parts of a MIME message are fetched or expanded; in an archive no handler takes them.
    if matches!(
        kind,
        Kind::Include | Kind::IncludeOnce | Kind::CloudConfigArchive
    ) {
        kind = Kind::Unknown;
    }
    Part {
        index,
        filename: get(fields, "filename").and_then(scalar_text),
        content_type: content_type.to_owned(),
        kind,
        payload,
        gzipped: false,
        from_archive: true,
        launch_index: get(fields, "launch-index").and_then(scalar_text),
        merge_type: header("Merge-Type").or_else(|| header("X-Merge-Type")),
    }
}
