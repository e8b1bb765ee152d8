//! A moto user pool set up the way the product expects it: the challenge attribute declared, one
//! user with an email address, and a verified SES sender. Plus Cognito's own read of a user
//! (AdminGetUser), which the simulator performs before every trigger.

use std::collections::BTreeMap;

use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AttributeType, SchemaAttributeType, StringAttributeConstraintsType,
};
use cognito_email_otp::adapters::aws::AwsContext;
use cognito_email_otp::simulator::Directory;

pub const SENDER: &str = "no-reply@acme.example";
pub const EMAIL: &str = "maria.rossi@example.org";
/// The username of the seeded user: a `sub`-style UUID, as pools with email sign-in use.
pub const USERNAME: &str = "5c2e9a14-7b31-4f0e-9d6a-1f8b3c0e7a52";

pub type Cognito = aws_sdk_cognitoidentityprovider::Client;

/// A pool with the challenge attribute, one user ([`USERNAME`], [`EMAIL`]) and a verified sender.
pub async fn set_up(aws: &AwsContext) -> (Cognito, String, String) {
    // The test's own calls wait as long as moto needs: its first call to a service loads that
    // service (seconds on a loaded machine), which the function's 1.6 s cap is not meant for.
    let conf = aws
        .sdk_config()
        .await
        .to_builder()
        .timeout_config(aws_config::timeout::TimeoutConfig::disabled())
        .build();
    let cognito = Cognito::new(&conf);
    let ses = aws_sdk_sesv2::Client::new(&conf);
    ses.create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let schema = SchemaAttributeType::builder()
        .name("authChallenge")
        .attribute_data_type(AttributeDataType::String)
        .mutable(true)
        .string_attribute_constraints(
            StringAttributeConstraintsType::builder()
                .max_length("2048")
                .build(),
        )
        .build();
    let pool = cognito
        .create_user_pool()
        .pool_name("otp-test")
        .schema(schema)
        .send()
        .await
        .unwrap();
    let pool_id = pool.user_pool().unwrap().id().unwrap().to_owned();
    add_user(&cognito, &pool_id, USERNAME, EMAIL).await;
    (cognito, pool_id, USERNAME.to_owned())
}

/// Creates a user with an unverified `email`.
pub async fn add_user(cognito: &Cognito, pool_id: &str, username: &str, email: &str) {
    let attr = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .unwrap()
    };
    cognito
        .admin_create_user()
        .user_pool_id(pool_id)
        .username(username)
        .user_attributes(attr("email", email))
        .user_attributes(attr("email_verified", "false"))
        .send()
        .await
        .unwrap();
}

/// Reads users back from the pool before each trigger, as Cognito does (AdminGetUser).
#[derive(Debug, Clone)]
pub struct PoolDirectory {
    pub cognito: Cognito,
    pub pool_id: String,
}

impl Directory for PoolDirectory {
    async fn attributes(&self, username: &str) -> Option<BTreeMap<String, String>> {
        let user = self
            .cognito
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .send()
            .await
            .ok()?;
        Some(
            user.user_attributes()
                .iter()
                .map(|a| {
                    (
                        a.name().to_owned(),
                        a.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        )
    }
}

/// The attributes of an existing user.
pub async fn attributes(
    cognito: &Cognito,
    pool_id: &str,
    username: &str,
) -> BTreeMap<String, String> {
    PoolDirectory {
        cognito: cognito.clone(),
        pool_id: pool_id.to_owned(),
    }
    .attributes(username)
    .await
    .expect("the user exists")
}

/// Sets one attribute of a user, as an admin (or the user's own UpdateUserAttributes) would.
pub async fn set_attribute(
    cognito: &Cognito,
    pool_id: &str,
    username: &str,
    name: &str,
    value: &str,
) {
    cognito
        .admin_update_user_attributes()
        .user_pool_id(pool_id)
        .username(username)
        .user_attributes(
            AttributeType::builder()
                .name(name)
                .value(value)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Moves the user's stored challenge state `secs` into the past (issue, expiry and send times),
/// as if that much time had gone by, so a cooldown or a window passes without waiting for it.
/// The binary reads the real clock; the state is what it compares the clock with. The active
/// code's hash is bound to its times, so it is recomputed for `code` with the test key, and the
/// code still answers (without `code` the aged code can no longer be answered).
pub async fn age_state(
    cognito: &Cognito,
    pool_id: &str,
    username: &str,
    secs: u32,
    code: Option<&str>,
) {
    use cognito_email_otp::domain::state::ChallengeState;

    let attrs = attributes(cognito, pool_id, username).await;
    let Some(mut state) = attrs
        .get("custom:authChallenge")
        .and_then(|v| ChallengeState::decode(v))
    else {
        return;
    };
    age(&mut state, &attrs["email"], pool_id, username, secs, code);
    set_attribute(
        cognito,
        pool_id,
        username,
        "custom:authChallenge",
        &state.encode(),
    )
    .await;
}

/// Moves `state` `secs` into the past; with `code`, re-binds its digest to the moved times (the
/// code must have gone to `email`).
pub fn age(
    state: &mut cognito_email_otp::domain::state::ChallengeState,
    email: &str,
    pool_id: &str,
    username: &str,
    secs: u32,
    code: Option<&str>,
) {
    use cognito_email_otp::domain::code::{Binding, CodeHasher, OtpCode};
    use cognito_email_otp::domain::email::EmailAddress;

    for t in &mut state.sends {
        *t -= secs;
    }
    if let Some(a) = state.active.as_mut() {
        a.issued_at -= secs;
        a.expires_at -= secs;
        if let (Some(code), Some(dest)) = (code, a.destination) {
            let hasher = CodeHasher::new(super::KEY.as_bytes());
            let email = EmailAddress::parse(email).unwrap();
            assert_eq!(
                dest,
                hasher.destination_tag(&email),
                "the code went to this address"
            );
            a.digest = hasher.digest(
                &Binding {
                    pool_id,
                    username,
                    nonce: &a.nonce,
                    issued_at: a.issued_at,
                    expires_at: a.expires_at,
                    destination: &dest,
                },
                &OtpCode::from_digits(code).unwrap(),
            );
        }
    }
}
