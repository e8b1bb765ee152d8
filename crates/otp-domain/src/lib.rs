//! The pure core: flow decisions, codes, their stored state and the issue/verify policy.
//!
//! Nothing in here performs I/O (apart from drawing random bytes from the OS) or knows about
//! Cognito event types or the AWS SDK. Every decision takes the current time as an argument, so it
//! can be tested exhaustively.
//!
//! It is a crate of its own, with no AWS SDK below it, so its tests build and run in seconds: that
//! is what makes mutation testing of the security decisions affordable (`make mutants`). The
//! function's crate re-exports it as `cognito_email_otp::domain`.

pub mod code;
pub mod email;
pub mod flow;
pub mod locale;
pub mod message;
pub mod policy;
pub mod random;
pub mod state;
