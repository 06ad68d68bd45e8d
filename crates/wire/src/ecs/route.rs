//! The paths of the ECS operations, declared once: [`EcsRoute::path`] writes one for a
//! request and [`EcsRoute::parse`] reads it back (the emulator's dispatch).

#[allow(clippy::wildcard_imports)]
use super::*;

/// An ECS path with its ids: declared once, written by the operations ([`EcsRoute::path`]) and
/// read back by the emulator ([`EcsRoute::parse`]), which dispatches on it.
///
/// ```
/// use reimage_wire::ecs::EcsRoute;
///
/// let route = EcsRoute::parse(
///     "/v2/0123456789abcdef0123456789abcdef/cloudservers/11111111-2222-3333-4444-555555555555/reinstallos",
/// );
/// assert!(matches!(route, Some(EcsRoute::ReinstallOs { .. })));
/// assert_eq!(route.map(|r| r.method()), Some(http::Method::POST));
/// assert_eq!(EcsRoute::parse("/v2/nope/cloudservers"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EcsRoute {
    /// `POST /v2/{project_id}/cloudservers/{server_id}/reinstallos`.
    ReinstallOs {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `POST /v2/{project_id}/cloudservers/{server_id}/changeos`.
    ChangeOs {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `POST /v1/{project_id}/cloudservers/{server_id}/reinstallos`: the reinstall for images
    /// without cloud-init.
    ReinstallOsWithoutCloudInit {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `POST /v1/{project_id}/cloudservers/{server_id}/changeos`: the change of OS for images
    /// without cloud-init.
    ChangeOsWithoutCloudInit {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `GET /v1/{project_id}/jobs/{job_id}`.
    ShowJob {
        /// The project.
        project_id: ProjectId,
        /// The job.
        job_id: JobId,
    },
    /// `GET /v1/{project_id}/cloudservers/{server_id}`.
    ShowServer {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `GET /v1/{project_id}/cloudservers/detail`: the servers of the project, with details (a
    /// query may filter them by name).
    ListServers {
        /// The project.
        project_id: ProjectId,
    },
    /// `POST /v1/{project_id}/cloudservers/action`: batch stop or start, as [`ActionBody`] says.
    ServerAction {
        /// The project.
        project_id: ProjectId,
    },
    /// `GET /v1/{project_id}/cloudservers/{server_id}/console-output`: the tail of the server's
    /// console log ([`ShowConsoleOutput`]).
    ConsoleOutput {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
}

impl EcsRoute {
    /// Reads a path (a query string is ignored, one trailing `/` allowed). `None` when it is not
    /// one of these routes or an id is not of the right form.
    pub fn parse(path: &str) -> Option<Self> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let project = |s: &str| ProjectId::new(s).ok();
        let server = |s: &str| ServerId::new(s).ok();
        Some(match segments.as_slice() {
            ["v2", p, "cloudservers", s, "reinstallos"] => Self::ReinstallOs {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v2", p, "cloudservers", s, "changeos"] => Self::ChangeOs {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v1", p, "cloudservers", s, "reinstallos"] => Self::ReinstallOsWithoutCloudInit {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v1", p, "cloudservers", s, "changeos"] => Self::ChangeOsWithoutCloudInit {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v1", p, "jobs", j] => Self::ShowJob {
                project_id: project(p)?,
                job_id: JobId::new(*j).ok()?,
            },
            ["v1", p, "cloudservers", "detail"] => Self::ListServers {
                project_id: project(p)?,
            },
            ["v1", p, "cloudservers", s, "console-output"] => Self::ConsoleOutput {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v1", p, "cloudservers", "action"] => Self::ServerAction {
                project_id: project(p)?,
            },
            ["v1", p, "cloudservers", s] => Self::ShowServer {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            _ => return None,
        })
    }

    /// The path of the route: what an operation sends, and what [`parse`](Self::parse) reads
    /// back.
    ///
    /// ```
    /// use reimage_core::{JobId, ProjectId};
    /// use reimage_wire::ecs::EcsRoute;
    ///
    /// let route = EcsRoute::ShowJob {
    ///     project_id: ProjectId::new("0123456789abcdef0123456789abcdef")?,
    ///     job_id: JobId::new("ff80808288d41e1b018990260955686a")?,
    /// };
    /// assert_eq!(route.path(), "/v1/0123456789abcdef0123456789abcdef/jobs/ff80808288d41e1b018990260955686a");
    /// assert_eq!(EcsRoute::parse(&route.path()), Some(route));
    /// # Ok::<(), reimage_core::ValidationError>(())
    /// ```
    pub fn path(&self) -> String {
        match self {
            Self::ReinstallOs {
                project_id,
                server_id,
            } => format!("/v2/{project_id}/cloudservers/{server_id}/reinstallos"),
            Self::ChangeOs {
                project_id,
                server_id,
            } => format!("/v2/{project_id}/cloudservers/{server_id}/changeos"),
            Self::ReinstallOsWithoutCloudInit {
                project_id,
                server_id,
            } => format!("/v1/{project_id}/cloudservers/{server_id}/reinstallos"),
            Self::ChangeOsWithoutCloudInit {
                project_id,
                server_id,
            } => format!("/v1/{project_id}/cloudservers/{server_id}/changeos"),
            Self::ShowJob { project_id, job_id } => format!("/v1/{project_id}/jobs/{job_id}"),
            Self::ShowServer {
                project_id,
                server_id,
            } => format!("/v1/{project_id}/cloudservers/{server_id}"),
            Self::ListServers { project_id } => format!("/v1/{project_id}/cloudservers/detail"),
            Self::ServerAction { project_id } => format!("/v1/{project_id}/cloudservers/action"),
            Self::ConsoleOutput {
                project_id,
                server_id,
            } => format!("/v1/{project_id}/cloudservers/{server_id}/console-output"),
        }
    }

    /// The method the route takes.
    pub fn method(&self) -> Method {
        match self {
            Self::ShowJob { .. }
            | Self::ShowServer { .. }
            | Self::ListServers { .. }
            | Self::ConsoleOutput { .. } => Method::GET,
            Self::ReinstallOs { .. }
            | Self::ChangeOs { .. }
            | Self::ReinstallOsWithoutCloudInit { .. }
            | Self::ChangeOsWithoutCloudInit { .. }
            | Self::ServerAction { .. } => Method::POST,
        }
    }

    /// The project in the path.
    pub fn project_id(&self) -> &ProjectId {
        match self {
            Self::ReinstallOs { project_id, .. }
            | Self::ChangeOs { project_id, .. }
            | Self::ReinstallOsWithoutCloudInit { project_id, .. }
            | Self::ChangeOsWithoutCloudInit { project_id, .. }
            | Self::ShowJob { project_id, .. }
            | Self::ShowServer { project_id, .. }
            | Self::ConsoleOutput { project_id, .. }
            | Self::ListServers { project_id }
            | Self::ServerAction { project_id } => project_id,
        }
    }
}
