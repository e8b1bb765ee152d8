//! The Lambda entry point: read the configuration, wire the AWS adapters, serve events.
//!
//! Nothing AWS is built here: the SDK configuration and clients are created on the first
//! invocation that sends mail or writes an attribute, and the code key (with
//! `CODE_HMAC_KEY_SECRET_ARN`) is fetched on the first invocation that hashes a code, so Define,
//! pre-sign-up and decoys never pay for them. Configuration errors are reported to the Runtime
//! API's init-error endpoint.

// The SDK's deeply nested futures exceed the default query depth when laid out in `main`.
#![recursion_limit = "256"]

use std::sync::Arc;

use cognito_email_otp::adapters::aws::AwsContext;
use cognito_email_otp::adapters::cognito::CognitoStore;
use cognito_email_otp::adapters::secrets::SecretKey;
use cognito_email_otp::adapters::ses::SesMailer;
use cognito_email_otp::config::CodeKey;
use cognito_email_otp::ports::SystemClock;
use cognito_email_otp::runtime_init::{init_logging, load_config, serve};
use cognito_email_otp::triggers::App;

// One invocation at a time per process (the Lambda model), so one thread is enough and starts faster.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let config = load_config().await?;
    let aws = Arc::new(AwsContext::new());
    let mailer = SesMailer::new(
        aws.clone(),
        &config.email_from,
        config.ses_template.clone(),
        config.ses_configuration_set.clone(),
    );
    let store = CognitoStore::new(aws.clone(), config.challenge_attribute.clone());
    match config.code_key.clone() {
        CodeKey::Inline(_) => serve(&App::new(config, mailer, store, SystemClock)).await,
        CodeKey::Secret(arn) => {
            let keys = SecretKey::new(aws, arn);
            serve(&App::new(config, mailer, store, SystemClock).with_keys(keys)).await
        }
    }
}
