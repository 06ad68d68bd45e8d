//! Tidy tests: the project's own rules, checked as ordinary tests so that `cargo test` catches a
//! broken rule. They read the tree and `cargo metadata`; they install nothing.

// Helpers outside `#[test]` functions panic on a broken tree too; that is what a test should do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The crates that do no IO, and so must not depend on an async runtime or an HTTP stack.
/// (`docs/ARCHITECTURE.md`, "Architecture invariant".) Crates listed here that do not exist yet
/// are skipped.
const SANS_IO: &[&str] = &[
    "reimage-core",
    "reimage-auth",
    "reimage-wire",
    "reimage-cloudinit",
];

/// The crates that do IO of their own, but only blocking reads of files and the environment:
/// they too must not depend on an async runtime or an HTTP stack, so that a program that only
/// needs them does not build tokio and hyper. (`docs/ARCHITECTURE.md`, "Architecture
/// invariant".) The source check of the sans-IO crates does not apply to them.
const NO_RUNTIME: &[&str] = &["reimage-config", "reimage-hostkeys"];

/// What a sans-IO or [`NO_RUNTIME`] crate must never pull in, directly or through another crate.
const IO_CRATES: &[&str] = &[
    "tokio",
    "hyper",
    "hyper-util",
    "reqwest",
    "mio",
    "async-std",
    "smol",
    "ureq",
];

/// The licences every dependency's licence expression must be satisfiable with.
const ALLOWED_LICENSES: &[&str] = &[
    "MIT",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "0BSD",
    "CC0-1.0",
    "Unlicense",
    "BSL-1.0",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "MPL-2.0",
    "CDLA-Permissive-2.0",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Package id → package, and package id → its normal (non-dev, non-build) dependencies.
fn graph(meta: &Value) -> (BTreeMap<String, &Value>, BTreeMap<String, Vec<String>>) {
    let packages = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id").to_owned(), p))
        .collect();
    let mut normal = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve.nodes") {
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .map(|d| d["pkg"].as_str().expect("pkg").to_owned())
            .collect();
        normal.insert(node["id"].as_str().expect("id").to_owned(), deps);
    }
    (packages, normal)
}

#[test]
fn sans_io_and_config_crates_pull_no_runtime_and_no_http_stack() {
    let meta = metadata();
    let (packages, normal) = graph(&meta);
    let name_of = |id: &str| packages[id]["name"].as_str().expect("name").to_owned();
    let mut checked = BTreeSet::new();
    for (id, package) in &packages {
        let name = package["name"].as_str().expect("name");
        if !(SANS_IO.contains(&name) || NO_RUNTIME.contains(&name)) || package["source"].is_string()
        {
            continue;
        }
        checked.insert(name.to_owned());
        // Walk the normal-dependency closure, remembering one path to each crate.
        let mut path_to: BTreeMap<String, Vec<String>> = BTreeMap::new();
        path_to.insert(id.clone(), vec![name.to_owned()]);
        let mut stack = vec![id.clone()];
        while let Some(current) = stack.pop() {
            for dep in normal.get(&current).into_iter().flatten() {
                if !path_to.contains_key(dep) {
                    let mut path = path_to[&current].clone();
                    path.push(name_of(dep));
                    path_to.insert(dep.clone(), path);
                    stack.push(dep.clone());
                }
            }
        }
        // The walk must see the crate's real dependencies, or the check below proves nothing.
        assert!(
            path_to.keys().any(|dep| name_of(dep) == "thiserror"),
            "{name}: the dependency walk did not reach thiserror, which every crate checked here \
             uses"
        );
        for (dep, path) in &path_to {
            let dep_name = name_of(dep);
            assert!(
                !IO_CRATES.contains(&dep_name.as_str()),
                "{name} must pull in no async runtime and no HTTP stack, but depends on \
                 {dep_name}: {}",
                path.join(" -> ")
            );
        }
    }
    for expected in [
        "reimage-core",
        "reimage-auth",
        "reimage-wire",
        "reimage-config",
    ] {
        assert!(
            checked.contains(expected),
            "expected {expected} among the workspace members checked, found {checked:?}"
        );
    }
}

/// The layers of docs/ARCHITECTURE.md, as (crate, internal crates it must never depend on,
/// normally or through others): the client never includes the emulator or the CLI, the emulator
/// never includes the client, nothing below the CLI includes it, only the CLI and the fleet
/// include `reimage-config` (which includes none of the provider layers), and only the CLI (and
/// the facade) include `reimage-fleet`, which sits on core, config, cloudinit and the client.
const FORBIDDEN_LAYERS: &[(&str, &[&str])] = &[
    (
        "reimage-hostkeys",
        &[
            "reimage-core",
            "reimage-auth",
            "reimage-wire",
            "reimage-client",
            "reimage-emulator",
            "reimage-config",
            "reimage-fleet",
            "reimage-cli",
        ],
    ),
    (
        "reimage-core",
        &[
            "reimage-auth",
            "reimage-wire",
            "reimage-client",
            "reimage-emulator",
            "reimage-config",
            "reimage-fleet",
            "reimage-cli",
        ],
    ),
    (
        "reimage-auth",
        &[
            "reimage-wire",
            "reimage-client",
            "reimage-emulator",
            "reimage-config",
            "reimage-fleet",
            "reimage-cli",
        ],
    ),
    (
        "reimage-wire",
        &[
            "reimage-client",
            "reimage-emulator",
            "reimage-config",
            "reimage-fleet",
            "reimage-cli",
        ],
    ),
    (
        "reimage-cloudinit",
        &[
            "reimage-core",
            "reimage-client",
            "reimage-emulator",
            "reimage-config",
            "reimage-fleet",
            "reimage-cli",
        ],
    ),
    (
        "reimage-client",
        &[
            "reimage-emulator",
            "reimage-fleet",
            "reimage-cli",
            "reimage-cloudinit",
            "reimage-config",
        ],
    ),
    (
        "reimage-emulator",
        &[
            "reimage-client",
            "reimage-fleet",
            "reimage-cli",
            "reimage-cloudinit",
            "reimage-config",
        ],
    ),
    // Credentials and endpoints, for the CLI and any program: beside the provider layers, not on
    // top of them. It may use `reimage-core`'s models, nothing else of reimage.
    (
        "reimage-config",
        &[
            "reimage-auth",
            "reimage-wire",
            "reimage-client",
            "reimage-emulator",
            "reimage-cloudinit",
            "reimage-fleet",
            "reimage-cli",
        ],
    ),
    // The fleet engine, for the CLI and any program: on top of core, config, cloudinit and the
    // client; never the emulator (it meets it only in the end-to-end tests) or the CLI.
    ("reimage-fleet", &["reimage-emulator", "reimage-cli"]),
];

#[test]
fn the_layers_depend_only_downwards() {
    let meta = metadata();
    let (packages, normal) = graph(&meta);
    let id_of = |name: &str| {
        packages
            .iter()
            .find(|(_, p)| p["name"] == name && !p["source"].is_string())
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("{name} is not a workspace member"))
    };
    let closure = |root: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.to_owned()];
        while let Some(current) = stack.pop() {
            for dep in normal.get(&current).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        seen.into_iter()
            .map(|id| packages[&id]["name"].as_str().expect("name").to_owned())
            .collect::<BTreeSet<String>>()
    };
    // The walk is real: the client reaches the wire layer, the CLI reaches both sides.
    assert!(closure(&id_of("reimage-client")).contains("reimage-wire"));
    let cli = closure(&id_of("reimage-cli"));
    assert!(cli.contains("reimage-client") && cli.contains("reimage-emulator"));
    assert!(cli.contains("reimage-config") && cli.contains("reimage-fleet"));
    let fleet = closure(&id_of("reimage-fleet"));
    for layer in [
        "reimage-core",
        "reimage-config",
        "reimage-cloudinit",
        "reimage-client",
    ] {
        assert!(fleet.contains(layer), "reimage-fleet should reach {layer}");
    }
    // Nothing but the CLI and the facade includes the fleet engine.
    let members = meta["workspace_members"]
        .as_array()
        .expect("workspace_members");
    for member in members.iter().map(|m| m.as_str().expect("member id")) {
        let name = packages[member]["name"].as_str().expect("name");
        if !["reimage-cli", "reimage", "reimage-fleet"].contains(&name) {
            assert!(
                !closure(member).contains("reimage-fleet"),
                "{name} must not depend on reimage-fleet: only the CLI and the facade do \
                 (docs/ARCHITECTURE.md)"
            );
        }
    }
    for (name, forbidden) in FORBIDDEN_LAYERS {
        let deps = closure(&id_of(name));
        for f in *forbidden {
            assert!(
                !deps.contains(*f),
                "{name} must not depend on {f} (docs/ARCHITECTURE.md)"
            );
        }
    }
}

/// The sans-IO crates' non-test code names no IO module.
#[test]
fn sans_io_crates_touch_no_files_sockets_or_processes() {
    for dir in sans_io_dirs() {
        for file in rust_files(&dir.join("src")) {
            let text = std::fs::read_to_string(&file).expect("read");
            let code = strip_test_modules(&text);
            for needle in [
                "std::fs",
                "std::net",
                "std::process",
                "std::io::stdin",
                "std::env::var",
                "SystemTime::now",
                "Instant::now",
            ] {
                assert!(
                    !code.contains(needle),
                    "{} uses {needle}, but this crate does no IO and reads no clock",
                    rel(&file)
                );
            }
        }
    }
}

#[test]
fn every_dependency_has_an_allowed_licence() {
    let meta = metadata();
    let mut refused = Vec::new();
    for package in meta["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or("?");
        let version = package["version"].as_str().unwrap_or("?");
        match package["license"].as_str() {
            Some(expr) if licence_allowed(expr) => {}
            Some(expr) => refused.push(format!("{name} {version}: {expr}")),
            None => refused.push(format!(
                "{name} {version}: no licence expression (license-file only)"
            )),
        }
    }
    assert!(
        refused.is_empty(),
        "dependencies whose licence is not on the allow-list:\n{}",
        refused.join("\n")
    );
}

#[test]
fn licence_expressions_table() {
    let cases = [
        ("MIT", true),
        ("MIT OR Apache-2.0", true),
        ("MIT/Apache-2.0", true),
        ("(MIT OR Apache-2.0) AND Unicode-3.0", true),
        ("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT", true),
        ("GPL-3.0", false),
        ("MIT AND GPL-3.0", false),
        ("GPL-3.0 OR MIT", true),
        ("(GPL-3.0 OR AGPL-3.0) AND MIT", false),
        ("", false),
    ];
    for (expr, ok) in cases {
        assert_eq!(licence_allowed(expr), ok, "{expr:?}");
    }
}

/// Evaluates an SPDX expression (`OR`, `AND`, `WITH`, parentheses, and the old `/` for OR).
fn licence_allowed(expr: &str) -> bool {
    let spaced = expr
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace('/', " OR ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    let ok = parse_or(&tokens, &mut pos);
    ok == Some(true) && pos == tokens.len()
}

fn parse_or(t: &[&str], pos: &mut usize) -> Option<bool> {
    let mut value = parse_and(t, pos)?;
    while t.get(*pos) == Some(&"OR") {
        *pos += 1;
        value |= parse_and(t, pos)?;
    }
    Some(value)
}

fn parse_and(t: &[&str], pos: &mut usize) -> Option<bool> {
    let mut value = parse_atom(t, pos)?;
    while t.get(*pos) == Some(&"AND") {
        *pos += 1;
        value &= parse_atom(t, pos)?;
    }
    Some(value)
}

fn parse_atom(t: &[&str], pos: &mut usize) -> Option<bool> {
    let token = *t.get(*pos)?;
    *pos += 1;
    if token == "(" {
        let value = parse_or(t, pos)?;
        (t.get(*pos) == Some(&")")).then(|| *pos += 1)?;
        return Some(value);
    }
    if t.get(*pos) == Some(&"WITH") {
        let exception = *t.get(*pos + 1)?;
        *pos += 2;
        let full = format!("{token} WITH {exception}");
        return Some(
            ALLOWED_LICENSES.contains(&full.as_str()) || ALLOWED_LICENSES.contains(&token),
        );
    }
    Some(ALLOWED_LICENSES.contains(&token))
}

#[test]
fn every_module_has_a_doc_comment() {
    let mut missing = Vec::new();
    for file in rust_files(&root().join("crates"))
        .into_iter()
        .chain(rust_files(&root().join("xtask")))
    {
        let text = std::fs::read_to_string(&file).expect("read");
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("#!["));
        // Generated data included with `include!` (the schema tables) is not a module, and an
        // inner doc comment is not allowed there; its first line says what made it.
        let generated = first.is_some_and(|l| l.starts_with("// generated by cargo xtask codegen"));
        if !generated && !first.is_some_and(|l| l.starts_with("//!")) {
            missing.push(rel(&file));
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc at the top:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_todo_dbg_or_unimplemented_outside_tests() {
    let mut found = Vec::new();
    for file in rust_files(&root().join("crates"))
        .into_iter()
        .chain(rust_files(&root().join("xtask/src")))
    {
        if file
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "benches")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let code = strip_test_modules(&text);
        for needle in [
            concat!("todo", "!("),
            concat!("dbg", "!("),
            concat!("unimplemented", "!("),
        ] {
            if code.contains(needle) {
                found.push(format!("{}: {needle}", rel(&file)));
            }
        }
    }
    assert!(
        found.is_empty(),
        "left-over macros in non-test code:\n{}",
        found.join("\n")
    );
}

/// No file of a crate silences dead code for a whole module or crate (`#![allow(dead_code)]`, or
/// `#![expect(…)]`, alone or with other lints): code the compiler finds unused is deleted, or
/// marked `#[cfg(test)]` when only the tests use it. The exception is `tests/common/`, the
/// helpers that several integration test binaries share and each uses only part of.
#[test]
fn no_crate_or_module_wide_dead_code_allowance() {
    let mut found = Vec::new();
    for file in rust_files(&root().join("crates")) {
        if rel(&file).contains("/tests/common/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let silenced = ["#![allow(", "#![expect("].iter().any(|open| {
            compact.match_indices(open).any(|(at, _)| {
                let rest = &compact[at + open.len()..];
                let lints = &rest[..rest.find(")]").unwrap_or(rest.len())];
                lints.split(',').any(|lint| lint == "dead_code")
            })
        });
        if silenced {
            found.push(rel(&file));
        }
    }
    assert!(
        found.is_empty(),
        "files that allow dead code module-wide (delete the dead code instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn internal_dependencies_carry_versions() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let mut bad = Vec::new();
    for line in manifest.lines() {
        if line.contains("path = ") && line.contains('{') && !line.contains("version = ") {
            bad.push(line.trim().to_owned());
        }
    }
    for dir in crate_dirs() {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("read");
        for line in text.lines() {
            if line.contains("path = ") && line.contains('{') && !line.contains("version = ") {
                bad.push(format!("{}: {}", rel(&dir), line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "internal dependencies without a version (needed to publish):\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_crate_uses_the_workspace_lints_and_package_fields() {
    for dir in crate_dirs() {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("read");
        for needle in [
            "[lints]\nworkspace = true",
            "version.workspace = true",
            "edition.workspace = true",
            "license.workspace = true",
        ] {
            assert!(
                text.contains(needle),
                "{}/Cargo.toml lacks `{}`",
                rel(&dir),
                needle.replace('\n', " ")
            );
        }
    }
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root().join("xtask"));
    dirs.sort();
    dirs
}

fn sans_io_dirs() -> Vec<PathBuf> {
    let wanted: BTreeSet<&str> = SANS_IO.iter().copied().collect();
    crate_dirs()
        .into_iter()
        .filter(|dir| {
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
            text.lines()
                .find_map(|l| l.strip_prefix("name = "))
                .is_some_and(|n| wanted.contains(n.trim_matches('"')))
        })
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The text before the first `#[cfg(test)]`: by convention test modules come last in a file.
fn strip_test_modules(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One road to a request: the CLI and the fleet engine build and sign nothing themselves. Their
/// own normal dependencies hold no `reimage-wire` and no `reimage-auth` (they reach their types
/// through `reimage-client`'s re-exports), so a dry run can only be the client's.
#[test]
fn the_cli_has_no_wire_or_auth_of_its_own() {
    let meta = metadata();
    let (packages, normal) = graph(&meta);
    for name in ["reimage-cli", "reimage-fleet"] {
        let id = packages
            .iter()
            .find(|(_, p)| p["name"] == name && !p["source"].is_string())
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("{name} is a workspace member"));
        let direct: BTreeSet<&str> = normal[&id]
            .iter()
            .map(|id| packages[id]["name"].as_str().expect("name"))
            .collect();
        assert!(direct.contains("reimage-client"), "{name}: {direct:?}");
        for own in ["reimage-wire", "reimage-auth"] {
            assert!(
                !direct.contains(own),
                "{name} depends on {own} directly; use reimage-client (its prepare and dry_run, \
                 and its re-exports) instead"
            );
        }
    }
}
