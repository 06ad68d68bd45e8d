//! Tests of [`parse`](super::parse): values, marks, duplicates, merges, aliases, documents and
//! errors, against what PyYAML 6.0.1 (through cloud-init 22.4.2's loader) gives.

use proptest::prelude::*;

use super::{DuplicateKey, Mark, Node, Value, parse};

/// A compact text of a tree: `s"…"` strings, `i`/`f` numbers, `ts` timestamps, `b[…]` bytes.
fn canon(node: &Node, out: &mut String) {
    match &node.value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&format!("i{i}")),
        Value::Float(f) if f.is_nan() => out.push_str("fnan"),
        Value::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "finf" } else { "f-inf" }),
        Value::Float(f) => out.push_str(&format!("f{f:e}")),
        Value::Str(s) => out.push_str(&format!("s{s:?}")),
        Value::Binary(b) => out.push_str(&format!("b{b:?}")),
        Value::Timestamp(_) => out.push_str("ts"),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon(item, out);
            }
            out.push(']');
        }
        Value::Map(pairs) => {
            out.push('{');
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon(key, out);
                out.push(':');
                canon(value, out);
            }
            out.push('}');
        }
    }
}

fn canonical(text: &str) -> String {
    match parse(text) {
        Ok(document) => {
            let mut out = String::new();
            match &document.root {
                None => out.push_str("null"),
                Some(root) => canon(root, &mut out),
            }
            out
        }
        Err(error) => format!("error at {}: {}", error.mark, error.message),
    }
}

fn error_at(text: &str) -> Option<(u32, u32)> {
    parse(text).err().map(|e| (e.mark.line, e.mark.column))
}

/// Documents and the value PyYAML gives them. The expected column was printed by PyYAML 6.0.1
/// in the cloud-init 22.4.2 peer (`cloudinit.safeyaml.load`, then the same compact text).
const VALUES: &[(&str, &str)] = &[
    (
        "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: true\n",
        "{s\"a\":true,s\"b\":false,s\"c\":true,s\"d\":false,s\"e\":s\"y\",s\"f\":s\"n\",s\"g\":true}",
    ),
    (
        "mode: 0644\nhex: 0x1F\nbin: 0b101\nsexa: 1:30\nbig: 190:20:30\nneg: -12\nunder: 1_000\n",
        "{s\"mode\":i420,s\"hex\":i31,s\"bin\":i5,s\"sexa\":i90,s\"big\":i685230,s\"neg\":i-12,s\"under\":i1000}",
    ),
    (
        "f: 1.5\ng: 1e5\nh: 6.8523015e+5\ni: .inf\nj: -.Inf\nk: .NaN\nl: 1.\nm: 190:20:30.15\n",
        "{s\"f\":f1.5e0,s\"g\":s\"1e5\",s\"h\":f6.8523015e5,s\"i\":finf,s\"j\":f-inf,s\"k\":fnan,s\"l\":f1e0,s\"m\":f6.8523015e5}",
    ),
    (
        "a: ~\nb: null\nc:\nd: Null\ne: ''\nf: \"\"\n",
        "{s\"a\":null,s\"b\":null,s\"c\":null,s\"d\":null,s\"e\":s\"\",s\"f\":s\"\"}",
    ),
    (
        "d: 2001-12-14\nt: 2001-12-14t21:59:43.10-05:00\ns: 2001-12-14 21:59:43.10 -5\nnot: 2001-1-1\n",
        "{s\"d\":ts,s\"t\":ts,s\"s\":ts,s\"not\":s\"2001-1-1\"}",
    ),
    (
        "q: '0644'\nr: \"yes\"\ns: !!str 0644\nt: !!int '0644'\nu: !!float '1'\nv: !!bool 'ON'\nw: !!null 'x'\n",
        "{s\"q\":s\"0644\",s\"r\":s\"yes\",s\"s\":s\"0644\",s\"t\":i420,s\"u\":f1e0,s\"v\":true,s\"w\":null}",
    ),
    (
        "b: !!binary aGVsbG8=\nc: !!binary |\n  aGVs\n  bG8=\n",
        "{s\"b\":b[104, 101, 108, 108, 111],s\"c\":b[104, 101, 108, 108, 111]}",
    ),
    ("x: !!python/unicode abc\n", "{s\"x\":s\"abc\"}"),
    ("n: ! 12\nm: ! '12'\n", "{s\"n\":i12,s\"m\":i12}"),
    (
        "a: hello world\nb: 'it''s'\nc: \"tab\\tnew\\nline \\u00e9 \\x41\"\nd: plain # comment\ne: a#b\n",
        "{s\"a\":s\"hello world\",s\"b\":s\"it's\",s\"c\":s\"tab\\tnew\\nline é A\",s\"d\":s\"plain\",s\"e\":s\"a#b\"}",
    ),
    (
        "a: multi\n  line\n  plain\nb: 'single\n\n  quoted'\nc: \"double\\\n  escaped\"\n",
        "{s\"a\":s\"multi line plain\",s\"b\":s\"single\\nquoted\",s\"c\":s\"doubleescaped\"}",
    ),
    (
        "lit: |\n  line 1\n    indented\n  line 3\nfold: >\n  folded\n  text\n\n  para\nstrip: |-\n  x\nkeep: |+\n  x\n\nend: 1\n",
        "{s\"lit\":s\"line 1\\n  indented\\nline 3\\n\",s\"fold\":s\"folded text\\npara\\n\",s\"strip\":s\"x\",s\"keep\":s\"x\\n\\n\",s\"end\":i1}",
    ),
    ("a: |2\n    two\n   one\n", "{s\"a\":s\"  two\\n one\\n\"}"),
    ("a: |\n  x\n", "{s\"a\":s\"x\\n\"}"),
    ("a: |\n  x", "{s\"a\":s\"x\"}"),
    ("a: >-\n  x\n  y", "{s\"a\":s\"x y\"}"),
    (
        "a: [1, two, 'three', {four: 4}]\nb: {x: 1, y: [2]}\nc: []\nd: {}\n",
        "{s\"a\":[i1,s\"two\",s\"three\",{s\"four\":i4}],s\"b\":{s\"x\":i1,s\"y\":[i2]},s\"c\":[],s\"d\":{}}",
    ),
    (
        "- a\n- - b\n  - c\n- d: e\n  f: g\n-\n- ~\n",
        "[s\"a\",[s\"b\",s\"c\"],{s\"d\":s\"e\",s\"f\":s\"g\"},null,null]",
    ),
    (
        "key:\n- one\n- two\nother: x\n",
        "{s\"key\":[s\"one\",s\"two\"],s\"other\":s\"x\"}",
    ),
    ("{a: 1, b}\n", "{s\"a\":i1,s\"b\":null}"),
    ("[a: 1, b: 2, c]\n", "[{s\"a\":i1},{s\"b\":i2},s\"c\"]"),
    ("a: [1,\n2,\n   3]\n", "{s\"a\":[i1,i2,i3]}"),
    (
        "a:\n  b: {x: 1,\ny: 2}\n",
        "{s\"a\":{s\"b\":{s\"x\":i1,s\"y\":i2}}}",
    ),
    ("a: \"one\ntwo\"\n", "{s\"a\":s\"one two\"}"),
    ("- \"one\ntwo\"\n", "[s\"one two\"]"),
    (
        "base: &b {x: 1, y: 2}\nuse: *b\n",
        "{s\"base\":{s\"x\":i1,s\"y\":i2},s\"use\":{s\"x\":i1,s\"y\":i2}}",
    ),
    (
        "base: &b {x: 1, y: 2}\nm:\n  z: 0\n  <<: *b\n  x: 9\n",
        "{s\"base\":{s\"x\":i1,s\"y\":i2},s\"m\":{s\"x\":i9,s\"y\":i2,s\"z\":i0}}",
    ),
    (
        "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n",
        "{s\"a\":{s\"x\":i1},s\"b\":{s\"x\":i2,s\"y\":i2},s\"c\":{s\"x\":i1,s\"y\":i2}}",
    ),
    (
        "a: &a {x: 1}\nb: &b {x: 2}\nc:\n  <<: *a\n  <<: *b\n",
        "{s\"a\":{s\"x\":i1},s\"b\":{s\"x\":i2},s\"c\":{s\"x\":i2}}",
    ),
    (
        "a: &a {x: 1, <<: {y: 2}}\nb:\n  <<: *a\n",
        "{s\"a\":{s\"y\":i2,s\"x\":i1},s\"b\":{s\"y\":i2,s\"x\":i1}}",
    ),
    (
        "s: &s hello\nt: *s\nl: &l [1, 2]\nm: [*l, *l]\n",
        "{s\"s\":s\"hello\",s\"t\":s\"hello\",s\"l\":[i1,i2],s\"m\":[[i1,i2],[i1,i2]]}",
    ),
    ("=: equals\n", "{s\"=\":s\"equals\"}"),
    ("a: 1\na: 2\nb: 3\n", "{s\"a\":i2,s\"b\":i3}"),
    ("1: a\ntrue: b\n1.0: c\n", "{i1:s\"c\"}"),
    ("~: a\nnull: b\n", "{null:s\"b\"}"),
    ("x: {a: 1, a: 2}\n", "{s\"x\":{s\"a\":i2}}"),
    ("", "null"),
    ("# only a comment\n", "null"),
    ("---\n", "null"),
    ("--- ~\n", "null"),
    ("---\na: 1\n...\n", "{s\"a\":i1}"),
    ("%YAML 1.1\n---\na: 1\n", "{s\"a\":i1}"),
    ("--- |\n  text\n", "s\"text\\n\""),
    (
        "#cloud-config\npackages:\n  - htop\nruncmd:\n  - [ls, -l, /]\n  - echo hi\n",
        "{s\"packages\":[s\"htop\"],s\"runcmd\":[[s\"ls\",s\"-l\",s\"/\"],s\"echo hi\"]}",
    ),
    (
        "a: \"x\ty\"\nb: |\n  \tz\n",
        "{s\"a\":s\"x\\ty\",s\"b\":s\"\\tz\\n\"}",
    ),
    ("a: 'x' # c\t\n", "{s\"a\":s\"x\"}"),
];

#[test]
fn documents_load_as_pyyaml_loads_them() {
    let mut failures = Vec::new();
    for &(text, want) in VALUES {
        let got = canonical(text);
        if got != want {
            failures.push(format!("{text:?}\n  got  {got}\n  want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where cloud-init 22.4.2 reports a document it cannot load (`format-l<line>.c<column>`: the
/// YAML error's context mark, else its problem mark). Printed by PyYAML 6.0.1 in the peer.
const ERRORS: &[(&str, (u32, u32))] = &[
    ("runcmd:\n  - [ls, -l\nfoo: bar\n", (2, 5)),
    ("a: {b: 1\nc: 2\n", (1, 4)),
    ("a: [1, 2\n", (1, 4)),
    ("packages: [#comment\n - pwgen\n", (2, 2)),
    ("a:\n  b: 1\n c: 2\n", (1, 1)),
    ("a: 1\n b: 2\n", (2, 3)),
    ("key: value\n  bad: indent\n", (2, 6)),
    ("a: 1\n- b\n", (1, 1)),
    ("- a\nb: c\n", (1, 1)),
    ("a: |\n  x\n y\n", (1, 1)),
    ("a: 1\n]\n", (1, 1)),
    ("users:\n  - name: a\n   groups: b\n", (2, 3)),
    ("a: b\nc\n", (2, 1)),
    ("a:\n  - b\n  -c\n", (3, 3)),
    ("a: b: c\n", (1, 5)),
    ("groups:users,admin\nb: 1\n", (2, 2)),
    ("\"k\":1\n", (1, 4)),
    ("- \"k\":1\n", (1, 1)),
    ("a: \"abc\nb: 2\n", (1, 4)),
    ("a: 'abc\nb: 2\n", (1, 4)),
    ("a: \"x\" y\n", (1, 1)),
    ("a: \"\\q\"\n", (1, 4)),
    ("a: 'x\n---\ny'\n", (1, 4)),
    ("a:\n\tb: 1\n", (2, 1)),
    ("a:\t1\n", (1, 3)),
    ("a: b\t\nc: d\n", (1, 5)),
    ("a: 1\n\t\n", (2, 1)),
    ("a: |\t\n  x\n", (1, 4)),
    ("\ta: 1\n", (1, 1)),
    ("a: [1,\t2]\n", (1, 7)),
    ("a: @foo\n", (1, 4)),
    ("a: `foo\n", (1, 4)),
    ("a: %foo\n", (1, 4)),
    ("a: b\x07c\n", (1, 1)),
    ("a: [|]\n", (1, 5)),
    ("a: *x\n", (1, 4)),
    ("a: &x 1\nb: &x 2\n", (1, 4)),
    ("a: &a.b 1\n", (1, 4)),
    ("a: !foo 1\n", (1, 4)),
    ("a: !!python/object:os.system x\n", (1, 4)),
    ("a: !!binary 'a'\n", (1, 4)),
    ("a: !!str [1]\n", (1, 4)),
    ("a: !!map [1]\n", (1, 4)),
    ("a: !!seq {x: 1}\n", (1, 4)),
    ("a: !!omap [x]\n", (1, 4)),
    ("a: =\n", (1, 4)),
    ("a: <<\n", (1, 4)),
    ("a:\n  <<: 1\n", (2, 3)),
    ("a:\n  <<: [1]\n", (2, 3)),
    ("? [a, b]\n: c\n", (1, 1)),
    ("a:\n  ? {x: 1}\n  : 2\n", (2, 3)),
    (": x\n", (1, 1)),
    ("a:\n  : x\n", (2, 3)),
    ("{: x}\n", (1, 2)),
    ("{a b\nc: d}\n", (1, 1)),
    ("---\na: 1\n---\nb: 2\n", (2, 1)),
    ("a: 1\n...\nb: 2\n", (3, 1)),
    ("...\n", (1, 1)),
    ("%YAML 2.0\n---\na: 1\n", (1, 1)),
    ("%YAML 1.1\n%YAML 1.1\n---\na: 1\n", (2, 1)),
    ("%#x\n---\na: 1\n", (1, 1)),
    ("a: 1\n--- [\n", (1, 1)),
    ("a: |x\n  y\n", (1, 4)),
    ("a: >0\n  y\n", (1, 4)),
    ("--- |\nx\n", (2, 1)),
];

#[test]
fn errors_are_located_where_cloud_init_reports_them() {
    let mut failures = Vec::new();
    for &(text, want) in ERRORS {
        match parse(text) {
            Ok(_) => failures.push(format!("{text:?}: parsed, want an error at {want:?}")),
            Err(error) => {
                let got = (error.mark.line, error.mark.column);
                if got != want {
                    failures.push(format!(
                        "{text:?}: {got:?}, want {want:?} ({})",
                        error.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// PyYAML fails with a Python exception that is not a `YAMLError` (cloud-init fails too): an
/// error here, at the value.
#[test]
fn values_pyyaml_cannot_construct_are_errors() {
    for (text, at, needle) in [
        ("a: !!int abc\n", (1, 4), "invalid literal for int()"),
        ("a: 2001-02-30\n", (1, 4), "day is out of range"),
        ("a: 0b_\n", (1, 4), "invalid literal for int() with base 2"),
        ("a: !!timestamp x\n", (1, 4), "not a timestamp"),
        ("a: !!bool y\n", (1, 4), "not a boolean"),
    ] {
        let error = parse(text).err();
        assert_eq!(
            error.as_ref().map(|e| (e.mark.line, e.mark.column)),
            Some(at),
            "{text:?}"
        );
        assert!(
            error.is_some_and(|e| e.message.contains(needle)),
            "{text:?}"
        );
    }
}

#[test]
fn error_messages_say_what_and_where() {
    let error = parse("runcmd:\n  - [ls, -l\nfoo: bar\n").err();
    assert_eq!(
        error.map(|e| e.to_string()).as_deref(),
        Some(
            "expected ',' or ']', but found ':' at line 3 column 4, in the flow sequence that \
             starts at line 2 column 5"
        )
    );
    let error = parse("a: b\x07c\n").err();
    assert_eq!(
        error.map(|e| e.to_string()).as_deref(),
        Some(
            "unacceptable character #x0007: special characters are not allowed (line 1, \
             column 5) at line 1 column 1"
        )
    );
    let error = parse("a: !foo 1\n").err();
    assert_eq!(
        error.map(|e| e.message).as_deref(),
        Some("could not determine a constructor for the tag '!foo'")
    );
}

/// Node marks, checked against `yaml.compose` in the peer (1-based, as PyYAML's `start_mark`
/// plus one): a node starts at its tag or anchor, a block scalar at its `|`, a block mapping
/// at its first key, an empty value just after its `:`, an alias where its anchor's node does.
#[test]
fn nodes_start_where_pyyaml_starts_them() {
    let text = "#cloud-config\nusers:\n  - name: a\n    groups: [x, 'y']\n  -\n    name: &n b\n\
                runcmd:\n- ls\n- |\n  echo\nempty:\nq: \"two\n  lines\"\ntagged: !!str 1\n\
                flow: {k: , j}\nlast: *n\n";
    let want: &[(&str, u32, u32)] = &[
        ("", 2, 1),
        ("/k0", 2, 1),
        ("/v0", 3, 3),
        ("/v0/0", 3, 5),
        ("/v0/0/k0", 3, 5),
        ("/v0/0/v0", 3, 11),
        ("/v0/0/k1", 4, 5),
        ("/v0/0/v1", 4, 13),
        ("/v0/0/v1/0", 4, 14),
        ("/v0/0/v1/1", 4, 17),
        ("/v0/1", 6, 5),
        ("/v0/1/k0", 6, 5),
        ("/v0/1/v0", 6, 11),
        ("/k1", 7, 1),
        ("/v1", 8, 1),
        ("/v1/0", 8, 3),
        ("/v1/1", 9, 3),
        ("/k2", 11, 1),
        ("/v2", 11, 7),
        ("/k3", 12, 1),
        ("/v3", 12, 4),
        ("/k4", 14, 1),
        ("/v4", 14, 9),
        ("/k5", 15, 1),
        ("/v5", 15, 7),
        ("/v5/k0", 15, 8),
        ("/v5/v0", 15, 10),
        ("/v5/k1", 15, 13),
        ("/v5/v1", 15, 14),
        ("/k6", 16, 1),
        ("/v6", 6, 11),
    ];
    fn walk(node: &Node, path: String, out: &mut Vec<(String, u32, u32)>) {
        out.push((path.clone(), node.mark.line, node.mark.column));
        match &node.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}/{i}"), out);
                }
            }
            Value::Map(pairs) => {
                for (i, (key, value)) in pairs.iter().enumerate() {
                    walk(key, format!("{path}/k{i}"), out);
                    walk(value, format!("{path}/v{i}"), out);
                }
            }
            _ => {}
        }
    }
    let document = parse(text).expect("parses");
    let mut got = Vec::new();
    walk(
        document.root.as_ref().expect("a root"),
        String::new(),
        &mut got,
    );
    let want: Vec<(String, u32, u32)> = want
        .iter()
        .map(|&(path, line, column)| (path.to_owned(), line, column))
        .collect();
    assert_eq!(got, want);
    // The character index is that of the line and column.
    let root = document.root.expect("a root");
    assert_eq!(
        root.mark,
        Mark {
            line: 2,
            column: 1,
            index: 14
        }
    );
}

#[test]
fn duplicate_keys_are_listed_and_the_last_wins() {
    let text = "a: 1\nb:\n  c: 1\n  c: 2\n  d: [x]\na: 3\nusers:\n  - name: x\n    name: y\n";
    let document = parse(text).expect("parses");
    assert_eq!(
        document.duplicate_keys,
        vec![
            DuplicateKey {
                path: "b.c".to_owned(),
                key: "c".to_owned(),
                first: Mark {
                    line: 3,
                    column: 3,
                    index: 10
                },
                last: Mark {
                    line: 4,
                    column: 3,
                    index: 17
                },
            },
            DuplicateKey {
                path: "a".to_owned(),
                key: "a".to_owned(),
                first: Mark {
                    line: 1,
                    column: 1,
                    index: 0
                },
                last: Mark {
                    line: 6,
                    column: 1,
                    index: 31
                },
            },
            DuplicateKey {
                path: "users.0.name".to_owned(),
                key: "name".to_owned(),
                first: Mark {
                    line: 8,
                    column: 5,
                    index: 47
                },
                last: Mark {
                    line: 9,
                    column: 5,
                    index: 59
                },
            },
        ]
    );
    // The value is the last one; the key keeps its first place (a Python dict).
    assert_eq!(
        canonical(text),
        "{s\"a\":i3,s\"b\":{s\"c\":i2,s\"d\":[s\"x\"]},s\"users\":[{s\"name\":s\"y\"}]}"
    );
    // Python's key equality: 1, 1.0 and true are one key; the key written first stays.
    let document = parse("1: a\ntrue: b\n").expect("parses");
    assert_eq!(document.duplicate_keys.len(), 1);
    assert_eq!(document.duplicate_keys[0].path, "1");
    assert_eq!(canonical("1: a\ntrue: b\n"), "{i1:s\"b\"}");
    assert_eq!(
        canonical("2001-12-14 21:59:43.10 -5: a\n2001-12-15T02:59:43.1Z: b\n"),
        "{ts:s\"b\"}"
    );
    assert_eq!(
        canonical("2001-12-14: a\n2001-12-14 00:00:00: b\n"),
        "{ts:s\"a\",ts:s\"b\"}"
    );
}

#[test]
fn merged_keys_are_no_duplicates() {
    let text = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 9\n";
    let document = parse(text).expect("parses");
    assert!(document.duplicate_keys.is_empty());
    assert_eq!(
        canonical(text),
        "{s\"base\":{s\"x\":i1,s\"y\":i2},s\"m\":{s\"x\":i9,s\"y\":i2}}"
    );
    // A mapping reached through several aliases reports its own duplicate once.
    let document = parse("a: &a {k: 1, k: 2}\nb: *a\nc: *a\n").expect("parses");
    assert_eq!(document.duplicate_keys.len(), 1);
    assert_eq!(document.duplicate_keys[0].path, "a.k");
}

/// PyYAML builds a Python `set` and lists of tuples, which have no JSON type; here they keep
/// their YAML shape: a mapping to nulls, and single-pair mappings.
#[test]
fn sets_and_ordered_maps_keep_their_yaml_shape() {
    assert_eq!(
        canonical("a: !!set {x, y}\n"),
        "{s\"a\":{s\"x\":null,s\"y\":null}}"
    );
    assert_eq!(
        canonical("a: !!omap [x: 1, y: 2]\n"),
        "{s\"a\":[{s\"x\":i1},{s\"y\":i2}]}"
    );
    assert_eq!(
        canonical("a: !!pairs [x: 1, x: 2]\n"),
        "{s\"a\":[{s\"x\":i1},{s\"x\":i2}]}"
    );
    assert_eq!(error_at("a: !!omap [{x: 1, y: 2}]\n"), Some((1, 4)));
}

#[test]
fn key_text_is_python_str() {
    for (value, want) in [
        (Value::Null, "None"),
        (Value::Bool(true), "True"),
        (Value::Int(-3), "-3"),
        (Value::Float(1.0), "1.0"),
        (Value::Float(1e16), "1e+16"),
        (Value::Float(1.5e-5), "1.5e-05"),
        (Value::Float(f64::INFINITY), "inf"),
        (Value::Str("x".to_owned()), "x"),
        (Value::Binary(b"a'\x00".to_vec()), "b'a\\'\\x00'"),
    ] {
        assert_eq!(value.key_text(), want);
    }
}

/// Inputs built to exhaust memory or the stack end in an error.
#[test]
fn limits_stop_expansion_and_nesting() {
    let laughs = {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
            let previous = ["a", "b", "c", "d", "e", "f", "g"][i];
            let items = vec![format!("*{previous}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{items}]\n"));
        }
        text
    };
    assert!(parse(&laughs).is_err_and(|e| e.message.contains("more than 1000000 nodes")));
    let deep_flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(&deep_flow).is_err());
    let deep_block: String = (0..1000)
        .map(|i| format!("{}a:\n", "  ".repeat(i)))
        .collect();
    assert!(parse(&deep_block).is_err_and(|e| e.message.contains("deeper than 256")));
    let mut chain = String::from("a0: &a0 [x]\n");
    for i in 1..600 {
        chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
    }
    assert!(parse(&chain).is_err_and(|e| e.message.contains("deeper than 256")));
    assert!(error_at("a: &x [*x]\n").is_some());
}

/// PyYAML ignores indentation inside flow collections and on the continuation lines of quoted
/// scalars; YAML 1.2 (saphyr) does not. A long flow list written at column 0 loads quickly.
#[test]
fn indentation_inside_flow_and_quotes_is_ignored() {
    let items: String = (0..3000).map(|i| format!("{i},\n")).collect();
    let text = format!("a:\n  b: [\n{items}]\nc: \"one\n two\n\tthree\"\n");
    let document = parse(&text).expect("parses");
    let root = document.root.expect("a root");
    let Value::Map(pairs) = &root.value else {
        panic!("a mapping")
    };
    let Value::Map(inner) = &pairs[0].1.value else {
        panic!("a mapping")
    };
    assert!(matches!(&inner[0].1.value, Value::Seq(items) if items.len() == 3000));
    assert_eq!(pairs[1].1.value, Value::Str("one two three".to_owned()));
    assert_eq!(pairs[1].0.mark.line, 3004);
    // A comment stuck to a bracket is still a comment for PyYAML.
    assert_eq!(canonical("a: [1]# one\nb: 2\n"), "{s\"a\":[i1],s\"b\":i2}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_parses_or_errs_without_panic(text in "\\PC*") {
        let _ = parse(&text);
    }

    #[test]
    fn yaml_like_text_parses_or_errs_without_panic(
        text in "([-:?,\\[\\]{}#&*!|>'\"%@`=<~\\\\ \\t\\n]|[a-z0-9]|\\.\\.\\.|---|!!binary |&a |\\*a){0,80}"
    ) {
        if let Ok(document) = parse(&text) {
            for duplicate in document.duplicate_keys {
                prop_assert!(duplicate.first.index < duplicate.last.index);
            }
        }
    }
}
