//! The AWS SDK configuration shared by the SES and Cognito clients.
//!
//! It is loaded once per process, on the first invocation that needs AWS (Define, pre-sign-up and,
//! with the attribute store, the unknown-user decoy never do), and every client built from it carries a timeout and retry
//! budget sized for Cognito's 5-second trigger limit:
//!
//! | setting | value | why |
//! |---|---|---|
//! | connect timeout | 500 ms | a healthy regional endpoint connects in a few ms |
//! | attempt timeout | 900 ms | SES and Cognito answer in well under 300 ms when healthy |
//! | operation timeout | 1.6 s | two calls plus a restore fit in the 4 s budget |
//! | attempts | 2, backoff 50–250 ms | one quick retry for a blip; throttling is not waited out |
//!
//! SES is the exception: `SendEmail` is not idempotent, so its client makes one attempt with the
//! whole 1.6 s (see [`crate::adapters::ses`]).
//!
//! The application adds its own per-invocation deadline on top (see [`crate::triggers::Budget`]).

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::sync::OnceCell;

use crate::ports::FailureKind;

/// Connect timeout for every AWS call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Timeout of a single HTTP attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(900);
/// Timeout of a whole operation, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(1600);
/// Attempts per operation (the first try plus one retry).
pub const MAX_ATTEMPTS: u32 = 2;

type LoaderHook = Box<dyn Fn(ConfigLoader) -> ConfigLoader + Send + Sync>;

/// The lazily loaded SDK configuration, shared by all clients of the process.
pub struct AwsContext {
    config: OnceCell<SdkConfig>,
    hook: Option<LoaderHook>,
}

impl std::fmt::Debug for AwsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsContext")
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}

impl Default for AwsContext {
    fn default() -> Self {
        Self::new()
    }
}

impl AwsContext {
    /// An empty context reading the standard AWS environment; nothing is loaded until a client
    /// is first needed.
    pub fn new() -> Self {
        Self {
            config: OnceCell::new(),
            hook: None,
        }
    }

    /// Like [`AwsContext::new`], with `hook` applied to the loader after the timeout and retry
    /// settings (tests use it to set an endpoint, Region and credentials without touching the
    /// process environment).
    pub fn with_loader_hook(
        hook: impl Fn(ConfigLoader) -> ConfigLoader + Send + Sync + 'static,
    ) -> Self {
        Self {
            config: OnceCell::new(),
            hook: Some(Box::new(hook)),
        }
    }

    /// The SDK configuration, loaded from the standard environment on first use.
    pub async fn sdk_config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let loader = aws_config::defaults(BehaviorVersion::latest())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(CONNECT_TIMEOUT)
                            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                            .operation_timeout(OPERATION_TIMEOUT)
                            .build(),
                    )
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(MAX_ATTEMPTS)
                            .with_initial_backoff(Duration::from_millis(50))
                            .with_max_backoff(Duration::from_millis(250)),
                    );
                match &self.hook {
                    Some(hook) => hook(loader),
                    None => loader,
                }
                .load()
                .await
            })
            .await
    }

    /// Whether the configuration has been loaded (for tests of laziness).
    pub fn is_loaded(&self) -> bool {
        self.config.initialized()
    }
}

/// An SDK client built on first use from the shared [`AwsContext`], then kept for the process:
/// Define, pre-sign-up and the attribute store's decoys never pay for one.
pub struct LazyClient<C> {
    aws: Arc<AwsContext>,
    client: OnceCell<C>,
    build: fn(&SdkConfig) -> C,
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.is_initialized())
            .finish_non_exhaustive()
    }
}

impl<C> LazyClient<C> {
    /// A client that `build` (the SDK's `Client::new`) makes from `aws` when first asked for.
    pub fn new(aws: Arc<AwsContext>, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            aws,
            client: OnceCell::new(),
            build,
        }
    }

    /// The client, built now if this is the first call.
    pub async fn get(&self) -> &C {
        self.client
            .get_or_init(|| async { (self.build)(self.aws.sdk_config().await) })
            .await
    }

    /// Whether the client has been built (for tests of laziness).
    pub fn is_initialized(&self) -> bool {
        self.client.initialized()
    }
}

/// Error codes that mean "slow down", across SES, Cognito and DynamoDB.
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// Sorts an SDK error into a [`FailureKind`], with a log-only detail. `rejected` lists the
/// service's error codes that mean "refused for good"; any other 4xx answer that is not a throttle
/// is a refusal too (the request did not take effect), and a 5xx is `Unavailable` (it may have).
pub fn classify<E>(err: &SdkError<E, HttpResponse>, rejected: &[&str]) -> (FailureKind, String)
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let detail = DisplayErrorContext(err).to_string();
    let kind = match err {
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => FailureKind::Timeout,
        SdkError::ServiceError(service) => match err.code() {
            Some(code) if THROTTLING_CODES.contains(&code) => FailureKind::Throttled,
            Some(code) if rejected.contains(&code) => FailureKind::Rejected,
            _ if service.raw().status().is_client_error() => FailureKind::Rejected,
            _ => FailureKind::Unavailable,
        },
        _ => FailureKind::Unavailable,
    };
    // Keep log lines bounded even if a proxy returns a huge body.
    (kind, truncate(redact_addresses(&detail), 500))
}

/// Replaces every word containing `@` with `<address>`. SES names the refused recipient in some
/// errors ("…failed the check in region EU-WEST-1: maria.rossi@example.org"), and these details go
/// to the log, which must not hold email addresses.
pub fn redact_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str("<address>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']' | '<' | '>'
            )
        {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_error_details_are_redacted() {
        let ses = "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: maria.rossi@example.org, \"x@y.z\"";
        let r = redact_addresses(ses);
        assert!(!r.contains("maria") && !r.contains("x@y.z"), "{r}");
        assert!(
            r.contains("MessageRejected: Email address is not verified.")
                && r.contains("<address>, \"<address>\""),
            "{r}"
        );
        assert_eq!(
            redact_addresses("TooManyRequestsException: Rate exceeded"),
            "TooManyRequestsException: Rate exceeded"
        );
    }

    /// What a failed send tells about the email: a 4xx refusal (known code or not) or a throttle
    /// did not send it; a 5xx, a timeout or a lost connection may have.
    #[test]
    fn a_4xx_is_a_refusal_and_a_5xx_may_have_taken_effect() {
        use aws_sdk_sesv2::operation::send_email::SendEmailError;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let answer = |status: u16, code: &str| {
            let meta = ErrorMetadata::builder().code(code).build();
            let status = StatusCode::try_from(status).unwrap();
            SdkError::service_error(
                SendEmailError::generic(meta),
                HttpResponse::new(status, SdkBody::empty()),
            )
        };
        let kind = |e| classify(&e, &["MessageRejected"]).0;
        assert_eq!(kind(answer(400, "MessageRejected")), FailureKind::Rejected);
        assert_eq!(kind(answer(404, "SomethingNew")), FailureKind::Rejected);
        assert_eq!(
            kind(answer(429, "TooManyRequestsException")),
            FailureKind::Throttled
        );
        assert_eq!(
            kind(answer(500, "InternalFailure")),
            FailureKind::Unavailable
        );
        assert_eq!(kind(answer(503, "SomethingNew")), FailureKind::Unavailable);
        let lost = SdkError::<SendEmailError, HttpResponse>::timeout_error("no answer");
        assert_eq!(kind(lost), FailureKind::Timeout);
    }

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let t = truncate("é".repeat(400), 501);
        assert!(t.len() <= 504 && t.ends_with('…'));
    }
}
