//! The signer against the official Python SDK: every request in `tests/aksk/vectors.json` (made by
//! `huaweicloudsdkcore` 3.1.219 through `cargo xtask aksk-vectors`) is rebuilt, signed here at the
//! vector's date, and must carry the very `Authorization` header the SDK computed.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a vector reports a failure"
)]

use bytes::Bytes;
use http::{HeaderValue, Request};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reimage_auth::aksk::{self, AkSk};
use reimage_core::{ProjectId, Timestamp};
use secrecy::SecretString;
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/aksk/vectors.json");

fn field<'a>(vector: &'a Value, key: &str) -> &'a str {
    vector[key]
        .as_str()
        .unwrap_or_else(|| panic!("{}: {key} is not a string", vector["name"]))
}

/// `20250101T000000Z` as a [`Timestamp`].
fn sdk_date(text: &str) -> Timestamp {
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    Timestamp::parse(&rfc3339).unwrap()
}

fn credentials(vector: &Value) -> AkSk {
    let creds = AkSk::new(field(vector, "ak"), SecretString::from(field(vector, "sk"))).unwrap();
    match vector["security_token"].as_str() {
        Some(token) => creds
            .with_security_token(SecretString::from(token))
            .unwrap(),
        None => creds,
    }
}

/// The request as the SDK sent it: its wire URL, the headers it was given, its body.
fn request(vector: &Value, url: &str) -> Request<Bytes> {
    let mut builder = Request::builder().method(field(vector, "method")).uri(url);
    for (name, value) in vector["headers"].as_object().unwrap() {
        builder = builder.header(
            name.as_str(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    let body = vector["body"].as_str().unwrap_or_default().to_owned();
    builder.body(Bytes::from(body)).unwrap()
}

/// The same request with its query rebuilt from the pairs the SDK was given, in their original
/// order and encoded differently (every non-alphanumeric byte escaped): the signature must not
/// change, since the canonical query decodes, sorts and re-encodes.
fn reordered_url(vector: &Value) -> String {
    let url = field(vector, "url");
    let base = url.split('?').next().unwrap();
    let pairs: Vec<String> = vector["query"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|pair| {
            let key = pair[0].as_str().unwrap();
            let value = pair[1].as_str().unwrap();
            format!(
                "{}={}",
                utf8_percent_encode(key, NON_ALPHANUMERIC),
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            )
        })
        .collect();
    if pairs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

fn sign(vector: &Value, url: &str) -> Request<Bytes> {
    let mut request = request(vector, url);
    let project = ProjectId::new(field(vector, "project_id")).unwrap();
    aksk::sign(
        &mut request,
        &credentials(vector),
        &project,
        sdk_date(field(vector, "sdk_date")),
    )
    .unwrap();
    request
}

#[test]
fn signer_agrees_with_the_official_sdk() {
    let text = std::fs::read_to_string(VECTORS)
        .expect("tests/aksk/vectors.json: run `cargo xtask aksk-vectors`");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["sdk"], "huaweicloudsdkcore 3.1.219");
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 50, "only {} vectors", vectors.len());

    let mut disagreements = Vec::new();
    for vector in vectors {
        let name = field(vector, "name");
        let expected = &vector["expected"];
        let want = expected["authorization"].as_str().unwrap();

        let signed = sign(vector, field(vector, "url"));
        let got = signed.headers()["authorization"].to_str().unwrap();
        if got != want {
            let canonical = aksk::canonical_request(&signed).unwrap();
            disagreements.push(format!(
                "{name}:\n  sdk:  {want}\n  ours: {got}\n  sdk canonical:\n{}\n  our canonical:\n{canonical}",
                expected["canonical_request"].as_str().unwrap()
            ));
            continue;
        }
        assert_eq!(
            aksk::canonical_request(&signed).unwrap(),
            expected["canonical_request"].as_str().unwrap(),
            "{name}"
        );

        // Every header the SDK ended up sending, we send too, with the same (trimmed) value.
        let sdk_headers = expected["headers"].as_object().unwrap();
        for (header, value) in sdk_headers {
            let ours = signed
                .headers()
                .get(header.as_str())
                .unwrap_or_else(|| panic!("{name}: no {header}"));
            let ours = std::str::from_utf8(ours.as_bytes()).unwrap().trim();
            assert_eq!(ours, value.as_str().unwrap(), "{name}: {header}");
        }
        assert_eq!(
            signed.headers().keys_len(),
            sdk_headers.len(),
            "{name}: header count"
        );

        let reordered = sign(vector, &reordered_url(vector));
        assert_eq!(
            reordered.headers()["authorization"],
            want,
            "{name}: query in original order"
        );

        // And the verifier accepts what the SDK signed.
        let lookup =
            |ak: &str| (ak == field(vector, "ak")).then(|| SecretString::from(field(vector, "sk")));
        let now = sdk_date(field(vector, "sdk_date"));
        assert_eq!(
            aksk::verify(&signed, lookup, now, aksk::MAX_SKEW).as_deref(),
            Ok(field(vector, "ak")),
            "{name}"
        );
    }
    println!(
        "aksk vectors: {} of {} agree with huaweicloudsdkcore 3.1.219",
        vectors.len() - disagreements.len(),
        vectors.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
