//! Table-driven tests: trees built by hand (JSON, plus the YAML types JSON lacks) and the paths
//! cloud-init reports for them. Every expectation here was checked against the real cloud-init
//! of its version (`validate_cloudconfig_schema`) with the same tree: 22.4.2 for `V22`, 26.2
//! (with python-jsonschema 4.26.0) for `V26`.

use serde_json::json;

use super::compile::{self, Compiled};
use super::python;
use super::*;
use crate::yaml::{Mark, Node, Value};

/// A tree from JSON. Objects of one special key stand for what JSON cannot say:
/// `{"!binary": [bytes]}` is `!!binary` data, `{"!ts": "2001-12-14"}` an unquoted date or
/// timestamp, `{"!float": "nan"}` a float JSON cannot write, and `{"!map": [[key, value], …]}` a mapping whose keys need not be strings.
/// Nodes are numbered in document order: node `n` is at line `n + 2`, column 1.
fn tree(json: serde_json::Value) -> Node {
    let mut line = 1;
    build(&json, &mut line)
}

fn build(json: &serde_json::Value, line: &mut u32) -> Node {
    use serde_json::Value as J;
    *line += 1;
    let mark = Mark {
        line: *line,
        column: 1,
        index: 0,
    };
    let value = match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i128::from(i)),
            None => Value::Float(n.as_f64().unwrap()),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::Seq(items.iter().map(|i| build(i, line)).collect()),
        J::Object(map) if map.len() == 1 && map.contains_key("!binary") => Value::Binary(
            map["!binary"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
                .collect(),
        ),
        J::Object(map) if map.len() == 1 && map.contains_key("!float") => {
            Value::Float(map["!float"].as_str().unwrap().parse().unwrap())
        }
        J::Object(map) if map.len() == 1 && map.contains_key("!ts") => {
            Value::Timestamp(map["!ts"].as_str().unwrap().to_string())
        }
        J::Object(map) if map.len() == 1 && map.contains_key("!map") => Value::Map(
            map["!map"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| (build(&pair[0], line), build(&pair[1], line)))
                .collect(),
        ),
        J::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (build(&J::String(k.clone()), line), build(v, line)))
                .collect(),
        ),
    };
    Node { value, mark }
}

/// Error paths and deprecation paths, each sorted and without repeats.
fn verdict(doc: serde_json::Value, version: Version) -> (Vec<String>, Vec<String>) {
    let findings = validate(&tree(doc), version);
    let mut errors: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.path.clone())
        .collect();
    let mut deprecations: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.path.clone())
        .collect();
    for list in [&mut errors, &mut deprecations] {
        list.sort();
        list.dedup();
    }
    (errors, deprecations)
}

struct Case {
    name: &'static str,
    version: Version,
    doc: serde_json::Value,
    errors: &'static [&'static str],
    deprecations: &'static [&'static str],
}

fn case(
    name: &'static str,
    version: Version,
    doc: serde_json::Value,
    errors: &'static [&'static str],
    deprecations: &'static [&'static str],
) -> Case {
    Case {
        name,
        version,
        doc,
        errors,
        deprecations,
    }
}

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let (errors, deprecations) = verdict(c.doc.clone(), c.version);
        if errors != c.errors || deprecations != c.deprecations {
            failures.push(format!(
                "{} ({}): errors {errors:?} (want {:?}), deprecations {deprecations:?} (want {:?})\n  {:#?}",
                c.name,
                c.version,
                c.errors,
                c.deprecations,
                validate(&tree(c.doc), c.version)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const V22: Version = Version::V22_4;
const V26: Version = Version::V26_2;

#[test]
fn schema_embedded_schemas_compile() {
    for version in Version::ALL {
        let compiled: &Compiled = version.compiled();
        assert!(compiled.len() > 100, "{version}");
        for node in (0..compiled.len()).map(|id| compiled.node(id)) {
            for pattern in node
                .pattern
                .iter()
                .chain(node.pattern_properties.iter().map(|(p, _)| p))
            {
                assert!(pattern.compiles(), "{version}: {}", pattern.source);
            }
        }
    }
    assert!(compile::compile("{\"maxLength\": 3}").is_err());
}

/// The generated tables are the embedded JSON compiled, node by node; `cargo xtask codegen`
/// makes them again when this fails.
#[test]
fn schema_tables_are_the_compiled_schemas() {
    for version in Version::ALL {
        let fresh = compile::compile(version.text()).unwrap();
        let tables = version.compiled();
        assert_eq!(tables.root, fresh.root, "{version}: the root moved");
        assert_eq!(tables.len(), fresh.len(), "{version}: node count");
        for id in 0..fresh.len() {
            assert_eq!(
                tables.node(id),
                fresh.node(id),
                "{version}: node {id} differs; run `cargo xtask codegen`"
            );
        }
        // The tables really are static data, not compiled at run time.
        assert!(
            matches!(tables.nodes, super::compile::Nodes::Table(_)),
            "{version}"
        );
    }
}

/// The small JSON reader agrees with `serde_json` on the embedded schemas and on escapes.
#[test]
fn schema_json_reader_agrees_with_serde_json() {
    fn to_serde(json: &super::json::Json<'_>) -> serde_json::Value {
        use super::json::Json;
        match json {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(text) => serde_json::from_str(text).unwrap(),
            Json::Str(s) => serde_json::Value::String(s.to_string()),
            Json::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
            Json::Object(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), to_serde(v)))
                    .collect(),
            ),
        }
    }
    let escapes = r#"{"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00": [1, -2.5e3, true, false, null, "x"]}"#;
    for text in [Version::V22_4.text(), Version::V26_2.text(), escapes] {
        let ours = super::json::parse(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(to_serde(&ours), theirs);
    }
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\" 1}",
        "\"\\x\"",
        "\"\\ud800\"",
        "1 2",
        "01x",
        "\"\\u+123\"",
    ] {
        assert!(super::json::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn schema_version_names() {
    assert_eq!(Version::default(), Version::V26_2);
    assert_eq!("22.4".parse::<Version>(), Ok(Version::V22_4));
    assert_eq!("26.2".parse::<Version>(), Ok(Version::V26_2));
    assert!("23.1".parse::<Version>().is_err());
    for v in Version::ALL {
        assert_eq!(v.as_str().parse::<Version>(), Ok(v));
        assert_eq!(v.to_string(), v.as_str());
    }
}

#[test]
fn schema_basics() {
    check(vec![
        case("empty mapping", V22, json!({}), &[], &[]),
        case(
            "valid",
            V22,
            json!({"runcmd": ["ls"], "packages": ["vim"]}),
            &[],
            &[],
        ),
        case(
            "issue example",
            V22,
            json!({"power_state": {"mode": "restart"}}),
            &["power_state.mode"],
            &[],
        ),
        case(
            "octal permissions",
            V22,
            json!({"write_files": [{"path": "/x", "permissions": 420}]}),
            &["write_files.0.permissions"],
            &[],
        ),
        case(
            "oneOf failure is reported at the oneOf",
            V22,
            json!({"users": [{"name": "a", "groups": [1]}]}),
            &["users.0"],
            &[],
        ),
        case(
            "missing required key",
            V22,
            json!({"write_files": [{"content": "x"}]}),
            &["write_files.0"],
            &[],
        ),
        case(
            "unknown top-level key is fine in 22.4",
            V22,
            json!({"not_a_key": 1}),
            &[],
            &[],
        ),
        case(
            "unknown top-level key is an error in 26.2, at the key",
            V26,
            json!({"not_a_key": 1}),
            &["not_a_key"],
            &[],
        ),
        case(
            "additionalProperties false reports the mapping",
            V22,
            json!({"power_state": {"mode": "reboot", "bogus": 1}}),
            &["power_state"],
            &[],
        ),
        case(
            "$ref siblings are not ignored",
            V22,
            json!({"groups": 5}),
            &["groups"],
            &[],
        ),
        case(
            "$ref siblings and the referenced schema together",
            V22,
            json!({"groups": {"g": 5}}),
            &["groups.g"],
            &[],
        ),
        case(
            "groups as a string",
            V22,
            json!({"groups": "admin"}),
            &[],
            &[],
        ),
    ]);
}

#[test]
fn schema_python_types() {
    check(vec![
        case(
            "bytes are strings",
            V22,
            json!({"write_files": [{"path": "/x", "content": {"!binary": [104, 105]}}]}),
            &[],
            &[],
        ),
        case(
            "a date is not a string",
            V22,
            json!({"runcmd": [{"!ts": "2001-12-14"}]}),
            &["runcmd.0"],
            &[],
        ),
        case(
            "a bool is not an integer",
            V22,
            json!({"users": [{"name": "a", "uid": true}]}),
            &["users.0"],
            &[],
        ),
        case(
            "a float is not an integer in Draft 4",
            V22,
            json!({"users": [{"name": "a", "uid": 1.0}]}),
            &["users.0"],
            &[],
        ),
        case(
            "an integer is a number",
            V22,
            json!({"ansible": {"install_method": "pip", "run_user": "x", "setup_controller": {"run_ansible": [{"timeout": 5}]}}}),
            &[],
            &[],
        ),
        case(
            "1 and true are different enum members",
            V22,
            json!({"resize_rootfs": 1}),
            &["resize_rootfs"],
            &[],
        ),
        case(
            "true is an enum member",
            V22,
            json!({"resize_rootfs": true}),
            &[],
            &[],
        ),
        case(
            "uniqueItems: 1 and true differ",
            V22,
            json!({"ntp": {"servers": [1, true]}}),
            &["ntp.servers.0", "ntp.servers.1"],
            &[],
        ),
        case(
            "uniqueItems: 1 and 1.0 are equal",
            V22,
            json!({"ntp": {"servers": [1, 1.0]}}),
            &["ntp.servers", "ntp.servers.0", "ntp.servers.1"],
            &[],
        ),
        case(
            "uniqueItems on strings",
            V22,
            json!({"ntp": {"servers": ["a", "b", "a"]}}),
            &["ntp.servers"],
            &[],
        ),
        case(
            "hostname and uri formats are not checked",
            V22,
            json!({"ntp": {"servers": ["not a hostname!"]}, "phone_home": {"url": "not a uri"}}),
            &[],
            &[],
        ),
        case(
            "the date format is checked",
            V22,
            json!({"users": [{"name": "a", "expiredate": "2020-13-01"}]}),
            &["users.0"],
            &[],
        ),
        case(
            "Python 3.11 reads more ISO dates",
            V22,
            json!({"users": [{"name": "a", "expiredate": "2020W011"}]}),
            &[],
            &[],
        ),
        case(
            "minimum compares int and float",
            V22,
            json!({"lxd": {"bridge": {"mode": "none", "mtu": -1.5}}}),
            &["lxd.bridge.mtu"],
            &[],
        ),
        case(
            "a non-string key outside any regex is just another key",
            V22,
            json!({"!map": [[1, "x"], ["runcmd", ["ls"]]]}),
            &[],
            &[],
        ),
        case(
            "a None key adds no path element (python-jsonschema's descend(path=None))",
            V22,
            json!({"snap": {"assertions": {"!map": [[null, 1], ["a", 2]]}}}),
            &["snap.assertions", "snap.assertions.a"],
            &[],
        ),
        case(
            "Python's `$` matches before a final newline",
            V22,
            json!({"swap": {"size": "1G\n"}}),
            &[],
            &[],
        ),
        case(
            "but not before two",
            V22,
            json!({"swap": {"size": "1G\n\n"}}),
            &["swap.size"],
            &[],
        ),
        case(
            "uniqueItems compares sorted neighbours only, as python-jsonschema 4.10 does",
            V22,
            json!({"ntp": {"servers": [[1], [true], [1]]}}),
            &["ntp.servers.0", "ntp.servers.1", "ntp.servers.2"],
            &[],
        ),
        case(
            "NaN is never equal to itself",
            V22,
            json!({"ntp": {"servers": [{"!float": "nan"}, {"!float": "nan"}]}}),
            &["ntp.servers.0", "ntp.servers.1"],
            &[],
        ),
        case(
            "not: mutually exclusive spellings (26.2)",
            V26,
            json!({"rh_subscription": {"activation_key": "a", "activation-key": "b"}}),
            &["rh_subscription"],
            &["rh_subscription.activation-key"],
        ),
        case(
            "paths print non-string keys as Python does",
            V22,
            json!({"snap": {"assertions": {"!map": [[true, 5]]}}}),
            &["snap.assertions.True"],
            &[],
        ),
    ]);
}

#[test]
fn schema_deprecations() {
    check(vec![
        case(
            "a deprecated key",
            V22,
            json!({"apt_update": true}),
            &[],
            &["apt_update"],
        ),
        case(
            "a deprecated form in a oneOf",
            V22,
            json!({"ssh_pwauth": "yes"}),
            &[],
            &["ssh_pwauth"],
        ),
        case(
            "a deprecated key with an error",
            V22,
            json!({"apt_update": "yes"}),
            &["apt_update"],
            &["apt_update"],
        ),
        case(
            "deprecations of a failed oneOf are dropped",
            V22,
            json!({"users": [{"name": "a", "lock-passwd": true, "uid": []}]}),
            &["users.0"],
            &[],
        ),
        case(
            "deprecations of a matching oneOf branch pass",
            V22,
            json!({"users": [{"name": "a", "lock-passwd": true}]}),
            &[],
            &["users.0.lock-passwd"],
        ),
        case(
            "deprecated with a $ref sibling (26.2)",
            V26,
            json!({"ubuntu_advantage": {"token": "x"}}),
            &[],
            &["ubuntu_advantage"],
        ),
        case(
            "deprecated through allOf",
            V22,
            json!({"ca-certs": {"remove-defaults": true}}),
            &[],
            &["ca-certs", "ca-certs.remove-defaults"],
        ),
    ]);
}

#[test]
fn schema_crashes_like_python() {
    // cloud-init runs `re.search` on every key under `patternProperties`; a number raises.
    let findings = validate(
        &tree(json!({"users": [{"name": "a", "groups": {"!map": [[1, ["x"]]]}}]})),
        V22,
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    // cloud-init gives a traceback, no path: the path is empty and the message says where.
    assert_eq!(findings[0].path, "");
    assert!(
        findings[0].message.contains("crashes")
            && findings[0].message.contains("under users.0.groups"),
        "{}",
        findings[0].message
    );
}

#[test]
fn schema_crashes_on_unsortable_messages_and_binary_patterns() {
    // `additionalProperties: false` sorts the unexpected keys for its message.
    let doc = json!({"power_state": {"!map": [["mode", "reboot"], ["bogus", 1], [1, "v"]]}});
    let findings = validate(&tree(doc), V22);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].path, "");
    assert!(
        findings[0].message.contains("under power_state"),
        "{findings:#?}"
    );
    // `pattern` on bytes: `re.search(str, bytes)`.
    let doc = json!({"chpasswd": {"list": [{"!binary": [97, 58, 98]}]}});
    let findings = validate(&tree(doc), V22);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].path, "");
    assert!(
        findings[0].message.contains("under chpasswd.list.0"),
        "{findings:#?}"
    );
}

#[test]
fn schema_top_level() {
    for doc in [json!([1]), json!("text"), json!(null)] {
        let findings = validate(&tree(doc.clone()), V22);
        assert_eq!(findings.len(), 1, "{doc}");
        assert_eq!(findings[0].path, "");
        assert_eq!(findings[0].severity, Severity::Error);
    }
    let empty = crate::yaml::Document {
        root: None,
        duplicate_keys: Vec::new(),
    };
    let findings = validate_document(&empty, V26);
    assert_eq!(findings.len(), 1);
    assert!(findings[0].message.contains("empty"));
}

#[test]
fn schema_findings_are_located_and_readable() {
    let doc = tree(json!({"power_state": {"mode": "restart"}, "apt_update": true}));
    let findings = validate(&doc, V26);
    let messages: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{}:{} {} {}: {}",
                f.line, f.column, f.severity, f.path, f.message
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            "3:1 warning apt_update: \"apt_update\" is deprecated since cloud-init 22.2; use package_update instead",
            "8:1 error power_state.mode: \"restart\" is not one of poweroff, reboot, halt",
        ],
        "{messages:#?}"
    );
}

#[test]
fn schema_python_helpers() {
    for (f, repr) in [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (1.5e-5, "1.5e-05"),
        (123456789012345.6, "123456789012345.6"),
        (-2.5, "-2.5"),
        (f64::INFINITY, "inf"),
        (0.0001, "0.0001"),
    ] {
        assert_eq!(python::float_repr(f), repr);
    }
    assert_eq!(python::bytes_repr(b"a'b\n\x00"), "b\"a'b\\n\\x00\"");
    for (text, ok) in [
        ("2001-01-01", true),
        ("20010101", true),
        ("20010101xx", true),
        ("2001W011", true),
        ("2001-W01-1", true),
        ("2001-W01", true),
        ("2004-W53-7", true),
        ("2001-W53-1", false),
        ("2001-02-29", false),
        ("0000-01-01", false),
        ("2001-01-01\n", false),
        ("2001-0101x", false),
        ("2001-W01-8", false),
    ] {
        assert_eq!(python::is_iso_date(text), ok, "{text}");
    }
    let ts = python::Timestamp::parse("2001-12-14t21:59:43.10-05:00").unwrap();
    assert_eq!(ts.to_python_str(), "2001-12-14 21:59:43.100000-05:00");
}

#[test]
fn schema_26_2_reports_where_cloud_init_26_2_does() {
    check(vec![
        case(
            "two unknown top-level keys: one message, at no path",
            V26,
            json!({"not_a_key": 1, "other": 2}),
            &[""],
            &[],
        ),
        case(
            "an unknown key Python quotes with double quotes stays at no path",
            V26,
            json!({"it's": 1}),
            &[""],
            &[],
        ),
        case(
            "an unknown key with both quotes: the path as repr escapes it",
            V26,
            json!({"it's \"x\"": 1}),
            &["it\\'s \"x\""],
            &[],
        ),
        case(
            "an unknown key that is not a string stays at no path",
            V26,
            json!({"!map": [[1, 1]]}),
            &[""],
            &[],
        ),
        case(
            "oneOf: the deepest error (22.4 says users.0)",
            V26,
            json!({"users": [{"name": "a", "expiredate": "2030-02-30"}]}),
            &["users.0.expiredate"],
            &[],
        ),
        case(
            "oneOf: the deepest error in a nested list",
            V26,
            json!({"bootcmd": [["echo", 1]]}),
            &["bootcmd.0.1"],
            &[],
        ),
        case(
            "oneOf over a mapping with a type key: the errors about type",
            V26,
            json!({"reporting": {"central": {"type": "syslog"}}}),
            &["reporting.central.type"],
            &[],
        ),
        case(
            "oneOf over a mapping with a type key: the branch that names the type",
            V26,
            json!({"reporting": {"central": {"level": "x"}}}),
            &["reporting.central.level"],
            &[],
        ),
        case(
            "oneOf failing at the value itself stays there",
            V26,
            json!({"power_state": {"mode": "reboot", "delay": "soon"}}),
            &["power_state.delay"],
            &[],
        ),
        case(
            "anyOf: best_match prefers the shallowest error, then anyOf's own",
            V26,
            json!({"chpasswd": {"users": [{"name": "a", "type": "text", "password": 5}]}}),
            &["chpasswd.users.0"],
            &[],
        ),
        case(
            "anyOf of required keys",
            V26,
            json!({"yum_repos": {"myrepo": {"name": "x"}}}),
            &["yum_repos.myrepo"],
            &[],
        ),
        case(
            "anyOf inside oneOf inside oneOf",
            V26,
            json!({"disk_setup": {"/dev/vdb": {"layout": [[10, true]]}}}),
            &["disk_setup./dev/vdb.layout.0.1"],
            &[],
        ),
        case(
            "26.2's `changed` form is a deprecation",
            V26,
            json!({"ssh_pwauth": "unchanged"}),
            &[],
            &["ssh_pwauth"],
        ),
        case(
            "22.4 keeps a failed oneOf at its own path",
            V22,
            json!({"bootcmd": [["echo", 1]]}),
            &["bootcmd.0"],
            &[],
        ),
    ]);
}

#[test]
fn schema_26_2_tells_one_value_failing_every_branch_once() {
    // 26.2 gives one error per branch at `power_state.delay`; reimage says it once, with the
    // forms the branches wanted.
    let doc = json!({"power_state": {"mode": "reboot", "delay": "soon"}});
    let findings = validate(&tree(doc), V26);
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{findings:#?}");
    let message = &errors[0].message;
    for want in ["an integer", "now", "^\\+?[0-9]+$"] {
        assert!(message.contains(want), "{message:?} lacks {want:?}");
    }
}

#[test]
fn python_str_repr_quotes_as_python_does() {
    for (text, repr) in [
        ("plain", "'plain'"),
        ("it's", "\"it's\""),
        ("it's \"x\"", "'it\\'s \"x\"'"),
        ("tab\there", "'tab\\there'"),
        ("back\\slash", "'back\\\\slash'"),
        ("bell\u{7}", "'bell\\x07'"),
        ("nbsp\u{a0}", "'nbsp\\xa0'"),
        ("caf\u{e9}", "'caf\u{e9}'"),
        ("line\u{2028}", "'line\\u2028'"),
    ] {
        assert_eq!(python::str_repr(text), repr, "{text:?}");
    }
}
