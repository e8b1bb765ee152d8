//! The narrow interfaces the application needs from the outside world.
//!
//! Adapters in [`crate::adapters`] implement them against SES v2, Cognito, DynamoDB and Secrets
//! Manager, or locally for the demo; the drift check's [`PoolInspector`] reads a pool with
//! `otp-admin`'s code.
//! The futures are `Send` so any adapter works under a multi-threaded runtime as well.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::admin::{AdminError, Facts, FunctionArn};
use crate::config::CodeKey;
use crate::domain::code::{CodeHasher, OtpCode};
use crate::domain::email::EmailAddress;
use crate::domain::locale::Locale;
use crate::domain::message::{AppName, RenderedEmail, SignInLink};
use crate::domain::policy::UserRef;
use crate::domain::state::WRITE_TAG_LEN;

/// One code email to send.
#[derive(Debug)]
pub struct OutgoingEmail<'a> {
    /// The recipient.
    pub to: &'a EmailAddress,
    /// The code, for template data (a stored SES template renders it itself).
    pub code: &'a OtpCode,
    /// Validity in whole minutes, for template data.
    pub minutes: u32,
    /// The default rendering (used unless a stored template is configured).
    pub rendered: &'a RenderedEmail,
    /// The stored SES template to send instead of `rendered` (`SES_TEMPLATE`), if any.
    pub template: Option<StoredTemplate<'a>>,
}

/// A stored SES template and what its data carries besides the code and minutes.
#[derive(Debug)]
pub struct StoredTemplate<'a> {
    /// The template's name, for the user's locale (`otp-de` from `otp-{locale}`).
    pub name: String,
    /// The locale the template was picked for (`locale` in the data).
    pub locale: &'a Locale,
    /// `APP_NAME` (`appName` in the data; empty when unset).
    pub app_name: Option<&'a AppName>,
    /// The one-click link (`link` in the data; empty when there is none).
    pub link: Option<&'a SignInLink>,
}

/// How a delivery failed; decides the user-facing message and whether it is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The service throttled us (TooManyRequests, Throttling, LimitExceeded).
    Throttled,
    /// The service refused the request for good (unverified sender, sandbox recipient, paused
    /// sending, unknown user, bad request): any 4xx answer that is not a throttle.
    Rejected,
    /// No answer within the time budget.
    Timeout,
    /// Anything else: connection failure, 5xx, an unreadable response.
    Unavailable,
}

impl FailureKind {
    /// A stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Rejected => "rejected",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
        }
    }
}

/// An email could not be sent. `detail` is for the log only; it never holds the code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} ({})", kind.as_str(), detail)]
pub struct DeliveryError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The service's error code and message, for operators.
    pub detail: String,
}

impl DeliveryError {
    /// Whether the email may have gone out although the send failed. A throttle or a refusal (a
    /// 4xx answer) was not sent; a timeout, a lost connection or a 5xx may hide a send SES
    /// accepted, since `SendEmail` is not idempotent and says nothing once the answer is lost.
    pub fn may_have_been_sent(&self) -> bool {
        matches!(self.kind, FailureKind::Timeout | FailureKind::Unavailable)
    }
}

/// The challenge state could not be read or written. `detail` is for the log only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} ({})", kind.as_str(), detail)]
pub struct StoreError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The service's error code and message, for operators.
    pub detail: String,
}

/// Sends code emails.
pub trait Mailer: Send + Sync {
    /// Sends one email.
    fn send(
        &self,
        email: &OutgoingEmail<'_>,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// The version of a stored state that a conditional write is made against: the random write tag
/// of the write that stored it. Opaque to the triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// No live state: never written, or past its `live_until` (see
    /// [`crate::domain::policy::live_until`]) and so equivalent to none.
    Absent,
    /// The state stored by the write with this tag.
    Tagged([u8; WRITE_TAG_LEN]),
    /// A store without conditional writes: the version is neither known nor checked.
    Unchecked,
}

/// A stored state and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The encoded state (see [`crate::domain::state`]), `None` when there is none.
    pub encoded: Option<String>,
    /// What a conditional write must name to replace it.
    pub version: Version,
}

impl Snapshot {
    /// No state at all, the starting point of a conditional store's first write.
    pub const ABSENT: Snapshot = Snapshot {
        encoded: None,
        version: Version::Absent,
    };
}

/// One write of the user's challenge state.
#[derive(Debug, Clone, Copy)]
pub struct StateWrite<'a> {
    /// Whose state.
    pub user: UserRef<'a>,
    /// The encoded state (see [`crate::domain::state`]); never a plaintext code.
    pub encoded: &'a str,
    /// The state's write tag, which becomes its [`Version::Tagged`].
    pub tag: [u8; WRITE_TAG_LEN],
    /// Now, Unix seconds: a conditional write on [`Version::Absent`] also replaces a state whose
    /// `live_until` is before it.
    pub now: u32,
    /// The state's `live_until`: a store with expiry may drop it after this.
    pub live_until: u32,
    /// After a first correct code: the address the code was mailed to, to be stored as the user's
    /// `email` with `email_verified` true. Writing the address itself, not only the flag, means a
    /// change of address that lands between Cognito's read and this write is undone rather than
    /// verified: the flag only ever covers the address that got the code.
    pub verified_email: Option<&'a EmailAddress>,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The write is stored (for a store without conditional writes: it was sent and accepted,
    /// whatever else was written at the same time).
    Written,
    /// A conditional store refused the write because the state is no longer at the expected
    /// version; this is what is stored now, from the same request.
    Conflict(Snapshot),
}

/// Keeps each user's challenge state.
///
/// Two implementations: the user's own attribute ([`crate::adapters::cognito::CognitoStore`],
/// the default: nothing to deploy, no conditional write) and a DynamoDB table
/// ([`crate::adapters::dynamo::DynamoStore`]: every write conditional, exact limits). The triggers
/// decide with the same policy on both; [`ChallengeStore::CONDITIONAL`] says how they learn that
/// a parallel writer got there first.
pub trait ChallengeStore: Send + Sync {
    /// Whether [`ChallengeStore::write`] is conditional on the expected version. When it is, the
    /// triggers may start from a state they already hold (no read) and decide again on a
    /// [`Stored::Conflict`]; such a store also keeps state for unknown users, so decoys are
    /// counted like real users. When it is not, every decision starts from a fresh read and each
    /// write is tagged, left to settle and read back.
    const CONDITIONAL: bool;

    /// Writes the state (and the verified address, if given), if the stored version is still
    /// `expected` (a store without conditional writes ignores it).
    fn write(
        &self,
        write: &StateWrite<'_>,
        expected: Version,
    ) -> impl Future<Output = Result<Stored, StoreError>> + Send;

    /// Reads the stored state afresh (strongly consistent).
    fn read(&self, user: UserRef<'_>) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;
}

/// Gives the key of the stored code hashes.
pub trait KeySource: Send + Sync {
    /// The hasher; the first call may fetch the key (and then keeps it for the process's life).
    fn hasher(&self) -> impl Future<Output = Result<&CodeHasher, StoreError>> + Send;
}

/// The key from the configuration: the key itself (`CODE_HMAC_KEY`). A secret's ARN cannot be
/// served without a Secrets Manager client, which only the Lambda binary wires
/// ([`crate::adapters::secrets::SecretKey`]); here it is a clear error, never a panic.
impl KeySource for CodeKey {
    async fn hasher(&self) -> Result<&CodeHasher, StoreError> {
        match self {
            CodeKey::Inline(h) => Ok(h),
            CodeKey::Secret(_) => Err(StoreError {
                kind: FailureKind::Rejected,
                detail: "CODE_HMAC_KEY_SECRET_ARN is set, but this runner reads no secrets; set CODE_HMAC_KEY".into(),
            }),
        }
    }
}

/// The current time, in Unix seconds.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> u32;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u32 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

/// Reads what the drift check looks at: a user pool, every app client of it, and this function's
/// wiring into it, as [`Facts`] for [`crate::admin::check`]. Read-only.
///
/// The adapter ([`crate::adapters::admin::AwsInspector`]) makes exactly four calls:
/// `cognito-idp:DescribeUserPool`, `ListUserPoolClients`, `DescribeUserPoolClient` and
/// `lambda:GetPolicy` of `function`; the function's environment comes from its own process, and
/// SES is not read (`ses:GetAccount` cannot be granted on less than `*`).
pub trait PoolInspector: Send + Sync {
    /// The facts of `pool_id` and of `function` (unqualified) in it.
    fn inspect(
        &self,
        pool_id: &str,
        function: &FunctionArn,
    ) -> impl Future<Output = Result<Facts, AdminError>> + Send;
}

/// No inspector: the local runner and the demo, which serve Cognito's triggers only. A drift
/// event there fails as a check that could not run.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInspector;

impl PoolInspector for NoInspector {
    async fn inspect(&self, _: &str, _: &FunctionArn) -> Result<Facts, AdminError> {
        Err(AdminError::Usage(
            "this runner has no AWS access for the drift check".into(),
        ))
    }
}
