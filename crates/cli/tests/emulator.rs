//! `reimage emulator` as a person runs it: the first line, a real request, a clean stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn listens_answers_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "0.01",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .trim()
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /_emulator/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("11111111-2222-3333-4444-555555555555"),
        "the default fixtures are served"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn refuses_a_remote_address_without_allow_remote() {
    let out = Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args(["emulator", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a loopback address"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing was listening");
}

#[test]
fn a_bad_fixture_file_is_one_clear_line() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("emulator-bad-fixtures.toml");
    std::fs::write(&path, "[[servers]]\nid = 42\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--fixtures",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("reimage emulator: fixtures "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
