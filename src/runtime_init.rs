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
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{Config, ConfigError};
use crate::ports::{ChallengeStore, Clock, KeySource, Mailer, PoolInspector};
use crate::triggers::App;

/// The crate whose own events may log below `warn`. Every other target (the AWS SDK, the HTTP
/// and TLS stacks, the Lambda runtime) is held at `warn` whatever the requested level: at debug
/// and trace they log request and response bodies, and the raw event (`lambda_runtime` traces it
/// whole), which hold codes, answers and addresses.
const OWN_TARGET: &str = "cognito_email_otp";

/// Targets silenced entirely. The runtime's panic layer logs every handler error a second time
/// (`error!("{error:?}")`), after our own `invocation` line; a real panic is still printed to
/// stderr by the panic hook.
const SILENCED_TARGETS: &[&str] = &["lambda_runtime::layers::panic"];

/// Whether an event or span may be written, whatever the requested level: the cap that no
/// `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` directive can lift, however specific.
pub fn within_cap(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    let under = |prefix: &str| {
        target == prefix
            || target
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with("::"))
    };
    if SILENCED_TARGETS.iter().any(|t| under(t)) {
        return false;
    }
    under(OWN_TARGET) || *meta.level() <= tracing::Level::WARN
}

/// The product's log layer: lines to `writer`, one JSON object per line with `json`, level from
/// the `directives` (`RUST_LOG` syntax), under the cap of [`within_cap`].
///
/// The directives go through an `EnvFilter`, and [`within_cap`] is layered on top of it: a
/// directive can only narrow what is written, never widen it past the cap. (Directives added to
/// the same `EnvFilter` would not do: a more specific directive such as
/// `lambda_runtime::layers=trace` wins over a general `lambda_runtime=warn`.) Public so the
/// secrecy test installs exactly this layer.
pub fn log_layer<S, W>(json: bool, directives: &str, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let requested = EnvFilter::try_new(directives.to_ascii_lowercase())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = FilterExt::and(requested, filter_fn(within_cap));
    let base = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer);
    if json {
        base.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(filter)
            .boxed()
    } else {
        base.without_time().with_filter(filter).boxed()
    }
}

/// Installs the log subscriber on stdout: one JSON object per line when
/// `AWS_LAMBDA_LOG_FORMAT=JSON` (Lambda's own switch), text otherwise; level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default `info`), under the cap (see [`log_layer`]).
pub fn init_logging() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    // An error here means a subscriber is already installed (tests); keep that one.
    let _ = tracing_subscriber::registry()
        .with(log_layer(json, &level, std::io::stdout))
        .try_init();
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
/// Each is handled as the function the runtime says was invoked (its context's invoked function
/// ARN, which the drift check takes for "this function").
pub async fn serve<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector>(
    app: &App<M, S, C, K, I>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        app.handle_as(event.payload, Some(&event.context.invoked_function_arn))
            .await
    }))
    .await
}
