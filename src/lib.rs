//! Email one-time codes for Amazon Cognito user pools, as one custom-auth Lambda.
//!
//! The crate is laid out as a small hexagon:
//!
//! - [`domain`]: the decisions and the data, free of I/O and of SDK and event types: which challenge
//!   comes next ([`domain::flow`]), how a code is made and checked ([`domain::code`]), how its state
//!   is stored in the user attribute ([`domain::state`]), and when to issue, reuse or refuse a code
//!   ([`domain::policy`]).
//! - [`ports`]: the two narrow things the domain needs from outside, a [`ports::Mailer`] and a
//!   [`ports::ChallengeStore`], plus a [`ports::Clock`].
//! - [`adapters`]: the only code that touches the AWS SDK (SES v2, Cognito, DynamoDB, Secrets
//!   Manager), and the local stand-ins used by `make demo` and `make replay`.
//! - [`triggers`]: the application layer. It reads a raw Cognito event, routes on `triggerSource`,
//!   maps the event into domain terms, performs the I/O the domain asked for inside a time budget,
//!   and writes the response back into the event. It also serves the scheduled drift check
//!   (`{"otpDriftCheck": …}`), which runs [`admin`]'s checks over a [`ports::PoolInspector`].
//! - [`config`]: the typed configuration, read once from the environment and validated.
//! - [`telemetry`]: the per-invocation metrics, as CloudWatch Embedded Metric Format lines.
//! - [`hex`]: the one hex codec for byte strings that travel as text.
//!
//! - [`admin`]: `otp-admin`'s checks of a pool and its wiring plans, pure (the SDK calls are in
//!   [`adapters::admin`]).
//!
//! - [`simulator`]: Cognito's side of a sign-in, for the demo and tests (never used by the Lambda).
//!
//! `src/main.rs` is the Lambda entry point; `src/bin/` holds the local runner, the demo and
//! `otp-admin`.

pub mod adapters;
pub mod admin;
pub mod config;
/// The pure core, a crate of its own (`crates/otp-domain`).
pub use otp_domain as domain;
pub mod hex;
pub mod ports;
pub mod runtime_init;
pub mod simulator;
pub mod telemetry;
pub mod triggers;
