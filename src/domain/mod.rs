//! The pure core: flow decisions, codes, their stored state and the issue/verify policy.
//!
//! Nothing in here performs I/O (apart from drawing random bytes from the OS) or knows about
//! Cognito event types or the AWS SDK. Every decision takes the current time as an argument, so it
//! can be tested exhaustively.

pub mod code;
pub mod email;
pub mod flow;
pub mod message;
pub mod policy;
pub mod random;
pub mod state;
