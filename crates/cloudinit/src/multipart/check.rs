//! Checking the parts of a multipart message or archive: each part as what it is, then the
//! lints once on the cloud-config that cloud-init merges from them.

use crate::finding::{Code, Finding, PartRef, Severity};
use crate::kind::{Detection, Kind};
use crate::lint;
use crate::schema::Version;
use crate::validate::{Options, checked_cloud_config};
use crate::yaml::{Mark, Node, Value};

use super::{Part, archive, merge, split};

fn at_start() -> Mark {
    Mark {
        line: 1,
        column: 1,
        index: 0,
    }
}

fn note(severity: Severity, part: &Part, message: String) -> Finding {
    Finding::new(severity, Code::Kind, "", at_start(), message).in_part(part.reference())
}

/// Splits `detection`'s payload if it is a multipart message or an archive, checks every part
/// into `findings`, and returns the parts (none for other kinds).
pub(crate) fn check(
    detection: &Detection<'_>,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> Vec<Part> {
    let parts = match detection.kind {
        Kind::Multipart => {
            let split = split(&detection.payload);
            findings.extend(split.findings);
            split.parts
        }
        Kind::CloudConfigArchive => {
            if options.version == Version::V22_4 {
                // `cloud-init schema -c` of 22.4 reads the file as cloud-config (it starts with
                // `#cloud-config`), and its root is a list.
                findings.push(Finding::new(
                    Severity::Error,
                    Code::Schema,
                    "",
                    at_start(),
                    "cloud-init 22.4's `cloud-init schema` rejects a #cloud-config-archive \
                     (\"Cloud-config is not a YAML dict.\"), though it expands one at boot; \
                     check it with --cloud-init 26.2, or send the parts as MIME multipart",
                ));
            }
            let mut parts = Vec::new();
            archive::expand(&detection.payload, &mut parts, findings);
            parts
        }
        Kind::Include | Kind::IncludeOnce => {
            // A whole file of URLs: listed as not fetched, as in a part.
            let text = String::from_utf8_lossy(&detection.payload);
            findings.extend(include_urls(&text).iter().map(|url| {
                Finding::new(
                    Severity::Warning,
                    Code::Kind,
                    "",
                    at_start(),
                    not_fetched(url),
                )
            }));
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    let mut merged: Option<Node> = None;
    let mut documents: Vec<(PartRef, Node)> = Vec::new();
    for part in &parts {
        check_part(part, options, findings, &mut merged, &mut documents);
    }
    if let Some(root) = merged {
        let merged_from: Vec<String> = documents.iter().map(|(p, _)| p.index.to_string()).collect();
        for mut finding in lint::check_cloud_config(&root, &options.lints) {
            match locate(&finding, &documents) {
                Some(part) => finding = finding.in_part(part),
                None => {
                    finding.message = format!(
                        "{} (judged on the cloud-config cloud-init merges from part{} {})",
                        finding.message,
                        if merged_from.len() == 1 { "" } else { "s" },
                        merged_from.join(", ")
                    );
                }
            }
            findings.push(finding);
        }
    }
    parts
}

fn check_part(
    part: &Part,
    options: &Options,
    findings: &mut Vec<Finding>,
    merged: &mut Option<Node>,
    documents: &mut Vec<(PartRef, Node)>,
) {
    if let Some(index) = &part.launch_index {
        findings.push(note(
            Severity::Info,
            part,
            format!(
                "this part has Launch-Index {index}: cloud-init uses it only on the instance \
                 launched with that index"
            ),
        ));
    }
    let what = match part.kind {
        Kind::CloudConfig => return cloud_config(part, options, findings, merged, documents),
        Kind::Script => "a shell script (text/x-shellscript), run once per instance",
        Kind::ScriptPerBoot => "a script run at every boot (text/x-shellscript-per-boot)",
        Kind::ScriptPerInstance => {
            "a script run once per instance (text/x-shellscript-per-instance)"
        }
        Kind::ScriptPerOnce => "a script run once ever (text/x-shellscript-per-once)",
        Kind::Boothook => "a boothook (text/cloud-boothook), run early at every boot",
        Kind::PartHandler => {
            "a part handler (text/part-handler): Python code cloud-init loads to handle other \
             parts"
        }
        Kind::JinjaTemplate => {
            // cloud-init's `jinja_template.py` renders the part with the instance data and hands
            // what it renders to on as its own kind: so does `validate::template`. What it
            // renders to is checked here, not merged with the other cloud-config parts.
            let text = String::from_utf8_lossy(&part.payload);
            let mut rendered = Vec::new();
            crate::validate::template(&text, options, &mut rendered);
            // The lints judge the whole config (a lockout in one part may be cured by another),
            // so a template part's own lint findings are dropped rather than misreported.
            findings.extend(
                rendered
                    .into_iter()
                    .filter(|f| !matches!(f.code, Code::Lint(_)))
                    .map(|f| f.in_part(part.reference())),
            );
            findings.push(note(
                Severity::Info,
                part,
                "this part is a Jinja template (text/jinja2): checked as it renders with the \
                 instance data given (or none); the lints do not see it merged with the other \
                 parts"
                    .to_owned(),
            ));
            return;
        }
        Kind::CloudConfigJsonp => {
            findings.push(note(
                Severity::Warning,
                part,
                "this part is a JSON patch (text/cloud-config-jsonp): reimage does not apply it, \
                 so the lints do not see what it changes"
                    .to_owned(),
            ));
            return;
        }
        Kind::Include | Kind::IncludeOnce => {
            include(part, findings);
            return;
        }
        _ => {
            findings.push(note(
                Severity::Warning,
                part,
                format!(
                    "no handler of cloud-init takes content type {}: it ignores this part, unless \
                     a part handler registers that type",
                    part.content_type
                ),
            ));
            return;
        }
    };
    findings.push(note(
        Severity::Info,
        part,
        format!("this part is {what}; reimage does not check its contents"),
    ));
}

/// The URLs of an include part, as `UserDataProcessor._do_include` reads them.
pub(crate) fn include_urls(payload: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for line in payload.lines() {
        let lower = line.to_lowercase();
        let rest = if lower.starts_with("#include-once") {
            line.get("#include-once".len()..)
                .unwrap_or_default()
                .trim_start()
        } else if lower.starts_with("#include") {
            line.get("#include".len()..)
                .unwrap_or_default()
                .trim_start()
        } else {
            line
        };
        if rest.starts_with('#') {
            continue;
        }
        let url = rest.trim();
        if !url.is_empty() {
            urls.push(url.to_owned());
        }
    }
    urls
}

fn include(part: &Part, findings: &mut Vec<Finding>) {
    let text = String::from_utf8_lossy(&part.payload);
    let urls = include_urls(&text);
    if urls.is_empty() {
        findings.push(note(
            Severity::Warning,
            part,
            "this include part lists no URL: cloud-init fetches nothing".to_owned(),
        ));
    }
    for url in urls {
        findings.push(note(Severity::Warning, part, not_fetched(&url)));
    }
}

fn not_fetched(url: &str) -> String {
    format!(
        "cloud-init fetches {url} at boot and handles what it gets as more user data; reimage \
         does not fetch it, so that content is NOT checked"
    )
}

fn cloud_config(
    part: &Part,
    options: &Options,
    findings: &mut Vec<Finding>,
    merged: &mut Option<Node>,
    documents: &mut Vec<(PartRef, Node)>,
) {
    let reference = part.reference();
    let Ok(text) = std::str::from_utf8(&part.payload) else {
        findings.push(note(
            Severity::Error,
            part,
            "this cloud-config part is not UTF-8: cloud-init cannot read it; save it as UTF-8"
                .to_owned(),
        ));
        return;
    };
    let mut own = Vec::new();
    let root = checked_cloud_config(text, options, &mut own);
    // A part whose root is not a mapping is skipped by cloud-init's merge (it fails to take
    // `merge_how` from it): a warning here, as cloud-init goes on without it.
    let skipped = !matches!(root.as_ref().map(|r| &r.value), Some(Value::Map(_)));
    for finding in own {
        let mut finding = finding.in_part(reference.clone());
        if skipped && finding.code == Code::Schema && finding.path.is_empty() {
            finding.severity = Severity::Warning;
            finding.message = format!(
                "{}; cloud-init skips this part when it merges the cloud-config parts",
                finding.message
            );
        }
        findings.push(finding);
    }
    let Some(mut root) = root else { return };
    let Value::Map(entries) = &mut root.value else {
        return;
    };
    // `merge_how` (else `merge_type`) is taken out of the config, then the headers are added.
    let position = entries
        .iter()
        .position(|(k, _)| matches!(&k.value, Value::Str(s) if s == "merge_how"))
        .or_else(|| {
            entries
                .iter()
                .position(|(k, _)| matches!(&k.value, Value::Str(s) if s == "merge_type"))
        });
    let mut mergers = Vec::new();
    let mut problem = None;
    if let Some(at) = position {
        let (_, how) = entries.remove(at);
        match merge::from_node(&how) {
            Ok(found) => mergers = found,
            Err(e) => problem = Some((how.mark, e)),
        }
    }
    if let Some(header) = part.merge_type.as_deref().filter(|h| !h.is_empty()) {
        match merge::parse(header) {
            Ok(found) => mergers.extend(found),
            Err(e) => problem = problem.or(Some((at_start(), format!("Merge-Type header: {e}")))),
        }
    }
    if problem.is_none() && mergers.is_empty() {
        mergers = merge::default_mergers();
    }
    if let Err(e) = merge::check_names(&mergers) {
        problem = problem.or(Some((at_start(), e)));
    }
    if let Some((mark, message)) = problem {
        findings.push(
            Finding::new(
                Severity::Error,
                Code::Kind,
                "merge_how",
                mark,
                format!("{message}; cloud-init does not merge this part"),
            )
            .in_part(reference),
        );
        return;
    }
    let earlier = merged.take().unwrap_or_else(merge::empty);
    *merged = Some(merge::merge(earlier, &root, &mergers));
    documents.push((reference, root));
}

/// The part a lint finding on the merged config comes from: the last part whose node at the
/// finding's path starts where the finding is, else the last part with any node there.
fn locate(finding: &Finding, documents: &[(PartRef, Node)]) -> Option<PartRef> {
    if finding.path.is_empty() {
        return None;
    }
    let at = (finding.line, finding.column);
    let by_path = documents.iter().rev().find(|(_, root)| {
        resolve(root, &finding.path).is_some_and(|n| (n.mark.line, n.mark.column) == at)
    });
    if let Some((part, _)) = by_path {
        return Some(part.clone());
    }
    documents
        .iter()
        .rev()
        .find(|(_, root)| has_mark(root, at))
        .map(|(part, _)| part.clone())
}

fn resolve<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for step in path.split('.') {
        node = match &node.value {
            Value::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.value.key_text() == step)
                .map(|(_, v)| v)?,
            Value::Seq(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn has_mark(node: &Node, at: (u32, u32)) -> bool {
    if (node.mark.line, node.mark.column) == at {
        return true;
    }
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| has_mark(k, at) || has_mark(v, at)),
        Value::Seq(items) => items.iter().any(|n| has_mark(n, at)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::include_urls;

    #[test]
    fn include_lines_as_cloud_init_reads_them() {
        let urls = include_urls(
            "#include\nhttps://a.example/x\n  # comment\n#include-once https://b.example/y\n\n",
        );
        assert_eq!(
            urls,
            ["https://a.example/x", "# comment", "https://b.example/y"]
        );
    }
}
