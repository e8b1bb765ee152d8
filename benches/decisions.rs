//! The pure decision and state paths, with criterion: no I/O, no SDK. `make bench` runs this first
//! and `benches/runtime.rs` quotes its medians (from `criterion/*/new/estimates.json` in the target directory).

use std::hint::black_box;

use cognito_email_otp::adapters::local::{LocalMailbox, LocalUserStore};
use cognito_email_otp::config::Config;
use cognito_email_otp::domain::flow::{self, AuthFlow, ChallengeKind, DefineContext, Round};
use cognito_email_otp::domain::policy::{self, UserRef, VerifyInput};
use cognito_email_otp::domain::state::ChallengeState;
use cognito_email_otp::ports::SystemClock;
use cognito_email_otp::telemetry::MetricsSink;
use cognito_email_otp::triggers::App;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;

const NOW: u32 = 1_767_225_600;
const USER: UserRef<'static> = UserRef {
    pool_id: "eu-west-1_Q7xk2PzRm",
    username: "5c2e9a14-7b31-4f0e-9d6a-1f8b3c0e7a52",
};

fn benches(c: &mut Criterion) {
    // The default configuration: its limits and hasher are what the decisions run with.
    let env = [
        ("EMAIL_FROM", "Acme <no-reply@acme.example>"),
        ("CODE_HMAC_KEY", "bench-key-0123456789abcdef0123456789"),
        ("AUTH_FLOW", "both"),
    ];
    let config = Config::from_lookup(|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let limits = config.limits;
    let cognito_email_otp::config::CodeKey::Inline(hasher) = config.code_key.clone() else {
        unreachable!("CODE_HMAC_KEY is set above")
    };
    let destination = hasher.destination_tag(
        &cognito_email_otp::domain::email::EmailAddress::parse("maria.rossi@example.org").unwrap(),
    );

    // Define after SRP_A, PASSWORD_VERIFIER and one wrong answer.
    let ctx = DefineContext {
        flow: AuthFlow::Mfa,
        max_attempts: 3,
        send_limit: 5,
        user_not_found: false,
        has_email: true,
        resend_requested: false,
        password_change: None,
    };
    let session = vec![
        Round {
            kind: ChallengeKind::SrpA,
            succeeded: true,
            label: None,
        },
        Round {
            kind: ChallengeKind::PasswordVerifier,
            succeeded: true,
            label: None,
        },
        Round {
            kind: ChallengeKind::Custom,
            succeeded: false,
            label: Some(flow::ROUND_LABEL.into()),
        },
    ];
    c.bench_function("define_decision", |b| {
        b.iter(|| flow::decide(black_box(&ctx), black_box(&session)))
    });

    c.bench_function("code_issue", |b| {
        b.iter(|| policy::issue(&limits, NOW, None, &hasher, black_box(USER), destination))
    });

    let issued = policy::issue(&limits, NOW, None, &hasher, USER, destination);
    let nonce = issued.active().nonce;
    let state = issued.state.clone();
    c.bench_function("verify_hash_check", |b| {
        b.iter(|| {
            let input = VerifyInput {
                now: NOW + 10,
                state: Some(&state),
                round_nonce: Some(nonce),
                answer: Some(black_box("000000")),
                resend_requested: false,
                destination: Some(destination),
            };
            policy::judge(&limits, &input, &hasher, USER)
        })
    });

    let encoded = state.encode();
    c.bench_function("state_encode", |b| b.iter(|| black_box(&state).encode()));
    c.bench_function("state_decode", |b| {
        b.iter(|| ChallengeState::decode(black_box(&encoded)))
    });

    // The whole Define handler in-process: parse the request, decide, write the response, log.
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(
        config,
        LocalMailbox::new(dir.path().join("mail"), "x@acme.example".into()),
        LocalUserStore::new(dir.path().join("users.json"), "custom:authChallenge".into()),
        SystemClock,
    )
    .with_metrics(MetricsSink::discard());
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string("events/define/mfa-after-wrong-answer.json").unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function("define_handler", |b| {
        b.iter(|| rt.block_on(app.handle(black_box(event.clone()))).unwrap())
    });
}

criterion_group!(decisions, benches);
criterion_main!(decisions);
