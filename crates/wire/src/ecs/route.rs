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

/// The most segments an [`EcsRoute`]'s path has.
const MAX_SEGMENTS: usize = 5;

/// The segments of `path` and how many there are, or `None` when it has more than
/// [`MAX_SEGMENTS`] or does not start with `/`: the same as cutting the query, then one trailing
/// `/`, then the leading `/`, and splitting the rest at each `/` (a test holds it to that).
///
/// The emulator parses every call's path, so this reads it in one pass, eight bytes at a time:
/// a word with neither `/` nor `?` (most of an id) costs a few instructions, and the segments go
/// into a fixed array.
fn segments(path: &str) -> Option<([&str; MAX_SEGMENTS], usize)> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    let mut held = [""; MAX_SEGMENTS];
    let mut count = 0;
    let mut start = 1;
    // Where the query starts, if it does.
    let mut query = None;
    // Each `/` ends a segment; the first `?` ends the path.
    let mut at_mark = |at: usize| -> Option<bool> {
        if bytes[at] == b'?' {
            query = Some(at);
            return Some(false);
        }
        *held.get_mut(count)? = path.get(start..at)?;
        count += 1;
        start = at + 1;
        Some(true)
    };
    let mut at = 1;
    let mut more = true;
    while more && let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut found = marks(u64::from_le_bytes(word));
        while more && found != 0 {
            // The lowest marked byte first: the word was read little-endian.
            more = at_mark(at + (found.trailing_zeros() / 8) as usize)?;
            found &= found - 1;
        }
        at += 8;
    }
    while more && at < bytes.len() {
        if matches!(bytes[at], b'/' | b'?') {
            more = at_mark(at)?;
        }
        at += 1;
    }
    let end = query.unwrap_or(bytes.len());
    // `/` alone (before any query) is no path; a last empty segment is the trailing `/`.
    if end < 2 {
        return None;
    }
    let last = path.get(start..end)?;
    if !last.is_empty() {
        *held.get_mut(count)? = last;
        count += 1;
    }
    Some((held, count))
}

/// `0x80` in each byte of `word` that is `/` or `?`, nothing elsewhere (exactly: no carry runs
/// from one byte to the next).
fn marks(word: u64) -> u64 {
    const LOW: u64 = u64::from_ne_bytes([0x7f; 8]);
    const SLASHES: u64 = u64::from_ne_bytes([b'/'; 8]);
    const QUESTIONS: u64 = u64::from_ne_bytes([b'?'; 8]);
    let zero_bytes = |x: u64| !(((x & LOW).wrapping_add(LOW)) | x | LOW);
    zero_bytes(word ^ SLASHES) | zero_bytes(word ^ QUESTIONS)
}

impl EcsRoute {
    /// Reads a path (a query string is ignored, one trailing `/` allowed). `None` when it is not
    /// one of these routes or an id is not of the right form.
    pub fn parse(path: &str) -> Option<Self> {
        let (held, count) = segments(path)?;
        Self::from_segments(&held[..count])
    }

    /// The route whose path is `segments` (between its `/`s, without query or trailing `/`).
    fn from_segments(segments: &[&str]) -> Option<Self> {
        let project = |s: &str| ProjectId::new(s).ok();
        let server = |s: &str| ServerId::new(s).ok();
        Some(match segments {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`EcsRoute::parse`] as it was written first, splitting the path into a `Vec`: the
    /// reference the word-at-a-time [`segments`] must agree with on every path (both hand their
    /// segments to the same [`EcsRoute::from_segments`]).
    fn parse_with_vec(path: &str) -> Option<EcsRoute> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        EcsRoute::from_segments(&segments)
    }

    /// A path segment: the words and ids of the routes, near misses, and anything.
    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("v1".to_owned()),
            Just("v2".to_owned()),
            Just("cloudservers".to_owned()),
            Just("jobs".to_owned()),
            Just("detail".to_owned()),
            Just("action".to_owned()),
            Just("reinstallos".to_owned()),
            Just("changeos".to_owned()),
            Just("console-output".to_owned()),
            Just(String::new()),
            "[0-9a-fA-F]{31,33}",
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{11,13}",
            "[0-9A-Za-z-]{0,66}",
            "[ -~]{0,12}",
            "\\PC{0,6}",
        ]
    }

    /// A path: segments joined by `/`, with or without the leading `/`, a trailing `/`, a query.
    fn path() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(segment(), 0..8),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of("[ -~]{0,10}"),
        )
            .prop_map(|(segments, lead, trail, query)| {
                let mut path = segments.join("/");
                if lead {
                    path.insert(0, '/');
                }
                if trail {
                    path.push('/');
                }
                if let Some(query) = query {
                    path.push('?');
                    path.push_str(&query);
                }
                path
            })
    }

    /// A path of a route's shape (`/v?/{project}/{collection}/{id}/{action}`), whose ids may
    /// be good or not: so that most of the routes are met, and their near misses.
    fn route_shaped() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            "[0-9a-fA-F]{32}",
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            segment(),
        ];
        let word = |words: &'static [&'static str]| {
            proptest::sample::select(words).prop_map(str::to_owned)
        };
        (
            word(&["v1", "v2", "v3"]),
            prop_oneof!["[0-9a-f]{32}", segment()],
            word(&["cloudservers", "jobs", "servers"]),
            proptest::option::of(id),
            proptest::option::of(word(&[
                "reinstallos",
                "changeos",
                "console-output",
                "detail",
                "action",
                "",
            ])),
            proptest::option::of("[ -~]{0,10}"),
        )
            .prop_map(|(version, project, collection, id, action, query)| {
                let mut path = format!("/{version}/{project}/{collection}");
                for tail in [id, action].into_iter().flatten() {
                    path.push('/');
                    path.push_str(&tail);
                }
                if let Some(query) = query {
                    path.push('?');
                    path.push_str(&query);
                }
                path
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn marks_agree_with_a_bytewise_reading(word in any::<[u8; 8]>()) {
            prop_assert_eq!(marks(u64::from_le_bytes(word)), marks_bytewise(word));
        }

        #[test]
        fn parse_agrees_with_the_vec_based_reading(path in prop_oneof![path(), route_shaped()]) {
            prop_assert_eq!(EcsRoute::parse(&path), parse_with_vec(&path), "{:?}", path);
        }
    }

    /// `marks` flags exactly the `/` and `?` bytes of a word, at their places.
    fn marks_bytewise(word: [u8; 8]) -> u64 {
        let mut out = [0u8; 8];
        for (o, b) in out.iter_mut().zip(word) {
            if matches!(b, b'/' | b'?') {
                *o = 0x80;
            }
        }
        u64::from_le_bytes(out)
    }

    #[test]
    fn marks_flag_exactly_the_separators() {
        for b in 0..=u8::MAX {
            for place in 0..8 {
                for fill in [b'a', b'/', 0, 0xff, b'?' ^ 0x80] {
                    let mut word = [fill; 8];
                    word[place] = b;
                    assert_eq!(
                        marks(u64::from_le_bytes(word)),
                        marks_bytewise(word),
                        "{word:?}"
                    );
                }
            }
        }
    }

    /// Every route's own path, and the same with six segments or more, which no route has.
    #[test]
    fn long_paths_are_no_route() {
        let p = "0123456789abcdef0123456789abcdef";
        let s = "11111111-2222-3333-4444-555555555555";
        let good = format!("/v1/{p}/cloudservers/{s}/console-output");
        assert!(matches!(
            EcsRoute::parse(&good),
            Some(EcsRoute::ConsoleOutput { .. })
        ));
        for longer in [
            format!("{good}/x"),
            format!("{good}/x/y"),
            format!("{good}//"),
        ] {
            assert_eq!(EcsRoute::parse(&longer), None, "{longer}");
            assert_eq!(parse_with_vec(&longer), None, "{longer}");
        }
        let job = "ff80808288d41e1b018990260955686a";
        for edge in [
            String::new(),
            "/".into(),
            "//".into(),
            "?".into(),
            "/?".into(),
            "/?/v1".into(),
            format!("v1/{p}/jobs/{job}"),
            format!("/v1/{p}/jobs/{job}"),
            format!("/v1/{p}/jobs/{job}/"),
            format!("/v1/{p}/jobs/{job}//"),
            format!("/v1/{p}/jobs/{job}?"),
            format!("/v1/{p}/jobs/{job}/?a=/b/c/d/e/f"),
            format!("/v1/{p}/jobs/{job}?/x"),
            format!("//v1/{p}/jobs/{job}"),
            format!("/v1/{p}/cloudservers/{s}/"),
            format!("/v1/{p}/cloudservers/detail/"),
            format!("/v2/{p}/cloudservers/{s}/reinstallos/?x"),
        ] {
            assert_eq!(EcsRoute::parse(&edge), parse_with_vec(&edge), "{edge:?}");
        }
        assert!(EcsRoute::parse(&format!("/v1/{p}/jobs/{job}/?a=/b/c/d/e/f")).is_some());
    }
}
