//! [`KeySource`] over Secrets Manager: the code key is read with `GetSecretValue` at the first
//! invocation that needs it and kept for the life of the process.
//!
//! In Lambda the key is therefore never in the function's configuration, where anyone allowed
//! `lambda:GetFunctionConfiguration` (ReadOnlyAccess has it) could read it. Define, pre-sign-up
//! and the attribute store's decoys never ask for it, so they still make no AWS call (with the
//! table, a decoy takes the real path, key included). A failed fetch is not cached: the
//! next invocation tries again.

use std::sync::Arc;

use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;
use tracing::instrument;

use super::aws::{AwsContext, classify};
use crate::config::MIN_KEY_CHARS;
use crate::domain::code::CodeHasher;
use crate::ports::{FailureKind, KeySource, StoreError};

/// Secrets Manager error codes that will not succeed on a retry.
const REJECTED: &[&str] = &[
    "ResourceNotFoundException",
    "AccessDeniedException",
    "DecryptionFailure",
    "InvalidParameterException",
    "InvalidRequestException",
];

/// The code key from a Secrets Manager secret (`CODE_HMAC_KEY_SECRET_ARN`).
pub struct SecretKey {
    aws: Arc<AwsContext>,
    arn: String,
    hasher: OnceCell<CodeHasher>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("arn", &self.arn)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl SecretKey {
    /// A key source for the secret `arn`; nothing is fetched until the first use.
    pub fn new(aws: Arc<AwsContext>, arn: String) -> Self {
        Self {
            aws,
            arn,
            hasher: OnceCell::new(),
        }
    }

    /// Whether the key has been fetched (for tests of laziness).
    pub fn is_loaded(&self) -> bool {
        self.hasher.initialized()
    }

    #[instrument(name = "secretsmanager.get_secret_value", skip_all)]
    async fn fetch(&self) -> Result<CodeHasher, StoreError> {
        let client = Client::new(self.aws.sdk_config().await);
        let out = client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| {
                let (kind, detail) = classify(&e, REJECTED);
                StoreError {
                    kind,
                    detail: format!("code key (CODE_HMAC_KEY_SECRET_ARN): {detail}"),
                }
            })?;
        // Held as a secret from here on; the SDK's output type redacts it in Debug as well.
        let key = SecretString::from(out.secret_string().unwrap_or_default().to_owned());
        let chars = key.expose_secret().chars().count();
        if chars < MIN_KEY_CHARS {
            return Err(StoreError {
                kind: FailureKind::Rejected,
                detail: format!(
                    "code key (CODE_HMAC_KEY_SECRET_ARN): the secret's SecretString has {chars} characters; it must be a plain string of at least {MIN_KEY_CHARS}"
                ),
            });
        }
        Ok(CodeHasher::new(key.expose_secret().as_bytes()))
    }
}

impl KeySource for SecretKey {
    async fn hasher(&self) -> Result<&CodeHasher, StoreError> {
        self.hasher.get_or_try_init(|| self.fetch()).await
    }
}
