//! The application layer: one entry point for every Cognito trigger this function serves.
//!
//! [`App::handle`] takes the raw event, routes on `triggerSource`, maps the event into domain
//! terms, runs the I/O the domain asks for inside a [`Budget`], and writes `response` back into the
//! same JSON object, so fields Cognito adds later pass through untouched. It writes one log line
//! per invocation with the trigger, the outcome, the duration and a user reference that is not
//! personal data.
//!
//! One event is not Cognito's: the scheduled drift check (`{"otpDriftCheck": {...}}`, see
//! [`drift`]), recognised before `triggerSource` is looked for.

mod create;
mod decoy;
mod define;
pub mod drift;
pub mod error;
mod pre_signup;
mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value};
use tracing::{info, warn};

pub use error::TriggerError;

use crate::config::{CodeKey, Config};
use crate::domain::code::CodeHasher;
use crate::domain::email::EmailAddress;
use crate::domain::policy::{self, UserRef};
use crate::domain::random;
use crate::domain::state::{ChallengeState, WRITE_TAG_LEN};
use crate::hex;
use crate::ports::{
    ChallengeStore, Clock, KeySource, Mailer, NoInspector, PoolInspector, Snapshot, StateWrite,
    Stored, Version,
};
use crate::telemetry::{Emf, Metric, MetricsSink, Sample};

/// How long an invocation may take end to end. Cognito stops waiting at 5 s; this leaves room for
/// the runtime round trip and a cold start.
pub const TRIGGER_BUDGET: Duration = Duration::from_millis(4000);
/// The most a single write or send may take (matches the SDK operation timeout).
pub const CALL_CAP: Duration = Duration::from_millis(1600);
/// The most a read of the stored state may take. There is no fallback: a decision is only ever
/// made on a fresh read, and a read that fails or runs past this cap fails the invocation closed
/// (`StoreFailed`, nothing written, no answer accepted). Healthy in-region reads take tens of
/// milliseconds; 1 s lets a slow but healthy Cognito through, and keeps the slowest Create
/// (read, write, read-back, send and restore, each at its cap or at most what is left) inside the
/// budget.
pub const READ_CAP: Duration = Duration::from_millis(1000);
/// How long a tagged write is left to settle before it is read back. Every writer that started
/// from the same read and writes within this window is seen by the read-back, so of a burst of
/// parallel writers only the last one goes on (sends its code, has its answer judged).
pub const SETTLE: Duration = Duration::from_millis(100);
/// Kept back from the send for writing the previous state back if the send fails.
pub const RESTORE_RESERVE: Duration = Duration::from_millis(700);
/// Below this much time for the send, the code is not sent at all (and the state is restored).
pub const MIN_SEND_TIME: Duration = Duration::from_millis(300);

/// The trigger sources this function serves.
pub mod sources {
    /// Define auth challenge.
    pub const DEFINE: &str = "DefineAuthChallenge_Authentication";
    /// Create auth challenge.
    pub const CREATE: &str = "CreateAuthChallenge_Authentication";
    /// Verify auth challenge response.
    pub const VERIFY: &str = "VerifyAuthChallengeResponse_Authentication";
    /// The spelling in one table of the current Cognito docs; accepted defensively.
    pub const VERIFY_ALT: &str = "VerifyAuthChallenge_Authentication";
    /// Self-service sign-up.
    pub const SIGN_UP: &str = "PreSignUp_SignUp";
    /// AdminCreateUser (passed through: Cognito ignores the response flags).
    pub const ADMIN_CREATE_USER: &str = "PreSignUp_AdminCreateUser";
    /// First federated sign-in (passed through).
    pub const EXTERNAL_PROVIDER: &str = "PreSignUp_ExternalProvider";
}

/// A per-invocation deadline that every outside call is held to.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

/// The budget ran out before the call finished.
#[derive(Debug, Clone, Copy)]
pub struct OverBudget;

impl Budget {
    /// A budget of `total` from now.
    pub fn starting_now(total: Duration) -> Self {
        Self {
            deadline: Instant::now() + total,
        }
    }

    /// Time left.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Runs `fut` for at most `cap` or the time left, whichever is shorter.
    pub async fn run<T>(
        &self,
        cap: Duration,
        fut: impl Future<Output = T>,
    ) -> Result<T, OverBudget> {
        tokio::time::timeout(cap.min(self.remaining()), fut)
            .await
            .map_err(|_| OverBudget)
    }
}

/// What a write found: stored, refused or replaced, or unknown.
#[derive(Debug)]
enum Written {
    /// Our write is the one stored; this is it, with its version.
    Ours(Snapshot),
    /// Another write got there first: a conditional store refused ours, or an attribute write was
    /// replaced before the read-back. This is what is stored now.
    Replaced(Snapshot),
    /// The write landed but could not be read back: whether it is still ours is unknown.
    Unconfirmed(TriggerError),
}

/// How many times a trigger decides again after a conditional store refused its write because
/// another write got there first. Each refusal means a parallel writer succeeded, so a burst of
/// answers needs at most `MAX_ATTEMPTS` + 1 rounds; past this the invocation fails closed.
pub const MAX_CONFLICTS: usize = 12;

/// What an invocation did, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// What happened: `challenge_issued`, `answer_rejected`, …
    pub name: &'static str,
    /// Why, where there is more to say: `cooldown`, `expired`, …
    pub reason: Option<&'static str>,
}

impl Outcome {
    const fn new(name: &'static str, reason: Option<&'static str>) -> Self {
        Self { name, reason }
    }
}

/// The event header fields the handlers need.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    user_pool_id: String,
    user_name: String,
}

/// The function: configuration plus the adapters, built once per process and borrowed by every
/// invocation.
#[derive(Debug)]
pub struct App<M, S, C, K = CodeKey, I = NoInspector> {
    config: Config,
    mailer: M,
    store: S,
    clock: C,
    keys: K,
    inspector: I,
    emf: Emf,
    metrics: MetricsSink,
    timings: decoy::PathTimings,
    settle: Duration,
}

impl<M: Mailer, S: ChallengeStore, C: Clock> App<M, S, C> {
    /// Wires the configuration and the adapters, with the code key from the configuration
    /// (`CODE_HMAC_KEY`; see [`App::with_keys`] for a secret). Metrics go to stdout as EMF; see
    /// [`App::with_metrics`].
    pub fn new(config: Config, mailer: M, store: S, clock: C) -> Self {
        let emf = Emf::new(
            config.metrics_namespace.clone(),
            config.metrics_pool_dimension,
        );
        let keys = config.code_key.clone();
        Self {
            config,
            mailer,
            store,
            clock,
            keys,
            inspector: NoInspector,
            emf,
            metrics: MetricsSink::stdout(),
            timings: decoy::PathTimings::default(),
            settle: SETTLE,
        }
    }
}

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector> App<M, S, C, K, I> {
    /// The same app with the code key from `keys` (the Lambda binary passes its Secrets Manager
    /// source when `CODE_HMAC_KEY_SECRET_ARN` is set).
    pub fn with_keys<K2: KeySource>(self, keys: K2) -> App<M, S, C, K2, I> {
        App {
            config: self.config,
            mailer: self.mailer,
            store: self.store,
            clock: self.clock,
            keys,
            inspector: self.inspector,
            emf: self.emf,
            metrics: self.metrics,
            timings: self.timings,
            settle: self.settle,
        }
    }

    /// The same app with `inspector` reading pools for the drift check (the Lambda binary passes
    /// [`crate::adapters::admin::AwsInspector`]; without one, a drift event fails its check).
    pub fn with_inspector<I2: PoolInspector>(self, inspector: I2) -> App<M, S, C, K, I2> {
        App {
            config: self.config,
            mailer: self.mailer,
            store: self.store,
            clock: self.clock,
            keys: self.keys,
            inspector,
            emf: self.emf,
            metrics: self.metrics,
            timings: self.timings,
            settle: self.settle,
        }
    }

    /// Waits `settle` instead of [`SETTLE`] between a tagged write and its read-back. Only for a
    /// store no other process writes to (in-process tests of pure decisions): with a shared store,
    /// a shorter window lets more parallel writers through.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The key source (for tests of laziness).
    pub fn keys(&self) -> &K {
        &self.keys
    }

    /// Sends the per-invocation EMF documents to `sink` instead of stdout.
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The mailer (for tests of laziness).
    pub fn mailer(&self) -> &M {
        &self.mailer
    }

    /// The store (for tests of laziness).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one raw Cognito event and returns it with `response` filled in. With no invoked
    /// function ARN, a drift event fails its check: the Lambda runtime calls [`App::handle_as`].
    pub async fn handle(&self, event: Value) -> Result<Value, TriggerError> {
        self.handle_as(event, None).await
    }

    /// Handles one raw event, invoked as `function_arn` (the Lambda context's invoked function
    /// ARN, which the drift check takes for "this function"). A drift event (see [`drift`]) is
    /// recognised first and answered with the check's summary; anything else is routed on
    /// `triggerSource` and returned with `response` filled in.
    pub async fn handle_as(
        &self,
        mut event: Value,
        function_arn: Option<&str>,
    ) -> Result<Value, TriggerError> {
        if drift::is_drift_event(&event) {
            return self.drift(&event, function_arn).await;
        }
        let started = Instant::now();
        let budget = Budget::starting_now(TRIGGER_BUDGET);
        let source = event
            .get("triggerSource")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default();
        let user_ref = self.user_reference(&event);
        let result = match event.as_object_mut() {
            None => Err(TriggerError::InvalidEvent(
                "the event is not a JSON object".into(),
            )),
            Some(obj) => self.route(&source, obj, &budget).await,
        };
        let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let trigger = short(&source);
        let outcome = match &result {
            Ok(o) => o.name,
            Err(e) => e.outcome(),
        };
        match &result {
            Ok(o) => info!(
                trigger,
                flow = self.config.flow.as_str(),
                outcome,
                reason = o.reason,
                duration_ms,
                user = user_ref.as_deref(),
                "invocation"
            ),
            Err(e) => warn!(
                trigger,
                flow = self.config.flow.as_str(),
                outcome,
                error_type = e.error_type(),
                error = %e,
                duration_ms,
                user = user_ref.as_deref(),
                "invocation"
            ),
        }
        let pool_id = event.get("userPoolId").and_then(Value::as_str);
        self.metrics.emit(
            &self.emf.document(&Sample {
                flow: self.config.flow.as_str(),
                pool_id: pool_id.map(short),
                trigger,
                outcome,
                counted: counted_metric(&source, &result),
                duration_ms,
                timestamp_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }),
        );
        result.map(|_| event)
    }

    async fn route(
        &self,
        source: &str,
        event: &mut Map<String, Value>,
        budget: &Budget,
    ) -> Result<Outcome, TriggerError> {
        use sources::*;
        match source {
            DEFINE => self.define(event),
            CREATE => self.create(event, budget).await,
            VERIFY | VERIFY_ALT => self.verify(event, budget).await,
            SIGN_UP => self.pre_sign_up(event),
            ADMIN_CREATE_USER | EXTERNAL_PROVIDER => Ok(Outcome::new("passed_through", None)),
            "" => Err(TriggerError::InvalidEvent(
                "triggerSource is missing or not a string".into(),
            )),
            other => Err(TriggerError::UnsupportedTrigger(short(other).to_owned())),
        }
    }

    /// The user's stored state, read afresh. Never the event's copy: Cognito read that before
    /// invoking us, a retried invocation carries an older one, and a write built on it can undo a
    /// newer write (a consumed code, a counted attempt, a recorded send). A read that fails or runs
    /// past [`READ_CAP`] fails the invocation closed.
    async fn fresh(&self, user: UserRef<'_>, budget: &Budget) -> Result<Snapshot, TriggerError> {
        Ok(budget
            .run(READ_CAP, self.store.read(user))
            .await
            .unwrap_or_else(|_| Err(over_budget::store()))?)
    }

    /// The code key's hasher, fetched on first use within the budget.
    async fn hasher(&self, budget: &Budget) -> Result<&CodeHasher, TriggerError> {
        Ok(budget
            .run(READ_CAP, self.keys.hasher())
            .await
            .unwrap_or_else(|_| Err(over_budget::store()))?)
    }

    /// Writes `state`, decided on the stored version `expected`, stamped with a fresh random tag
    /// (its new version), and learns whether another writer got there first.
    ///
    /// A conditional store answers that itself, in the same request. User attributes have no
    /// conditional write, so there the write is left to settle for [`SETTLE`] and read back:
    /// every parallel writer that started from the same read and wrote within the settle window
    /// is seen, and only the one whose tag is still stored goes on. The residual (a writer whose
    /// own read-to-write took longer than the window) is measured in `tests/e2e.rs` and stated in
    /// docs/security.md.
    async fn write_tagged(
        &self,
        user: UserRef<'_>,
        state: ChallengeState,
        verified_email: Option<&EmailAddress>,
        expected: Version,
        tag: [u8; WRITE_TAG_LEN],
        budget: &Budget,
    ) -> Result<Written, TriggerError> {
        let stamped = self.stamp(state, tag);
        let write = stamped.write(user, self.clock.now(), verified_email);
        let stored = budget
            .run(CALL_CAP, self.store.write(&write, expected))
            .await
            .unwrap_or_else(|_| Err(over_budget::store()))?;
        let ours = Snapshot {
            encoded: Some(stamped.encoded),
            version: Version::Tagged(tag),
        };
        if S::CONDITIONAL {
            return Ok(match stored {
                Stored::Written => Written::Ours(ours),
                Stored::Conflict(now) => Written::Replaced(now),
            });
        }
        tokio::time::sleep(self.settle.min(budget.remaining())).await;
        Ok(match self.fresh(user, budget).await {
            Ok(s) if decode(&s).and_then(|d| d.write_tag) == Some(tag) => Written::Ours(ours),
            Ok(other) => Written::Replaced(other),
            Err(e) => Written::Unconfirmed(e),
        })
    }

    /// `state` stamped with `tag`, its new version, and encoded, with its `live_until`.
    fn stamp(&self, mut state: ChallengeState, tag: [u8; WRITE_TAG_LEN]) -> Stamped {
        state.write_tag = Some(tag);
        Stamped {
            encoded: state.encode(),
            tag,
            live_until: policy::live_until(&self.config.limits, &state),
        }
    }

    /// A keyed hash of pool and username: stable per user, meaningless without the key, and not
    /// the username itself, which may be an email address.
    fn user_reference(&self, event: &Value) -> Option<String> {
        let pool = event.get("userPoolId")?.as_str()?;
        let name = event.get("userName")?.as_str()?;
        let digest = self
            .config
            .reference
            .keyed_reference("log-user", &format!("{pool}/{name}"));
        Some(hex::encode(&digest[..8]))
    }
}

/// The count metric an invocation adds to, if any (see [`crate::telemetry`]).
fn counted_metric(source: &str, result: &Result<Outcome, TriggerError>) -> Option<Metric> {
    match result {
        Ok(o) => match o.name {
            "challenge_issued" | "challenge_resent" => Some(Metric::CodeSent),
            // A send whose outcome is unknown counts against the cap like a sent code; for
            // operators it is a delivery problem.
            "send_unconfirmed" => Some(Metric::DeliveryError),
            "challenge_reused" => Some(Metric::CodeReused),
            "answer_accepted" => Some(Metric::AnswerAccepted),
            "answer_rejected" => Some(Metric::AnswerRejected),
            "refused_session" => Some(Metric::SignInFailed),
            // Verify's decoy is the same unknown user answering; only the challenge is counted.
            "decoy" if source == sources::CREATE => Some(Metric::DecoyChallenge),
            _ => None,
        },
        Err(TriggerError::SendLimited | TriggerError::Locked) => Some(Metric::SendLimited),
        // Refused before the password step, or ended by Create at Define's request (too many
        // wrong answers or rounds): a failed sign-in, counted once, here and not at Define.
        Err(
            TriggerError::TemporaryPassword
            | TriggerError::PasswordResetRequired
            | TriggerError::SignInEnded(_),
        ) => Some(Metric::SignInFailed),
        Err(TriggerError::Delivery(_)) => Some(Metric::DeliveryError),
        Err(TriggerError::Store(_)) => Some(Metric::StoreError),
        Err(_) => None,
    }
}

/// Parses the header fields Create and Verify need.
fn header(event: &Map<String, Value>) -> Result<Header, TriggerError> {
    let get = |k: &str| {
        event
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match (get("userPoolId"), get("userName")) {
        (Some(user_pool_id), Some(user_name)) => Ok(Header {
            user_pool_id,
            user_name,
        }),
        _ => Err(TriggerError::InvalidEvent(
            "userPoolId and userName must be non-empty strings".into(),
        )),
    }
}

impl Header {
    /// Whose state a round reads and writes: the user's own, or an unknown user's under
    /// `decoy_owner` (see `decoy::state_owner`), which every spelling of the typed name shares.
    fn owner<'a>(&'a self, decoy_owner: Option<&'a str>) -> UserRef<'a> {
        UserRef {
            pool_id: &self.user_pool_id,
            username: decoy_owner.unwrap_or(&self.user_name),
        }
    }
}

/// Parses `request` into the `aws_lambda_events` type for the trigger. Only `request` is parsed,
/// so a `response` of unexpected shape does not stop us from answering.
fn request<T: serde::de::DeserializeOwned>(event: &Map<String, Value>) -> Result<T, TriggerError> {
    // `&Value` is itself a deserializer, so the request is read in place, not copied first.
    T::deserialize(event.get("request").unwrap_or(&Value::Null))
        .map_err(|e| error::describe_serde_error("request", &e))
}

/// Whether `clientMetadata` asks for a new code instead of answering.
fn resend_requested(client_metadata: &HashMap<String, String>) -> bool {
    client_metadata
        .get("action")
        .is_some_and(|a| a.eq_ignore_ascii_case("resend"))
}

/// A fresh random write tag (the version a write will store).
fn new_tag() -> [u8; WRITE_TAG_LEN] {
    let mut tag = [0u8; WRITE_TAG_LEN];
    random::fill(&mut tag);
    tag
}

/// Parallel writers kept replacing ours: fail closed rather than decide on and on.
fn contended() -> TriggerError {
    TriggerError::Store(crate::ports::StoreError {
        kind: crate::ports::FailureKind::Unavailable,
        detail: "contended: parallel writes replaced ours".into(),
    })
}

/// A state ready to write: encoded, with its version tag and `live_until`.
struct Stamped {
    encoded: String,
    tag: [u8; WRITE_TAG_LEN],
    live_until: u32,
}

impl Stamped {
    /// The write of this state for `user` at `now`.
    fn write<'a>(
        &'a self,
        user: UserRef<'a>,
        now: u32,
        verified_email: Option<&'a EmailAddress>,
    ) -> StateWrite<'a> {
        StateWrite {
            user,
            encoded: &self.encoded,
            tag: self.tag,
            now,
            live_until: self.live_until,
            verified_email,
        }
    }
}

/// The decoded state of a snapshot (`None` when absent or unreadable).
fn decode(snapshot: &Snapshot) -> Option<ChallengeState> {
    snapshot.encoded.as_deref().and_then(ChallengeState::decode)
}

/// Caps an outside string for logs and messages, on a character boundary.
fn short(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The errors for a call cut off by the [`Budget`].
mod over_budget {
    use crate::ports::{DeliveryError, FailureKind, StoreError};

    const DETAIL: &str = "no answer within the invocation budget";

    pub(crate) fn store() -> StoreError {
        StoreError {
            kind: FailureKind::Timeout,
            detail: DETAIL.into(),
        }
    }

    pub(crate) fn delivery() -> DeliveryError {
        DeliveryError {
            kind: FailureKind::Timeout,
            detail: DETAIL.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cuts_on_a_character_boundary() {
        let s = "é".repeat(100);
        assert_eq!(short(&s).chars().count(), 64);
        assert_eq!(short("abc"), "abc");
    }

    /// Write tags are how a write learns that another one replaced it: two writers must never
    /// hold the same tag. 10,000 draws of 64 bits are all distinct (a collision by chance has
    /// odds of about 1 in 3.7e11).
    #[test]
    fn write_tags_are_fresh_random_values() {
        let tags: std::collections::HashSet<_> = (0..10_000).map(|_| new_tag()).collect();
        assert_eq!(tags.len(), 10_000);
    }

    #[tokio::test]
    async fn the_budget_cuts_a_stalled_call() {
        let b = Budget::starting_now(Duration::from_millis(50));
        let t = Instant::now();
        let r = b
            .run(Duration::from_secs(10), std::future::pending::<()>())
            .await;
        assert!(r.is_err());
        assert!(t.elapsed() < Duration::from_millis(500));
        assert!(b.run(Duration::from_secs(1), async { 7 }).await.is_ok());
    }
}
