//! Shared test helpers: configuration from pairs, a fixed clock, local apps in a temp dir.

#![allow(dead_code)]

use std::collections::BTreeMap;

use cognito_email_otp::adapters::local::{LocalMailbox, LocalUserStore};
use cognito_email_otp::config::Config;
use cognito_email_otp::ports::Clock;
use cognito_email_otp::telemetry::MetricsSink;
use cognito_email_otp::triggers::App;

pub mod lambda;
pub mod moto;
pub mod pool;
pub mod world;

/// What the client gets at the end of a sign-in's `MAX_ATTEMPTS`-th wrong code (and at a new
/// sign-in while the exhausted code is locked): Create's refusal, with its token.
pub const TOO_MANY_WRONG_CODES: &str = "CreateAuthChallenge failed with error OTP_TOO_MANY_ATTEMPTS: \
     Too many wrong codes. Please wait a minute, then sign in again for a new code.";

/// [`TOO_MANY_WRONG_CODES`] as the simulator reports it.
pub fn too_many_wrong_codes() -> cognito_email_otp::simulator::SignInError {
    cognito_email_otp::simulator::SignInError::TriggerFailed(TOO_MANY_WRONG_CODES.into())
}

/// A clock that says whatever the test sets.
#[derive(Debug, Default)]
pub struct TestClock(pub std::sync::atomic::AtomicU32);

impl TestClock {
    pub fn at(t: u32) -> Self {
        Self(std::sync::atomic::AtomicU32::new(t))
    }
    pub fn advance(&self, secs: u32) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Clock for &TestClock {
    fn now(&self) -> u32 {
        (*self).now()
    }
}

/// The system clock plus an offset a test can move forward: for code paths that read real time
/// (the AWS adapters' tests), so a cooldown can pass without waiting for it.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl OffsetClock {
    pub fn advance(&self, secs: u32) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> u32 {
        cognito_email_otp::ports::SystemClock.now()
            + self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub const KEY: &str = "integration-test-key-0123456789abcdef";

/// A configuration from `pairs` on top of the two required variables.
pub fn config(pairs: &[(&str, &str)]) -> Config {
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        ("EMAIL_FROM".into(), "Acme <no-reply@acme.example>".into()),
        ("CODE_HMAC_KEY".into(), KEY.into()),
    ]);
    for (k, v) in pairs {
        env.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid")
}

pub type LocalApp<'c> = App<LocalMailbox, LocalUserStore, &'c TestClock>;

/// An app on local adapters under `dir`.
pub fn local_app<'c>(dir: &std::path::Path, config: Config, clock: &'c TestClock) -> LocalApp<'c> {
    let mailbox = LocalMailbox::new(dir.join("mailbox"), config.email_from.header_value());
    let store = LocalUserStore::new(dir.join("users.json"), config.challenge_attribute.clone());
    // Metrics go nowhere: direct writes to stdout would bypass the test harness's capture.
    App::new(config, mailbox, store, clock).with_metrics(MetricsSink::discard())
}
