//! Endpoints: the [`Cloud`] a region belongs to and the public URLs it gives, the default EDIS
//! auth service, and the checks of region names and of the URLs given in flags, variables and
//! profiles.

use crate::ConfigError;

/// The EDIS session service, without the auth path.
pub const DEFAULT_EDIS_AUTH_BASE: &str = "https://session.edisglobal.com";

/// The path of the EDIS auth call, which [`EdisSettings::auth_base`](crate::EdisSettings::auth_base) leaves off.
pub const EDIS_AUTH_PATH: &str = "/kvm/v2/get/auth";

/// Which cloud an ECS region belongs to; it decides the public endpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cloud {
    /// Huawei Cloud: `*.{region}.myhuaweicloud.com`. The default.
    #[default]
    Huawei,
    /// Open Telekom Cloud: `*.{region}.otc.t-systems.com`.
    Otc,
}

impl Cloud {
    /// Reads `huawei` or `otc`; `field` names where the value came from, for the error.
    pub fn parse(field: &str, value: &str) -> Result<Self, ConfigError> {
        match value {
            "huawei" => Ok(Self::Huawei),
            "otc" => Ok(Self::Otc),
            _ => Err(ConfigError::Invalid {
                field: field.to_owned(),
                value: value.to_owned(),
                problem: "is not a cloud reimage knows".to_owned(),
                fix: "use huawei or otc".to_owned(),
            }),
        }
    }

    /// The name used in flags and the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Huawei => "huawei",
            Self::Otc => "otc",
        }
    }

    /// The public ECS endpoint of a region, e.g. `https://ecs.eu-de.otc.t-systems.com`.
    pub fn ecs_endpoint(self, region: &str) -> String {
        format!("https://ecs.{region}.{}", self.domain())
    }

    /// The public IAM endpoint of a region as a base, without `/v3`, e.g.
    /// `https://iam.eu-de.otc.t-systems.com` (IAM's documented URL is that plus `/v3`).
    pub fn iam_endpoint(self, region: &str) -> String {
        format!("https://iam.{region}.{}", self.domain())
    }

    fn domain(self) -> &'static str {
        match self {
            Self::Huawei => "myhuaweicloud.com",
            Self::Otc => "otc.t-systems.com",
        }
    }
}

/// Checks a region name: lowercase letters, digits and hyphens, 2 to 32 characters. `field` names
/// where it came from, for the error.
pub(crate) fn check_region(field: &str, region: &str) -> Result<(), ConfigError> {
    let ok = (2..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field: field.to_owned(),
            value: region.to_owned(),
            problem: "is not a region name (2 to 32 lowercase letters, digits and hyphens)"
                .to_owned(),
            fix: "give a region such as eu-de or ap-southeast-1".to_owned(),
        })
    }
}

/// Checks an `http(s)://` URL without user info, query or fragment, and splits it into
/// `scheme://host[:port]` and the path, both without trailing slashes.
fn split_url<'v>(
    field: &str,
    value: &'v str,
    example: &str,
) -> Result<(&'v str, &'v str), ConfigError> {
    let invalid = |problem: &str| ConfigError::Invalid {
        field: field.to_owned(),
        value: without_user_info(value),
        problem: problem.to_owned(),
        fix: format!("give a URL such as {example}"),
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| invalid("is not an http:// or https:// URL"))?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("holds spaces or control characters"));
    }
    if value.contains(['?', '#']) {
        return Err(invalid("has a query or fragment"));
    }
    let host_len = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_len];
    if host.is_empty() || host.contains('@') {
        return Err(invalid("has no host (or has user info)"));
    }
    let split = value.len() - rest.len() + host_len;
    Ok((&value[..split], value[split..].trim_end_matches('/')))
}

/// A URL as an error may show it: user info (`user:password@`, a credential) becomes `…@`, as
/// `reimage_wire::Endpoint::parse` shows it.
fn without_user_info(url: &str) -> String {
    let start = url
        .find("://")
        .filter(|&i| {
            url[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        })
        .map_or(0, |i| i + 3);
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let shown = match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    };
    // A query may carry a token: never show it either.
    match shown.split_once(['?', '#']) {
        Some((before, _)) => format!("{before}?…"),
        None => shown,
    }
}

/// An ECS endpoint: an `http(s)://` URL, returned without trailing slashes.
pub(crate) fn ecs_base(field: &str, value: &str) -> Result<String, ConfigError> {
    let (origin, path) = split_url(field, value, "https://ecs.eu-de.otc.t-systems.com")?;
    Ok(format!("{origin}{path}"))
}

/// The IAM base URL: `value` with or without a trailing `/v3` (and slashes), returned without.
/// `field` names where it came from, for the error.
pub(crate) fn iam_base(field: &str, value: &str) -> Result<String, ConfigError> {
    let (origin, path) = split_url(field, value, "https://iam.eu-de.otc.t-systems.com/v3")?;
    let path = path
        .strip_suffix("/v3")
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

/// The EDIS auth base: a full URL ending in `/kvm/v2/get/auth` or a bare base, returned without
/// that path (`scheme://host[:port][/prefix]`). `field` names where it came from, for the error.
pub(crate) fn edis_auth_base(field: &str, value: &str) -> Result<String, ConfigError> {
    let (origin, path) = split_url(
        field,
        value,
        "https://session.edisglobal.com/kvm/v2/get/auth",
    )?;
    let path = path
        .strip_suffix(EDIS_AUTH_PATH)
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempHome;
    use crate::{Flags, Origin};

    #[test]
    fn region_endpoints_for_huawei_and_otc() {
        let home = TempHome::new();
        let r = home
            .resolve(&Flags::default(), &[("OS_REGION_NAME", "ap-southeast-1")])
            .unwrap();
        assert_eq!(r.ecs.cloud, Cloud::Huawei);
        assert_eq!(
            r.ecs.endpoint.as_deref(),
            Some("https://ecs.ap-southeast-1.myhuaweicloud.com")
        );
        assert_eq!(
            r.ecs.iam_endpoint.as_deref(),
            Some("https://iam.ap-southeast-1.myhuaweicloud.com")
        );
        assert_eq!(r.origins["endpoint"], Origin::Region);

        let flags = Flags {
            cloud: Some("otc".into()),
            region: Some("eu-de".into()),
            ..Flags::default()
        };
        let r = home.resolve(&flags, &[]).unwrap();
        assert_eq!(
            r.ecs.endpoint.as_deref(),
            Some("https://ecs.eu-de.otc.t-systems.com")
        );
        assert_eq!(
            r.ecs.iam_endpoint.as_deref(),
            Some("https://iam.eu-de.otc.t-systems.com")
        );

        let bad_region = Flags {
            region: Some("EU_DE".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&bad_region, &[]),
            "--region \"EU_DE\": is not a region name (2 to 32 lowercase letters, digits and \
             hyphens); give a region such as eu-de or ap-southeast-1"
        );
        for bad in ["e", &"a".repeat(33), "eu de", ""] {
            assert!(check_region("--region", bad).is_err(), "{bad:?}");
        }
        let bad_cloud = home.error(&Flags::default(), &[("REIMAGE_CLOUD", "aws")]);
        assert_eq!(
            bad_cloud,
            "REIMAGE_CLOUD \"aws\": is not a cloud reimage knows; use huawei or otc"
        );
    }

    #[test]
    fn iam_endpoint_with_or_without_v3() {
        let home = TempHome::new();
        for url in [
            "https://iam.eu-de.otc.t-systems.com/v3",
            "https://iam.eu-de.otc.t-systems.com/v3/",
            "https://iam.eu-de.otc.t-systems.com",
            "https://iam.eu-de.otc.t-systems.com/",
        ] {
            let r = home
                .resolve(
                    &Flags::default(),
                    &[("OS_AUTH_URL", url), ("OS_REGION_NAME", "eu-nl")],
                )
                .unwrap();
            assert_eq!(
                r.ecs.iam_endpoint.as_deref(),
                Some("https://iam.eu-de.otc.t-systems.com"),
                "{url}"
            );
            assert_eq!(r.origins["iam_endpoint"], Origin::Env("OS_AUTH_URL"));
        }
        // A prefix and a port are kept.
        assert_eq!(
            iam_base("x", "http://127.0.0.1:8080/iam/v3").unwrap(),
            "http://127.0.0.1:8080/iam"
        );
        // The flag beats OS_AUTH_URL.
        let flags = Flags {
            iam_endpoint: Some("http://127.0.0.1:9000/v3".into()),
            ..Flags::default()
        };
        let r = home
            .resolve(&flags, &[("OS_AUTH_URL", "https://iam.example/v3")])
            .unwrap();
        assert_eq!(r.ecs.iam_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        // Without any IAM setting or region, IAM is the ECS endpoint (the emulator serves both).
        let flags = Flags {
            endpoint: Some("http://127.0.0.1:8080/".into()),
            ..Flags::default()
        };
        let r = home.resolve(&flags, &[]).unwrap();
        assert_eq!(r.ecs.endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(r.ecs.iam_endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(r.origins["iam_endpoint"], Origin::EcsEndpoint);

        for bad in [
            "iam.example/v3",
            "ftp://iam.example",
            "https:///v3",
            "https://x/?a",
        ] {
            let error = home.error(&Flags::default(), &[("OS_AUTH_URL", bad)]);
            // A query is never shown: it may carry a token.
            let shown = bad.replace("?a", "?…");
            assert!(
                error.starts_with(&format!("OS_AUTH_URL {shown:?}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn edis_auth_url_forms() {
        let home = TempHome::new();
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.edis.auth_base, "https://session.edisglobal.com");
        assert_eq!(r.origins["edis_auth_base"], Origin::Default);
        for (url, base) in [
            (
                "https://session.edisglobal.com/kvm/v2/get/auth",
                "https://session.edisglobal.com",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            (
                "http://127.0.0.1:8080/kvm/v2/get/auth",
                "http://127.0.0.1:8080",
            ),
            (
                "https://proxy.example/edis/kvm/v2/get/auth/",
                "https://proxy.example/edis",
            ),
        ] {
            let r = home
                .resolve(&Flags::default(), &[("EDIS_AUTH_URL", url)])
                .unwrap();
            assert_eq!(r.edis.auth_base, base, "{url}");
        }
        let flags = Flags {
            edis_auth_url: Some("127.0.0.1:8080".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&flags, &[]),
            "edis --auth-url \"127.0.0.1:8080\": is not an http:// or https:// URL; give a URL \
             such as https://session.edisglobal.com/kvm/v2/get/auth"
        );
    }
}
