//! Start-up shared by the Lambda and the local runner: logging, configuration (reporting a failed
//! start to the Lambda Runtime API), and the serve loop.
//!
//! `lambda_runtime` reports initialisation errors only for SnapStart, so a bad configuration is
//! posted to `/runtime/init/error` here, the way Lambda expects: the function then fails with
//! `Runtime.ConfigError` and the message naming the variable, instead of an opaque exit.

use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError};
use crate::ports::{ChallengeStore, Clock, Mailer};
use crate::triggers::App;

/// Targets capped at `warn` whatever the requested level: at debug and trace the SDK and HTTP
/// stack log request bodies, and an SES request body holds the code.
const QUIET_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_http",
    "aws_smithy_types",
    "aws_sdk_sesv2",
    "aws_sdk_cognitoidentityprovider",
    "aws_sdk_sts",
    "aws_runtime",
    "aws_config",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// Installs the log subscriber: one JSON object per line when `AWS_LAMBDA_LOG_FORMAT=JSON`
/// (Lambda's own switch), text otherwise; level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_logging() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    let mut filter =
        EnvFilter::try_new(level.to_ascii_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in QUIET_TARGETS {
        if let Ok(d) = format!("{target}=warn").parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stdout);
    // Errors here mean a subscriber is already installed (tests); keep that one.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// Posts an initialisation error to the Runtime API named by `AWS_LAMBDA_RUNTIME_API`, if any.
/// Best effort: a failure here changes nothing, since the process exits right after.
pub async fn report_init_error(error_type: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let post = async {
        let mut stream = TcpStream::connect(&api).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), post).await;
}

/// Reads the configuration; on failure, logs it and reports it to the Runtime API before returning it.
pub async fn load_config() -> Result<Config, ConfigError> {
    let result = Config::from_env();
    if let Err(e) = &result {
        tracing::error!(error = %e, "start-up failed");
        report_init_error("Runtime.ConfigError", &e.to_string()).await;
    }
    result
}

/// Serves invocations from the Lambda Runtime API with `app`, borrowed for the life of the process.
pub async fn serve<M: Mailer, S: ChallengeStore, C: Clock>(
    app: &App<M, S, C>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        app.handle(event.payload)
    }))
    .await
}
