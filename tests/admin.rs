//! `otp-admin` against one moto server, through a recording proxy: `check` on pools, clients,
//! functions and senders with each trap gives exactly that finding, and none on the pool the
//! template makes; `attach` sends back every setting it read and changes only what it means to;
//! `detach` removes only this function's wiring; the binary's exit codes and JSON.
//!
//! AWS resets every setting an `UpdateUserPool` request omits; moto resets them to its own
//! defaults and ministack keeps them, so reading the pool back cannot show a dropped setting the
//! way AWS would. The preservation test therefore asserts on the request itself.

#[path = "admin/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::config::Credentials;
use cognito_email_otp::adapters::admin::{AdminAws, AttachRequest};
use cognito_email_otp::admin::checks::{self, Severity};
use cognito_email_otp::admin::wiring::{POOL_FIELDS, POOL_NOT_SENT, Refusal};
use cognito_email_otp::admin::{AdminError, Finding, FunctionArn, check};
use serde_json::{Value, json};
use support::{ACCOUNT, REGION, Setup, build, shared, template, template_client};

/// `otp-admin`'s AWS side, pointed at the proxy, authenticated as `access_key`.
async fn admin(access_key: &str) -> AdminAws {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&shared().proxy.endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access_key, "testing", None, None, "test"))
        // moto loads a service on its first call, which takes seconds on a busy machine.
        .timeout_config(TimeoutConfig::disabled())
        .load()
        .await;
    AdminAws::new(conf)
}

fn ids(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.id).collect()
}

/// Checks `setup` (as `access_key`) and asserts the findings are exactly `expected` ids, none for
/// a client; returns them.
async fn only(setup: &Setup, access_key: &str, expected: &[&str]) -> Vec<Finding> {
    let facts = admin(access_key)
        .await
        .gather(&setup.target())
        .await
        .unwrap();
    let findings = check(&facts);
    assert_eq!(ids(&findings), expected, "{findings:#?}");
    findings
}

#[tokio::test]
async fn the_pool_the_template_makes_has_no_finding() {
    let setup = build(template("tpl"));
    let facts = admin("testing")
        .await
        .gather(&setup.target())
        .await
        .unwrap();
    assert_eq!(facts.clients.len(), 1);
    assert_eq!(
        facts.ses.as_ref().unwrap().sender,
        format!("no-reply@{}", setup.sender_domain),
        "the sender comes from EMAIL_FROM"
    );
    assert_eq!(check(&facts), vec![]);
    // Without the function, against the documented defaults: still nothing.
    let mut target = setup.target();
    target.function = None;
    let facts = admin("testing").await.gather(&target).await.unwrap();
    assert!(facts.ses.is_none() && facts.function.is_none());
    assert_eq!(check(&facts), vec![]);
}

#[tokio::test]
async fn each_client_trap_gives_exactly_its_finding_for_that_client() {
    let mut spec = template("clients");
    spec.hosted_ui = true;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = template_client();
        f(&mut c);
        c
    };
    spec.clients = vec![
        ("clean".into(), template_client()),
        (
            "srp".into(),
            with(&|c| {
                c["ExplicitAuthFlows"] = json!([
                    "ALLOW_CUSTOM_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_USER_SRP_AUTH"
                ])
            }),
        ),
        (
            "password".into(),
            with(&|c| {
                c["ExplicitAuthFlows"] = json!([
                    "ALLOW_CUSTOM_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_USER_PASSWORD_AUTH"
                ])
            }),
        ),
        (
            "admin-password".into(),
            with(&|c| {
                c["ExplicitAuthFlows"] = json!([
                    "ALLOW_CUSTOM_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_ADMIN_USER_PASSWORD_AUTH"
                ])
            }),
        ),
        (
            "default-flows".into(),
            with(&|c| {
                c.as_object_mut().unwrap().remove("ExplicitAuthFlows");
            }),
        ),
        // The pool has no SignInPolicy: Cognito offers PASSWORD as the first factor.
        (
            "user-auth".into(),
            with(&|c| {
                c["ExplicitAuthFlows"] = json!([
                    "ALLOW_CUSTOM_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_USER_AUTH"
                ])
            }),
        ),
        (
            "hosted-ui".into(),
            with(&|c| {
                c["AllowedOAuthFlowsUserPoolClient"] = json!(true);
                c["AllowedOAuthFlows"] = json!(["code"]);
                c["AllowedOAuthScopes"] = json!(["openid", "email"]);
                c["CallbackURLs"] = json!(["https://app.example/callback"]);
                c["SupportedIdentityProviders"] = json!(["COGNITO"]);
            }),
        ),
        (
            "reads".into(),
            with(&|c| {
                c["ReadAttributes"] = json!(["email", "email_verified", "custom:authChallenge"])
            }),
        ),
        (
            "writes".into(),
            with(&|c| c["WriteAttributes"] = json!(["email", "custom:authChallenge"])),
        ),
        // What the console makes: every attribute readable and writable.
        (
            "console".into(),
            with(&|c| {
                c["ReadAttributes"] =
                    json!(["email", "email_verified", "name", "custom:authChallenge"]);
                c["WriteAttributes"] = json!(["email", "name", "custom:authChallenge"]);
            }),
        ),
        (
            "user-existence".into(),
            with(&|c| c["PreventUserExistenceErrors"] = json!("LEGACY")),
        ),
        (
            "short-session".into(),
            with(&|c| c["AuthSessionValidity"] = json!(3)),
        ),
        (
            "no-custom-auth".into(),
            with(&|c| c["ExplicitAuthFlows"] = json!(["ALLOW_REFRESH_TOKEN_AUTH"])),
        ),
    ];
    let setup = build(spec);
    let facts = admin("testing")
        .await
        .gather(&setup.target())
        .await
        .unwrap();
    assert_eq!(facts.clients.len(), 13);
    let findings = check(&facts);
    let got: BTreeSet<(String, &str)> = findings
        .iter()
        .map(|f| {
            (
                f.client_id
                    .clone()
                    .expect("every finding here is a client's"),
                f.id,
            )
        })
        .collect();
    let expected: BTreeSet<(String, &str)> = [
        ("srp", checks::CLIENT_PASSWORD_AUTH),
        ("password", checks::CLIENT_PASSWORD_AUTH),
        ("admin-password", checks::CLIENT_PASSWORD_AUTH),
        ("default-flows", checks::CLIENT_PASSWORD_AUTH),
        ("user-auth", checks::CLIENT_USER_AUTH_PASSWORD),
        ("hosted-ui", checks::CLIENT_HOSTED_UI),
        ("reads", checks::CLIENT_READS_STATE),
        ("writes", checks::CLIENT_WRITES_STATE),
        ("console", checks::CLIENT_READS_STATE),
        ("console", checks::CLIENT_WRITES_STATE),
        ("user-existence", checks::CLIENT_USER_EXISTENCE),
        ("short-session", checks::CLIENT_SESSION_SHORT),
        ("no-custom-auth", checks::CLIENT_NO_CUSTOM_AUTH),
    ]
    .into_iter()
    .map(|(n, id)| (setup.client(n), id))
    .collect();
    assert_eq!(got, expected, "{findings:#?}");
    assert_eq!(findings.len(), expected.len(), "one finding per trap");
    // Each names what it voids and fixes through attach, for that client alone.
    let srp = findings
        .iter()
        .find(|f| f.client_id.as_deref() == Some(setup.client("srp").as_str()))
        .unwrap();
    assert_eq!(srp.severity, Severity::Critical);
    assert!(
        srp.message.contains("ALLOW_USER_SRP_AUTH") && srp.message.contains("password alone"),
        "{}",
        srp.message
    );
    assert!(
        srp.fix
            .contains(&format!("--client-id {}", setup.client("srp")))
            && srp.fix.contains("otp-admin attach"),
        "{}",
        srp.fix
    );
    // Named clients only.
    let mut target = setup.target();
    target.client_ids = vec![setup.client("clean"), setup.client("reads")];
    let facts = admin("testing").await.gather(&target).await.unwrap();
    assert_eq!(ids(&check(&facts)), vec![checks::CLIENT_READS_STATE]);
}

#[tokio::test]
async fn pool_level_mfa_is_found() {
    let mut spec = template("mfa");
    spec.pool["MfaConfiguration"] = json!("ON");
    only(&build(spec), "testing", &[checks::POOL_MFA]).await;
}

#[tokio::test]
async fn email_changes_that_are_not_held_are_found() {
    let mut spec = template("email");
    spec.pool
        .as_object_mut()
        .unwrap()
        .remove("UserAttributeUpdateSettings");
    only(&build(spec), "testing", &[checks::POOL_EMAIL_CHANGE]).await;
}

#[tokio::test]
async fn recovery_by_email_is_found_under_mfa_only() {
    let mut spec = template("recovery");
    spec.pool["AccountRecoverySetting"] =
        json!({"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]});
    only(&build(spec), "testing", &[checks::POOL_RECOVERY_BY_EMAIL]).await;
    let mut spec = template("recovery-pl");
    spec.pool["AccountRecoverySetting"] =
        json!({"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]});
    spec.env.insert("AUTH_FLOW".into(), json!("passwordless"));
    only(&build(spec), "testing", &[]).await;
}

#[tokio::test]
async fn a_missing_slot_another_function_and_another_version_are_found() {
    let mut spec = template("slot-missing");
    spec.pool["LambdaConfig"]
        .as_object_mut()
        .unwrap()
        .remove("VerifyAuthChallengeResponse");
    let f = only(&build(spec), "testing", &[checks::TRIGGERS_MISSING]).await;
    assert!(
        f[0].message
            .starts_with("VerifyAuthChallengeResponse is not wired"),
        "{}",
        f[0].message
    );

    let mut spec = template("slot-other");
    spec.pool["LambdaConfig"]["VerifyAuthChallengeResponse"] = json!(format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT}:function:someone-elses"
    ));
    let f = only(&build(spec), "testing", &[checks::TRIGGERS_OTHER_FUNCTION]).await;
    assert!(f[0].fix.contains("--replace"), "{}", f[0].fix);

    let mut spec = template("slot-version");
    let versioned = format!("{}:3", spec.function);
    spec.pool["LambdaConfig"]["CreateAuthChallenge"] = json!(versioned);
    only(&build(spec), "testing", &[checks::TRIGGERS_OTHER_VERSION]).await;
}

#[tokio::test]
async fn without_a_function_the_slots_must_agree() {
    let mut spec = template("slot-mixed");
    spec.pool["LambdaConfig"]["CreateAuthChallenge"] = json!(format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT}:function:someone-elses"
    ));
    let setup = build(spec);
    let mut target = setup.target();
    target.function = None;
    let facts = admin("testing").await.gather(&target).await.unwrap();
    assert_eq!(ids(&check(&facts)), vec![checks::TRIGGERS_INCONSISTENT]);
}

#[tokio::test]
async fn a_missing_or_short_attribute_is_found_and_the_table_store_needs_none() {
    let mut spec = template("attr-missing");
    spec.pool["Schema"].as_array_mut().unwrap().pop();
    only(&build(spec), "testing", &[checks::ATTRIBUTE_MISSING]).await;

    let mut spec = template("attr-short");
    spec.pool["Schema"][1]["StringAttributeConstraints"]["MaxLength"] = json!("64");
    let f = only(&build(spec), "testing", &[checks::ATTRIBUTE_TOO_SHORT]).await;
    assert!(f[0].message.contains("at most 64"), "{}", f[0].message);
    // 256 characters hold the default SEND_LIMIT's state (about 130), not SEND_LIMIT=100's (632).
    let mut spec = template("attr-limit");
    spec.pool["Schema"][1]["StringAttributeConstraints"]["MaxLength"] = json!("256");
    spec.env.insert("SEND_LIMIT".into(), json!("100"));
    only(&build(spec), "testing", &[checks::ATTRIBUTE_TOO_SHORT]).await;

    let mut spec = template("attr-table");
    spec.pool["Schema"].as_array_mut().unwrap().pop();
    spec.env.insert("CHALLENGE_STORE".into(), json!("dynamodb"));
    spec.env
        .insert("CHALLENGE_TABLE".into(), json!("otp-challenges"));
    only(&build(spec), "testing", &[]).await;
}

#[tokio::test]
async fn a_session_shorter_than_the_functions_code_is_found() {
    // The client's 10 minutes are enough for the default 300 s, not for this function's 900 s.
    let mut spec = template("ttl");
    spec.env.insert("CODE_TTL_SECONDS".into(), json!("900"));
    let f = only(&build(spec), "testing", &[checks::CLIENT_SESSION_SHORT]).await;
    assert!(f[0].message.contains("900 s"), "{}", f[0].message);
}

#[tokio::test]
async fn the_functions_configuration_and_permission_are_checked() {
    let mut spec = template("fn-invalid");
    spec.env.insert("CODE_LENGTH".into(), json!("5"));
    let f = only(&build(spec), "testing", &[checks::FUNCTION_CONFIG_INVALID]).await;
    assert!(f[0].message.contains("CODE_LENGTH"), "{}", f[0].message);

    let mut spec = template("fn-key");
    spec.env.remove("CODE_HMAC_KEY_SECRET_ARN");
    spec.env.insert(
        "CODE_HMAC_KEY".into(),
        json!("a-key-that-anyone-can-read-0123456789"),
    );
    let f = only(&build(spec), "testing", &[checks::FUNCTION_KEY_IN_ENV]).await;
    assert!(
        !f[0].message.contains("a-key-that") && !f[0].fix.contains("a-key-that"),
        "never print the key"
    );

    let mut spec = template("perm-missing");
    spec.permission = None;
    let f = only(&build(spec), "testing", &[checks::PERMISSION_MISSING]).await;
    assert!(
        f[0].fix.starts_with("aws lambda add-permission")
            && f[0].fix.contains("--source-arn arn:aws:cognito-idp"),
        "{}",
        f[0].fix
    );

    let mut spec = template("perm-broad");
    spec.permission =
        Some(json!({"Action": "lambda:InvokeFunction", "Principal": "cognito-idp.amazonaws.com"}));
    only(&build(spec), "testing", &[checks::PERMISSION_UNSCOPED]).await;
}

#[tokio::test]
async fn the_senders_identity_and_the_sandbox_are_checked() {
    let setup = build(template("ses-unverified"));
    shared()
        .proxy
        .unverified
        .lock()
        .unwrap()
        .insert(setup.sender_domain.clone());
    only(&setup, "testing", &[checks::SES_IDENTITY_UNVERIFIED]).await;

    let mut spec = template("ses-missing");
    spec.identity = false;
    only(&build(spec), "testing", &[checks::SES_IDENTITY_MISSING]).await;

    let setup = build(template("ses-sandbox"));
    only(&setup, "sandbox", &[checks::SES_SANDBOX]).await;
    // --from overrides the function's EMAIL_FROM.
    let mut target = setup.target();
    target.sender = Some("Other <x@nowhere.example>".into());
    let facts = admin("testing").await.gather(&target).await.unwrap();
    assert_eq!(ids(&check(&facts)), vec![checks::SES_IDENTITY_MISSING]);
}

#[tokio::test]
async fn user_auth_without_password_oauth_without_domain_and_no_clients() {
    let mut spec = template("user-auth");
    spec.pool["Policies"]["SignInPolicy"] =
        json!({"AllowedFirstAuthFactors": ["EMAIL_OTP", "WEB_AUTHN"]});
    spec.clients[0].1["ExplicitAuthFlows"] = json!([
        "ALLOW_CUSTOM_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_AUTH"
    ]);
    only(&build(spec), "testing", &[checks::CLIENT_USER_AUTH]).await;

    let mut spec = template("oauth");
    spec.clients[0].1["AllowedOAuthFlowsUserPoolClient"] = json!(true);
    spec.clients[0].1["AllowedOAuthFlows"] = json!(["implicit"]);
    spec.clients[0].1["AllowedOAuthScopes"] = json!(["openid"]);
    spec.clients[0].1["CallbackURLs"] = json!(["https://app.example/cb"]);
    only(&build(spec), "testing", &[checks::CLIENT_OAUTH_NO_DOMAIN]).await;

    let mut spec = template("no-clients");
    spec.clients.clear();
    only(&build(spec), "testing", &[checks::POOL_NO_CLIENTS]).await;
}

#[tokio::test]
async fn what_cannot_be_checked_is_an_error_not_a_finding() {
    let setup = build(template("errors"));
    let aws = admin("testing").await;
    let mut target = setup.target();
    target.pool_id = format!("{REGION}_doesnotexist");
    assert!(matches!(
        aws.gather(&target).await,
        Err(AdminError::NoPool(_))
    ));
    let mut target = setup.target();
    target.client_ids = vec!["nosuchclient".into()];
    assert!(matches!(
        aws.gather(&target).await,
        Err(AdminError::NoClient { .. })
    ));
    let mut target = setup.target();
    target.function = Some(
        FunctionArn::parse(&format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:nothing-here"
        ))
        .unwrap(),
    );
    let e = aws.gather(&target).await.unwrap_err();
    assert!(
        matches!(e, AdminError::NoFunction(_)) && e.exit_code() == 2,
        "{e}"
    );
}

/// The binary, with the standard AWS variables pointing it at the proxy and nothing else.
fn otp_admin(args: &[&str]) -> (i32, String, String, std::time::Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_otp-admin"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &shared().proxy.endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn the_binary_exits_0_1_or_2_and_prints_json() {
    let clean = build(template("bin-clean"));
    // Warm moto's services first, so the timing below is otp-admin's, not moto's start-up.
    admin("testing")
        .await
        .gather(&clean.target())
        .await
        .unwrap();
    let (code, out, err, took) = otp_admin(&[
        "check",
        "--user-pool-id",
        &clean.pool_id,
        "--function-arn",
        clean.function.as_str(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No findings"), "{out}");
    eprintln!(
        "otp-admin check against moto (through the proxy): {} ms",
        took.as_millis()
    );

    let mut spec = template("bin-trap");
    spec.clients[0].1["ReadAttributes"] = json!(["email", "custom:authChallenge"]);
    spec.pool["MfaConfiguration"] = json!("OPTIONAL");
    let trap = build(spec);
    let (code, out, err, _) = otp_admin(&[
        "check",
        "--user-pool-id",
        &trap.pool_id,
        "--function-arn",
        trap.function.as_str(),
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let got: BTreeSet<(&str, &str, Option<&str>)> = findings
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
                f["client_id"].as_str(),
            )
        })
        .collect();
    let client = trap.client("app");
    assert_eq!(
        got,
        BTreeSet::from([
            ("pool-mfa-enabled", "critical", None),
            ("client-reads-state", "critical", Some(client.as_str())),
        ])
    );
    for f in findings {
        let keys: BTreeSet<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["id", "severity", "client_id", "message", "fix"])
        );
    }

    // attach prints its plan and changes nothing without --apply; with it, applies; then has
    // nothing left to do. A refusal exits 1.
    let mut spec = template("bin-attach");
    spec.pool["LambdaConfig"]
        .as_object_mut()
        .unwrap()
        .remove("CreateAuthChallenge");
    spec.pool["MfaConfiguration"] = json!("ON");
    let open = build(spec);
    let attach = [
        "attach",
        "--user-pool-id",
        &open.pool_id,
        "--function-arn",
        open.function.as_str(),
    ];
    let (code, out, err, _) = otp_admin(&attach);
    assert_eq!(code, 0, "{out}{err}");
    eprintln!("{out}");
    assert!(
        out.contains("Would change")
            && out.contains("wire CreateAuthChallenge")
            && out.contains("--turn-off-mfa")
            && out.contains("Nothing was changed"),
        "{out}"
    );
    assert!(
        shared()
            .proxy
            .calls("UpdateUserPool", &open.pool_id)
            .is_empty()
    );
    let (code, out, err, _) = otp_admin(&[&attach[..], &["--apply"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1. done") && out.ends_with("Done.\n"), "{out}");
    assert_eq!(
        shared().proxy.calls("UpdateUserPool", &open.pool_id).len(),
        1
    );
    assert_eq!(
        shared().proxy.calls("UpdateUserPool", &open.pool_id)[0].request["MfaConfiguration"],
        "ON",
        "not asked to turn it off"
    );
    let (code, out, _, _) = otp_admin(&[&attach[..], &["--apply"]].concat());
    assert!(code == 0 && out.starts_with("Nothing to change"), "{out}");
    let (code, _, err, _) = otp_admin(&[
        "attach",
        "--user-pool-id",
        &open.pool_id,
        "--function-arn",
        clean.function.as_str(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--replace"), "{err}");

    let (code, _, err, _) = otp_admin(&["check", "--user-pool-id", &format!("{REGION}_missing")]);
    assert_eq!(code, 2);
    assert!(err.contains("no user pool"), "{err}");
    let (code, _, err, _) = otp_admin(&[
        "attach",
        "--user-pool-id",
        &clean.pool_id,
        "--function-arn",
        "arn:aws:lambda:eu-west-1:12:function:x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("12 digits"), "{err}");
    let (code, _, err, _) = otp_admin(&["check", "--user-pool-id", &clean.pool_id, "--apply"]);
    assert_eq!(code, 2);
    assert!(err.contains("check does not take \"--apply\""), "{err}");
}

/// The rich pool's `DescribeUserPool` fields moto does not return are added by the proxy (it
/// echoes what CreateUserPool was given, but this SDK's newest members may be unknown to it), and
/// so are members this SDK version does not model at all, nested in objects it does: a raw copy
/// keeps them, SDK structs would drop them.
fn enrich(pool: &mut Value) {
    pool["KeyConfiguration"] = json!({"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")});
    pool["IssuerConfiguration"] = json!({"Type": "CUSTOM"});
    pool["AcrConfiguration"] = json!({"silver": {"AcrValue": "urn:acme:loa:2"}});
    pool["LambdaConfig"]["FutureTrigger"] = json!({"LambdaVersion": "V9_0", "LambdaArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:future")});
    pool["EmailConfiguration"]["FutureSetting"] = json!({"Enabled": true});
}

fn lambda_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

#[tokio::test]
async fn attach_sends_back_every_setting_it_read_and_changes_only_its_own() {
    let mut spec = template("rich");
    spec.permission = None;
    spec.pool = json!({
        "PoolName": format!("{}-users", spec.name),
        "Policies": {
            "PasswordPolicy": {"MinimumLength": 14, "RequireUppercase": true, "RequireLowercase": true, "RequireNumbers": true, "RequireSymbols": true, "PasswordHistorySize": 5, "TemporaryPasswordValidityDays": 3},
            "SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD"]}
        },
        "DeletionProtection": "ACTIVE",
        "LambdaConfig": {
            "PreSignUp": lambda_arn("their-pre-sign-up"),
            "CustomMessage": lambda_arn("their-messages"),
            "PostConfirmation": lambda_arn("their-welcome"),
            "PreAuthentication": lambda_arn("their-pre-auth"),
            "PostAuthentication": lambda_arn("their-post-auth"),
            "UserMigration": lambda_arn("their-migration"),
            "PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": lambda_arn("their-tokens")},
            "CustomEmailSender": {"LambdaVersion": "V1_0", "LambdaArn": lambda_arn("their-mailer")},
            "KMSKeyID": format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        },
        "AutoVerifiedAttributes": ["phone_number"],
        "UsernameAttributes": ["email"],
        "UsernameConfiguration": {"CaseSensitive": false},
        "SmsVerificationMessage": "Your Acme code is {####}",
        "EmailVerificationMessage": "Acme: your verification code is {####}",
        "EmailVerificationSubject": "Acme verification",
        "VerificationMessageTemplate": {"SmsMessage": "Acme code {####}", "EmailMessage": "Acme code {####}", "EmailSubject": "Acme code",
            "EmailMessageByLink": "Acme: {##Verify##}", "EmailSubjectByLink": "Acme link", "DefaultEmailOption": "CONFIRM_WITH_LINK"},
        "SmsAuthenticationMessage": "Acme sign-in {####}",
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["phone_number"]},
        "MfaConfiguration": "OPTIONAL",
        "DeviceConfiguration": {"ChallengeRequiredOnNewDevice": true, "DeviceOnlyRememberedOnUserPrompt": false},
        "EmailConfiguration": {"SourceArn": format!("arn:aws:ses:{REGION}:{ACCOUNT}:identity/acme.example"), "ReplyToEmailAddress": "help@acme.example",
            "EmailSendingAccount": "DEVELOPER", "From": "Acme <no-reply@acme.example>", "ConfigurationSet": "acme-tracking"},
        "SmsConfiguration": {"SnsCallerArn": format!("arn:aws:iam::{ACCOUNT}:role/cognito-sms"), "ExternalId": "acme-external", "SnsRegion": REGION},
        "UserPoolTags": {"team": "identity", "cost-centre": "42"},
        // No UnusedAccountValidityDays: the SDK's AdminCreateUserConfigType would send 0 for it.
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": true,
            "InviteMessageTemplate": {"SMSMessage": "Acme: {username} {####}", "EmailMessage": "Welcome {username}: {####}", "EmailSubject": "Welcome to Acme"}},
        "Schema": [
            {"Name": "email", "AttributeDataType": "String", "Required": true, "Mutable": true},
            {"Name": "tenant", "AttributeDataType": "String", "Mutable": false}
        ],
        "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED", "AdvancedSecurityAdditionalFlows": {"CustomAuthMode": "AUDIT"}},
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_phone_number", "Priority": 1}]},
        "UserPoolTier": "PLUS"
    });
    let setup = build(spec);
    let proxy = &shared().proxy;
    proxy.rewrite_pool(&setup.pool_id, enrich);
    let aws = admin("testing").await;
    let request = AttachRequest {
        pool_id: setup.pool_id.clone(),
        function: setup.function.clone(),
        client_ids: Vec::new(),
        pre_sign_up: false,
        replace: false,
        turn_off_mfa: false,
        admin_only_recovery: false,
    };

    // The plan alone changes nothing.
    let plan = aws.plan_attach(&request).await.unwrap();
    // The calls that change something, about this pool or its function, in order.
    let writes = |p: &support::Proxy| {
        p.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                e.op.contains(&setup.function_name)
                    || e.request.to_string().contains(&setup.pool_id)
            })
            .map(|e| e.op.clone())
            .filter(|op| {
                !op.starts_with("Describe") && !op.starts_with("List") && !op.starts_with("GET")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(writes(proxy), Vec::<String>::new());
    assert!(
        plan.pool
            .notes
            .iter()
            .any(|n| n.contains("OPTIONAL") && n.contains("--turn-off-mfa")),
        "{:?}",
        plan.pool.notes
    );

    aws.apply(&plan, |_| {}).await.unwrap();
    assert_eq!(
        writes(proxy),
        vec![
            "AddCustomAttributes".to_owned(),
            format!(
                "POST /2015-03-31/functions/{}/policy",
                setup.function.as_str().replace(':', "%3A")
            ),
            "UpdateUserPool".to_owned(),
        ],
        "attribute and permission before the pool is wired to the function"
    );

    let updates = proxy.calls("UpdateUserPool", &setup.pool_id);
    assert_eq!(updates[0].status, 200, "{:?}", updates[0].response);
    let sent = updates[0].request.as_object().unwrap().clone();
    // The answer the update was built from: the last DescribeUserPool before it.
    let log = proxy.log.lock().unwrap().clone();
    let update_at = log
        .iter()
        .position(|e| e.op == "UpdateUserPool" && e.request["UserPoolId"] == setup.pool_id)
        .unwrap();
    let read = log[..update_at]
        .iter()
        .rev()
        .find(|e| e.op == "DescribeUserPool" && e.request["UserPoolId"] == setup.pool_id)
        .unwrap()
        .response["UserPool"]
        .as_object()
        .unwrap()
        .clone();

    // The rich pool exercises every field UpdateUserPool takes.
    let mapped: Vec<&str> = POOL_FIELDS
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| read.contains_key(*r))
        .collect();
    assert_eq!(
        mapped,
        POOL_FIELDS.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        "every mapped field is in the answer"
    );
    // Everything else it returned is read-only, and not sent.
    for k in read
        .keys()
        .filter(|k| !POOL_FIELDS.iter().any(|(r, _)| r == k))
    {
        assert!(
            POOL_NOT_SENT.contains(&k.as_str()),
            "{k} is neither sent nor known read-only"
        );
        assert!(!sent.contains_key(k), "{k} is read-only and was sent");
    }

    let changed = [
        "LambdaConfig",
        "UserAttributeUpdateSettings",
        "AutoVerifiedAttributes",
    ];
    for (read_name, sent_name) in POOL_FIELDS {
        if changed.contains(sent_name) {
            continue;
        }
        assert_eq!(
            sent.get(*sent_name),
            read.get(*read_name),
            "{read_name} -> {sent_name} is sent back as read"
        );
    }
    // The fields it means to change: everything read, plus its own.
    let mut lambda = read["LambdaConfig"].as_object().unwrap().clone();
    for slot in checks::CHALLENGE_SLOTS {
        lambda.insert(slot.into(), json!(setup.function.as_str()));
    }
    assert_eq!(
        sent["LambdaConfig"],
        Value::Object(lambda),
        "other triggers, PreSignUp and unknown members kept"
    );
    assert_eq!(
        sent["UserAttributeUpdateSettings"],
        json!({"AttributesRequireVerificationBeforeUpdate": ["phone_number", "email"]})
    );
    assert_eq!(
        sent["AutoVerifiedAttributes"],
        json!(["phone_number", "email"])
    );
    // Nothing it did not read.
    let allowed: BTreeSet<&str> = std::iter::once("UserPoolId")
        .chain(
            POOL_FIELDS
                .iter()
                .filter(|(r, _)| read.contains_key(*r))
                .map(|(_, s)| *s),
        )
        .collect();
    for k in sent.keys() {
        assert!(allowed.contains(k.as_str()), "{k} was sent but not read");
    }
    assert_eq!(sent["UserPoolId"], setup.pool_id);
    assert!(
        sent["AdminCreateUserConfig"]
            .get("UnusedAccountValidityDays")
            .is_none(),
        "no SDK default added"
    );
    assert_eq!(
        sent["LambdaConfig"]["FutureTrigger"],
        read["LambdaConfig"]["FutureTrigger"]
    );
    assert_eq!(
        sent["EmailConfiguration"]["FutureSetting"],
        json!({"Enabled": true})
    );
    assert_eq!(sent["PoolName"], read["Name"]);

    let added = proxy.calls("AddCustomAttributes", &setup.pool_id);
    assert_eq!(
        added[0].request["CustomAttributes"],
        json!([{"Name": "authChallenge", "AttributeDataType": "String", "Mutable": true,
        "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}}])
    );

    // A second run changes nothing and sends no update.
    let again = aws.plan_attach(&request).await.unwrap();
    assert!(again.is_empty(), "{:?}", again.steps());
    aws.apply(&again, |_| panic!("nothing to do"))
        .await
        .unwrap();
    assert_eq!(proxy.calls("UpdateUserPool", &setup.pool_id).len(), 1);

    // What is left is what attach leaves on purpose: MFA (not asked) and the client (not named).
    let facts = aws.gather(&setup.target()).await.unwrap();
    let left: BTreeSet<&str> = check(&facts).iter().map(|f| f.id).collect();
    assert!(left.contains(checks::POOL_MFA), "{left:?}");
    for fixed in [
        checks::TRIGGERS_MISSING,
        checks::ATTRIBUTE_MISSING,
        checks::POOL_EMAIL_CHANGE,
        checks::PERMISSION_MISSING,
    ] {
        assert!(!left.contains(fixed), "{fixed} still found: {left:?}");
    }
}

#[tokio::test]
async fn attach_refuses_a_slot_another_function_holds_unless_replace() {
    let mut spec = template("held");
    let other = lambda_arn("legacy-otp");
    spec.pool["LambdaConfig"]["VerifyAuthChallengeResponse"] = json!(other);
    let setup = build(spec);
    let aws = admin("testing").await;
    let mut request = AttachRequest {
        pool_id: setup.pool_id.clone(),
        function: setup.function.clone(),
        client_ids: Vec::new(),
        pre_sign_up: true,
        replace: false,
        turn_off_mfa: false,
        admin_only_recovery: false,
    };
    let e = aws.plan_attach(&request).await.unwrap_err();
    assert!(
        matches!(&e, AdminError::Refused(Refusal::SlotsHeld(s)) if s == &[("VerifyAuthChallengeResponse".to_owned(), other.clone())]),
        "{e}"
    );
    assert_eq!(e.exit_code(), 1);
    request.replace = true;
    let plan = aws.plan_attach(&request).await.unwrap();
    assert_eq!(
        plan.pool.changes,
        vec![format!(
            "replace VerifyAuthChallengeResponse: {other} -> {}",
            setup.function
        )]
    );
    aws.apply(&plan, |_| {}).await.unwrap();
    let sent = &proxy_update(&setup.pool_id)["LambdaConfig"];
    assert_eq!(sent["VerifyAuthChallengeResponse"], setup.function.as_str());
    assert_eq!(sent["PreSignUp"], setup.function.as_str());

    // A function that would not start is not wired.
    let mut spec = template("broken-fn");
    spec.env.insert("CODE_LENGTH".into(), json!("5"));
    spec.pool["LambdaConfig"] = json!({});
    let broken = build(spec);
    request.pool_id = broken.pool_id.clone();
    request.function = broken.function.clone();
    let e = aws.plan_attach(&request).await.unwrap_err();
    assert!(
        matches!(&e, AdminError::Refused(Refusal::FunctionConfig(m)) if m.contains("CODE_LENGTH")),
        "{e}"
    );
}

fn proxy_update(pool_id: &str) -> Value {
    shared()
        .proxy
        .calls("UpdateUserPool", pool_id)
        .last()
        .unwrap()
        .request
        .clone()
}

#[tokio::test]
async fn attach_fixes_named_clients_only_and_keeps_their_other_settings() {
    let mut spec = template("fix-clients");
    spec.hosted_ui = true;
    let console = json!({
        "GenerateSecret": true,
        "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"],
        "ReadAttributes": ["email", "email_verified", "name", "custom:authChallenge"],
        "WriteAttributes": ["email", "name", "custom:authChallenge"],
        "RefreshTokenValidity": 7, "AccessTokenValidity": 30, "IdTokenValidity": 30,
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        "AllowedOAuthFlowsUserPoolClient": true, "AllowedOAuthFlows": ["code"], "AllowedOAuthScopes": ["openid"],
        "CallbackURLs": ["https://app.example/cb"], "LogoutURLs": ["https://app.example/out"],
        "SupportedIdentityProviders": ["COGNITO"], "EnableTokenRevocation": true
    });
    spec.clients = vec![("web".into(), console.clone()), ("backend".into(), console)];
    let setup = build(spec);
    let aws = admin("testing").await;
    let plan = aws
        .plan_attach(&AttachRequest {
            pool_id: setup.pool_id.clone(),
            function: setup.function.clone(),
            client_ids: vec![setup.client("web")],
            pre_sign_up: false,
            replace: false,
            turn_off_mfa: false,
            admin_only_recovery: false,
        })
        .await
        .unwrap();
    assert!(
        plan.pool.update.is_none() && plan.add_permission.is_none(),
        "the pool is already wired"
    );
    aws.apply(&plan, |_| {}).await.unwrap();
    let facts = aws.gather(&setup.target()).await.unwrap();
    let findings = check(&facts);
    assert!(
        findings
            .iter()
            .all(|f| f.client_id.as_deref() == Some(setup.client("backend").as_str())),
        "only the unnamed client is left: {findings:#?}"
    );
    assert!(!findings.is_empty());

    let log = shared().proxy.log.lock().unwrap().clone();
    let web = setup.client("web");
    let sent = log
        .iter()
        .rev()
        .find(|e| e.op == "UpdateUserPoolClient" && e.request["ClientId"] == web)
        .unwrap()
        .request
        .clone();
    let read = log
        .iter()
        .find(|e| e.op == "DescribeUserPoolClient" && e.request["ClientId"] == web)
        .unwrap()
        .response["UserPoolClient"]
        .clone();
    assert!(
        log.iter().all(|e| !(e.op == "UpdateUserPoolClient"
            && e.request["ClientId"] == setup.client("backend")))
    );
    for kept in [
        "ClientName",
        "RefreshTokenValidity",
        "AccessTokenValidity",
        "IdTokenValidity",
        "TokenValidityUnits",
        "CallbackURLs",
        "LogoutURLs",
        "SupportedIdentityProviders",
        "EnableTokenRevocation",
    ] {
        assert_eq!(sent[kept], read[kept], "{kept}");
    }
    assert!(sent.get("ClientSecret").is_none());
    assert_eq!(
        sent["ExplicitAuthFlows"],
        json!(["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    );
    assert_eq!(
        sent["ReadAttributes"],
        json!(["email", "email_verified", "name"])
    );
    assert_eq!(sent["AllowedOAuthFlowsUserPoolClient"], json!(false));
    drop(log);

    // A second run finds the named client fixed.
    let again = aws
        .plan_attach(&AttachRequest {
            pool_id: setup.pool_id.clone(),
            function: setup.function.clone(),
            client_ids: vec![web],
            pre_sign_up: false,
            replace: false,
            turn_off_mfa: false,
            admin_only_recovery: false,
        })
        .await
        .unwrap();
    assert!(again.is_empty(), "{:?}", again.steps());
}

#[tokio::test]
async fn detach_removes_only_this_functions_wiring() {
    let mut spec = template("detach");
    spec.pool["LambdaConfig"]["PostConfirmation"] = json!(lambda_arn("their-welcome"));
    let setup = build(spec);
    let aws = admin("testing").await;
    let plan = aws
        .plan_detach(&setup.pool_id, &setup.function)
        .await
        .unwrap();
    assert_eq!(
        plan.remove_permissions,
        vec![format!(
            "cognito-{}",
            setup.function_name.trim_start_matches("otp-")
        )]
    );
    aws.apply(&plan, |_| {}).await.unwrap();
    let sent = proxy_update(&setup.pool_id);
    assert_eq!(
        sent["LambdaConfig"],
        json!({"PostConfirmation": lambda_arn("their-welcome")})
    );
    let read = aws.describe_pool(&setup.pool_id).await.unwrap();
    for kept in [
        "UserAttributeUpdateSettings",
        "AccountRecoverySetting",
        "Policies",
        "DeletionProtection",
    ] {
        assert_eq!(sent[kept], read[kept], "{kept}");
    }
    let facts = aws.gather(&setup.target()).await.unwrap();
    let left: BTreeSet<&str> = check(&facts).iter().map(|f| f.id).collect();
    assert_eq!(
        left,
        BTreeSet::from([checks::TRIGGERS_MISSING, checks::PERMISSION_MISSING])
    );
    assert!(
        aws.plan_detach(&setup.pool_id, &setup.function)
            .await
            .unwrap()
            .is_empty(),
        "a second detach changes nothing"
    );
}
