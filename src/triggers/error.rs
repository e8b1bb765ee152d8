//! The one error type of the trigger boundary, and what of it reaches the user.
//!
//! Cognito shows a trigger's error message to the user ("CreateAuthChallenge failed with error
//! …"), so [`TriggerError::user_message`] is short, stable and free of internals. The `Display`
//! text, with the details, goes to the log only. Neither ever contains a code or the HMAC key.
//!
//! Every user message starts with a stable token ([`TriggerError::token`], `OTP_…: `): Cognito
//! names every trigger error `UserLambdaValidationException` and wraps the message in a prefix of
//! its own (which the emulator words differently), so the token is what a sign-in screen matches
//! on, and the text after it what it may show. docs/deploying.md has the table.

use lambda_runtime::Diagnostic;

use crate::domain::flow::SessionEnd;
use crate::ports::{DeliveryError, StoreError};

/// Everything that can make an invocation fail.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// `triggerSource` is not one this function serves.
    #[error("unsupported trigger source {0:?}")]
    UnsupportedTrigger(String),
    /// The event is not the shape Cognito sends.
    #[error("malformed event: {0}")]
    InvalidEvent(String),
    /// A real user has no usable email address (Define normally fails these first).
    #[error("the user has no usable email address")]
    NoEmail,
    /// `SEND_LIMIT` codes were sent within `SEND_WINDOW_SECONDS`.
    #[error("send limit reached")]
    SendLimited,
    /// The last code was exhausted by wrong answers within `RESEND_COOLDOWN_SECONDS` of its issue.
    #[error("code exhausted within the cooldown; no new code before it ends")]
    Locked,
    /// The sign-in ran out of answers or rounds: Define asked for one more round to end it with
    /// this error rather than with "Incorrect username or password" (see `flow::SessionEnd`).
    #[error("sign-in ended: {}", .0.as_str())]
    SignInEnded(SessionEnd),
    /// A password-first sign-in of a user created with a temporary password
    /// (`FORCE_CHANGE_PASSWORD`), refused before Cognito checks it (see
    /// [`crate::domain::flow::PasswordChange`]).
    #[error(
        "password-first sign-in refused: the user has a temporary password (FORCE_CHANGE_PASSWORD)"
    )]
    TemporaryPassword,
    /// A password-first sign-in of a user whose password must be reset (`RESET_REQUIRED`), refused
    /// before Cognito checks it.
    #[error("password-first sign-in refused: the user's password must be reset (RESET_REQUIRED)")]
    PasswordResetRequired,
    /// Pre-sign-up refused the email domain.
    #[error("sign-up refused: email domain not in SIGNUP_ALLOWED_DOMAINS")]
    SignUpNotAllowed,
    /// Create refused to mail a code outside `SIGNUP_ALLOWED_DOMAINS` (an address changed to
    /// another domain after sign-up, or an unknown name at such a domain).
    #[error("code refused: email domain not in SIGNUP_ALLOWED_DOMAINS")]
    DomainNotAllowed,
    /// SES did not take the email.
    #[error("email delivery failed: {0}")]
    Delivery(#[from] DeliveryError),
    /// The challenge attribute could not be written.
    #[error("challenge store failed: {0}")]
    Store(#[from] StoreError),
    /// The scheduled drift check could not read the pool, its clients or the function's policy
    /// (a failed or timed-out call, no permission, no such pool). Never a sign-in's error.
    #[error("drift check failed: {0}")]
    DriftCheckFailed(String),
}

impl TriggerError {
    /// A stable error type, reported to Lambda as `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::UnsupportedTrigger(_) => "UnsupportedTrigger",
            Self::InvalidEvent(_) => "InvalidEvent",
            Self::NoEmail => "NoEmail",
            Self::SendLimited => "SendLimited",
            Self::Locked => "CodeLocked",
            Self::SignInEnded(SessionEnd::TooManyAttempts) => "TooManyAttempts",
            Self::SignInEnded(SessionEnd::TooManyRounds) => "TooManyRounds",
            Self::TemporaryPassword => "TemporaryPassword",
            Self::PasswordResetRequired => "PasswordResetRequired",
            Self::SignUpNotAllowed => "SignUpNotAllowed",
            Self::DomainNotAllowed => "DomainNotAllowed",
            Self::Delivery(_) => "DeliveryFailed",
            Self::Store(_) => "StoreFailed",
            Self::DriftCheckFailed(_) => "DriftCheckFailed",
        }
    }

    /// The `outcome` of the invocation's log line.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::UnsupportedTrigger(_) => "unsupported_trigger",
            Self::InvalidEvent(_) => "invalid_event",
            Self::NoEmail => "no_email",
            Self::SendLimited => "send_limited",
            Self::Locked => "code_locked",
            Self::SignInEnded(SessionEnd::TooManyAttempts) => "too_many_attempts",
            Self::SignInEnded(SessionEnd::TooManyRounds) => "too_many_rounds",
            Self::TemporaryPassword => "temporary_password",
            Self::PasswordResetRequired => "password_reset_required",
            Self::SignUpNotAllowed => "signup_refused",
            Self::DomainNotAllowed => "domain_refused",
            Self::Delivery(_) => "delivery_error",
            Self::Store(_) => "store_error",
            Self::DriftCheckFailed(_) => "check_failed",
        }
    }

    /// The stable token that starts the user message: what a client matches on. Errors that mean
    /// the same to the user share one (a lockout found at a new sign-in or at the end of this one).
    pub fn token(&self) -> &'static str {
        match self {
            Self::UnsupportedTrigger(_) => "OTP_UNSUPPORTED_TRIGGER",
            Self::InvalidEvent(_) => "OTP_INVALID_REQUEST",
            Self::NoEmail => "OTP_NO_EMAIL",
            Self::SendLimited | Self::SignInEnded(SessionEnd::TooManyRounds) => {
                "OTP_TOO_MANY_CODES"
            }
            Self::Locked | Self::SignInEnded(SessionEnd::TooManyAttempts) => {
                "OTP_TOO_MANY_ATTEMPTS"
            }
            Self::TemporaryPassword => "OTP_TEMPORARY_PASSWORD",
            Self::PasswordResetRequired => "OTP_PASSWORD_RESET_REQUIRED",
            Self::SignUpNotAllowed => "OTP_SIGNUP_NOT_ALLOWED",
            Self::DomainNotAllowed => "OTP_DOMAIN_NOT_ALLOWED",
            Self::Delivery(_) => "OTP_EMAIL_NOT_SENT",
            Self::Store(_) => "OTP_TRY_AGAIN",
            // Answered to EventBridge, never to a sign-in screen.
            Self::DriftCheckFailed(_) => "OTP_DRIFT_CHECK_FAILED",
        }
    }

    /// What Cognito shows the user: the token, then the text to show.
    pub fn user_message(&self) -> String {
        format!("{}: {}", self.token(), self.user_text())
    }

    /// The text for the user, without the token.
    fn user_text(&self) -> String {
        match self {
            Self::UnsupportedTrigger(source) => format!("Unsupported trigger source: {source}."),
            Self::InvalidEvent(_) => {
                "The sign-in request could not be processed. Please try again.".into()
            }
            Self::NoEmail => "This account has no email address for sign-in codes.".into(),
            Self::SendLimited | Self::SignInEnded(SessionEnd::TooManyRounds) => {
                "Too many codes were requested. Please wait a while before trying again.".into()
            }
            Self::Locked | Self::SignInEnded(SessionEnd::TooManyAttempts) => {
                "Too many wrong codes. Please wait a minute, then sign in again for a new code."
                    .into()
            }
            // Only an administrator can settle these in every pool (with the password-first flow,
            // recovery through the mailbox that gets the codes is refused), so say who can.
            Self::TemporaryPassword => {
                "This account still has a temporary password. An administrator must set a \
                 permanent password before you can sign in."
                    .into()
            }
            Self::PasswordResetRequired => {
                "This account's password must be reset. An administrator must set a new password \
                 before you can sign in."
                    .into()
            }
            Self::SignUpNotAllowed => "Sign-up is not available for this email address.".into(),
            Self::DomainNotAllowed => {
                "Sign-in codes are not sent to this email address's domain.".into()
            }
            Self::Delivery(_) => {
                "We could not send your code. Please try again in a minute.".into()
            }
            Self::Store(_) => {
                "We could not complete your sign-in. Please try again in a minute.".into()
            }
            Self::DriftCheckFailed(_) => {
                "The scheduled check of the user pool could not run; see the function's log.".into()
            }
        }
    }
}

impl From<TriggerError> for Diagnostic {
    fn from(e: TriggerError) -> Self {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.user_message(),
        }
    }
}

/// A serde error made safe to log: serde quotes offending values ("invalid type: string \"…\""),
/// which could be an answer or an address, so only the part before the first quote is kept.
/// Messages about fields name our own field names and are kept whole.
pub fn describe_serde_error(context: &str, e: &serde_json::Error) -> TriggerError {
    let msg = e.to_string();
    let safe = if msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        msg
    } else {
        msg.split(['"', '`'])
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_owned()
    };
    TriggerError::InvalidEvent(format!("{context}: {safe}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::FailureKind;

    #[test]
    fn user_messages_carry_no_internals() {
        let delivery = TriggerError::Delivery(DeliveryError {
            kind: FailureKind::Throttled,
            detail: "TooManyRequestsException: Maximum sending rate exceeded. request id 1234"
                .into(),
        });
        let d: Diagnostic = delivery.into();
        assert_eq!(d.error_type, "DeliveryFailed");
        assert!(!d.error_message.contains("TooManyRequests") && !d.error_message.contains("1234"));
        let store = TriggerError::Store(StoreError {
            kind: FailureKind::Timeout,
            detail: "dispatch failure".into(),
        });
        assert!(!store.user_message().contains("dispatch"));
        assert!(
            store.to_string().contains("dispatch"),
            "details stay in the log text"
        );
    }

    /// Operators search logs and build alarms on these names: each error has its own, fixed one.
    #[test]
    fn each_error_has_its_own_outcome_name() {
        let detail = || "x".to_owned();
        let all = [
            (
                TriggerError::UnsupportedTrigger(detail()),
                "unsupported_trigger",
            ),
            (TriggerError::InvalidEvent(detail()), "invalid_event"),
            (TriggerError::NoEmail, "no_email"),
            (TriggerError::SendLimited, "send_limited"),
            (TriggerError::Locked, "code_locked"),
            (
                TriggerError::SignInEnded(SessionEnd::TooManyAttempts),
                "too_many_attempts",
            ),
            (
                TriggerError::SignInEnded(SessionEnd::TooManyRounds),
                "too_many_rounds",
            ),
            (TriggerError::TemporaryPassword, "temporary_password"),
            (
                TriggerError::PasswordResetRequired,
                "password_reset_required",
            ),
            (TriggerError::SignUpNotAllowed, "signup_refused"),
            (TriggerError::DomainNotAllowed, "domain_refused"),
            (
                TriggerError::Delivery(DeliveryError {
                    kind: FailureKind::Throttled,
                    detail: detail(),
                }),
                "delivery_error",
            ),
            (
                TriggerError::Store(StoreError {
                    kind: FailureKind::Timeout,
                    detail: detail(),
                }),
                "store_error",
            ),
            (TriggerError::DriftCheckFailed(detail()), "check_failed"),
        ];
        for (e, name) in &all {
            assert_eq!(e.outcome(), *name);
        }
    }

    /// Clients match on these tokens (docs/deploying.md lists them): each message starts with its
    /// own, then ": " and the text, and the two lockouts and the two send caps share theirs.
    #[test]
    fn user_messages_start_with_their_documented_token() {
        let delivery = || {
            TriggerError::Delivery(DeliveryError {
                kind: FailureKind::Unavailable,
                detail: "x".into(),
            })
        };
        let all = [
            (
                TriggerError::UnsupportedTrigger("X".into()),
                "OTP_UNSUPPORTED_TRIGGER",
            ),
            (
                TriggerError::InvalidEvent("x".into()),
                "OTP_INVALID_REQUEST",
            ),
            (TriggerError::NoEmail, "OTP_NO_EMAIL"),
            (TriggerError::SendLimited, "OTP_TOO_MANY_CODES"),
            (
                TriggerError::SignInEnded(SessionEnd::TooManyRounds),
                "OTP_TOO_MANY_CODES",
            ),
            (TriggerError::Locked, "OTP_TOO_MANY_ATTEMPTS"),
            (
                TriggerError::SignInEnded(SessionEnd::TooManyAttempts),
                "OTP_TOO_MANY_ATTEMPTS",
            ),
            (TriggerError::TemporaryPassword, "OTP_TEMPORARY_PASSWORD"),
            (
                TriggerError::PasswordResetRequired,
                "OTP_PASSWORD_RESET_REQUIRED",
            ),
            (TriggerError::SignUpNotAllowed, "OTP_SIGNUP_NOT_ALLOWED"),
            (TriggerError::DomainNotAllowed, "OTP_DOMAIN_NOT_ALLOWED"),
            (delivery(), "OTP_EMAIL_NOT_SENT"),
            (
                TriggerError::Store(StoreError {
                    kind: FailureKind::Timeout,
                    detail: "x".into(),
                }),
                "OTP_TRY_AGAIN",
            ),
            (
                TriggerError::DriftCheckFailed("x".into()),
                "OTP_DRIFT_CHECK_FAILED",
            ),
        ];
        for (e, token) in &all {
            let m = e.user_message();
            let (head, text) = m.split_once(": ").expect("token: text");
            assert_eq!(head, *token, "{m}");
            assert!(text.len() > 20 && !text.contains("OTP_"), "{m}");
        }
        assert_eq!(
            TriggerError::Locked.user_message(),
            TriggerError::SignInEnded(SessionEnd::TooManyAttempts).user_message()
        );
        assert_ne!(
            TriggerError::Locked.user_message(),
            TriggerError::SendLimited.user_message()
        );
    }

    #[test]
    fn serde_errors_lose_quoted_values() {
        let e = serde_json::from_str::<bool>("\"maria.rossi@example.org\"").unwrap_err();
        let t = describe_serde_error("request", &e).to_string();
        assert!(!t.contains("maria"), "{t}");
        assert!(t.contains("invalid type"), "{t}");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            session: Vec<u8>,
        }
        let e = serde_json::from_str::<S>("{}").unwrap_err();
        assert!(
            describe_serde_error("request", &e)
                .to_string()
                .contains("missing field `session`")
        );
    }
}
