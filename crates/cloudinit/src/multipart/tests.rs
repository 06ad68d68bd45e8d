//! Splitting messages: transfer encodings, sniffing, gzip, nesting, archives, file names.

use super::*;

fn message(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut out =
        String::from("Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n");
    for (headers, body) in parts {
        out.push_str("--XYZ\n");
        out.push_str(headers);
        out.push_str("\n\n");
        out.push_str(body);
        out.push('\n');
    }
    out.push_str("--XYZ--\n");
    out.into_bytes()
}

#[test]
fn transfer_encodings_are_decoded() {
    let bytes = message(&[
        (
            "Content-Type: text/cloud-config\nContent-Transfer-Encoding: quoted-printable",
            "#cloud-config\nwrite_files:\n- path: /etc/motd\n  content: caf=C3=A9 au=\n lait",
        ),
        (
            "Content-Type: text/x-shellscript\nContent-Transfer-Encoding: base64",
            "IyEvYmluL3NoCmVjaG8gaGkK",
        ),
        (
            "Content-Type: text/cloud-boothook\nContent-Transfer-Encoding: 7bit",
            "#cloud-boothook\necho",
        ),
    ]);
    let split = split(&bytes);
    assert!(split.findings.is_empty(), "{:?}", split.findings);
    let payload = String::from_utf8(split.parts[0].payload.clone()).expect("utf-8");
    assert!(payload.contains("café au lait"), "{payload}");
    assert_eq!(split.parts[1].payload, b"#!/bin/sh\necho hi\n");
    assert_eq!(split.parts[1].kind, Kind::Script);
    assert_eq!(split.parts[2].kind, Kind::Boothook);
}

#[test]
fn text_plain_is_sniffed_and_unknown_types_are_kept_unknown() {
    let bytes = message(&[
        ("Content-Type: text/plain", "#cloud-config\nhostname: a"),
        (
            "Content-Type: text/x-shellscript",
            "#cloud-config\nhostname: b",
        ),
        ("Content-Type: text/plain", "hello"),
        ("Content-Type: application/json", "#cloud-config\n"),
        ("Content-Type: text/x-shellscript-per-boot", "#!/bin/sh\n"),
    ]);
    let kinds: Vec<Kind> = split(&bytes).parts.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::CloudConfig,
            Kind::CloudConfig,
            Kind::Unknown,
            Kind::Unknown,
            Kind::ScriptPerBoot
        ]
    );
}

#[test]
fn gzip_parts_are_decompressed_and_sniffed() {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"#cloud-config\nhostname: z\n")
        .expect("gzip in memory");
    let compressed = gz.finish().expect("gzip in memory");
    let b64 = base64_encode(&compressed);
    let bytes = message(&[(
        "Content-Type: application/x-gzip\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"z.yaml\"",
        &b64,
    )]);
    let split = split(&bytes);
    assert_eq!(split.parts.len(), 1);
    assert!(split.parts[0].gzipped);
    assert_eq!(split.parts[0].kind, Kind::CloudConfig);
    assert_eq!(split.parts[0].filename.as_deref(), Some("z.yaml"));
    let broken = message(&[(
        "Content-Type: application/gzip\nContent-Transfer-Encoding: base64",
        "H4sIAAAAAAAAA3N0dHJ0cnZxdXN3cXF=",
    )]);
    let split = super::split(&broken);
    assert!(split.parts.is_empty());
    assert_eq!(split.findings.len(), 1);
    assert_eq!(split.findings[0].severity, Severity::Error);
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn nested_multiparts_are_flattened_and_bounded() {
    let inner = "Content-Type: multipart/mixed; boundary=\"IN\"\n\n--IN\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n--IN--";
    let bytes = message(&[
        (
            "Content-Type: text/cloud-config",
            "#cloud-config\nhostname: a",
        ),
        (
            inner.split_once("\n\n").map_or("", |p| p.0),
            inner.split_once("\n\n").map_or("", |p| p.1),
        ),
    ]);
    let split = split(&bytes);
    let kinds: Vec<Kind> = split.parts.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [Kind::CloudConfig, Kind::Script]);
    assert_eq!(split.parts[1].index, 2);

    let mut deep = String::from("#!/bin/sh\n");
    for level in 0..=MAX_DEPTH {
        deep = format!(
            "Content-Type: multipart/mixed; boundary=\"L{level}\"\n\n--L{level}\n{}\n--L{level}--\n",
            if level == 0 {
                format!("Content-Type: text/x-shellscript\n\n{deep}")
            } else {
                deep
            }
        );
    }
    let deep = format!("MIME-Version: 1.0\n{deep}");
    let split = super::split(deep.as_bytes());
    assert!(split.parts.is_empty());
    assert!(
        split.findings.iter().any(|f| f.message.contains("nested")),
        "{:?}",
        split.findings
    );
}

#[test]
fn archive_entries_become_parts() {
    let mut parts = Vec::new();
    let mut findings = Vec::new();
    archive::expand(
        b"#cloud-config-archive\n- type: foo/wark\n  filename: bar\n  content: hi\n- just text\n- content: '#!/bin/sh'\n  launch-index: 1\n  Merge-Type: list(append)\n- 42\n",
        &mut parts,
        &mut findings,
    );
    let got: Vec<(&str, Kind)> = parts
        .iter()
        .map(|p| (p.content_type.as_str(), p.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("foo/wark", Kind::Unknown),
            ("text/cloud-config", Kind::CloudConfig),
            ("text/x-shellscript", Kind::Script)
        ]
    );
    assert_eq!(parts[0].filename.as_deref(), Some("bar"));
    assert_eq!(parts[2].launch_index.as_deref(), Some("1"));
    assert_eq!(parts[2].merge_type.as_deref(), Some("list(append)"));
    assert_eq!(findings.len(), 1, "{findings:?}");
}

#[test]
fn file_names_cannot_escape() {
    let mut part = Part {
        index: 3,
        filename: Some("../../.ssh/authorized_keys".to_owned()),
        content_type: "text/plain".to_owned(),
        kind: Kind::Unknown,
        payload: Vec::new(),
        gzipped: false,
        from_archive: false,
        launch_index: None,
        merge_type: None,
    };
    assert_eq!(part.file_name(), "03-ssh_authorized_keys");
    part.filename = Some("..".to_owned());
    assert_eq!(part.file_name(), "03");
    part.filename = Some("a b/c:d".to_owned());
    assert_eq!(part.file_name(), "03-a_b_c_d");
    part.filename = None;
    assert_eq!(part.file_name(), "03");
}

/// Pieces of MIME messages, put together at random by the property below.
const PIECES: [&str; 14] = [
    "--b\n",
    "--b--\n",
    "Content-Type: text/cloud-config\n",
    "Content-Type: application/x-gzip\n",
    "Content-Type: text/cloud-config-archive\n",
    "Content-Type: multipart/mixed; boundary=\"c\"\n",
    "--c\n",
    "Content-Transfer-Encoding: base64\n",
    "Content-Transfer-Encoding: quoted-printable\n",
    "\n",
    "#cloud-config\nusers: [default]\nruncmd: x\nmerge_how: list(append)+dict()\n",
    "#cloud-config-archive\n- content: '#!/bin/sh'\n- {type: text/plain}\n",
    "H4sIAAAAAAAAA3N0dHJ0cnZxdXN3cXF=\n",
    "=C3=A9=\n\u{0}\u{ff}",
];

proptest::proptest! {
    /// Whatever the parts look like, splitting and validating a message never panics, and every
    /// part is numbered in order.
    #[test]
    fn any_message_is_split_without_panic(
        pieces in proptest::collection::vec(0..PIECES.len(), 0..40),
        noise in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
    ) {
        let mut bytes = b"Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n".to_vec();
        for piece in pieces {
            bytes.extend_from_slice(PIECES[piece].as_bytes());
        }
        bytes.extend_from_slice(&noise);
        let split = split(&bytes);
        for (i, part) in split.parts.iter().enumerate() {
            proptest::prop_assert_eq!(part.index, i + 1);
        }
        let report = crate::validate(&bytes, &crate::Options::default());
        proptest::prop_assert_eq!(report.parts.len(), split.parts.len());
    }
}
