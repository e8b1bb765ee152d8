//! `make demo`: complete sign-ins, both flows, through the same dispatcher the Lambda runs, with
//! no AWS account. Cognito's part is played by [`cognito_email_otp::simulator`], mail goes to a
//! local folder and user attributes to a local file (both under `.local/demo/`).

// The SDK's deeply nested futures exceed the default query depth when laid out in `main`.
#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use cognito_email_otp::adapters::local::{LocalMailbox, LocalUserStore};
use cognito_email_otp::config::Config;
use cognito_email_otp::domain::random;
use cognito_email_otp::ports::SystemClock;
use cognito_email_otp::runtime_init::init_logging;
use cognito_email_otp::simulator::{CognitoSim, SignInError, Step, code_from_email, wrong_code};
use cognito_email_otp::telemetry::{Metric, MetricsSink};
use cognito_email_otp::triggers::App;

const POOL: &str = "eu-west-1_DEMOp00l1";
const USER: &str = "5c2e9a14-7b31-4f0e-9d6a-1f8b3c0e7a52";
const ATTRIBUTE: &str = "custom:authChallenge";

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The function's own log lines (one per invocation) are shown too: note there is no code,
    // address or username in them.
    init_logging();
    let root = Path::new(".local/demo");
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let store = LocalUserStore::new(root.join("users.json"), ATTRIBUTE.into());
    store.put_user(
        POOL,
        USER,
        BTreeMap::from([
            ("sub".into(), USER.into()),
            ("email".into(), "maria.rossi@example.org".into()),
            ("email_verified".into(), "false".into()),
            ("cognito:user_status".into(), "CONFIRMED".into()),
        ]),
    )?;
    // A fresh random key per run: the demo has no secret to keep.
    let mut key = [0u8; 32];
    random::fill(&mut key);
    let key = cognito_email_otp::hex::encode(&key);

    for flow in ["mfa", "passwordless"] {
        banner(&format!(
            "AUTH_FLOW={flow}: {}",
            if flow == "mfa" {
                "password, then an emailed code"
            } else {
                "an emailed code only"
            }
        ));
        let app = local_app(root, flow, &key)?;
        let sim = CognitoSim::local(&app, &store, POOL);
        sign_in(&sim, app.mailer(), flow == "mfa").await?;
        let attrs = store.attributes(POOL, USER)?.unwrap_or_default();
        say(
            "stored",
            &format!(
                "{ATTRIBUTE} = {}",
                attrs.get(ATTRIBUTE).map(String::as_str).unwrap_or("(none)")
            ),
        );
        say(
            "",
            &format!(
                "email_verified = {}  (set by the first correct code)",
                attrs
                    .get("email_verified")
                    .map(String::as_str)
                    .unwrap_or("?")
            ),
        );
    }

    banner("An unknown user (PreventUserExistenceErrors): a decoy challenge");
    let app = local_app(root, "passwordless", &key)?;
    let sim = CognitoSim::local(&app, &store, POOL);
    let before = app.mailer().messages()?.len();
    say(
        "client",
        "InitiateAuth CUSTOM_AUTH, USERNAME=nobody@example.org",
    );
    let (mut s, step) = sim.initiate_auth("nobody@example.org", false).await?;
    say("cognito", &format!("{step:?}"));
    for guess in ["111111", "222222", "333333"] {
        say("client", &format!("RespondToAuthChallenge ANSWER={guess}"));
        say(
            "cognito",
            &describe(&sim.respond_custom(&mut s, guess, &[]).await),
        );
    }
    let after = app.mailer().messages()?.len();
    say(
        "mail",
        &format!("{} email(s) sent for the unknown user", after - before),
    );
    let metrics = root.join("metrics.jsonl");
    println!("\nMetrics (EMF): {}", metric_totals(&metrics)?);
    println!(
        "\nMail is in {}, attributes in {}, EMF documents in {}.",
        root.join("mailbox").display(),
        root.join("users.json").display(),
        metrics.display()
    );
    Ok(())
}

type LocalApp = App<LocalMailbox, LocalUserStore, SystemClock>;

/// The dispatcher on local adapters, configured for `flow`.
fn local_app(root: &Path, flow: &str, key: &str) -> Result<LocalApp, Error> {
    let env = BTreeMap::from([
        (
            "EMAIL_FROM",
            "Demo Sign-in <no-reply@demo.example>".to_owned(),
        ),
        ("CODE_HMAC_KEY", key.to_owned()),
        ("AUTH_FLOW", flow.to_owned()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let mailbox = LocalMailbox::new(root.join("mailbox"), config.email_from.header_value());
    let store = LocalUserStore::new(root.join("users.json"), config.challenge_attribute.clone());
    // The EMF documents the Lambda writes to stdout go to a file here, to keep the output readable.
    let metrics = root.join("metrics.jsonl");
    let sink = MetricsSink::to(move |line| {
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&metrics) {
            let _ = writeln!(f, "{line}");
        }
    });
    Ok(App::new(config, mailbox, store, SystemClock).with_metrics(sink))
}

/// Sums each count metric over the EMF documents in `path`.
fn metric_totals(path: &Path) -> Result<String, Error> {
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    Ok(Metric::ALL
        .iter()
        .map(|m| {
            let total: u64 = docs.iter().filter_map(|d| d[m.name()].as_u64()).sum();
            format!("{}={total}", m.name())
        })
        .collect::<Vec<_>>()
        .join(" "))
}

async fn sign_in<I, D>(
    sim: &CognitoSim<I, D>,
    mailbox: &LocalMailbox,
    with_password: bool,
) -> Result<(), Error>
where
    I: cognito_email_otp::simulator::Invoker,
    D: cognito_email_otp::simulator::Directory,
{
    say(
        "client",
        &format!(
            "InitiateAuth CUSTOM_AUTH, USERNAME={USER}{}",
            if with_password {
                ", CHALLENGE_NAME=SRP_A"
            } else {
                ""
            }
        ),
    );
    let (mut s, mut step) = sim.initiate_auth(USER, with_password).await?;
    say("cognito", &format!("{step:?}"));
    if step == Step::PasswordVerifier {
        say(
            "client",
            "RespondToAuthChallenge PASSWORD_VERIFIER (Cognito checks the SRP proof itself)",
        );
        step = sim.respond_password(&mut s, true).await?;
        say("cognito", &format!("{step:?}"));
    }
    let messages = mailbox.messages()?;
    let email = messages.last().ok_or("no email was delivered")?;
    say(
        "mail",
        &format!(
            "delivered to the local mailbox ({} so far):",
            messages.len()
        ),
    );
    for line in email.lines() {
        println!("          | {line}");
    }
    let code = code_from_email(email).ok_or("no code in the email")?;
    let wrong = wrong_code(&code);
    say(
        "client",
        &format!("RespondToAuthChallenge ANSWER={wrong}  (a typo)"),
    );
    let next = sim.respond_custom(&mut s, &wrong, &[]).await;
    say(
        "cognito",
        &format!(
            "{}  (same code kept, no new email: {} in the mailbox)",
            describe(&next),
            mailbox.messages()?.len()
        ),
    );
    say(
        "client",
        &format!("RespondToAuthChallenge ANSWER={code}  (from the email)"),
    );
    let done = sim.respond_custom(&mut s, &code, &[]).await;
    say("cognito", &describe(&done));
    if done != Ok(Step::Tokens) {
        return Err("the sign-in did not complete".into());
    }
    Ok(())
}

fn describe(r: &Result<Step, SignInError>) -> String {
    match r {
        Ok(Step::Tokens) => "signed in: ID, access and refresh tokens issued".into(),
        Ok(step) => format!("{step:?}"),
        Err(SignInError::NotAuthorized) => "NotAuthorizedException: sign-in failed".into(),
        Err(e) => format!("{e:?}"),
    }
}

fn banner(title: &str) {
    println!("\n=== {title} ===");
}

fn say(who: &str, what: &str) {
    println!("{who:>8}  {what}");
}
