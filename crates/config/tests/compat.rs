//! A config file written for reimage 0.1 (`tests/data/config-v0.1.toml`, every key across four
//! profiles) is still read the same way: each profile resolves to the values it held then.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use reimage_config::{EcsAuth, Env, Flags, Resolved, resolve};
use secrecy::ExposeSecret;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn profile(name: Option<&str>) -> Resolved {
    let mut flags = Flags::default();
    flags.config = Some(data().join("config-v0.1.toml"));
    flags.profile = name.map(str::to_owned);
    resolve(&flags, &Env::default(), None, &mut std::io::empty()).unwrap()
}

#[test]
fn the_default_profile_is_otc_prod_with_an_iam_password() {
    let r = profile(None);
    assert_eq!(r.source.profile.as_deref(), Some("otc-prod"));
    assert_eq!(r.ecs.region.as_deref(), Some("eu-de"));
    assert_eq!(
        r.ecs_endpoint().unwrap(),
        "https://ecs.eu-de.otc.t-systems.com"
    );
    assert_eq!(
        r.iam_endpoint().unwrap(),
        "https://iam.eu-de.otc.t-systems.com"
    );
    assert_eq!(r.project_id().unwrap(), "0123456789abcdef0123456789abcdef");
    let EcsAuth::Password {
        username,
        password,
        domain,
    } = r.ecs_auth().unwrap()
    else {
        panic!("an IAM password");
    };
    assert_eq!(username, "alice");
    assert_eq!(domain, "OTC-EU-DE-00000000001000000001");
    // A relative *_file is relative to the config file's directory; one newline is removed.
    assert_eq!(password.expose_secret(), "otc-prod-password");
    assert_eq!(r.ecs.ca_file, Some(data().join("corp-ca.pem")));
}

#[test]
fn the_aksk_profile_signs_with_a_temporary_key() {
    let r = profile(Some("huawei-aksk"));
    assert_eq!(
        r.ecs_endpoint().unwrap(),
        "https://ecs.ap-southeast-1.myhuaweicloud.com"
    );
    assert_eq!(
        r.iam_endpoint().unwrap(),
        "https://iam.ap-southeast-1.myhuaweicloud.com"
    );
    assert_eq!(r.ecs.project_name.as_deref(), Some("ap-southeast-1"));
    let EcsAuth::AkSk {
        ak,
        sk,
        security_token,
    } = r.ecs_auth().unwrap()
    else {
        panic!("AK/SK");
    };
    assert_eq!(ak, "AKEXAMPLE0123456789");
    assert_eq!(sk.expose_secret(), "huawei-secret-key");
    assert_eq!(
        security_token
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some("temporary-security-token")
    );
}

#[test]
fn the_edis_and_lab_profiles() {
    let r = profile(Some("edis"));
    let (email, password) = r.edis_credentials().unwrap();
    assert_eq!(email, "ops@example.com");
    assert_eq!(password.expose_secret(), "edis-account-password");
    assert_eq!(r.edis.auth_base, "https://session.edisglobal.com");

    let r = profile(Some("lab"));
    assert_eq!(r.ecs_endpoint().unwrap(), "http://127.0.0.1:8080");
    assert_eq!(r.iam_endpoint().unwrap(), "http://127.0.0.1:8080");
    // Both credentials are set: AK/SK wins, as it always has.
    assert!(matches!(
        r.ecs_auth().unwrap(),
        EcsAuth::AkSk { ak: "LABAK", .. }
    ));
    let (email, password) = r.edis_credentials().unwrap();
    assert_eq!(email, "lab@example.com");
    assert_eq!(password.expose_secret(), "lab-edis-password");
    assert_eq!(r.edis.auth_base, "http://127.0.0.1:8080");
}
