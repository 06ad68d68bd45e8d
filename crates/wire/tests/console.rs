//! The console log operation (`ShowServerConsoleOutput`): its request, its golden bytes, its
//! route both ways, and the reading of its answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use expect_test::expect_file;
use reimage_core::{ProjectId, ResponseError, ServerId};
use reimage_wire::ecs::{ConsoleLength, EcsRoute, ShowConsoleOutput};
use reimage_wire::{Endpoint, Operation};

use common::{render_request, response};

fn op(length: ConsoleLength) -> ShowConsoleOutput {
    ShowConsoleOutput::new(
        ProjectId::new("0123456789abcdef0123456789abcdef").unwrap(),
        ServerId::new("11111111-2222-3333-4444-555555555555").unwrap(),
        length,
    )
}

fn endpoint() -> Endpoint {
    Endpoint::parse("https://ecs.eu-de.otc.t-systems.com").unwrap()
}

#[test]
fn the_request_is_a_get_with_the_length_the_sdk_sends() {
    let request = op(ConsoleLength::Lines(200))
        .to_request(&endpoint())
        .unwrap();
    expect_file!["../../../tests/golden/ecs/console_output.txt"]
        .assert_eq(&render_request(&request));
    let all = op(ConsoleLength::All).to_request(&endpoint()).unwrap();
    assert_eq!(all.uri().query(), Some("length=-1"));
    // The redacted form is the same request: nothing secret in it.
    let redacted = op(ConsoleLength::All)
        .to_redacted_request(&endpoint())
        .unwrap();
    assert_eq!(redacted.uri(), all.uri());
    assert!(redacted.body().is_empty());
}

#[test]
fn the_route_reads_back_what_the_operation_writes() {
    let request = op(ConsoleLength::Lines(5)).to_request(&endpoint()).unwrap();
    let route = EcsRoute::parse(request.uri().path()).unwrap();
    assert!(matches!(route, EcsRoute::ConsoleOutput { .. }));
    assert_eq!(route.method(), http::Method::GET);
    assert_eq!(route.path(), request.uri().path());
    assert_eq!(ConsoleLength::parse("-1"), Some(ConsoleLength::All));
    assert_eq!(ConsoleLength::parse("50"), Some(ConsoleLength::Lines(50)));
    assert_eq!(ConsoleLength::parse("-2"), None);
    assert_eq!(ConsoleLength::parse("many"), None);
}

#[test]
fn the_answer_is_the_output_text() {
    let op = op(ConsoleLength::All);
    let text = op
        .decode_response(response(200, None, r#"{"output":"a\nb\n"}"#))
        .unwrap();
    assert_eq!(text, "a\nb\n");
    let empty = op.decode_response(response(200, None, "{}")).unwrap();
    assert_eq!(empty, "");
    let wrong = op
        .decode_response(response(200, Some("req-1"), r#"{"output":["secret"]}"#))
        .unwrap_err();
    let shown = wrong.to_string();
    assert!(shown.contains("output is a list, not a string"), "{shown}");
    assert!(!shown.contains("secret"), "{shown}");
    let refused = op
        .decode_response(response(
            404,
            Some("req-2"),
            r#"{"error":{"code":"Ecs.0114","message":"Instance does not exist."}}"#,
        ))
        .unwrap_err();
    match refused {
        ResponseError::Provider(p) => {
            assert_eq!(p.code.as_deref(), Some("Ecs.0114"));
            assert_eq!(p.request_id.as_deref(), Some("req-2"));
        }
        other => panic!("not a provider error: {other:?}"),
    }
}
