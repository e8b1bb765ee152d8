//! The AWS adapters through the real SDK clients, over real HTTP: moto server for SES v2 and
//! Cognito, and a fault server for what moto cannot do (throttling, 5xx, endpoints that never
//! answer). Also whole sign-ins of both flows through the dispatcher on these adapters.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::types::AttributeType;
use aws_sdk_dynamodb::types::AttributeValue;
use cognito_email_otp::adapters::aws::AwsContext;
use cognito_email_otp::adapters::cognito::CognitoStore;
use cognito_email_otp::adapters::dynamo::{DynamoStore, partition_key};
use cognito_email_otp::adapters::ses::SesMailer;
use cognito_email_otp::domain::code::OtpCode;
use cognito_email_otp::domain::email::{EmailAddress, Sender};
use cognito_email_otp::domain::message::{
    self, Email, LinkBase, RenderedEmail, SignInLink, bundled_locales,
};
use cognito_email_otp::domain::policy::UserRef;
use cognito_email_otp::domain::state::ChallengeState;
use cognito_email_otp::ports::{
    ChallengeStore, FailureKind, Mailer, OutgoingEmail, Snapshot, StateWrite, Stored,
    StoredTemplate, Version,
};
use cognito_email_otp::simulator::{CognitoSim, SignInError, Step, code_from_email, wrong_code};
use cognito_email_otp::telemetry::MetricsSink;
use cognito_email_otp::triggers::App;
use serde_json::{Value, json};
use support::OffsetClock;
use support::moto::{CognitoFault, FaultServer, Moto, SesFault, aws_at};
use support::pool::{Cognito, EMAIL, PoolDirectory, SENDER, attributes, set_up};

type AwsApp = App<SesMailer, CognitoStore, OffsetClock>;

/// The dispatcher on the SES and Cognito adapters.
fn aws_app(
    aws: &Arc<AwsContext>,
    config: cognito_email_otp::config::Config,
    clock: &OffsetClock,
) -> AwsApp {
    App::new(
        config,
        mailer(aws.clone()),
        CognitoStore::new(aws.clone(), "custom:authChallenge".into()),
        clock.clone(),
    )
    .with_metrics(MetricsSink::discard())
}

/// Cognito played against the moto pool.
fn pool_sim<'a>(
    app: &'a AwsApp,
    cognito: &'a Cognito,
    pool_id: &'a str,
) -> CognitoSim<&'a AwsApp, PoolDirectory> {
    CognitoSim {
        invoker: app,
        directory: PoolDirectory {
            cognito: cognito.clone(),
            pool_id: pool_id.to_owned(),
        },
        pool_id: pool_id.to_owned(),
        client_id: "client".into(),
    }
}

fn mailer(aws: Arc<AwsContext>) -> SesMailer {
    SesMailer::new(
        aws,
        &Sender::parse(&format!("Acme <{SENDER}>")).unwrap(),
        None,
    )
}

/// The bundled English email with `subject` (or the default one).
fn render(subject: Option<&str>, code: &OtpCode, minutes: u32) -> RenderedEmail {
    message::render(&Email {
        locale: &bundled_locales()[0],
        app_name: None,
        subject,
        code_in_subject: false,
        code,
        minutes,
        link: None,
    })
}

#[tokio::test]
async fn ses_sends_text_and_html_with_the_code() {
    let moto = Moto::start();
    let aws = moto.aws();
    set_up(&aws).await;
    let code = OtpCode::from_digits("482913").unwrap();
    let rendered = render(Some("Your Acme code"), &code, 5);
    let to = EmailAddress::parse(EMAIL).unwrap();
    let m = mailer(aws);
    assert!(!m.is_initialized(), "the client is built on first use");
    m.send(&OutgoingEmail {
        to: &to,
        code: &code,
        minutes: 5,
        rendered: &rendered,
        template: None,
    })
    .await
    .unwrap();
    assert!(m.is_initialized());
    let sent = moto.sent_emails();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["source"], "\"Acme\" <no-reply@acme.example>");
    assert_eq!(sent[0]["destinations"]["ToAddresses"], json!([EMAIL]));
    assert_eq!(sent[0]["subject"], "Your Acme code");
    // moto keeps the HTML part when both are sent.
    let body = sent[0]["body"].as_str().unwrap();
    assert!(
        body.contains("482913") && body.contains("5 minutes"),
        "{body}"
    );
}

#[tokio::test]
async fn ses_refusing_an_unverified_sender_is_a_rejection() {
    let moto = Moto::start();
    let aws = moto.aws();
    let m = SesMailer::new(
        aws,
        &Sender::parse("unverified@nowhere.example").unwrap(),
        None,
    );
    let code = OtpCode::from_digits("482913").unwrap();
    let rendered = render(None, &code, 5);
    let to = EmailAddress::parse(EMAIL).unwrap();
    let err = m
        .send(&OutgoingEmail {
            to: &to,
            code: &code,
            minutes: 5,
            rendered: &rendered,
            template: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Rejected, "{err}");
    assert!(!err.detail.contains("482913"));
    assert!(moto.sent_emails().is_empty());
}

#[tokio::test]
async fn cognito_store_writes_the_attribute_and_email_verified_in_one_call() {
    let moto = Moto::start();
    let aws = moto.aws();
    let (cognito, pool_id, username) = set_up(&aws).await;
    let store = CognitoStore::new(aws, "custom:authChallenge".into());
    let user = UserRef {
        pool_id: &pool_id,
        username: &username,
    };
    let state = ChallengeState {
        active: None,
        sends: vec![1, 2],
        write_tag: None,
    }
    .encode();
    // The attribute store ignores versions, tags and times: only the values and the address count.
    let write = |user, verified_email| StateWrite {
        user,
        encoded: &state,
        tag: [0; 8],
        now: 0,
        live_until: 0,
        verified_email,
    };
    store
        .write(&write(user, None), Version::Unchecked)
        .await
        .unwrap();
    let a = attributes(&cognito, &pool_id, &username).await;
    assert_eq!(a.get("custom:authChallenge"), Some(&state));
    assert_eq!(a.get("email_verified").map(String::as_str), Some("false"));
    // The verified address is written with the flag: a change made in between is undone.
    let verified = EmailAddress::parse(&a["email"]).unwrap();
    cognito
        .admin_update_user_attributes()
        .user_pool_id(&pool_id)
        .username(&username)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value("ceo@victim.example")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    store
        .write(&write(user, Some(&verified)), Version::Unchecked)
        .await
        .unwrap();
    let a = attributes(&cognito, &pool_id, &username).await;
    assert_eq!(a.get("email_verified").map(String::as_str), Some("true"));
    assert_eq!(a.get("email"), Some(&verified.as_str().to_owned()));
    let nobody = UserRef {
        pool_id: &pool_id,
        username: "nobody",
    };
    let err = store
        .write(&write(nobody, None), Version::Unchecked)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Rejected, "{err}");
}

/// The DynamoDB store on moto: a write names the version it was decided on, a refusal carries
/// the stored state, a state past its `live_until` counts as absent, and the table holds no name.
#[tokio::test]
async fn dynamo_store_writes_only_over_the_version_it_was_decided_on() {
    let moto = Moto::start();
    let aws = moto.aws();
    let (cognito, pool_id, username) = set_up(&aws).await;
    moto.create_table("otp").await;
    let keys = cognito_email_otp::domain::code::CodeHasher::new(&[5u8; 32]);
    let store = DynamoStore::new(
        aws.clone(),
        "otp".into(),
        keys.clone(),
        CognitoStore::new(aws.clone(), "custom:authChallenge".into()),
    );
    let user = UserRef {
        pool_id: &pool_id,
        username: &username,
    };
    let write = |encoded: &'static str, tag: u8, now: u32, live_until: u32| StateWrite {
        user,
        encoded,
        tag: [tag; 8],
        now,
        live_until,
        verified_email: None,
    };
    assert_eq!(store.read(user).await.unwrap(), Snapshot::ABSENT);
    let a = Snapshot {
        encoded: Some("state-a".into()),
        version: Version::Tagged([1; 8]),
    };
    assert_eq!(
        store
            .write(&write("state-a", 1, 100, 5000), Version::Absent)
            .await
            .unwrap(),
        Stored::Written
    );
    assert_eq!(store.read(user).await.unwrap(), a);
    // Decided on "no state", or on a version that is not the stored one: refused, with the
    // stored state in the same answer.
    for stale in [Version::Absent, Version::Tagged([9; 8])] {
        assert_eq!(
            store
                .write(&write("state-b", 2, 100, 5000), stale)
                .await
                .unwrap(),
            Stored::Conflict(a.clone()),
            "{stale:?}"
        );
    }
    assert_eq!(
        store
            .write(&write("state-b", 2, 100, 5000), Version::Tagged([1; 8]))
            .await
            .unwrap(),
        Stored::Written
    );
    // Past its live_until a state decides like none: a write on "absent" replaces it.
    assert!(matches!(
        store
            .write(&write("state-c", 3, 4999, 9000), Version::Absent)
            .await
            .unwrap(),
        Stored::Conflict(_)
    ));
    assert_eq!(
        store
            .write(&write("state-c", 3, 5001, 9000), Version::Absent)
            .await
            .unwrap(),
        Stored::Written
    );
    // The item: a keyed key, the state, the version and the TTL; no name, no address.
    let items = moto.items("otp").await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    let text = |k: &str| item[k].as_s().unwrap().clone();
    assert_eq!(text("pk"), partition_key(&keys, user));
    assert_eq!(text("st"), "state-c");
    assert_eq!(text("v"), "0303030303030303");
    assert_eq!(item["ttl"].as_n().unwrap(), "9000");
    let all = format!("{items:?}");
    assert!(!all.contains(&username) && !all.contains(EMAIL), "{all}");
    // The first correct code's one Cognito write: the address with the flag.
    let verified = EmailAddress::parse(EMAIL).unwrap();
    let with_email = StateWrite {
        verified_email: Some(&verified),
        ..write("state-d", 4, 5001, 9000)
    };
    store
        .write(&with_email, Version::Tagged([3; 8]))
        .await
        .unwrap();
    let attrs = attributes(&cognito, &pool_id, &username).await;
    assert_eq!(
        attrs.get("email_verified").map(String::as_str),
        Some("true")
    );
    assert!(
        !attrs.contains_key("custom:authChallenge"),
        "nothing in the attribute"
    );
    // An item this function did not write is refused by name, on write and on read.
    let other = UserRef {
        pool_id: &pool_id,
        username: "someone-else",
    };
    moto.dynamodb()
        .await
        .put_item()
        .table_name("otp")
        .item("pk", AttributeValue::S(partition_key(&keys, other)))
        .item("note", AttributeValue::S("hand-made".into()))
        .send()
        .await
        .unwrap();
    let foreign = StateWrite {
        user: other,
        ..write("state-e", 5, 100, 5000)
    };
    for err in [
        store.write(&foreign, Version::Absent).await.unwrap_err(),
        store.read(other).await.unwrap_err(),
    ] {
        assert_eq!(err.kind, FailureKind::Rejected, "{err}");
        assert!(err.detail.contains("not written by this function"), "{err}");
    }
    // A table that does not exist: a refusal naming the setting, on the first call.
    let missing = DynamoStore::new(
        aws.clone(),
        "no-such-table".into(),
        keys,
        CognitoStore::new(aws, "custom:authChallenge".into()),
    );
    for err in [
        missing.read(user).await.unwrap_err(),
        missing
            .write(&write("x", 6, 1, 2), Version::Absent)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind, FailureKind::Rejected, "{err}");
        assert!(
            err.detail.contains("ResourceNotFoundException")
                && err.detail.contains("CHALLENGE_TABLE=\"no-such-table\""),
            "{err}"
        );
    }
}

/// Whole sign-ins through the dispatcher with the SES and Cognito adapters on moto.
#[tokio::test]
async fn full_sign_ins_of_both_flows_against_moto() {
    let moto = Moto::start();
    let aws = moto.aws();
    let (cognito, pool_id, username) = set_up(&aws).await;
    let clock = OffsetClock::default();
    for (flow, with_srp) in [("mfa", true), ("passwordless", false)] {
        // Past the expiry of the code the previous sign-in left: this one gets a new code.
        clock.advance(301);
        let config = support::config(&[("AUTH_FLOW", flow), ("SEND_LIMIT", "20")]);
        let app = aws_app(&aws, config, &clock);
        let sim = pool_sim(&app, &cognito, &pool_id);
        let emails_before = moto.sent_emails().len();
        let (mut s, mut step) = sim.initiate_auth(&username, with_srp).await.unwrap();
        if with_srp {
            assert_eq!(step, Step::PasswordVerifier);
            step = sim.respond_password(&mut s, true).await.unwrap();
        }
        let Step::CustomChallenge(public) = step else {
            panic!("{flow}: {step:?}")
        };
        assert_eq!(public["destination"], "m***@e***.org");
        assert_eq!(public["codeLength"], "6");
        let sent = moto.sent_emails();
        assert_eq!(sent.len(), emails_before + 1, "{flow}: one email");
        let code = code_from_email(sent.last().unwrap()["body"].as_str().unwrap()).unwrap();
        // The stored attribute holds no trace of the code.
        let stored =
            attributes(&cognito, &pool_id, &username).await["custom:authChallenge"].clone();
        assert!(stored.starts_with("v1.") && !stored.contains(&code));
        let wrong = wrong_code(&code);
        let step = sim.respond_custom(&mut s, &wrong, &[]).await.unwrap();
        assert!(matches!(step, Step::CustomChallenge(_)), "{flow}: {step:?}");
        assert_eq!(
            moto.sent_emails().len(),
            emails_before + 1,
            "{flow}: a retry round sends nothing"
        );
        assert_eq!(
            sim.respond_custom(&mut s, &code, &[]).await,
            Ok(Step::Tokens),
            "{flow}"
        );
        let a = attributes(&cognito, &pool_id, &username).await;
        assert_eq!(a["email_verified"], "true");
        assert!(
            ChallengeState::decode(&a["custom:authChallenge"])
                .unwrap()
                .active
                .is_none(),
            "consumed"
        );
        // Single use: the same code does not work in a new sign-in.
        let (mut s2, mut step) = sim.initiate_auth(&username, with_srp).await.unwrap();
        if with_srp {
            step = sim.respond_password(&mut s2, true).await.unwrap();
        }
        assert!(matches!(step, Step::CustomChallenge(_)));
        let step = sim.respond_custom(&mut s2, &code, &[]).await.unwrap();
        assert!(
            matches!(step, Step::CustomChallenge(_)),
            "{flow}: an old code is not accepted again"
        );
    }
    // Resend after the cooldown: a new code goes out and the old one stops working.
    clock.advance(31);
    let config = support::config(&[("AUTH_FLOW", "passwordless"), ("SEND_LIMIT", "20")]);
    let app = aws_app(&aws, config, &clock);
    let sim = pool_sim(&app, &cognito, &pool_id);
    let (mut s, _) = sim.initiate_auth(&username, false).await.unwrap();
    clock.advance(31);
    let first =
        code_from_email(moto.sent_emails().last().unwrap()["body"].as_str().unwrap()).unwrap();
    let n = moto.sent_emails().len();
    let step = sim
        .respond_custom(&mut s, "", &[("action", "resend")])
        .await
        .unwrap();
    assert!(matches!(step, Step::CustomChallenge(_)));
    assert_eq!(moto.sent_emails().len(), n + 1, "resend sends a new code");
    let second =
        code_from_email(moto.sent_emails().last().unwrap()["body"].as_str().unwrap()).unwrap();
    if first != second {
        let step = sim.respond_custom(&mut s, &first, &[]).await.unwrap();
        assert!(
            matches!(step, Step::CustomChallenge(_)),
            "the replaced code is refused"
        );
    }
    assert_eq!(
        sim.respond_custom(&mut s, &second, &[]).await,
        Ok(Step::Tokens)
    );
}

#[tokio::test]
async fn the_send_limit_stops_mail_with_a_user_safe_message() {
    let moto = Moto::start();
    let aws = moto.aws();
    let (cognito, pool_id, username) = set_up(&aws).await;
    let config = support::config(&[("AUTH_FLOW", "passwordless"), ("SEND_LIMIT", "2")]);
    let clock = OffsetClock::default();
    let app = aws_app(&aws, config, &clock);
    let sim = pool_sim(&app, &cognito, &pool_id);
    sim.initiate_auth(&username, false).await.unwrap();
    // Past the first code's expiry, so the next sign-in mails a second.
    clock.advance(301);
    let (mut s, _) = sim.initiate_auth(&username, false).await.unwrap();
    // Exhaust the second code, so at the limit there is no usable code to offer again.
    let code =
        code_from_email(moto.sent_emails().last().unwrap()["body"].as_str().unwrap()).unwrap();
    for _ in 0..3 {
        let _ = sim.respond_custom(&mut s, &wrong_code(&code), &[]).await;
    }
    clock.advance(31);
    let err = sim.initiate_auth(&username, false).await.unwrap_err();
    assert_eq!(err, SignInError::TriggerFailed("CreateAuthChallenge failed with error OTP_TOO_MANY_CODES: Too many codes were requested. Please wait a while before trying again.".into()));
    assert_eq!(moto.sent_emails().len(), 2);
}

fn create_event(pool_id: &str, username: &str, user_not_found: bool) -> Value {
    let mut e: Value = serde_json::from_str(
        &std::fs::read_to_string("events/create/passwordless-first-round.json").unwrap(),
    )
    .unwrap();
    e["userPoolId"] = json!(pool_id);
    e["userName"] = json!(username);
    e["request"]["userNotFound"] = json!(user_not_found);
    if user_not_found {
        e["request"]["userAttributes"] = json!({});
    }
    e
}

#[tokio::test]
async fn define_pre_sign_up_and_decoys_build_no_aws_client() {
    // No server at all: any AWS call would fail.
    let aws = aws_at("http://127.0.0.1:9");
    let app = aws_app(
        &aws,
        support::config(&[("AUTH_FLOW", "both")]),
        &OffsetClock::default(),
    );
    for file in [
        "define/passwordless-start.json",
        "define/mfa-after-password.json",
        "pre-sign-up/allowed.json",
        "verify/unknown-user.json",
        "create/unknown-user.json",
    ] {
        let e: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("events/{file}")).unwrap())
                .unwrap();
        app.handle(e)
            .await
            .unwrap_or_else(|err| panic!("{file}: {err}"));
    }
    assert!(!aws.is_loaded(), "no SDK configuration was loaded");
    assert!(!app.mailer().is_initialized() && !app.store().is_initialized());
}

/// Every fault ends well inside Cognito's 5 s: in a clean, user-safe error with the state put back
/// when nothing can have been sent, or, when SES may have taken the email (a 5xx, no answer), in
/// the challenge with the code kept. SES gets one request either way: `SendEmail` is not retried.
#[tokio::test]
async fn faults_fail_fast_and_cleanly() {
    let send_failed = (
        "DeliveryFailed",
        "OTP_EMAIL_NOT_SENT: We could not send your code. Please try again in a minute.",
    );
    let store_failed = (
        "StoreFailed",
        "OTP_TRY_AGAIN: We could not complete your sign-in. Please try again in a minute.",
    );
    // (SES, Cognito, the error or None for the challenge, the Cognito calls: the fresh read, the
    // new state, its read-back, and the restore after a send that certainly failed).
    let cases = [
        (SesFault::Throttled, CognitoFault::Ok, Some(send_failed), 4),
        (SesFault::Rejected, CognitoFault::Ok, Some(send_failed), 4),
        (SesFault::ServerError, CognitoFault::Ok, None, 3),
        (SesFault::Stall, CognitoFault::Ok, None, 3),
        (SesFault::Ok, CognitoFault::Throttled, Some(store_failed), 4),
        (SesFault::Ok, CognitoFault::Stall, Some(store_failed), 4),
    ];
    let mut worst = Duration::ZERO;
    for (ses, cognito, error, cognito_calls) in cases {
        let server = FaultServer::start(ses, cognito);
        let aws = aws_at(&server.endpoint);
        let app = aws_app(
            &aws,
            support::config(&[("AUTH_FLOW", "passwordless")]),
            &OffsetClock::default(),
        );
        let started = Instant::now();
        let result = app
            .handle(create_event("eu-west-1_Q7xk2PzRm", "u1", false))
            .await;
        let took = started.elapsed();
        worst = worst.max(took);
        assert!(
            took < Duration::from_millis(4100),
            "{ses:?}/{cognito:?} took {took:?}"
        );
        let calls = server.cognito_requests.load(Ordering::SeqCst);
        let sends = server.ses_requests.load(Ordering::SeqCst);
        match (error, result) {
            (Some((error_type, message)), Err(err)) => {
                assert_eq!(err.error_type(), error_type, "{ses:?}/{cognito:?}: {err}");
                assert_eq!(err.user_message(), message);
            }
            (None, Ok(out)) => {
                let shown = &out["response"]["publicChallengeParameters"];
                assert!(shown["expiresAt"].is_string(), "{ses:?}: {out}");
            }
            (want, got) => panic!("{ses:?}/{cognito:?}: wanted {want:?}, got {got:?}"),
        }
        if cognito == CognitoFault::Ok {
            assert_eq!(
                calls, cognito_calls,
                "{ses:?}: restored only when nothing went out"
            );
            assert_eq!(sends, 1, "{ses:?}: one request, no retry");
        } else {
            // The write failed (after its one retry): no email may go out.
            assert_eq!(sends, 0, "{cognito:?}");
            assert!(calls <= cognito_calls);
        }
    }
    println!("worst Create under faults: {worst:?}");
}

#[tokio::test]
async fn verify_does_not_accept_a_right_answer_it_cannot_consume() {
    let server = FaultServer::start(SesFault::Ok, CognitoFault::Throttled);
    let aws = aws_at(&server.endpoint);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string("events/expected.json").unwrap()).unwrap();
    let config = support::config(&[("CODE_HMAC_KEY", expected["replay_key"].as_str().unwrap())]);
    let app = aws_app(&aws, config, &OffsetClock::default());
    for file in ["verify/right-answer.json", "verify/wrong-answer.json"] {
        let e: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("events/{file}")).unwrap())
                .unwrap();
        let err = app.handle(e).await.unwrap_err();
        // The same error for right and wrong answers: a failing store tells a guesser nothing.
        assert_eq!(err.error_type(), "StoreFailed", "{file}");
    }
}

#[tokio::test]
async fn ses_template_and_configuration_set_reach_the_request() {
    let server = FaultServer::start(SesFault::Ok, CognitoFault::Ok);
    let aws = aws_at(&server.endpoint);
    let config = support::config(&[
        ("SES_TEMPLATE", "otp-{locale}"),
        ("APP_NAME", "Acme & Co"),
        ("SES_CONFIGURATION_SET", "otp-events"),
        ("CODE_TTL_SECONDS", "600"),
    ]);
    let m = SesMailer::new(
        aws.clone(),
        &config.email_from,
        config.ses_configuration_set.clone(),
    );
    let code = OtpCode::from_digits("482913").unwrap();
    let rendered = render(None, &code, 10);
    let to = EmailAddress::parse(EMAIL).unwrap();
    let template = config.ses_template.as_ref().unwrap();
    let (name, locale) = template.for_user(Some("de-AT"), &config.default_locale);
    let base = LinkBase::parse("https://app.example/sign-in").unwrap();
    let link = SignInLink::new(&base, "maria", &code, 1_767_226_200);
    m.send(&OutgoingEmail {
        to: &to,
        code: &code,
        minutes: 10,
        rendered: &rendered,
        template: Some(StoredTemplate {
            name,
            locale,
            app_name: config.app_name.as_ref(),
            link: Some(&link),
        }),
    })
    .await
    .unwrap();
    let body: Value = serde_json::from_str(&server.ses_bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(body["ConfigurationSetName"], "otp-events");
    assert_eq!(body["Content"]["Template"]["TemplateName"], "otp-de");
    let data: Value = serde_json::from_str(
        body["Content"]["Template"]["TemplateData"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        data,
        json!({
            "code": "482913",
            "minutes": 10,
            "appName": "Acme & Co",
            "locale": "de",
            "link": "https://app.example/sign-in#username=maria&code=482913&expiresAt=1767226200",
        })
    );
    assert!(body["Content"].get("Simple").is_none());
    // Without a template: both parts, UTF-8, and the subject.
    let plain = SesMailer::new(aws, &config.email_from, None);
    plain
        .send(&OutgoingEmail {
            to: &to,
            code: &code,
            minutes: 10,
            rendered: &render(Some("Ihr Code"), &code, 10),
            template: None,
        })
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&server.ses_bodies.lock().unwrap()[1]).unwrap();
    let simple = &body["Content"]["Simple"];
    assert_eq!(simple["Subject"]["Data"], "Ihr Code");
    assert!(
        simple["Body"]["Text"]["Data"]
            .as_str()
            .unwrap()
            .contains("482913")
    );
    assert!(
        simple["Body"]["Html"]["Data"]
            .as_str()
            .unwrap()
            .contains("482913")
    );
    assert!(body.get("ConfigurationSetName").is_none());
}
