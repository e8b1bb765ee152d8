//! The drift check (`{"otpDriftCheck": {"userPoolId": …}}`): through the dispatcher with a fake
//! [`PoolInspector`] (what it emits, answers and refuses), and once end to end, the release binary
//! over the local Lambda Runtime API against moto behind the admin tests' recording proxy (a
//! template-like pool, clean, then a client opened to passwords; exactly the four calls granted).

#[path = "admin/support.rs"]
mod admin_support;
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cognito_email_otp::admin::{
    AdminError, ClientFacts, Facts, FunctionArn, FunctionFacts, PoolFacts,
};
use cognito_email_otp::ports::PoolInspector;
use cognito_email_otp::telemetry::MetricsSink;
use cognito_email_otp::triggers::TriggerError;
use serde_json::{Value, json};
use support::TestClock;
use support::lambda::{Lambda, Mode, Reply, lambda_env};

const POOL: &str = "eu-west-1_Q7xk2PzRm";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:otp";

/// Answers with `facts` (or `NoPool`) after `delay`, counting calls and recording the function.
struct Fake {
    facts: Option<Facts>,
    delay: Duration,
    calls: AtomicUsize,
    asked: Mutex<Vec<(String, String)>>,
}

impl Fake {
    fn answering(facts: Facts) -> Arc<Self> {
        Arc::new(Self {
            facts: Some(facts),
            delay: Duration::ZERO,
            calls: AtomicUsize::new(0),
            asked: Mutex::new(Vec::new()),
        })
    }

    fn failing(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            facts: None,
            delay,
            calls: AtomicUsize::new(0),
            asked: Mutex::new(Vec::new()),
        })
    }
}

struct Shared(Arc<Fake>);

impl PoolInspector for Shared {
    async fn inspect(&self, pool_id: &str, function: &FunctionArn) -> Result<Facts, AdminError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        self.0
            .asked
            .lock()
            .unwrap()
            .push((pool_id.to_owned(), function.to_string()));
        tokio::time::sleep(self.0.delay).await;
        self.0
            .facts
            .clone()
            .ok_or_else(|| AdminError::NoPool(pool_id.to_owned()))
    }
}

type Docs = Arc<Mutex<Vec<Value>>>;

/// Runs one event through an app on local adapters with `fake` as its inspector; the result and
/// the EMF documents it emitted.
async fn run(
    fake: &Arc<Fake>,
    event: Value,
    invoked: Option<&str>,
) -> (Result<Value, TriggerError>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_767_225_600);
    let docs: Docs = Arc::default();
    let sink = docs.clone();
    let app = support::local_app(dir.path(), support::config(&[("AUTH_FLOW", "mfa")]), &clock)
        .with_metrics(MetricsSink::to(move |l| {
            sink.lock().unwrap().push(serde_json::from_str(l).unwrap())
        }))
        .with_inspector(Shared(fake.clone()));
    let result = app.handle_as(event, invoked).await;
    let docs = docs.lock().unwrap().clone();
    (result, docs)
}

fn drift_event() -> Value {
    json!({"otpDriftCheck": {"userPoolId": POOL}})
}

/// The documents that carry `metric`.
fn with<'a>(docs: &'a [Value], metric: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d.get(metric).is_some()).collect()
}

/// A pool, client, function and permission as the template makes them: no finding at all.
fn clean() -> Facts {
    let pool = json!({
        "Id": POOL, "Arn": format!("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{POOL}"),
        "MfaConfiguration": "OFF",
        "LambdaConfig": {"DefineAuthChallenge": FUNCTION, "CreateAuthChallenge": FUNCTION, "VerifyAuthChallengeResponse": FUNCTION},
        "SchemaAttributes": [{"Name": "custom:authChallenge", "AttributeDataType": "String", "Mutable": true, "StringAttributeConstraints": {"MaxLength": "2048"}}],
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}
    });
    let environment: BTreeMap<String, String> = [
        ("EMAIL_FROM", "Acme <no-reply@acme.example>"),
        (
            "CODE_HMAC_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:otp-key-AbCdEf",
        ),
        ("REFERENCE_KEY", "5c2e9a14-7b31-4f0e-9d6a-1f8b3c0e7a52"),
        ("AUTH_FLOW", "mfa"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "cognito", "Effect": "Allow",
        "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": FUNCTION,
        "Condition": {"ArnLike": {"AWS:SourceArn": pool["Arn"]}}}]});
    Facts {
        pool: PoolFacts::from_json(pool.as_object().unwrap()).unwrap(),
        clients: vec![client("app", |_| {})],
        function: Some(FunctionFacts {
            arn: FunctionArn::parse(FUNCTION).unwrap(),
            environment,
            policy: Some(policy.to_string()),
        }),
        ses: None,
    }
}

/// The template's client `id`, changed by `f`.
fn client(id: &str, f: impl Fn(&mut Value)) -> ClientFacts {
    let mut c = json!({"ClientId": id, "ExplicitAuthFlows": ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        "PreventUserExistenceErrors": "ENABLED", "AuthSessionValidity": 10,
        "ReadAttributes": ["email", "email_verified"], "WriteAttributes": ["email"]});
    f(&mut c);
    ClientFacts::from_json(c.as_object().unwrap()).unwrap()
}

#[tokio::test]
async fn a_clean_pool_counts_zero_and_names_no_finding() {
    assert_eq!(
        cognito_email_otp::admin::check(&clean()),
        vec![],
        "the fixture is clean"
    );
    let fake = Fake::answering(clean());
    let invoked = format!("{FUNCTION}:live");
    let (result, docs) = run(&fake, drift_event(), Some(&invoked)).await;
    assert_eq!(result.unwrap(), json!({"findings": 0, "critical": 0}));
    let count = with(&docs, "DriftCriticalFindings");
    assert_eq!(count.len(), 1, "{docs:#?}");
    assert_eq!(count[0]["DriftCriticalFindings"], 0);
    assert_eq!(count[0]["UserPoolId"], POOL);
    assert_eq!(
        count[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["UserPoolId"]])
    );
    assert_eq!(
        count[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "CognitoEmailOtp"
    );
    assert!(with(&docs, "DriftFinding").is_empty() && with(&docs, "DriftCheckFailed").is_empty());
    assert_eq!(docs.len(), 1, "no sign-in document either: {docs:#?}");
    // "This function" is the invoked one, without its alias.
    assert_eq!(
        *fake.asked.lock().unwrap(),
        vec![(POOL.to_owned(), FUNCTION.to_owned())]
    );
}

#[tokio::test]
async fn each_critical_finding_is_one_drift_finding_and_counted() {
    let mut facts = clean();
    facts.pool.mfa = "ON".into();
    let password = |c: &mut Value| {
        c["ExplicitAuthFlows"] = json!(["ALLOW_CUSTOM_AUTH", "ALLOW_USER_PASSWORD_AUTH"])
    };
    facts.clients = vec![
        client("clean", |_| {}),
        client("password1", password),
        client("password2", password),
        client("reads", |c| {
            c["ReadAttributes"] = json!(["email", "custom:authChallenge"])
        }),
        // A warning: logged, not counted.
        client("short", |c| c["AuthSessionValidity"] = json!(3)),
    ];
    let fake = Fake::answering(facts);
    let (result, docs) = run(&fake, drift_event(), Some(FUNCTION)).await;
    assert_eq!(result.unwrap(), json!({"findings": 5, "critical": 4}));
    let mut got: Vec<(String, String)> = with(&docs, "DriftFinding")
        .iter()
        .map(|d| {
            assert_eq!(d["DriftFinding"], 1);
            assert_eq!(d["UserPoolId"], POOL);
            assert_eq!(
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["UserPoolId", "Finding"]])
            );
            (
                d["Finding"].as_str().unwrap().to_owned(),
                d["ClientId"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("client-password-auth", "password1"),
            ("client-password-auth", "password2"),
            ("client-reads-state", "reads"),
            ("pool-mfa-enabled", "-"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let count = with(&docs, "DriftCriticalFindings");
    assert_eq!(
        (count.len(), &count[0]["DriftCriticalFindings"]),
        (1, &json!(4))
    );
    assert!(with(&docs, "DriftCheckFailed").is_empty());
}

#[tokio::test]
async fn a_warning_only_pool_counts_zero() {
    let mut facts = clean();
    facts.clients = vec![client("short", |c| c["AuthSessionValidity"] = json!(3))];
    if let Some(f) = facts.function.as_mut() {
        f.environment.remove("CODE_HMAC_KEY_SECRET_ARN");
        f.environment
            .insert("CODE_HMAC_KEY".into(), support::KEY.into());
    }
    let fake = Fake::answering(facts);
    let (result, docs) = run(&fake, drift_event(), Some(FUNCTION)).await;
    assert_eq!(result.unwrap(), json!({"findings": 2, "critical": 0}));
    assert_eq!(
        with(&docs, "DriftCriticalFindings")[0]["DriftCriticalFindings"],
        0
    );
    assert!(with(&docs, "DriftFinding").is_empty());
}

/// A failed read, one slower than the budget, and no invoked ARN: `DriftCheckFailed` 1, no count,
/// an error (and the slow one cut at the budget, not waited out).
#[tokio::test]
async fn a_check_that_cannot_run_fails_and_says_so() {
    let cases = [
        (Fake::failing(Duration::ZERO), Some(FUNCTION), 1),
        (Fake::failing(Duration::from_secs(30)), Some(FUNCTION), 1),
        (Fake::answering(clean()), None, 0),
    ];
    for (fake, invoked, calls) in cases {
        let started = Instant::now();
        let (result, docs) = run(&fake, drift_event(), invoked).await;
        let took = started.elapsed();
        let err = result.unwrap_err();
        assert_eq!(err.error_type(), "DriftCheckFailed", "{err}");
        assert_eq!(err.outcome(), "check_failed");
        assert!(took < Duration::from_millis(4500), "{took:?}");
        let failed = with(&docs, "DriftCheckFailed");
        assert_eq!(failed.len(), 1, "{docs:#?}");
        assert_eq!(
            (&failed[0]["DriftCheckFailed"], &failed[0]["UserPoolId"]),
            (&json!(1), &json!(POOL))
        );
        assert!(
            with(&docs, "DriftCriticalFindings").is_empty()
                && with(&docs, "DriftFinding").is_empty()
        );
        assert_eq!(fake.calls.load(Ordering::SeqCst), calls);
    }
}

#[tokio::test]
async fn malformed_drift_events_are_refused_without_a_read() {
    let fake = Fake::answering(clean());
    for event in [
        json!({"otpDriftCheck": {"userPoolId": POOL}, "triggerSource": "DefineAuthChallenge_Authentication"}),
        json!({"otpDriftCheck": {"userPoolId": POOL, "clientId": "abc"}}),
        json!({"otpDriftCheck": {}}),
        json!({"otpDriftCheck": {"userPoolId": "eu-west-1"}}),
        json!({"otpDriftCheck": {"userPoolId": "eu-west-1_a/b"}}),
        json!({"otpDriftCheck": {"userPoolId": ""}}),
        json!({"otpDriftCheck": {"userPoolId": 7}}),
        json!({"otpDriftCheck": {"userPoolId": null}}),
        json!({"otpDriftCheck": POOL}),
        json!({"otpDriftCheck": null}),
        json!({"otpDriftCheck": [{"userPoolId": POOL}]}),
    ] {
        let (result, docs) = run(&fake, event.clone(), Some(FUNCTION)).await;
        let err = result.unwrap_err();
        assert_eq!(err.error_type(), "InvalidEvent", "{event}: {err}");
        assert!(err.to_string().contains("drift check"), "{err}");
        assert!(docs.is_empty(), "{event}: {docs:#?}");
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cognito_event_still_routes_as_before() {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/define/mfa-after-password.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let fake = Fake::answering(clean());
    let (with_inspector, docs) = run(&fake, event.clone(), Some(FUNCTION)).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_767_225_600);
    let plain = support::local_app(dir.path(), support::config(&[("AUTH_FLOW", "mfa")]), &clock);
    let without = plain.handle(event).await.unwrap();
    let with_inspector = with_inspector.unwrap();
    assert_eq!(with_inspector, without);
    assert_eq!(
        with_inspector["response"]["challengeName"],
        "CUSTOM_CHALLENGE"
    );
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    assert!(
        docs.iter()
            .all(|d| d["Trigger"] == "DefineAuthChallenge_Authentication"),
        "{docs:#?}"
    );
}

/// The release binary checks a template-like pool wired to it: clean (0), then, with
/// `ALLOW_USER_PASSWORD_AUTH` enabled on its client, one `DriftFinding` for that client, read
/// with exactly the four calls the grants allow.
#[tokio::test]
async fn the_binary_finds_a_client_opened_to_passwords() {
    use admin_support::{build, cognito, shared, template, template_client};
    let spec = template("drift");
    let spec_env: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let setup = build(spec);
    let client_id = setup.client("app");
    let mut pairs: Vec<(&str, &str)> = spec_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("AWS_LAMBDA_FUNCTION_NAME", &setup.function_name));
    let mut vars = lambda_env(&shared().proxy.endpoint, &pairs);
    // The template keeps the code key in Secrets Manager (never fetched by the drift check).
    vars.retain(|(k, _)| k != "CODE_HMAC_KEY");
    let lambda = Lambda::start(Mode::Warm, vars).await;
    let event = json!({"otpDriftCheck": {"userPoolId": setup.pool_id}}).to_string();

    let started = Instant::now();
    let clean = lambda.invoke_raw(event.clone().into_bytes()).await;
    assert_eq!(
        clean,
        Some(Reply::Response(json!({"findings": 0, "critical": 0}))),
        "{}",
        lambda.output()
    );

    let mut settings = template_client();
    settings.as_object_mut().unwrap().remove("GenerateSecret");
    settings["UserPoolId"] = json!(setup.pool_id);
    settings["ClientId"] = json!(client_id);
    settings["ClientName"] = json!("app");
    settings["ExplicitAuthFlows"] = json!([
        "ALLOW_CUSTOM_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH"
    ]);
    cognito("UpdateUserPoolClient", settings);
    let open = lambda.invoke_raw(event.into_bytes()).await;
    let took = started.elapsed();
    assert_eq!(
        open,
        Some(Reply::Response(json!({"findings": 1, "critical": 1}))),
        "{}",
        lambda.output()
    );

    let emf: Vec<Value> = lambda
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.get("_aws").is_some())
        .collect();
    let counts: Vec<&Value> = emf
        .iter()
        .filter_map(|d| d.get("DriftCriticalFindings"))
        .collect();
    assert_eq!(counts, [&json!(0), &json!(1)], "{emf:#?}");
    let findings: Vec<(&Value, &Value, &Value)> = emf
        .iter()
        .filter(|d| d.get("DriftFinding").is_some())
        .map(|d| (&d["Finding"], &d["ClientId"], &d["UserPoolId"]))
        .collect();
    assert_eq!(
        findings,
        [(
            &json!("client-password-auth"),
            &json!(client_id),
            &json!(setup.pool_id)
        )]
    );
    assert!(emf.iter().all(|d| d.get("DriftCheckFailed").is_none()));
    let lines = lambda.invocation_lines();
    let outcomes: Vec<(&Value, &Value)> = lines
        .iter()
        .map(|l| (&l["trigger"], &l["outcome"]))
        .collect();
    assert_eq!(
        outcomes,
        [
            (&json!("drift"), &json!("clean")),
            (&json!("drift"), &json!("findings"))
        ]
    );

    // Exactly the four calls granted, no other, and GetPolicy of the function with no qualifier.
    let ops: std::collections::BTreeSet<String> = shared()
        .proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.op.clone())
        .collect();
    let policy = format!(
        "GET /2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3A{}/policy",
        setup.function_name
    );
    let expected: std::collections::BTreeSet<String> = [
        "DescribeUserPool",
        "ListUserPoolClients",
        "DescribeUserPoolClient",
        policy.as_str(),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(ops, expected);
    eprintln!("two drift checks through the binary: {took:?}");
}
