//! IAM: `POST /v3/auth/tokens` with a password, answered 201 with `X-Subject-Token`.
//!
//! `reimage-wire` only encodes this request (its body types are private and serialise only), so
//! the emulator reads it with its own types, in the Keystone form IAM documents.

use http::header::HeaderName;
use http::{HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::handler::{Ctx, Handled, LogAuth};
use crate::reply::{HUAWEI_JSON, Reply, iam_error};
use crate::state::{KEEP, TokenRecord, World};
use crate::util::{after, iam_time, same_secret};

/// The operation name of the token call, as `reimage-wire` names it.
pub(crate) const CREATE_TOKEN: &str = reimage_wire::iam::CREATE_TOKEN;

#[derive(Deserialize)]
struct AuthRequest {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: Identity,
    #[serde(default)]
    scope: Option<Scope>,
}

#[derive(Deserialize)]
struct Identity {
    methods: Vec<String>,
    #[serde(default)]
    password: Option<PasswordMethod>,
}

#[derive(Deserialize)]
struct PasswordMethod {
    user: User,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(deserialize_with = "crate::util::secret")]
    password: SecretString,
    #[serde(default)]
    domain: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Scope {
    #[serde(default)]
    project: Option<Named>,
}

/// Handles `/v3/auth/tokens`.
pub(crate) fn handle(world: &mut World, ctx: &Ctx<'_>) -> Handled {
    if ctx.request.uri().path().trim_end_matches('/') != reimage_wire::iam::TOKENS_PATH {
        return Handled::new(iam_error(404, "The resource could not be found."));
    }
    if ctx.request.method() != Method::POST {
        return Handled::new(iam_error(
            405,
            "The method is not allowed for the requested URL.",
        ));
    }
    let request: AuthRequest = match serde_json::from_slice(ctx.request.body()) {
        Ok(r) => r,
        Err(e) => {
            return Handled::new(iam_error(
                400,
                format!(
                    "The request body is not a token request: {}",
                    reimage_wire::decode::json_problem(&e)
                ),
            ));
        }
    };
    let identity = request.auth.identity;
    let Some(password) = identity
        .password
        .filter(|_| identity.methods.iter().any(|m| m == "password"))
    else {
        return Handled::new(iam_error(
            400,
            "Expecting to find identity.password with methods [\"password\"] in the request.",
        ));
    };
    let user = password.user;
    let fixtures = &world.fixtures;
    let domain_ok = user.domain.as_ref().is_some_and(|d| {
        d.name.as_deref() == Some(fixtures.iam.domain_name.as_str())
            || d.id.as_deref() == Some(fixtures.iam.domain_id.as_str())
    });
    let found = fixtures.iam.users.iter().find(|u| {
        user.name.as_deref() == Some(u.name.as_str())
            || user
                .id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(u.id.as_str()))
    });
    let Some(found) = found.filter(|u| {
        domain_ok
            && same_secret(
                u.password.expose_secret().as_bytes(),
                user.password.expose_secret().as_bytes(),
            )
    }) else {
        return Handled::new(iam_error(401, "The username or password is wrong."))
            .with_auth(LogAuth::scheme("password").flag("verified", false));
    };
    let auth = LogAuth::scheme("password")
        .text("user", found.name.as_str())
        .text("user_id", found.id.as_str());
    let domain = json!({ "id": fixtures.iam.domain_id, "name": fixtures.iam.domain_name });
    let user_id = found.id.as_str().to_owned();
    let user_name = found.name.clone();

    let project = match request.auth.scope.and_then(|s| s.project) {
        None => None,
        Some(p) => {
            let ecs = &fixtures.ecs;
            let matches =
                p.id.as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&ecs.project_id))
                    || p.name.as_deref() == Some(ecs.project_name.as_str());
            if !matches {
                return Handled::new(iam_error(
                    401,
                    "The request you have made requires authentication: the project of the \
                     scope is not found, or the user has no access to it.",
                ))
                .with_auth(auth);
            }
            Some((ecs.project_id.clone(), ecs.project_name.clone()))
        }
    };

    let lifetime = ctx.flags.short_lived.unwrap_or(ctx.config.token_lifetime);
    let token = format!(
        "MIIemu{}{}{}{}",
        world.ids.hex32(),
        world.ids.hex32(),
        world.ids.hex32(),
        world.ids.hex32()
    );
    let issued_at = ctx.now;
    let expires_at = after(issued_at, lifetime);
    let serial = world.next_serial();
    if world.tokens.len() >= KEEP {
        world.tokens.remove(0);
    }
    world.tokens.push(TokenRecord {
        serial,
        token: token.clone(),
        user_id: std::sync::Arc::from(user_id.as_str()),
        project_id: project.as_ref().map(|(id, _)| id.clone()),
        issued_at,
        expires_at,
    });

    let mut body = json!({
        "token": {
            "expires_at": iam_time(expires_at),
            "issued_at": iam_time(issued_at),
            "methods": ["password"],
            "catalog": [],
            "roles": [{ "id": "0", "name": "te_admin" }],
            "user": {
                "id": user_id,
                "name": user_name,
                "domain": domain,
                "password_expires_at": "",
            },
        }
    });
    if let (Some((id, name)), Some(map)) = (
        project,
        body.get_mut("token").and_then(Value::as_object_mut),
    ) {
        map.insert(
            "project".into(),
            json!({ "id": id, "name": name, "domain": domain }),
        );
    }
    let reply = match HeaderValue::from_str(&token) {
        Ok(mut value) => {
            value.set_sensitive(true);
            Reply::json(StatusCode::CREATED, HUAWEI_JSON, &body)
                .with_header(HeaderName::from_static("x-subject-token"), value)
        }
        Err(_) => iam_error(500, "The token could not be issued."),
    };
    Handled::new(reply).with_auth(auth)
}
