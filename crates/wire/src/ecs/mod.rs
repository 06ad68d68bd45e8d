//! ECS: reinstall and change of OS with cloud-init, the job query, server details, and batch stop
//! and start. Bodies are JSON; the client adds `X-Auth-Token` (or signs with AK/SK) afterwards.
//!
//! | operation | request | answer |
//! |---|---|---|
//! | [`ReinstallOs`] | `POST /v2/{project_id}/cloudservers/{server_id}/reinstallos`, [`ReinstallBody`] | [`JobId`] |
//! | [`ChangeOs`] | `POST /v2/{project_id}/cloudservers/{server_id}/changeos`, [`ChangeOsBody`] | [`JobId`] |
//! | [`ReinstallOsWithoutCloudInit`] | `POST /v1/{project_id}/cloudservers/{server_id}/reinstallos`, [`ReinstallBody`] | [`JobId`] |
//! | [`ChangeOsWithoutCloudInit`] | `POST /v1/{project_id}/cloudservers/{server_id}/changeos`, [`ChangeOsBody`] | [`JobId`] |
//! | [`ListServers`] | `GET /v1/{project_id}/cloudservers/detail` | a list of [`ServerDetails`] |
//! | [`ShowJob`] | `GET /v1/{project_id}/jobs/{job_id}` | [`Job`] |
//! | [`ShowServer`] | `GET /v1/{project_id}/cloudservers/{server_id}` | [`ServerDetails`] |
//! | [`BatchStop`] | `POST /v1/{project_id}/cloudservers/action`, [`BatchStopBody`] | [`JobId`] |
//! | [`ShowConsoleOutput`] | `GET /v1/{project_id}/cloudservers/{server_id}/console-output?length=N` | the log's text |
//! | [`BatchStart`] | `POST /v1/{project_id}/cloudservers/action`, [`BatchStartBody`] | [`JobId`] |
//! | [`ShowImage`] | IMS: `GET /v2/images/{image_id}` | [`ImageDetails`], whose [`ImageDetails::rebuild_api`] chooses `/v1/` or `/v2/` |
//!
//! **One definition per body, both ways.** The body types derive `Serialize` *and*
//! `Deserialize`: the client encodes with them and the emulator decodes with them, and
//! [`EcsRoute::parse`] reads the ids back out of a path. An option that is not set is absent from
//! the JSON, never `null`; keys come in the order of the struct fields, so the bytes are
//! deterministic.
//!
//! Answers: any non-2xx status is what ECS said ([`ResponseError::Provider`], with the HTTP
//! status, the code such as `Ecs.0011`, the message and the `X-Request-Id`); a 2xx answer that
//! cannot be read is a [`ResponseError::Decode`] that never quotes the body. Unknown fields are
//! ignored and `null` is accepted wherever a value may be missing. A job answer that breaks its
//! contract (a time that is not a time, a field of the wrong type) is an error; server details,
//! a large object with many extensions, are read field by field instead, and a field that cannot
//! be read is left empty and named in [`ServerDetails::unreadable`].

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, Job, JobId, JobStatus,
    KeyPairName, Login, ProjectId, ServerId, SubJob, Timestamp, UserData, UserId, ValidationError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decode::{huawei_error, json_problem, request_id};
use crate::{
    AuthScheme, DecodeError, EncodeError, Endpoint, JSON_CONTENT_TYPE, Operation, Provider,
    ResponseError, build_request,
};

/// The most user data ECS takes, in bytes before base64: 32 KB ([`reimage_core::ECS_USER_DATA_LIMIT`],
/// where the limit lives).
pub const USER_DATA_LIMIT: usize = reimage_core::ECS_USER_DATA_LIMIT;

/// The `mode` that makes ECS stop a running server before it reinstalls or changes the OS.
pub const MODE_WITH_STOP_SERVER: &str = "withStopServer";

mod answer;
mod body;
mod console;
mod image;
mod ops;
mod route;
mod server;
mod typed;

#[allow(clippy::wildcard_imports)]
use answer::*;
pub use body::*;
pub use console::*;
pub use image::*;
pub use ops::*;
pub use route::*;
pub use server::*;
