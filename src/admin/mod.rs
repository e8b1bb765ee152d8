//! `otp-admin`: bring your own user pool. Finds every pool, client, function and SES setting that
//! voids what this product promises ([`checks`]), and plans the wiring of the function into an
//! existing pool without touching anything else ([`wiring`]).
//!
//! Everything here is pure: it works on plain data ([`facts`]) and on the JSON objects
//! `DescribeUserPool` and `DescribeUserPoolClient` answered, and returns findings and plans. The
//! AWS calls that gather the data and apply a plan are in [`crate::adapters::admin`]; the command
//! line is `src/bin/otp-admin.rs`. The Lambda runs the same checks on a schedule (the drift check,
//! `src/triggers/drift.rs`), gathering facts through the same adapter behind
//! [`crate::ports::PoolInspector`] and calling [`checks::check`].
//!
//! The finding ids, severities and fixes are documented in `docs/admin.md`.

pub mod arn;
pub mod checks;
pub mod facts;
pub mod wiring;

pub use arn::FunctionArn;
pub use checks::{Finding, Severity, check};
pub use facts::{ClientFacts, Facts, FunctionFacts, PoolFacts, SesFacts};

/// Why `otp-admin` could not check or change a pool. Every variant is a clear message for a
/// person; the command line exits with 2 on any of them (attach's refusals exit with 1).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// A value given on the command line is not what it should be.
    #[error("{what} {value:?} is not accepted: {why}")]
    BadInput {
        /// Which option.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        why: &'static str,
    },
    /// The user pool does not exist (in the Region its ID names).
    #[error("no user pool {0} (DescribeUserPool: not found in the Region its ID names)")]
    NoPool(String),
    /// A named app client is not in the pool.
    #[error("no app client {client} in user pool {pool}")]
    NoClient {
        /// The pool.
        pool: String,
        /// The client ID given.
        client: String,
    },
    /// The function does not exist.
    #[error("no Lambda function {0} (GetFunctionConfiguration: not found)")]
    NoFunction(String),
    /// An AWS call failed: no permission, throttled, unreachable, or refused.
    #[error("{call} failed: {detail}{hint}")]
    Aws {
        /// The API call, e.g. `cognito-idp:DescribeUserPool`.
        call: &'static str,
        /// The service's error code and message, or the transport failure.
        detail: String,
        /// What to do about it, starting with "; " (empty when there is nothing to add).
        hint: String,
    },
    /// An AWS answer lacked something this tool needs, or was not the JSON expected.
    #[error("{call} answered without {what}")]
    BadAnswer {
        /// The API call.
        call: &'static str,
        /// What was missing.
        what: String,
    },
    /// The pool or a client changed between the plan and its update; the update would undo that.
    #[error(
        "{0} changed since the plan was made; nothing more was changed (run the command again to plan from its current settings)"
    )]
    Changed(String),
    /// `attach` or `detach` refuses to go on (another function holds a slot, an unknown setting
    /// would be reset, the attribute cannot be used).
    #[error(transparent)]
    Refused(#[from] wiring::Refusal),
}

impl AdminError {
    /// The exit status of the command line: 1 for a refusal (nothing was changed, on purpose),
    /// 2 for everything that stopped the tool from checking or changing.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Refused(_) => 1,
            _ => 2,
        }
    }
}
