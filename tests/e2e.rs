//! End to end: the release binary, started the way Lambda starts it (a Lambda Runtime API on
//! 127.0.0.1, see `support/lambda.rs`), with its AWS SDK pointed at moto server (Cognito IDP and
//! SES v2 over real HTTP) through a fault-injecting proxy. Cognito's part is played by the
//! simulator, reading each user back from the pool (AdminGetUser) before every trigger; emails are
//! read back from moto.
//!
//! Figures (worst invocation time per fault, the parallel-guess bound) are printed; run with
//! `cargo test --release --test e2e -- --nocapture` to see them.

mod support;

use std::sync::atomic::Ordering;

use cognito_email_otp::domain::state::ChallengeState;
use cognito_email_otp::simulator::{Invoker, SignInError, Step, code_from_email, wrong_code};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use support::lambda::{Lambda, Mode, Reply, lambda_env};
use support::moto::{CognitoFault, SesFault};
use support::pool::{add_user, attributes};
use support::world::*;

async fn both_flows_with_a_fresh_process_for_every_invocation(store: Store) {
    let w = World::with(store).await;
    let lambda = Lambda::start(Mode::FreshPerInvocation, w.env(&[("CODE_LENGTH", "8")])).await;
    let sim = w.sim(&lambda);
    let mut codes = Vec::new();
    let mut stored = Vec::new();
    for with_password in [true, false] {
        // Past the expiry of the code the previous sign-in left (a usable one would be reused):
        // this one mails a new code.
        w.age(301, None).await;
        let sent = w.emails().len();
        let (mut s, step) = begin(&sim, &w.username, with_password).await.unwrap();
        let Step::CustomChallenge(public) = step else {
            panic!("{step:?}")
        };
        assert_eq!(public["destination"], "m***@e***.org");
        assert_eq!(public["codeLength"], "8");
        assert_eq!(w.emails().len(), sent + 1, "one email");
        let code = w.last_code();
        assert_eq!(code.len(), 8);
        stored.push(w.stored(&w.username).await);
        // A wrong answer: a retry round, no new email; then the right one.
        let step = sim.respond_custom(&mut s, &wrong_code(&code), &[]).await;
        assert!(is_challenge(&step), "{step:?}");
        assert_eq!(w.emails().len(), sent + 1, "a retry round sends nothing");
        assert_eq!(
            sim.respond_custom(&mut s, &code, &[]).await,
            Ok(Step::Tokens)
        );
        let attrs = attributes(&w.cognito, &w.pool_id, &w.username).await;
        assert_eq!(attrs["email_verified"], "true");
        let now = w.stored(&w.username).await;
        assert!(ChallengeState::decode(&now).unwrap().active.is_none());
        stored.push(now);
        // Single use: the consumed code does not open a new sign-in.
        let (mut again, _) = begin(&sim, &w.username, with_password).await.unwrap();
        let step = sim.respond_custom(&mut again, &code, &[]).await;
        assert!(is_challenge(&step), "a used code is refused: {step:?}");
        codes.push(code);
        codes.push(w.last_code());
    }
    // No state in memory: every invocation had its own process.
    // mfa: 3 to the challenge (Define, Define, Create), 3 per wrong answer (Verify, Define,
    // Create), 2 for the right one, then 3 + 3 for the single-use check: 14; passwordless: 2 + 3 +
    // 2 + 2 + 3 = 12.
    let invocations = lambda.records.lock().unwrap().len();
    assert_eq!(invocations, 26);
    assert_eq!(lambda.processes(), invocations);
    assert!(lambda.slowest() < COGNITO_LIMIT, "{:?}", lambda.slowest());
    assert_no_code_leaks(&lambda, &codes, &stored);
    // The log line of every invocation names the trigger and the outcome, and no email address.
    let lines = lambda.invocation_lines();
    assert_eq!(lines.len(), invocations);
    assert!(lines.iter().all(|l| l["trigger"].is_string()
        && l["outcome"].is_string()
        && l["duration_ms"].is_number()));
    // With AWS_LAMBDA_LOG_FORMAT=JSON every line the function wrote is one JSON object: a log line or
    // an EMF document. No key and no address in any of them.
    let output = lambda.output();
    let docs: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .filter(|v| v.get("_aws").is_some())
        .collect();
    for secret in [support::KEY, "maria.rossi", "example.org"] {
        assert!(!output.contains(secret), "{secret} in the output");
    }
    // One EMF document per invocation, and CodeSent counts exactly the emails moto delivered.
    assert_eq!(docs.len(), invocations);
    let code_sent: u64 = docs.iter().map(|d| d["CodeSent"].as_u64().unwrap()).sum();
    assert_eq!(code_sent, w.emails().len() as u64);
    assert!(
        docs.iter()
            .all(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CognitoEmailOtp")
    );
    if let Some(i) = output
        .lines()
        .position(|l| l.contains("\"message\":\"invocation\"") && l.contains("CreateAuthChallenge"))
    {
        println!("one Create, its log line and EMF document:");
        for line in output.lines().skip(i).take(2) {
            println!("  {line}");
        }
    }
    println!(
        "fresh-process sign-ins: {invocations} invocations, {invocations} processes, slowest {:?}",
        lambda.slowest()
    );
}

/// Wraps an invoker so that every Create is delivered twice, as when Cognito times out and
/// retries: the first answer is lost, the second is used.
struct RetryingCreate<'a>(&'a Lambda);

impl Invoker for RetryingCreate<'_> {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        if event["triggerSource"] == "CreateAuthChallenge_Authentication" {
            let _ = self.0.invoke(event.clone()).await;
        }
        self.0.invoke(event).await
    }
}

async fn retried_create_cooldown_reuse_and_resend(store: Store) {
    let w = World::with(store).await;
    let lambda = Lambda::start(Mode::FreshPerInvocation, w.env(&[])).await;
    // Cognito retrying Create for the same round: one email, and its code works.
    let retrying = w.sim(RetryingCreate(&lambda));
    let (mut s, _) = begin(&retrying, &w.username, true).await.unwrap();
    assert_eq!(
        w.emails().len(),
        1,
        "the retried Create sent no second email"
    );
    let code = w.last_code();
    // Within the cooldown a new sign-in reuses the code: no email, and the code answers it.
    let sim = w.sim(&lambda);
    let (mut other, _) = begin(&sim, &w.username, true).await.unwrap();
    assert_eq!(w.emails().len(), 1, "reused within the cooldown");
    assert_eq!(
        sim.respond_custom(&mut other, &code, &[]).await,
        Ok(Step::Tokens)
    );
    // ...and only once.
    let step = retrying.respond_custom(&mut s, &code, &[]).await;
    assert!(is_challenge(&step), "{step:?}");

    // A resend within the cooldown reuses the code; after it, a new code goes out and replaces
    // the old one.
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    let first = w.last_code();
    let sent = w.emails().len();
    let step = sim
        .respond_custom(&mut s, "", &[("action", "resend")])
        .await;
    assert!(is_challenge(&step), "{step:?}");
    assert_eq!(w.emails().len(), sent, "an early resend sends nothing");
    w.age(31, Some(&first)).await;
    let step = sim
        .respond_custom(&mut s, "", &[("action", "resend")])
        .await;
    assert!(is_challenge(&step), "{step:?}");
    assert_eq!(w.emails().len(), sent + 1, "resend sends a new code");
    let second = w.last_code();
    if first != second {
        let step = sim.respond_custom(&mut s, &first, &[]).await;
        assert!(is_challenge(&step), "the replaced code is refused");
    }
    assert_eq!(
        sim.respond_custom(&mut s, &second, &[]).await,
        Ok(Step::Tokens)
    );
}

async fn attempt_limit_and_send_limit(store: Store) {
    let w = World::with(store).await;
    let lambda = Lambda::start(
        Mode::Warm,
        w.env(&[("MAX_ATTEMPTS", "3"), ("SEND_LIMIT", "3")]),
    )
    .await;
    let sim = w.sim(&lambda);
    // MAX_ATTEMPTS wrong answers end the sign-in.
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    let code = w.last_code();
    let wrong = wrong_code(&code);
    assert!(is_challenge(&sim.respond_custom(&mut s, &wrong, &[]).await));
    assert!(is_challenge(&sim.respond_custom(&mut s, &wrong, &[]).await));
    assert_eq!(
        sim.respond_custom(&mut s, &wrong, &[]).await,
        Err(support::too_many_wrong_codes())
    );
    let state = ChallengeState::decode(&w.stored(&w.username).await).unwrap();
    assert_eq!(state.active.unwrap().attempts, 3);
    // Within the cooldown since its issue the exhausted code is not replaced: a new sign-in is
    // refused with a user-safe message, and nothing is mailed.
    assert_eq!(
        begin(&sim, &w.username, false).await.unwrap_err(),
        support::too_many_wrong_codes()
    );
    assert_eq!(w.emails().len(), 1);
    // After it, a new sign-in mails a fresh code, and the exhausted one stays dead.
    w.age(31, Some(&code)).await;
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    assert_eq!(w.emails().len(), 2);
    let second = w.last_code();
    if second != code {
        let step = sim.respond_custom(&mut s, &code, &[]).await;
        assert!(is_challenge(&step), "{step:?}");
    }
    // The send limit: a third email once the second code has expired (a usable one would be
    // reused); then, while that code is usable, a new sign-in gets it again and even a resend
    // past the cooldown is offered it instead of a refusal (it is in the owner's mailbox): no
    // fourth email goes out.
    w.age(301, Some(&second)).await;
    begin(&sim, &w.username, false).await.unwrap();
    assert_eq!(w.emails().len(), 3);
    let third = w.last_code();
    w.age(31, Some(&third)).await;
    let (mut again, _) = begin(&sim, &w.username, false).await.unwrap();
    let step = sim
        .respond_custom(&mut again, "", &[("action", "resend")])
        .await;
    assert!(is_challenge(&step), "{step:?}");
    assert_eq!(
        w.emails().len(),
        3,
        "at the limit: the usable code is offered again"
    );
    assert!(
        outcomes(&lambda)
            .iter()
            .any(|(o, r)| o == "challenge_reused" && r == "send_limited"),
        "{:?}",
        outcomes(&lambda)
    );
    assert_eq!(
        sim.respond_custom(&mut again, &third, &[]).await,
        Ok(Step::Tokens)
    );
    // With no usable code left, the refusal.
    let err = begin(&sim, &w.username, false).await.unwrap_err();
    assert_eq!(
        err,
        SignInError::TriggerFailed(
            "CreateAuthChallenge failed with error OTP_TOO_MANY_CODES: Too many codes were requested. Please wait a while before trying again.".into()
        )
    );
    assert_eq!(w.emails().len(), 3);
    // The first sign-in: three answers judged wrong, then Define asked for one more round and
    // Create refused it.
    let log = outcomes(&lambda);
    let refused = log
        .iter()
        .position(|(o, _)| o == "too_many_attempts")
        .expect("the sign-in was ended");
    assert_eq!(
        log[refused - 1],
        ("ending_next".into(), "too_many_attempts".into()),
        "{log:?}"
    );
    let wrong_answers = log[..refused]
        .iter()
        .filter(|(o, r)| o == "answer_rejected" && r == "wrong")
        .count();
    assert_eq!(wrong_answers, 3, "{log:?}");
    assert_eq!(lambda.processes(), 1);
}

async fn codes_expire(store: Store) {
    let w = World::with(store).await;
    let lambda = Lambda::start(Mode::Warm, w.env(&[("CODE_TTL_SECONDS", "30")])).await;
    let sim = w.sim(&lambda);
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    let code = w.last_code();
    // The process reads the system clock, as in Lambda; the stored code is moved 31 s into the
    // past instead of waiting (its hash is recomputed, so only the time makes it fail).
    w.age(31, Some(&code)).await;
    let step = sim.respond_custom(&mut s, &code, &[]).await;
    assert!(is_challenge(&step), "an expired code is refused: {step:?}");
    assert!(
        outcomes(&lambda)
            .iter()
            .any(|(o, r)| o == "answer_rejected" && r == "expired"),
        "{:?}",
        outcomes(&lambda)
    );
}

async fn unknown_users_get_a_decoy_and_no_email(store: Store) {
    let w = World::with(store).await;
    let lambda = Lambda::start(Mode::FreshPerInvocation, w.env(&[])).await;
    let sim = w.sim(&lambda);
    let (_, real) = begin(&sim, &w.username, false).await.unwrap();
    let Step::CustomChallenge(real) = real else {
        panic!("{real:?}")
    };
    let (ses_calls, cognito_calls) = (
        w.proxy.ses_requests.load(Ordering::SeqCst),
        w.proxy.cognito_requests.load(Ordering::SeqCst),
    );
    let emails = w.emails().len();
    let (mut s, step) = begin(&sim, "nobody@example.org", false).await.unwrap();
    let Step::CustomChallenge(public) = step else {
        panic!("{step:?}")
    };
    // The same shape as a real challenge.
    assert_eq!(
        public.keys().collect::<Vec<_>>(),
        real.keys().collect::<Vec<_>>()
    );
    assert_eq!(public["codeLength"], real["codeLength"]);
    assert!(public["destination"].contains("***@"));
    for _ in 0..2 {
        assert!(is_challenge(
            &sim.respond_custom(&mut s, "123456", &[]).await
        ));
    }
    // It ends as a real user's does.
    assert_eq!(
        sim.respond_custom(&mut s, "123456", &[]).await,
        Err(support::too_many_wrong_codes())
    );
    assert_eq!(w.emails().len(), emails, "no email for an unknown user");
    assert_eq!(w.proxy.ses_requests.load(Ordering::SeqCst), ses_calls);
    assert_eq!(
        w.proxy.cognito_requests.load(Ordering::SeqCst),
        cognito_calls
    );
    assert!(outcomes(&lambda).iter().any(|(o, _)| o == "decoy"));
    // Operators see decoys as decoys: every code the log calls sent was mailed.
    let sent = |l: &Lambda| {
        outcomes(l)
            .iter()
            .filter(|(o, _)| o == "challenge_issued" || o == "challenge_resent")
            .count()
    };
    assert_eq!(sent(&lambda), w.emails().len());
    if store == Store::Table {
        // With a table the unknown name has state like a real user, under a keyed key: its
        // attempts were counted, so a new sign-in within the cooldown is refused exactly as a
        // real user's is after three wrong answers.
        let real_key = w.item_key(&w.username);
        let items = w.moto.items(TABLE).await;
        let item = items
            .iter()
            .find(|i| i["pk"].as_s().ok() != Some(&real_key))
            .expect("the decoy's item");
        let all = format!("{item:?}");
        assert!(!all.contains("nobody") && !all.contains("123456"), "{all}");
        let state = ChallengeState::decode(item["st"].as_s().unwrap()).unwrap();
        assert_eq!(state.active.unwrap().attempts, 3);
        let code = w.last_code();
        let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
        for _ in 0..3 {
            let _ = sim.respond_custom(&mut s, &wrong_code(&code), &[]).await;
        }
        let real = begin(&sim, &w.username, false).await.unwrap_err();
        let unknown = begin(&sim, "nobody@example.org", false).await.unwrap_err();
        assert_eq!(unknown, real);
        assert!(
            format!("{real:?}").contains("OTP_TOO_MANY_ATTEMPTS: Too many wrong codes"),
            "{real:?}"
        );
        assert_eq!(sent(&lambda), w.emails().len());
    }
}

/// A fault for [`faults_fail_cleanly_in_time_and_the_same_process_recovers`]: SES, Cognito, or
/// the table throttled.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    Ses(SesFault),
    Cognito(CognitoFault),
    TableThrottled,
}

impl Fault {
    fn apply(self, w: &World) {
        let (ses, cognito) = match self {
            Fault::Ses(f) => (f, CognitoFault::Ok),
            Fault::Cognito(f) => (SesFault::Ok, f),
            Fault::None | Fault::TableThrottled => (SesFault::Ok, CognitoFault::Ok),
        };
        w.proxy.set(ses, cognito);
        w.proxy
            .table_throttled
            .store(matches!(self, Fault::TableThrottled), Ordering::SeqCst);
    }
}

async fn faults_fail_cleanly_in_time_and_the_same_process_recovers(store: Store) {
    let w = World::with(store).await;
    let lambda = Lambda::start(Mode::Warm, w.env(&[("SEND_LIMIT", "100")])).await;
    let sim = w.sim(&lambda);
    let send_failed = "CreateAuthChallenge failed with error OTP_EMAIL_NOT_SENT: We could not send your code. Please try again in a minute.";
    let create_store_failed = "CreateAuthChallenge failed with error OTP_TRY_AGAIN: We could not complete your sign-in. Please try again in a minute.";
    let verify_store_failed = "VerifyAuthChallengeResponse failed with error OTP_TRY_AGAIN: We could not complete your sign-in. Please try again in a minute.";
    // SES refusing or throttling: nothing went out, so the sign-in fails and the state goes back.
    let mut create_faults = vec![
        (Fault::Ses(SesFault::Throttled), send_failed),
        (Fault::Ses(SesFault::Rejected), send_failed),
    ];
    // The store failing: Cognito throttled or stalled, or the table throttled; and the write that
    // consumes a right answer failing.
    let (store_faults, consume_fault) = match store {
        Store::Attribute => (
            vec![
                Fault::Cognito(CognitoFault::Throttled),
                Fault::Cognito(CognitoFault::Stall),
            ],
            Fault::Cognito(CognitoFault::WritesThrottled),
        ),
        Store::Table => (vec![Fault::TableThrottled], Fault::TableThrottled),
    };
    let store_errors = store_faults.len() as u64 + 1;
    create_faults.extend(store_faults.into_iter().map(|f| (f, create_store_failed)));
    let mut report = Vec::new();
    for (fault, message) in create_faults {
        fault.apply(&w);
        lambda.reset_records();
        let emails = w.emails().len();
        let ses_bodies = w.proxy.ses_bodies.lock().unwrap().len();
        let err = begin(&sim, &w.username, false).await.unwrap_err();
        assert_eq!(err, SignInError::TriggerFailed(message.into()), "{fault:?}");
        let worst = lambda.slowest();
        assert!(worst < COGNITO_LIMIT, "{fault:?}: {worst:?}");
        report.push((format!("{fault:?}"), worst));
        assert_eq!(w.emails().len(), emails, "nothing delivered");
        // A code that reached a failing SES is never accepted later.
        let attempted = codes_sent_to_ses(&w, ses_bodies);
        // The fault clears: the same process signs the user in.
        Fault::None.apply(&w);
        let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
        let code = w.last_code();
        for old in attempted.iter().filter(|c| **c != code) {
            let step = sim.respond_custom(&mut s, old, &[]).await;
            assert!(is_challenge(&step), "{fault:?}: {step:?}");
        }
        assert_eq!(
            sim.respond_custom(&mut s, &code, &[]).await,
            Ok(Step::Tokens),
            "{fault:?}"
        );
    }
    // SES answering 5xx or not at all: the email may have gone out, so the sign-in goes on with
    // its code kept (counted, not restored), SES asked once, and that code signs in.
    for fault in [
        Fault::Ses(SesFault::ServerError),
        Fault::Ses(SesFault::Stall),
    ] {
        fault.apply(&w);
        lambda.reset_records();
        let ses_bodies = w.proxy.ses_bodies.lock().unwrap().len();
        let (mut s, step) = begin(&sim, &w.username, false).await.unwrap();
        assert!(
            matches!(step, Step::CustomChallenge(_)),
            "{fault:?}: {step:?}"
        );
        assert!(lambda.slowest() < COGNITO_LIMIT, "{fault:?}");
        report.push((format!("{fault:?}"), lambda.slowest()));
        assert!(
            outcomes(&lambda)
                .iter()
                .any(|(o, _)| o == "send_unconfirmed")
        );
        Fault::None.apply(&w);
        let attempted = codes_sent_to_ses(&w, ses_bodies);
        assert_eq!(attempted.len(), 1, "{fault:?}: one request, no retry");
        assert_eq!(
            sim.respond_custom(&mut s, &attempted[0], &[]).await,
            Ok(Step::Tokens),
            "{fault:?}"
        );
    }
    // The store's write failing while a right answer is consumed: refused, and usable later.
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    let code = w.last_code();
    consume_fault.apply(&w);
    lambda.reset_records();
    let err = sim.respond_custom(&mut s, &code, &[]).await.unwrap_err();
    assert_eq!(err, SignInError::TriggerFailed(verify_store_failed.into()));
    report.push(("consume write throttled".into(), lambda.slowest()));
    assert!(lambda.slowest() < COGNITO_LIMIT);
    Fault::None.apply(&w);
    let (mut s, _) = sim.initiate_auth(&w.username, false).await.unwrap();
    let code = w.last_code();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
    let mut lambda = lambda;
    assert!(
        lambda.is_running() && lambda.processes() == 1,
        "one process throughout"
    );
    // The error metrics count each failure once: two SES failures and two unconfirmed sends,
    // and each store fault.
    let docs: Vec<Value> = lambda
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    let total = |m: &str| docs.iter().filter_map(|d| d[m].as_u64()).sum::<u64>();
    assert_eq!(total("DeliveryError"), 4);
    assert_eq!(total("StoreError"), store_errors);
    assert_eq!(total("CodeSent"), w.emails().len() as u64);
    for (fault, worst) in &report {
        println!(
            "fault {fault:<28} worst invocation {:>7.1} ms",
            worst.as_secs_f64() * 1000.0
        );
    }
}

/// The codes of the SES requests the proxy received after the first `since`.
fn codes_sent_to_ses(w: &World, since: usize) -> Vec<String> {
    w.proxy.ses_bodies.lock().unwrap()[since..]
        .iter()
        .filter_map(|b| {
            let v: Value = serde_json::from_str(b).ok()?;
            code_from_email(v["Content"]["Simple"]["Body"]["Text"]["Data"].as_str()?)
        })
        .collect()
}

async fn hostile_payloads_through_the_runtime_api(store: Store) {
    let w = World::with(store).await;
    let mut lambda = Lambda::start(Mode::Warm, w.env(&[])).await;
    let define: Value = serde_json::from_str(
        &std::fs::read_to_string("events/define/passwordless-start.json").unwrap(),
    )
    .unwrap();
    let mut payloads: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"{\"triggerSource\":".to_vec(),
        "[".repeat(200_000).into_bytes(),
        format!("{}{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes(),
        json!({"triggerSource": 12}).to_string().into_bytes(),
        json!({"triggerSource": "x".repeat(5_000_000)})
            .to_string()
            .into_bytes(),
        json!({"triggerSource": "CustomMessage_SignUp"})
            .to_string()
            .into_bytes(),
    ];
    let mut e = define.clone();
    e["request"]["session"] = json!("not a list");
    payloads.push(e.to_string().into_bytes());
    let mut e = define.clone();
    e["request"]["userAttributes"]["email"] = json!("a".repeat(1_000_000));
    payloads.push(e.to_string().into_bytes());
    for p in &payloads {
        let reply = lambda.invoke_raw(p.clone()).await;
        assert!(
            matches!(reply, Some(Reply::Error { .. }) | Some(Reply::Response(_))),
            "{}: {reply:?}",
            String::from_utf8_lossy(&p[..p.len().min(60)])
        );
        if let Some(Reply::Response(v)) = &reply {
            assert_ne!(v["response"]["issueTokens"], json!(true));
        }
        // Our own errors are short; the runtime's own deserialisation error quotes a path.
        if let Some(Reply::Error {
            error_type,
            message,
        }) = &reply
            && ["InvalidEvent", "UnsupportedTrigger"].contains(&error_type.as_str())
        {
            assert!(message.len() < 300, "{}", &message[..300]);
        }
        assert!(lambda.is_running(), "the process survived");
    }
    // Arbitrary answers to a live challenge: never accepted. Sampled from a proptest strategy.
    let sim = w.sim(&lambda);
    let (s, _) = begin(&sim, &w.username, false).await.unwrap();
    let code = w.last_code();
    let attrs = attributes(&w.cognito, &w.pool_id, &w.username).await;
    let mut runner = TestRunner::deterministic();
    let answers = proptest::prop_oneof![
        ".{0,40}",
        "[0-9]{0,12}",
        "[٠-٩]{6}",
        proptest::string::string_regex("[0-9a-z ]{1000,5000}").unwrap(),
    ];
    let mut cases = 0;
    for _ in 0..64 {
        let answer = answers.new_tree(&mut runner).unwrap().current();
        if answer == code {
            continue;
        }
        let event = verify_event(&w, &s, &attrs, &json!(answer));
        let Some(Reply::Response(out)) = lambda.invoke_raw(event.to_string().into_bytes()).await
        else {
            panic!("no response for {answer:?}")
        };
        assert_eq!(out["response"]["answerCorrect"], false, "{answer:?}");
        cases += 1;
    }
    for answer in [
        json!(12345678),
        json!(null),
        json!(["x"]),
        json!({"a": code}),
    ] {
        let event = verify_event(&w, &s, &attrs, &answer);
        let reply = lambda.invoke_raw(event.to_string().into_bytes()).await;
        assert!(
            !matches!(&reply, Some(Reply::Response(v)) if v["response"]["answerCorrect"] == true),
            "{answer}: {reply:?}"
        );
    }
    assert!(lambda.is_running());
    println!(
        "hostile payloads: {} raw, {cases} sampled answers",
        payloads.len()
    );
}

#[tokio::test]
async fn a_bad_configuration_is_reported_as_an_init_error() {
    let mut env = lambda_env("http://127.0.0.1:9", &[("AUTH_FLOW", "sms")]);
    env.retain(|(k, _)| k != "CODE_HMAC_KEY");
    let lambda = Lambda::start(Mode::FreshPerInvocation, env).await;
    let reply = lambda.invoke_raw(b"{}".to_vec()).await;
    let Some(Reply::InitError {
        error_type,
        message,
    }) = reply
    else {
        panic!("{reply:?}")
    };
    assert_eq!(error_type, "Runtime.ConfigError");
    assert!(
        message.contains("CODE_HMAC_KEY") && message.contains("AUTH_FLOW"),
        "{message}"
    );
    assert!(!lambda.output().contains("panicked"));
}

/// N wrong answers at once, from N warm execution environments, all built from one read of the
/// user (the worst case: every request read the attribute before any write landed). Then wrong
/// answers one at a time until the code is exhausted. Counts how many answers were judged in all.
async fn parallel_guessing_is_bounded(store: Store) {
    const N: usize = 8;
    const TRIALS: usize = 4;
    const MAX_ATTEMPTS: usize = 3;
    let w = World::with(store).await;
    let env = w.env(&[("SEND_LIMIT", "100")]);
    let envs = warm_lambdas(&env, N).await;
    let judged = |lambdas: &[Lambda]| {
        lambdas
            .iter()
            .flat_map(outcomes)
            .filter(|(o, r)| o == "answer_rejected" && r == "wrong")
            .count()
    };
    let mut worst_beyond = 0usize;
    let mut in_burst = Vec::new();
    let mut accepted_in_right_bursts = Vec::new();
    for trial in 0..TRIALS {
        // A fresh code.
        let sim = w.sim(&envs[0]);
        let (s, _) = begin(&sim, &w.username, false).await.unwrap();
        let code = w.last_code();
        let before = judged(&envs);
        let attrs = attributes(&w.cognito, &w.pool_id, &w.username).await;
        let guesses = envs.iter().enumerate().map(|(i, l)| {
            // Distinct wrong answers.
            let guess = format!(
                "{:06}",
                (code.parse::<u32>().unwrap() + 1 + i as u32) % 1_000_000
            );
            let event = verify_event(&w, &s, &attrs, &json!(guess));
            async move { l.invoke(event).await }
        });
        for r in futures::future::join_all(guesses).await {
            assert_eq!(r.unwrap()["response"]["answerCorrect"], false);
        }
        let burst_judged = judged(&envs) - before;
        // Then one at a time, each from a fresh read, until the code is exhausted.
        let mut sequential = 0;
        loop {
            let attrs = attributes(&w.cognito, &w.pool_id, &w.username).await;
            let state = ChallengeState::decode(&w.stored(&w.username).await).unwrap();
            if usize::from(state.active.unwrap().attempts) >= MAX_ATTEMPTS {
                break;
            }
            let event = verify_event(&w, &s, &attrs, &json!(wrong_code(&code)));
            (&envs[0]).invoke(event).await.unwrap();
            sequential += 1;
        }
        let total = burst_judged + sequential;
        worst_beyond = worst_beyond.max(total.saturating_sub(MAX_ATTEMPTS));
        in_burst.push(burst_judged);
        // The same burst with the right code: at most one may be accepted (single use). The
        // exhausted code is first aged past its cooldown, so the sign-in gets a new one.
        w.age(31, None).await;
        let (s, _) = begin(&sim, &w.username, false).await.unwrap();
        let code = w.last_code();
        let attrs = attributes(&w.cognito, &w.pool_id, &w.username).await;
        let accepted = burst(&envs, &verify_event(&w, &s, &attrs, &json!(code)))
            .await
            .into_iter()
            .filter(|r| r.as_ref().unwrap()["response"]["answerCorrect"] == true)
            .count();
        accepted_in_right_bursts.push(accepted);
        println!(
            "trial {trial}: {N} parallel wrong answers, {burst_judged} judged, {sequential} more one at a time; {accepted} of {N} parallel right answers accepted"
        );
    }
    println!(
        "parallel guessing: worst {worst_beyond} answers judged beyond MAX_ATTEMPTS={MAX_ATTEMPTS} with {N} parallel guesses; judged per burst {in_burst:?}; accepted per right burst {accepted_in_right_bursts:?}"
    );
    match store {
        // Without the read-back every one of the N answers is judged (N - 1 = 7 beyond the
        // first). Measured with it: 0 beyond, 1 judged per burst, in every run so far; the bound
        // allows one for a burst whose writes straddle the settle window on a loaded machine.
        Store::Attribute => {
            assert!(worst_beyond <= 1, "{worst_beyond}");
            assert!(
                accepted_in_right_bursts.iter().all(|&a| a <= 1),
                "{accepted_in_right_bursts:?}"
            );
        }
        // Conditional writes: exact. Every burst judges exactly MAX_ATTEMPTS answers (the rest
        // are refused as exhausted without a write), and exactly one right answer is accepted.
        Store::Table => {
            assert_eq!(worst_beyond, 0);
            assert_eq!(in_burst, vec![MAX_ATTEMPTS; TRIALS]);
            assert_eq!(accepted_in_right_bursts, vec![1; TRIALS]);
        }
    }
}

async fn a_second_user_is_unaffected_by_the_first(store: Store) {
    // Users are independent: a user with no state signs in while another is locked out.
    let w = World::with(store).await;
    add_user(&w.cognito, &w.pool_id, "second-user", "second@example.net").await;
    let lambda = Lambda::start(Mode::Warm, w.env(&[("MAX_ATTEMPTS", "1")])).await;
    let sim = w.sim(&lambda);
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    let code = w.last_code();
    assert_eq!(
        sim.respond_custom(&mut s, &wrong_code(&code), &[]).await,
        Err(support::too_many_wrong_codes())
    );
    let (mut s, _) = begin(&sim, "second-user", false).await.unwrap();
    let code = w.last_code();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
}

for_each_store!(
    both_flows_with_a_fresh_process_for_every_invocation,
    retried_create_cooldown_reuse_and_resend,
    attempt_limit_and_send_limit,
    codes_expire,
    unknown_users_get_a_decoy_and_no_email,
    parallel_guessing_is_bounded,
    a_second_user_is_unaffected_by_the_first,
    hostile_payloads_through_the_runtime_api,
    faults_fail_cleanly_in_time_and_the_same_process_recovers,
);

/// The DynamoDB store's calls per sign-in, counted at the proxy: a user with no live state costs
/// Create one conditional write and the send, and Verify one conditional write (plus, the first
/// time only, Cognito's `email_verified`); no Cognito read anywhere.
#[tokio::test]
async fn the_table_store_makes_one_write_per_trigger() {
    let w = World::with(Store::Table).await;
    let lambda = Lambda::start(Mode::Warm, w.env(&[])).await;
    let sim = w.sim(&lambda);
    let dynamo = || w.proxy.dynamo_requests.lock().unwrap().clone();
    let cognito = || w.proxy.cognito_requests.load(Ordering::SeqCst);
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    assert_eq!(dynamo(), ["updateitem"], "Create: one write");
    assert_eq!(w.proxy.ses_requests.load(Ordering::SeqCst), 1);
    assert_eq!(cognito(), 0, "no Cognito call");
    let code = w.last_code();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
    assert_eq!(dynamo(), ["updateitem"; 2], "Verify: one write");
    assert_eq!(cognito(), 1, "email_verified, the first time only");
    let attrs = attributes(&w.cognito, &w.pool_id, &w.username).await;
    assert_eq!(attrs["email_verified"], "true");
    assert!(!attrs.contains_key("custom:authChallenge"));
    // A returning user within the send window: the first write, decided on "no live state", is
    // refused and returns the state; the second is decided on it. Verify: one write.
    w.age(31, None).await;
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    assert_eq!(dynamo().len(), 4, "{:?}", dynamo());
    let code = w.last_code();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
    assert_eq!(dynamo().len(), 5);
    assert_eq!(cognito(), 1, "already verified: no Cognito write");
    println!("table store calls for two sign-ins: {:?}", dynamo());
}

/// The table failing: throttled, holding an item this function did not write, or missing. Each
/// fails the invocation closed within Cognito's limit, names the cause in the log, and the same
/// process serves again once the table is back.
#[tokio::test]
async fn table_faults_fail_closed_and_name_the_cause() {
    let create_failed = "CreateAuthChallenge failed with error OTP_TRY_AGAIN: We could not complete your sign-in. Please try again in a minute.";
    let verify_failed = "VerifyAuthChallengeResponse failed with error OTP_TRY_AGAIN: We could not complete your sign-in. Please try again in a minute.";
    let w = World::with(Store::Table).await;
    let lambda = Lambda::start(Mode::Warm, w.env(&[])).await;
    let sim = w.sim(&lambda);
    // Throttled (ProvisionedThroughputExceededException): nothing sent, nothing accepted.
    w.proxy.table_throttled.store(true, Ordering::SeqCst);
    assert_eq!(
        begin(&sim, &w.username, false).await.unwrap_err(),
        SignInError::TriggerFailed(create_failed.into())
    );
    assert_eq!(w.emails().len(), 0);
    w.proxy.table_throttled.store(false, Ordering::SeqCst);
    let (mut s, _) = begin(&sim, &w.username, false).await.unwrap();
    let code = w.last_code();
    w.proxy.table_throttled.store(true, Ordering::SeqCst);
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Err(SignInError::TriggerFailed(verify_failed.into()))
    );
    w.proxy.table_throttled.store(false, Ordering::SeqCst);
    assert!(
        lambda
            .output()
            .contains("ProvisionedThroughputExceededException")
    );
    // A refused condition that is not contention: an item at the user's key with none of our
    // attributes. Refused by name, not retried until the budget runs out.
    let key = w.item_key(&w.username);
    w.moto
        .dynamodb()
        .await
        .put_item()
        .table_name(TABLE)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(key))
        .item(
            "owner",
            aws_sdk_dynamodb::types::AttributeValue::S("another app".into()),
        )
        .send()
        .await
        .unwrap();
    let t = std::time::Instant::now();
    assert_eq!(
        begin(&sim, &w.username, false).await.unwrap_err(),
        SignInError::TriggerFailed(create_failed.into())
    );
    assert!(t.elapsed() < COGNITO_LIMIT);
    assert!(lambda.output().contains("not written by this function"));
    assert_eq!(w.emails().len(), 1);
    assert_eq!(lambda.processes(), 1);
    assert!(lambda.slowest() < COGNITO_LIMIT, "{:?}", lambda.slowest());
    // A table that does not exist: the first call fails, naming CHALLENGE_TABLE; no panic.
    let missing = Lambda::start(Mode::Warm, w.env(&[("CHALLENGE_TABLE", "no-such-table")])).await;
    let sim = w.sim(&missing);
    assert_eq!(
        begin(&sim, &w.username, false).await.unwrap_err(),
        SignInError::TriggerFailed(create_failed.into())
    );
    let output = missing.output();
    assert!(
        output.contains("ResourceNotFoundException") && output.contains("CHALLENGE_TABLE"),
        "{output}"
    );
    assert!(!output.contains("panicked"));
    assert_eq!(missing.processes(), 1);
}
