//! Adapters: the only code that touches the AWS SDK, plus local stand-ins.
//!
//! - [`aws`]: the shared SDK configuration, built once per process on first use, with the
//!   timeouts and retry budget that keep every invocation inside Cognito's 5-second wait.
//! - [`ses`]: [`crate::ports::Mailer`] over SES v2 `SendEmail`.
//! - [`cognito`]: [`crate::ports::ChallengeStore`] over `AdminUpdateUserAttributes` (the user's
//!   own attribute; the default).
//! - [`dynamo`]: [`crate::ports::ChallengeStore`] over a DynamoDB table, every write conditional
//!   (`CHALLENGE_STORE=dynamodb`).
//! - [`secrets`]: [`crate::ports::KeySource`] over Secrets Manager `GetSecretValue`, read once
//!   per process.
//! - [`admin`]: `otp-admin`'s reads of a pool, its clients, the function and SES, and the
//!   updates that apply its plans (never used by the Lambda's sign-in path); its reads are also
//!   the drift check's [`crate::ports::PoolInspector`] (`AwsInspector`: four read-only calls).
//! - [`local`]: a mailbox folder and an attribute file, for `make demo` and `make replay`. The
//!   Lambda binary never constructs these.

pub mod admin;
pub mod aws;
pub mod cognito;
pub mod dynamo;
pub mod local;
pub mod secrets;
pub mod ses;
