//! The exact `Debug` text of every core type that holds a secret: no password, and no user data
//! (which often holds passwords), ever reaches a log through `{:?}`.

use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, ImageId,
    KeyPairName, Login, RootPassword, UserData, UserId,
};

const SECRET: &str = "Sentinel-Pw-42";

#[test]
fn admin_password() {
    let p = AdminPassword::new(SECRET).unwrap();
    assert_eq!(format!("{p:?}"), "AdminPassword([REDACTED])");
    assert_eq!(format!("{p:#?}"), "AdminPassword([REDACTED])");
}

#[test]
fn root_password() {
    assert_eq!(
        format!("{:?}", RootPassword::new(SECRET).unwrap()),
        "RootPassword([REDACTED])"
    );
}

#[test]
fn edis_reinstall() {
    let input = EdisReinstall::new(
        EdisImage::new("debian-bullseye").unwrap(),
        RootPassword::new(SECRET).unwrap(),
    )
    .with_user_data(UserData::from(format!(
        "#cloud-config\npassword: {SECRET}\n"
    )));
    assert_eq!(
        format!("{input:?}"),
        "EdisReinstall { image: EdisImage(\"debian-bullseye\"), password: RootPassword([REDACTED]), \
         user_data: Some(UserData(39 bytes)) }"
    );
}

#[test]
fn ecs_inputs() {
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new(SECRET).unwrap())
        .user_data(UserData::from(format!(
            "#cloud-config\npassword: {SECRET}\n"
        )))
        .stop_server(true)
        .build()
        .unwrap();
    assert_eq!(
        format!("{:?}", EcsReinstall::new(spec.clone())),
        "EcsReinstall { spec: EcsOsSpec { login: Password(AdminPassword([REDACTED])), \
         user_data: Some(UserData(39 bytes)), stop_server: true, byol: false } }"
    );
    let change = EcsChangeOs::new(
        ImageId::new("e215580f-73ad-429d-b6f2-5433947433b0").unwrap(),
        spec,
    );
    let text = format!("{change:?}");
    assert!(text.starts_with(
        "EcsChangeOs { image_id: ImageId(\"e215580f-73ad-429d-b6f2-5433947433b0\"), spec: "
    ));
    assert!(!text.contains(SECRET));

    let key = Login::KeyPair {
        name: KeyPairName::new("KeyPair-350b").unwrap(),
        user_id: UserId::new("7e25b1da389f4697a79df3a0e5bd494e").unwrap(),
    };
    assert_eq!(
        format!("{key:?}"),
        "KeyPair { name: KeyPairName(\"KeyPair-350b\"), user_id: UserId(\"7e25b1da389f4697a79df3a0e5bd494e\") }"
    );
}

#[test]
fn builder_holding_a_password() {
    let b = EcsOsSpec::builder().adminpass(AdminPassword::new(SECRET).unwrap());
    assert!(!format!("{b:?}").contains(SECRET));
    assert!(!format!("{b:#?}").contains(SECRET));
}
