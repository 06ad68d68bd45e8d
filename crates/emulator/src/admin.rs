//! The admin API under `/_emulator/`: state, the request log, faults, reset.
//!
//! It is never faulted, never logged, and needs no credentials (the emulator listens on loopback
//! unless told otherwise). Nothing it shows holds a secret.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fault::FaultRule;
use crate::handler::Ctx;
use crate::reply::{PLAIN_JSON, Reply, admin_error};
use crate::state::World;

const ENDPOINTS: &[&str] = &[
    "GET /_emulator/state",
    "GET /_emulator/requests",
    "DELETE /_emulator/requests",
    "GET /_emulator/faults",
    "POST /_emulator/faults",
    "DELETE /_emulator/faults",
    "DELETE /_emulator/faults/{id}",
    "POST /_emulator/expire-credentials",
    "POST /_emulator/reset",
    "POST /_emulator/ecs/servers/{id}/sshd",
    "POST /_emulator/edis/kvms/{id}/sshd",
];

fn ok(value: &Value) -> Reply {
    Reply::json(StatusCode::OK, PLAIN_JSON, value)
}

/// Handles `/_emulator` and everything under it.
pub(crate) fn handle(world: &mut World, ctx: &Ctx<'_>) -> Reply {
    let path = ctx.request.uri().path().trim_end_matches('/');
    let method = ctx.request.method().clone();
    let route = path.strip_prefix("/_emulator").unwrap_or_default();
    match (method, route) {
        (Method::GET, "") => ok(&json!({ "endpoints": ENDPOINTS })),
        (Method::GET, "/state") => ok(&world.snapshot(ctx.config, ctx.now)),
        (Method::GET, "/requests") => ok(&json!({ "requests": world.log.to_json() })),
        (Method::DELETE, "/requests") => {
            world.log.clear();
            ok(&json!({ "cleared": true }))
        }
        (Method::GET, "/faults") => ok(&json!({ "faults": world.faults.to_json() })),
        (Method::POST, "/faults") => add_faults(world, ctx.request.body()),
        (Method::POST, r) if r.starts_with("/ecs/servers/") && r.ends_with("/sshd") => {
            let id = &r["/ecs/servers/".len()..r.len() - "/sshd".len()];
            attach_sshd(world, id, ctx.request.body())
        }
        (Method::POST, r) if r.starts_with("/edis/kvms/") && r.ends_with("/sshd") => {
            let id = &r["/edis/kvms/".len()..r.len() - "/sshd".len()];
            attach_sshd(world, id, ctx.request.body())
        }
        (Method::DELETE, "/faults") => {
            world.faults.clear();
            ok(&json!({ "cleared": true }))
        }
        (Method::POST, "/expire-credentials") => {
            let (mut tokens, mut sessions) = (0, 0);
            for t in world.tokens.iter_mut().filter(|t| t.expires_at > ctx.now) {
                t.expires_at = ctx.now;
                tokens += 1;
            }
            for s in world.sessions.iter_mut().filter(|s| s.expires_at > ctx.now) {
                s.expires_at = ctx.now;
                sessions += 1;
            }
            ok(&json!({ "tokens_expired": tokens, "sessions_expired": sessions }))
        }
        (Method::POST, "/reset") => {
            world.reset(ctx.config);
            ok(&json!({ "reset": true }))
        }
        (Method::DELETE, r) if r.starts_with("/faults/") => {
            let id = r
                .strip_prefix("/faults/")
                .and_then(|id| id.parse::<u64>().ok());
            match id {
                Some(id) if world.faults.remove(id) => ok(&json!({ "removed": id })),
                _ => admin_error(404, "no fault rule with that id"),
            }
        }
        (_, r)
            if [
                "",
                "/state",
                "/requests",
                "/faults",
                "/expire-credentials",
                "/reset",
            ]
            .contains(&r) =>
        {
            admin_error(
                405,
                "method not allowed; GET /_emulator lists the endpoints",
            )
        }
        _ => admin_error(404, "no such admin endpoint; GET /_emulator lists them"),
    }
}

/// `POST /_emulator/faults`: one rule, or a list of rules; all or none are installed.
fn add_faults(world: &mut World, body: &[u8]) -> Reply {
    let rules: Vec<FaultRule> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => {
            let mut rules = Vec::new();
            for item in items {
                match serde_json::from_value::<FaultRule>(item) {
                    Ok(rule) => rules.push(rule),
                    Err(e) => return admin_error(400, format!("invalid fault rule: {e}")),
                }
            }
            rules
        }
        Ok(item) => match serde_json::from_value::<FaultRule>(item) {
            Ok(rule) => vec![rule],
            Err(e) => return admin_error(400, format!("invalid fault rule: {e}")),
        },
        Err(e) => {
            return admin_error(
                400,
                format!(
                    "the body is not JSON: {}",
                    reimage_wire::decode::json_problem(&e)
                ),
            );
        }
    };
    let ids: Vec<u64> = rules.into_iter().map(|r| world.faults.add(r)).collect();
    Reply::json(StatusCode::CREATED, PLAIN_JSON, &json!({ "ids": ids }))
}

/// `POST /_emulator/ecs/servers/{id}/sshd` with `{"authorized_keys": "…", "sshd": "/usr/sbin/sshd"}`
/// (`sshd` optional): a real `sshd` for the server on loopback (see `crate::sshd`).
fn attach_sshd(world: &mut World, server_id: &str, body: &[u8]) -> Reply {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Attach {
        authorized_keys: String,
        sshd: Option<std::path::PathBuf>,
    }
    let attach: Attach = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) => {
            return admin_error(
                400,
                format!("the body must be {{\"authorized_keys\": \"…\", \"sshd\": \"PATH\"}}: {e}"),
            );
        }
    };
    let sshd = attach
        .sshd
        .unwrap_or_else(|| std::path::PathBuf::from("/usr/sbin/sshd"));
    match world.attach_sshd(server_id, &sshd, &attach.authorized_keys) {
        Ok((port, pid)) => ok(&json!({
            "address": crate::sshd::LOOPBACK,
            "port": port,
            "pid": pid,
        })),
        Err(e) => admin_error(400, e),
    }
}
