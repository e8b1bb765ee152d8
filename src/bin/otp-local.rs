//! The same function on local adapters, served over the Lambda Runtime API: `make replay` runs it
//! under cargo lambda's emulator (or any Runtime API) with no AWS account. Mail goes to the folder
//! `LOCAL_MAILBOX_DIR` (default `.local/mailbox`), attributes to the file `LOCAL_USERS_FILE`
//! (default `.local/users.json`).

// The SDK's deeply nested futures exceed the default query depth when laid out in `main`.
#![recursion_limit = "256"]

use cognito_email_otp::adapters::local::{LocalMailbox, LocalUserStore};
use cognito_email_otp::config::Config;
use cognito_email_otp::ports::SystemClock;
use cognito_email_otp::runtime_init::{init_logging, report_init_error};
use cognito_email_otp::triggers::App;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            report_init_error("Runtime.ConfigError", &e.to_string()).await;
            return Err(e.into());
        }
    };
    let dir = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let mailbox = LocalMailbox::new(
        dir("LOCAL_MAILBOX_DIR", ".local/mailbox"),
        config.email_from.header_value(),
    );
    let store = LocalUserStore::new(
        dir("LOCAL_USERS_FILE", ".local/users.json"),
        config.challenge_attribute.clone(),
    );
    let app = App::new(config, mailbox, store, SystemClock);
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        app.handle(event.payload)
    }))
    .await
}
