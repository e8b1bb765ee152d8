//! The Lambda entry point: read the configuration, wire the AWS adapters, serve events.
//!
//! Nothing AWS is built here: the SDK configuration and clients are created on the first
//! invocation that sends mail or touches the store (`CHALLENGE_STORE`: the user's attribute or a
//! DynamoDB table), and the code key (with
//! `CODE_HMAC_KEY_SECRET_ARN`) is fetched on the first invocation that hashes a code, so Define,
//! pre-sign-up and decoys never pay for them. The scheduled drift check reads the pool through the
//! same lazily loaded configuration, with the function's environment taken from this process.
//! Configuration errors are reported to the Runtime API's init-error endpoint.

// The SDK's deeply nested futures exceed the default query depth when laid out in `main`.
#![recursion_limit = "256"]

use std::sync::Arc;

use cognito_email_otp::adapters::admin::AwsInspector;
use cognito_email_otp::adapters::aws::AwsContext;
use cognito_email_otp::adapters::cognito::CognitoStore;
use cognito_email_otp::adapters::dynamo::DynamoStore;
use cognito_email_otp::adapters::secrets::SecretKey;
use cognito_email_otp::adapters::ses::SesMailer;
use cognito_email_otp::config::{CodeKey, Config, StoreChoice};
use cognito_email_otp::ports::{ChallengeStore, SystemClock};
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
        config.ses_configuration_set.clone(),
    );
    let cognito = CognitoStore::new(aws.clone(), config.challenge_attribute.clone());
    match config.store.clone() {
        StoreChoice::Attribute => with_store(config, mailer, cognito, aws).await,
        StoreChoice::DynamoDb { table } => {
            let keys = config.reference.clone();
            let store = DynamoStore::new(aws.clone(), table, keys, cognito);
            with_store(config, mailer, store, aws).await
        }
    }
}

/// Serves with `store` and the code key from the configuration or from Secrets Manager.
async fn with_store<S: ChallengeStore>(
    config: Config,
    mailer: SesMailer,
    store: S,
    aws: Arc<AwsContext>,
) -> Result<(), lambda_runtime::Error> {
    let inspector = AwsInspector::new(aws.clone());
    let app = App::new(config, mailer, store, SystemClock).with_inspector(inspector);
    match app.config().code_key.clone() {
        CodeKey::Inline(_) => serve(&app).await,
        CodeKey::Secret(arn) => serve(&app.with_keys(SecretKey::new(aws, arn))).await,
    }
}
