//! The facade's features keep their promise: `cloudinit`, `config`, `edis` and `ecs` alone pull in
//! no async runtime and no HTTP stack, and the default features do (so the check can fail);
//! `fleet` brings the fleet engine with what its API takes, and not the emulator.
//!
//! The dependency tree comes from `cargo tree` on the committed `Cargo.lock`, with `--locked` and
//! `--offline`: it needs no network, and it fails rather than resolve anew.

// A broken tree makes the helper panic too; that is what a test should do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;

/// What a build without the `client` and `emulator` features must not contain.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "hyper",
    "hyper-util",
    "h2",
    "rustls",
    "reimage-client",
    "reimage-emulator",
];

/// The names of the packages in `reimage`'s normal dependency closure (itself included), with
/// the default features or without them, and with `features`.
fn normal_closure(default_features: bool, features: &[&str]) -> BTreeSet<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "tree",
        "--locked",
        "--offline",
        "--package",
        "reimage",
        "--edges",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]);
    if !default_features {
        cmd.arg("--no-default-features");
    }
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: BTreeSet<String> = String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.contains("reimage"),
        "{cmd:?} did not list reimage itself: {names:?}"
    );
    names
}

fn assert_sans_io(features: &[&str], expected: &str) {
    let names = normal_closure(false, features);
    assert!(
        names.contains(expected),
        "--features {features:?} should bring in {expected}: {names:?}"
    );
    let found: Vec<&str> = IO_CRATES
        .iter()
        .copied()
        .filter(|name| names.contains(*name))
        .collect();
    assert!(
        found.is_empty(),
        "`reimage` with --no-default-features --features {features:?} depends on {found:?}, \
         which only the `client` and `emulator` features may bring in"
    );
}

#[test]
fn cloudinit_alone_pulls_no_runtime_and_no_http_stack() {
    assert_sans_io(&["cloudinit"], "reimage-cloudinit");
    let names = normal_closure(false, &["cloudinit"]);
    assert!(
        !names.contains("reimage-core"),
        "cloudinit alone should not need the provider models: {names:?}"
    );
}

#[test]
fn config_alone_pulls_no_runtime_and_no_http_stack() {
    assert_sans_io(&["config"], "reimage-config");
    let names = normal_closure(false, &["config"]);
    assert!(
        !names.contains("reimage-core"),
        "config alone should not need the provider models: {names:?}"
    );
}

#[test]
fn hostkeys_alone_pulls_no_runtime_and_no_http_stack() {
    assert_sans_io(&["hostkeys"], "reimage-hostkeys");
    let names = normal_closure(false, &["hostkeys"]);
    assert!(
        !names.contains("reimage-core"),
        "hostkeys alone should not need the provider models: {names:?}"
    );
}

#[test]
fn edis_alone_is_sans_io() {
    assert_sans_io(&["edis"], "reimage-wire");
}

#[test]
fn ecs_alone_is_sans_io() {
    assert_sans_io(&["ecs"], "reimage-wire");
}

#[test]
fn the_default_features_do_bring_the_client_and_its_runtime() {
    let names = normal_closure(true, &[]);
    for name in ["reimage-client", "tokio", "hyper"] {
        assert!(
            names.contains(name),
            "the default features should bring in {name}; if they no longer do, the sans-IO \
             checks above prove nothing: {names:?}"
        );
    }
    assert!(!names.contains("reimage-cloudinit"), "{names:?}");
}

#[test]
fn emulator_brings_its_server() {
    let names = normal_closure(false, &["emulator"]);
    for name in ["reimage-emulator", "reimage-wire", "tokio", "hyper"] {
        assert!(names.contains(name), "{name} missing: {names:?}");
    }
    assert!(!names.contains("reimage-client"), "{names:?}");
}

#[test]
fn fleet_brings_its_engine_and_what_its_api_takes() {
    let names = normal_closure(false, &["fleet"]);
    for name in [
        "reimage-fleet",
        "reimage-client",
        "reimage-config",
        "reimage-cloudinit",
        "tokio",
    ] {
        assert!(names.contains(name), "{name} missing: {names:?}");
    }
    assert!(!names.contains("reimage-emulator"), "{names:?}");
    let default = normal_closure(true, &[]);
    assert!(!default.contains("reimage-fleet"), "{default:?}");
}
