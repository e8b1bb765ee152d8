//! The same function on local adapters, served over the Lambda Runtime API: `make replay` runs it
//! under cargo lambda's emulator (or any Runtime API) with no AWS account. Mail goes to the folder
//! `LOCAL_MAILBOX_DIR` (default `.local/mailbox`), attributes to the file `LOCAL_USERS_FILE`
//! (default `.local/users.json`).

// The SDK's deeply nested futures exceed the default query depth when laid out in `main`.
#![recursion_limit = "256"]

use cognito_email_otp::adapters::local::{LocalMailbox, LocalUserStore};
use cognito_email_otp::ports::SystemClock;
use cognito_email_otp::runtime_init::{init_logging, load_config, serve};
use cognito_email_otp::triggers::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let config = load_config().await?;
    let path = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let mailbox = LocalMailbox::new(
        path("LOCAL_MAILBOX_DIR", ".local/mailbox"),
        config.email_from.header_value(),
    );
    let store = LocalUserStore::new(
        path("LOCAL_USERS_FILE", ".local/users.json"),
        config.challenge_attribute.clone(),
    );
    serve(&App::new(config, mailbox, store, SystemClock)).await
}
