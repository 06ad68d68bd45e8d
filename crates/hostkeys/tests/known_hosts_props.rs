//! Properties of the known_hosts editor over arbitrary files: every line that is not an entry of
//! the host comes out byte for byte and in order, no entry of the host survives, the verified
//! keys are there once, and updating twice gives the same file as updating once (in clear).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use reimage_hostkeys::PublicKey;
use reimage_hostkeys::known_hosts::{Host, Naming, hash_name, keys_of, update};
use reimage_hostkeys::rand_core::OsRng;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40";
const OLD: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIICcalLdMNjcJG3hHj3j9CWYvqesKZEtTLMkUyzCKd2G";

/// A line of a known_hosts file: an entry of the host in one of its forms, or anything else.
#[derive(Debug, Clone)]
enum Line {
    Ours(u8),
    Other(String),
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        (0u8..4).prop_map(Line::Ours),
        // Anything without a newline: comments, other hosts, junk, blanks, markers.
        "[^\n]{0,60}".prop_map(Line::Other),
        "[a-z0-9.]{1,20}( |\t)ssh-(rsa|ed25519) [A-Za-z0-9+/]{4,40}".prop_map(Line::Other),
    ]
}

fn render(line: &Line, host: &Host) -> String {
    match line {
        Line::Ours(0) => format!("{} {OLD}", host.pattern()),
        Line::Ours(1) => format!("{} {OLD} old comment", host.pattern().to_uppercase()),
        Line::Ours(2) => format!("{} {OLD}", hash_name(&[9u8; 20], &host.pattern())),
        Line::Ours(_) => format!("other.example,{} {OLD}", host.pattern()),
        Line::Other(text) => text.clone(),
    }
}

proptest! {
    #[test]
    fn other_lines_are_kept_and_ours_replaced(lines in prop::collection::vec(line(), 0..12), crlf in any::<bool>()) {
        let host = Host::new("web-1.example", 2222);
        let ending = if crlf { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|l| format!("{}{ending}", render(l, &host))).collect();
        let key = PublicKey::from_openssh(KEY).unwrap();
        let done = update(text.as_bytes(), std::slice::from_ref(&host), std::slice::from_ref(&key), Naming::Plain, &mut OsRng);
        let out = String::from_utf8(done.bytes.clone()).unwrap();
        // The lines that are not ours, in order, byte for byte (endings included).
        let others: Vec<String> = lines.iter().filter_map(|l| match l {
            Line::Other(t) if !t.trim_start().is_empty() && keys_of(t.as_bytes(), &host).is_empty() => Some(format!("{t}{ending}")),
            _ => None,
        }).collect();
        let mut rest = out.as_str();
        for other in &others {
            let at = rest.find(other.as_str());
            prop_assert!(at.is_some(), "{other:?} lost from {out:?}");
            rest = &rest[at.unwrap() + other.len()..];
        }
        // "other.example,HOST" keeps other.example.
        let shared = lines.iter().filter(|l| matches!(l, Line::Ours(3))).count();
        let kept_shared = out.matches(&format!("other.example {OLD}{ending}")).count();
        prop_assert_eq!(kept_shared, shared, "{:?}", out);
        // Only the verified key remains for the host, once.
        prop_assert_eq!(keys_of(&done.bytes, &host), vec![key.clone()]);
        // Idempotent.
        let again = update(&done.bytes, std::slice::from_ref(&host), std::slice::from_ref(&key), Naming::Plain, &mut OsRng);
        prop_assert_eq!(again.bytes, done.bytes);
    }
}
