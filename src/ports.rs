//! The narrow interfaces the application needs from the outside world.
//!
//! Adapters in [`crate::adapters`] implement them against SES v2, Cognito and Secrets Manager, or
//! locally for the demo.
//! The futures are `Send` so any adapter works under a multi-threaded runtime as well.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::CodeKey;
use crate::domain::code::{CodeHasher, OtpCode};
use crate::domain::email::EmailAddress;
use crate::domain::message::RenderedEmail;
use crate::domain::policy::UserRef;

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
}

/// How a delivery failed; decides the user-facing message and whether it is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The service throttled us (TooManyRequests, Throttling, LimitExceeded).
    Throttled,
    /// The service refused the request for good (unverified sender, sandbox recipient, paused
    /// sending, unknown user, bad request).
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

/// The challenge attribute could not be written. `detail` is for the log only.
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

/// One write of the user's challenge state.
#[derive(Debug, Clone, Copy)]
pub struct StateWrite<'a> {
    /// Whose state.
    pub user: UserRef<'a>,
    /// The encoded state (see [`crate::domain::state`]); never a plaintext code.
    pub encoded: &'a str,
    /// After a first correct code: the address the code was mailed to, to be stored as the user's
    /// `email` with `email_verified` true, in the same request. Writing the address itself, not
    /// only the flag, means a change of address that lands between Cognito's read and this write
    /// is undone rather than verified: the flag only ever covers the address that got the code.
    pub verified_email: Option<&'a EmailAddress>,
}

/// Stores the challenge state in the user's attribute.
pub trait ChallengeStore: Send + Sync {
    /// Writes the state (and the verified address, if given) in one request.
    fn write(&self, write: &StateWrite<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads the stored value afresh (`None` when the attribute is unset). Every decision that
    /// leads to a write starts from this read, and tagged writes are read back with it.
    fn read(
        &self,
        user: UserRef<'_>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
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
