//! `reimage completions SHELL`: a completion script for each shell clap_complete knows, naming
//! the commands and the values of `validate --output`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn reimage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args(args)
        .output()
        .expect("run reimage")
}

#[test]
fn every_shell_gets_a_script_with_the_commands_and_values() {
    for (shell, marker) in [
        ("bash", "_reimage()"),
        ("zsh", "#compdef reimage"),
        ("fish", "complete -c reimage"),
        ("elvish", "edit:completion:arg-completer[reimage]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = reimage(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in ["validate", "reinstall", "change-os", "sarif", "github"] {
            assert!(script.contains(word), "{shell}: the script lacks {word:?}");
        }
        // Hidden commands stay hidden.
        assert!(!script.contains("__reference"), "{shell}");
        assert!(!script.contains("__man"), "{shell}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_listing_the_shells() {
    let out = reimage(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bash, elvish, fish, powershell, zsh"),
        "{stderr}"
    );
}
