//! User data for Windows images, as Cloudbase-Init reads it (`reimage validate --os windows`).
//!
//! Read from Cloudbase-Init's own source (cloudbase/cloudbase-init on GitHub):
//!
//! - `cloudbaseinit/metadata/services/base.py` (`get_decoded_user_data`): gzip (`1f 8b`) is
//!   decompressed once;
//! - `cloudbaseinit/plugins/common/userdata.py` (`_process_user_data`,
//!   `_process_non_multi_part`): a MIME message when the headers (the text before the first blank
//!   line) hold `Content-Type: multipart`; otherwise a `## template: jinja` is rendered first
//!   (`cloudbaseinit/utils/template_engine/jinja2_template.py`), then bytes starting with exactly
//!   `#cloud-config` are cloud-config, a PEM certificate is taken as one, and anything else is
//!   run as a script if a script header matches;
//! - `cloudbaseinit/plugins/common/userdatautils.py` (`_SCRIPTS`, `execute_user_data_script`)
//!   with `execcmd.py`: `rem cmd` then white space (cmd.exe), `#!/usr/bin/env python` (Python),
//!   `#!` (bash), `#ps1` or `#ps1_sysnative` then white space (64-bit PowerShell), `#ps1_x86` then
//!   white space (32-bit PowerShell), and EC2's `<script>`/`<powershell>` tags anywhere. Other
//!   user data is "Unsupported user_data format" and nothing runs;
//! - `cloudbaseinit/plugins/common/userdataplugins/cloudconfig.py` and
//!   `cloudconfigplugins/factory.py`: cloud-config must be a non-empty mapping; only the keys
//!   `write_files`, `set_timezone`, `timezone`, `set_hostname`, `hostname`, `ntp`, `groups`,
//!   `users` and `runcmd` do anything, every other key is logged as "not supported";
//! - `cloudconfigplugins/runcmd.py`, `write_files.py`, `users.py`, `groups.py`: `runcmd` is a list
//!   of strings or lists (a string is iterated character by character), `write_files`, `users`
//!   and `groups` are a list or a mapping, a `write_files` entry needs `path` and `content`, a
//!   user needs `name`.
//!
//! cloud-init's lints (lockout, `early-power-state`, …) are about cloud-init's modules and are
//! off here; the provider's size limit still applies.

use crate::finding::{Code, Finding, Severity};
use crate::kind::{self, Kind};
use crate::validate::{Options, Report};
use crate::yaml::{self, Mark, Node, Value};

/// The cloud-config keys Cloudbase-Init acts on (`cloudconfigplugins/factory.py`, `PLUGINS`).
pub const CLOUD_CONFIG_KEYS: [&str; 9] = [
    "write_files",
    "set_timezone",
    "timezone",
    "set_hostname",
    "hostname",
    "ntp",
    "groups",
    "users",
    "runcmd",
];

fn start() -> Mark {
    Mark {
        line: 1,
        column: 1,
        index: 0,
    }
}

fn finding(severity: Severity, path: &str, mark: Mark, message: impl Into<String>) -> Finding {
    Finding::new(severity, Code::CloudbaseInit, path, mark, message)
}

/// Validates user data for a Windows image as Cloudbase-Init reads it.
pub(crate) fn validate(bytes: &[u8], options: &Options) -> Report {
    let detection = kind::detect(bytes);
    let mut findings = Vec::new();
    if let Some(size) = crate::lint::check_size(bytes, &options.lints) {
        findings.push(size);
    }
    // A gzip that does not decompress: keep cloud-init's explanation, Cloudbase-Init fails too.
    if bytes.starts_with(&[0x1f, 0x8b]) && !detection.gzipped {
        findings.extend(detection.findings);
        return report(Kind::Unknown, false, findings);
    }
    let payload = detection.payload.as_ref();
    let text = String::from_utf8_lossy(payload);
    let headers = text.split("\n\n").next().unwrap_or_default();
    if headers.contains("Content-Type: multipart") {
        return report(Kind::Multipart, detection.gzipped, findings);
    }
    let kind = if is_jinja(&text) {
        template(&text, options, &mut findings);
        Kind::JinjaTemplate
    } else {
        plain(&text, &mut findings)
    };
    report(kind, detection.gzipped, findings)
}

/// Cloudbase-Init's template check (`template_engine/base_template.py`, `load`): the first line
/// is `##`, optional blanks, `template:` (any case), and then `jinja` once stripped and
/// lower-cased.
fn is_jinja(text: &str) -> bool {
    let first = text.lines().next().unwrap_or_default().to_lowercase();
    first
        .strip_prefix("##")
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix("template:"))
        .is_some_and(|kind| kind.trim() == "jinja")
}

fn report(kind: Kind, gzipped: bool, mut findings: Vec<Finding>) -> Report {
    findings.sort_by_key(|f| (f.line, f.column, f.severity));
    Report {
        kind,
        gzipped,
        findings,
        parts: Vec::new(),
    }
}

/// A rendered template goes on as its own kind, with the findings' lines noted as for cloud-init.
fn template(text: &str, options: &Options, findings: &mut Vec<Finding>) {
    let data = options.instance_data.clone().unwrap_or_default();
    match crate::jinja::render_template(text, &data) {
        Ok(rendered) => {
            let mut sub = Vec::new();
            plain(&rendered.text, &mut sub);
            for mut f in sub {
                f.message
                    .push_str(&format!(" [line {} of the rendered template]", f.line));
                findings.push(f);
            }
        }
        Err(f) => findings.push(f),
    }
}

/// Everything but MIME: cloud-config, a certificate, or a script Cloudbase-Init can run.
fn plain(text: &str, findings: &mut Vec<Finding>) -> Kind {
    if text.starts_with("#cloud-config") {
        cloud_config(text, findings);
        return Kind::CloudConfig;
    }
    if text.trim().starts_with("-----BEGIN CERTIFICATE-----") {
        return Kind::Unknown;
    }
    if let Some(kind) = script_kind(text) {
        if kind == Kind::Script && !text.starts_with("#!/usr/bin/env python") {
            findings.push(finding(
                Severity::Warning,
                "",
                start(),
                "Cloudbase-Init runs `#!` user data with bash, which Windows does not have unless \
                 it was installed; for PowerShell start with `#ps1_sysnative`",
            ));
        }
        return kind;
    }
    let first = text.lines().next().unwrap_or_default();
    let shown: String = first.chars().take(40).collect();
    let hint = if first.trim_start().to_lowercase().starts_with("#ps1")
        || first.trim_start().to_lowercase().starts_with("rem cmd")
        || first
            .trim_start()
            .to_lowercase()
            .starts_with("#cloud-config")
    {
        "; the header must start the file exactly (lower case, nothing before it) and be \
         followed by a line break"
    } else {
        ""
    };
    findings.push(finding(
        Severity::Error,
        "",
        start(),
        format!(
            "the first line is {shown:?}: Cloudbase-Init recognises `#cloud-config`, `#ps1`, \
             `#ps1_sysnative`, `#ps1_x86`, `rem cmd`, `#!`, `<powershell>`, MIME and gzip, logs \
             \"Unsupported user_data format\" for anything else and runs nothing{hint}"
        ),
    ));
    Kind::Unknown
}

/// Cloudbase-Init's script headers, tried in its order.
fn script_kind(text: &str) -> Option<Kind> {
    let after = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.chars().next())
            .is_some_and(char::is_whitespace)
    };
    let rem_cmd = text.strip_prefix("rem").is_some_and(|rest| {
        let spaces = rest.len() - rest.trim_start().len();
        spaces > 0
            && rest
                .trim_start()
                .strip_prefix("cmd")
                .is_some_and(|r| r.chars().next().is_some_and(char::is_whitespace))
    });
    if rem_cmd {
        return Some(Kind::Batch);
    }
    if text.starts_with("#!") {
        return Some(Kind::Script);
    }
    if after("#ps1") || after("#ps1_sysnative") || after("#ps1_x86") {
        return Some(Kind::PowerShell);
    }
    let ec2 = ["<script>", "</script>", "<powershell>", "</powershell>"];
    if ec2.iter().any(|tag| text.contains(tag)) {
        return Some(Kind::PowerShell);
    }
    None
}

fn cloud_config(text: &str, findings: &mut Vec<Finding>) {
    let document = match yaml::parse(text) {
        Ok(document) => document,
        Err(error) => {
            findings.push(Finding::new(
                Severity::Error,
                Code::Yaml,
                format!("format-l{}.c{}", error.mark.line, error.mark.column),
                error.mark,
                format!(
                    "the YAML cannot be read: {error}; Cloudbase-Init logs \"Invalid yaml stream \
                     provided\" and ignores the cloud-config"
                ),
            ));
            return;
        }
    };
    let root = match &document.root {
        Some(root) if !is_empty(root) => root,
        _ => {
            findings.push(finding(
                Severity::Error,
                "",
                start(),
                "the cloud-config is empty: Cloudbase-Init logs \"Empty yaml stream provided\" \
                 and does nothing",
            ));
            return;
        }
    };
    let Value::Map(entries) = &root.value else {
        findings.push(finding(
            Severity::Error,
            "",
            root.mark,
            "the cloud-config is not a mapping of keys: Cloudbase-Init fails on it",
        ));
        return;
    };
    for (key, value) in entries {
        let name = key.value.key_text();
        if !CLOUD_CONFIG_KEYS.contains(&name.as_str()) {
            findings.push(finding(
                Severity::Warning,
                &name,
                key.mark,
                format!(
                    "Cloudbase-Init ignores `{name}` (it logs \"Plugin '{name}' is currently not \
                     supported\"); it acts on {} only",
                    CLOUD_CONFIG_KEYS.join(", ")
                ),
            ));
            continue;
        }
        check_key(&name, value, findings);
    }
}

fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Str(s) => s.is_empty(),
        Value::Seq(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

/// The shapes Cloudbase-Init's plugins need; a wrong one makes the plugin fail at boot.
fn check_key(name: &str, value: &Node, findings: &mut Vec<Finding>) {
    let mut error = |path: String, mark: Mark, message: String| {
        findings.push(finding(Severity::Error, &path, mark, message));
    };
    match (name, &value.value) {
        ("runcmd", Value::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !matches!(item.value, Value::Str(_) | Value::Seq(_)) {
                    error(
                        format!("runcmd.{i}"),
                        item.mark,
                        "a runcmd entry must be a string or a list: Cloudbase-Init's runcmd \
                         plugin fails on anything else"
                            .to_owned(),
                    );
                }
            }
        }
        ("runcmd", Value::Str(_)) => error(
            name.to_owned(),
            value.mark,
            "runcmd is a string: Cloudbase-Init runs each character as a command; make it a list \
             (`runcmd: [\"…\"]`)"
                .to_owned(),
        ),
        ("runcmd", _) => error(
            name.to_owned(),
            value.mark,
            "runcmd must be a list of commands: Cloudbase-Init's runcmd plugin fails".to_owned(),
        ),
        ("write_files" | "users" | "groups", Value::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                let needs: &[&str] = match name {
                    "write_files" => &["path", "content"],
                    "users" => &["name"],
                    _ => &[],
                };
                match &item.value {
                    Value::Map(fields) => {
                        for need in needs {
                            if !fields.iter().any(|(k, _)| k.value.key_text() == *need) {
                                error(
                                    format!("{name}.{i}"),
                                    item.mark,
                                    format!(
                                        "this {name} entry has no `{need}`: Cloudbase-Init's \
                                         {name} plugin fails on it"
                                    ),
                                );
                            }
                        }
                    }
                    Value::Str(_) if name == "groups" => {}
                    _ => error(
                        format!("{name}.{i}"),
                        item.mark,
                        format!(
                            "a {name} entry must be a mapping: Cloudbase-Init's {name} plugin \
                             fails on it"
                        ),
                    ),
                }
            }
        }
        ("write_files" | "users" | "groups", Value::Map(_)) => {}
        ("write_files" | "users" | "groups", _) => error(
            name.to_owned(),
            value.mark,
            format!("{name} must be a list or a mapping: Cloudbase-Init's {name} plugin fails"),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Os;

    fn check(bytes: &[u8]) -> Report {
        crate::validate(bytes, &Options::default().with_os(Os::Windows))
    }

    #[test]
    fn cloudbase_init_headers_are_recognised() {
        let rows: &[(&[u8], Kind)] = &[
            (b"#ps1_sysnative\nWrite-Host hi\n", Kind::PowerShell),
            (b"#ps1\nWrite-Host hi\n", Kind::PowerShell),
            (b"#ps1_x86\nWrite-Host hi\n", Kind::PowerShell),
            (
                b"<powershell>\nWrite-Host hi\n</powershell>\n",
                Kind::PowerShell,
            ),
            (b"rem cmd\necho hi\n", Kind::Batch),
            (b"#!/usr/bin/env python\nprint(1)\n", Kind::Script),
            (b"#cloud-config\nhostname: win-01\n", Kind::CloudConfig),
            (
                b"Content-Type: multipart/mixed; boundary=X\nMIME-Version: 1.0\n\n--X--\n",
                Kind::Multipart,
            ),
        ];
        for &(bytes, kind) in rows {
            let report = check(bytes);
            assert_eq!(report.kind, kind, "{:?}", String::from_utf8_lossy(bytes));
            assert!(report.valid(), "{:?}", report.findings);
            assert!(report.warnings().next().is_none(), "{:?}", report.findings);
        }
        // cloud-init itself refuses `#ps1_sysnative`.
        assert!(!crate::validate(b"#ps1_sysnative\nWrite-Host hi\n", &Options::default()).valid());
    }

    #[test]
    fn near_misses_are_refused() {
        for bytes in [
            &b"#PS1_sysnative\nWrite-Host\n"[..],
            b"#ps1_sysnative",
            b" #cloud-config\nhostname: a\n",
            b"#Cloud-Config\nhostname: a\n",
            b"echo hi\n",
        ] {
            let report = check(bytes);
            assert!(!report.valid(), "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(report.findings[0].code, Code::CloudbaseInit);
        }
    }

    #[test]
    fn unsupported_keys_are_warnings_naming_the_key() {
        let report = check(
            b"#cloud-config\nhostname: win-01\npackages: [git]\npower_state: {mode: reboot}\n",
        );
        assert!(report.valid());
        let warned: Vec<&str> = report.warnings().map(|f| f.path.as_str()).collect();
        assert_eq!(warned, ["packages", "power_state"]);
        assert!(report.findings[0].message.contains("`packages`"));
        assert_eq!(report.findings[0].line, 3);
    }

    #[test]
    fn plugin_shapes_are_checked() {
        let report = check(
            b"#cloud-config\nruncmd: \"echo hi\"\nwrite_files:\n  - path: C:\\\\a.txt\nusers: 3\n",
        );
        let errors: Vec<&str> = report.errors().map(|f| f.path.as_str()).collect();
        assert_eq!(errors, ["runcmd", "write_files.0", "users"]);
        assert!(!check(b"#cloud-config\n").valid());
        assert!(!check(b"#cloud-config\n- a\n").valid());
        assert!(!check(b"#cloud-config\nhostname: [\n").valid());
    }

    #[test]
    fn cloud_init_lints_are_off() {
        // cloud-init would warn about a lockout (no key, no password); Cloudbase-Init has its own
        // admin password handling.
        let report = check(b"#cloud-config\nhostname: win-01\n");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert!(
            crate::validate(b"#cloud-config\nhostname: win-01\n", &Options::default())
                .lockout()
                .is_some()
        );
    }

    #[test]
    fn gzip_and_templates_are_read_first() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"#ps1_sysnative\nWrite-Host hi\n").unwrap();
        let report = check(&gz.finish().unwrap());
        assert_eq!((report.kind, report.gzipped), (Kind::PowerShell, true));
        assert!(is_jinja("##Template: JINJA \n") && !is_jinja("## template: mako\n"));
        assert!(!check(b"## template: mako\n#cloud-config\n").valid());
        let report = check(b"## template: jinja\n#cloud-config\nruncmd: {{ v1.instance_id }}\n");
        assert_eq!(report.kind, Kind::JinjaTemplate);
        assert!(
            report.errors().any(|f| f.path == "runcmd"),
            "{:?}",
            report.findings
        );
    }
}
