//! [`Mailer`] over SES v2 `SendEmail`.
//!
//! `SendEmail` is not idempotent: an attempt that timed out may have been accepted, and a retry
//! would mail the same code twice (and a second email per counted send breaks the send cap). So
//! the SES client makes one attempt, given the whole operation timeout, and the caller treats a
//! send whose outcome is unknown as sent ([`DeliveryError::may_have_been_sent`]).

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, Template};
use tracing::instrument;

use super::aws::{AwsContext, CONNECT_TIMEOUT, LazyClient, OPERATION_TIMEOUT, classify};
use crate::domain::email::Sender;
use crate::ports::{DeliveryError, FailureKind, Mailer, OutgoingEmail};

/// SES v2 error codes that will not succeed on a retry.
const REJECTED: &[&str] = &[
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "BadRequestException",
    "NotFoundException",
];

/// Sends code emails through SES v2. The client is built on the first send.
#[derive(Debug)]
pub struct SesMailer {
    client: LazyClient<Client>,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer sending from `from`, with an optional configuration set. Each email says itself
    /// whether it goes as a stored template ([`OutgoingEmail::template`]).
    pub fn new(aws: Arc<AwsContext>, from: &Sender, configuration_set: Option<String>) -> Self {
        Self {
            client: LazyClient::new(aws, single_attempt_client),
            from: from.header_value(),
            configuration_set,
        }
    }

    async fn client(&self) -> &Client {
        self.client.get().await
    }

    /// Whether the SES client has been built (for tests of laziness).
    pub fn is_initialized(&self) -> bool {
        self.client.is_initialized()
    }

    fn content(&self, email: &OutgoingEmail<'_>) -> Result<EmailContent, DeliveryError> {
        let invalid = |e: aws_sdk_sesv2::error::BuildError| DeliveryError {
            kind: FailureKind::Rejected,
            detail: format!("could not build the SES request: {e}"),
        };
        if let Some(t) = &email.template {
            // The stored template renders the code itself; it receives exactly these fields, each
            // always present (empty when unset) so a template can test them with {{#if}}.
            let data = serde_json::json!({
                "code": email.code.expose_digits(),
                "minutes": email.minutes,
                "appName": t.app_name.map_or("", |a| a.as_str()),
                "locale": t.locale.as_str(),
                "link": t.link.map_or("", |l| l.expose_url()),
            });
            let template = Template::builder()
                .template_name(&t.name)
                .template_data(data.to_string())
                .build();
            return Ok(EmailContent::builder().template(template).build());
        }
        let utf8 = |s: &str| {
            Content::builder()
                .data(s)
                .charset("UTF-8")
                .build()
                .map_err(invalid)
        };
        let body = Body::builder()
            .text(utf8(&email.rendered.text)?)
            .html(utf8(&email.rendered.html)?)
            .build();
        let message = Message::builder()
            .subject(utf8(&email.rendered.subject)?)
            .body(body)
            .build();
        Ok(EmailContent::builder().simple(message).build())
    }
}

/// The SES client: the shared configuration with no automatic retry, its one attempt allowed the
/// whole operation timeout (a slow SES that answers in 1.5 s is a success, not a retry).
fn single_attempt_client(shared: &SdkConfig) -> Client {
    let config = aws_sdk_sesv2::config::Builder::from(shared)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(OPERATION_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .build();
    Client::from_conf(config)
}

impl Mailer for SesMailer {
    #[instrument(name = "ses.send_email", skip_all)]
    async fn send(&self, email: &OutgoingEmail<'_>) -> Result<(), DeliveryError> {
        let content = self.content(email)?;
        self.client()
            .await
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(content)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let (kind, detail) = classify(&e, REJECTED);
                DeliveryError { kind, detail }
            })
    }
}
