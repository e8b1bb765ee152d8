//! The code appears only in the email: over full sign-ins of both flows, nothing the function
//! logs (at TRACE, through the product's own log layer), returns to Cognito or stores contains it;
//! and that layer's cap holds: no directive lets the SDK, HTTP or runtime targets write below
//! `warn`. In a test binary of its own: tracing caches per-callsite interest across threads, so
//! another test logging without a subscriber could hide events from the subscriber installed here.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use cognito_email_otp::adapters::local::LocalUserStore;
use cognito_email_otp::runtime_init::log_layer;
use cognito_email_otp::simulator::{CognitoSim, Step, code_from_email, wrong_code};
use serde_json::Value;
use support::{KEY, LocalApp, TestClock, local_app};

const POOL: &str = "eu-west-1_Q7xk2PzRm";
const USER: &str = "maria.rossi@example.org";
/// The sign-in page a passwordless email links to.
const LINK_BASE: &str = "https://app.example/sign-in";
const NOW: u32 = 1_767_225_600;

fn seed(dir: &std::path::Path) -> LocalUserStore {
    let store = LocalUserStore::new(dir.join("users.json"), "custom:authChallenge".into());
    let attrs = [
        ("email".to_owned(), USER.to_owned()),
        ("email_verified".to_owned(), "false".to_owned()),
    ];
    store.put_user(POOL, USER, attrs.into()).unwrap();
    store
}

fn last_code(app: &LocalApp<'_>) -> String {
    code_from_email(app.mailer().messages().unwrap().last().unwrap()).unwrap()
}

/// A writer that keeps everything logged, for asserting on it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Over full sign-ins of both flows, logged at TRACE, the code appears only in the email: not in
/// any log line, trigger response, challenge parameter, metadata or the stored attribute. Nor do
/// the email address, the username (an address here) or the key appear in the logs.
#[tokio::test]
async fn the_code_appears_only_in_the_email() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let logs = Captured::default();
    let writer = logs.clone();
    // The product's layer, asked for everything, including the runtime's raw-event trace.
    let directives = "trace,lambda_runtime::layers=trace,aws_smithy_runtime=trace,hyper=trace";
    let subscriber =
        tracing_subscriber::registry().with(log_layer(true, directives, move || writer.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    // What the dependencies would write at these levels: the raw event, a request body. Under
    // the cap none of it may appear; our own crate's trace events may.
    tracing::trace!(target: "lambda_runtime::layers::api_response", body = "RAW-EVENT-MARKER", "raw JSON event received from Lambda");
    tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", body = "SDK-BODY-MARKER", "request");
    tracing::trace!(target: "hyper::proto::h1", bytes = "HYPER-MARKER", "write");
    tracing::error!(target: "lambda_runtime::layers::panic", "RUNTIME-DUPLICATE-MARKER");
    tracing::warn!(target: "aws_config::profile", "SDK-WARNING-MARKER");
    tracing::trace!(target: "cognito_email_otp::triggers", "OWN-TRACE-MARKER");

    let dir = tempfile::tempdir().unwrap();
    let store = seed(dir.path());
    let mut responses = String::new();
    let mut codes = Vec::new();
    for flow in ["mfa", "passwordless"] {
        let clock = TestClock::at(NOW);
        // Passwordless mail carries a one-click link, which holds the code: it is covered too.
        let link = [("SIGN_IN_LINK_URL", LINK_BASE), ("APP_NAME", "Acme")];
        let mut pairs = vec![("AUTH_FLOW", flow)];
        if flow == "passwordless" {
            pairs.extend(link);
        }
        let app = local_app(dir.path(), support::config(&pairs), &clock);
        // Record every response the function gives, by wrapping the invoker.
        struct Recording<'a>(&'a LocalApp<'a>, Mutex<Vec<Value>>);
        impl cognito_email_otp::simulator::Invoker for &Recording<'_> {
            async fn invoke(&self, event: Value) -> Result<Value, String> {
                let out = self.0.handle(event).await.map_err(|e| e.user_message())?;
                self.1.lock().unwrap().push(out["response"].clone());
                Ok(out)
            }
        }
        let rec = Recording(&app, Mutex::new(Vec::new()));
        let sim = CognitoSim::local(&rec, &store, POOL);
        let (mut s, mut step) = sim.initiate_auth(USER, flow == "mfa").await.unwrap();
        if step == Step::PasswordVerifier {
            step = sim.respond_password(&mut s, true).await.unwrap();
        }
        assert!(matches!(step, Step::CustomChallenge(_)));
        let code = last_code(&app);
        let mail = app.mailer().messages().unwrap().pop().unwrap();
        assert_eq!(
            mail.contains(&format!("{LINK_BASE}#username=")),
            flow == "passwordless",
            "{mail}"
        );
        sim.respond_custom(&mut s, &wrong_code(&code), &[])
            .await
            .unwrap();
        assert_eq!(
            sim.respond_custom(&mut s, &code, &[]).await,
            Ok(Step::Tokens)
        );
        for r in rec.1.lock().unwrap().iter() {
            responses.push_str(&r.to_string());
        }
        codes.push(code);
    }
    // An unknown name, for a second user reference.
    let known_lines = String::from_utf8(logs.0.lock().unwrap().clone())
        .unwrap()
        .lines()
        .count();
    let clock = TestClock::at(NOW);
    let app = local_app(
        dir.path(),
        support::config(&[("AUTH_FLOW", "passwordless")]),
        &clock,
    );
    CognitoSim::local(&app, &store, POOL)
        .initiate_auth("nobody@example.net", false)
        .await
        .unwrap();
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // Each invocation's line names its user by a keyed reference: 16 hex digits, the same for
    // every invocation of one user, another for another name, and never the name itself.
    let lines: Vec<&str> = logged.lines().collect();
    let references = |lines: &[&str]| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l.to_string().contains("\"outcome\""))
            .map(|l| {
                let fields = l.get("fields").unwrap_or(&l);
                fields["user"]
                    .as_str()
                    .expect("a user reference")
                    .to_owned()
            })
            .collect()
    };
    let all = references(&lines);
    let unknown = references(&lines[known_lines..]);
    let known = &all[..all.len() - unknown.len()];
    assert!(known.len() >= 10 && unknown.len() >= 2, "{all:?}");
    assert!(
        all.iter()
            .all(|r| r.len() == 16 && r.bytes().all(|b| b.is_ascii_hexdigit())),
        "{all:?}"
    );
    assert!(known.iter().all(|r| r == &known[0]), "{all:?}");
    assert!(
        unknown.iter().all(|r| r == &unknown[0] && r != &known[0]),
        "{all:?}"
    );
    let stored = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
    assert!(
        logged.contains("\"outcome\":\"answer_accepted\""),
        "the log is being captured: {logged}"
    );
    for code in &codes {
        assert!(!logged.contains(code.as_str()), "code in logs");
        assert!(
            !responses.contains(code.as_str()),
            "code in a trigger response: {responses}"
        );
        let state = &stored[stored.find("custom:authChallenge").unwrap()..];
        assert!(
            !state.split('"').nth(2).unwrap().contains(code.as_str()),
            "code in the attribute"
        );
    }
    for secret in [
        USER,
        "maria",
        "example.org",
        KEY,
        LINK_BASE,
        "username=",
        "code=",
    ] {
        assert!(
            !responses.contains(secret),
            "{secret} in a trigger response"
        );
        assert!(!logged.contains(secret), "{secret} in logs");
    }
    // The cap: dependencies' debug and trace lines and the runtime's duplicate error line are
    // dropped whatever the directives; warnings and our own trace lines pass.
    for dropped in [
        "RAW-EVENT-MARKER",
        "SDK-BODY-MARKER",
        "HYPER-MARKER",
        "RUNTIME-DUPLICATE-MARKER",
    ] {
        assert!(!logged.contains(dropped), "{dropped} was written");
    }
    for kept in ["SDK-WARNING-MARKER", "OWN-TRACE-MARKER"] {
        assert!(
            logged.contains(kept),
            "{kept} was not written: the capture is broken"
        );
    }
}
