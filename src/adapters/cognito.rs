//! [`ChallengeStore`] over Cognito `AdminUpdateUserAttributes`.
//!
//! One request per write, carrying the challenge attribute and, after a first successful code,
//! the address the code was mailed to with `email_verified`. `AdminUpdateUserAttributes` is in Cognito's UserUpdate quota category: 25
//! requests per second per account and Region, not adjustable. Reads (Verify's read-back) use
//! `AdminGetUser`, in the UserRead category (120 per second, adjustable).

use std::sync::Arc;

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use tracing::instrument;

use super::aws::{AwsContext, LazyClient, classify};
use crate::domain::policy::UserRef;
use crate::ports::{
    ChallengeStore, FailureKind, Snapshot, StateWrite, StoreError, Stored, Version,
};

/// Cognito error codes that will not succeed on a retry.
const REJECTED: &[&str] = &[
    "UserNotFoundException",
    "ResourceNotFoundException",
    "InvalidParameterException",
    "NotAuthorizedException",
    "AliasExistsException",
];

/// Writes the challenge state through the Cognito admin API. The client is built on first use.
#[derive(Debug)]
pub struct CognitoStore {
    client: LazyClient<Client>,
    attribute: String,
}

impl CognitoStore {
    /// A store writing `attribute` (e.g. `custom:authChallenge`).
    pub fn new(aws: Arc<AwsContext>, attribute: String) -> Self {
        Self {
            client: LazyClient::new(aws, Client::new),
            attribute,
        }
    }

    async fn client(&self) -> &Client {
        self.client.get().await
    }

    /// Whether the Cognito client has been built (for tests of laziness).
    pub fn is_initialized(&self) -> bool {
        self.client.is_initialized()
    }
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, StoreError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| StoreError {
            kind: FailureKind::Rejected,
            detail: format!("could not build the Cognito request: {e}"),
        })
}

impl CognitoStore {
    /// Sets `email` to the address a code was mailed to, with `email_verified` true, and nothing
    /// else (the DynamoDB store's one Cognito write).
    pub async fn verify_email(
        &self,
        user: UserRef<'_>,
        email: &crate::domain::email::EmailAddress,
    ) -> Result<(), StoreError> {
        self.update(
            user,
            vec![
                attribute("email", email.as_str())?,
                attribute("email_verified", "true")?,
            ],
        )
        .await
    }

    #[instrument(name = "cognito.admin_update_user_attributes", skip_all)]
    async fn update(
        &self,
        user: UserRef<'_>,
        attributes: Vec<AttributeType>,
    ) -> Result<(), StoreError> {
        self.client()
            .await
            .admin_update_user_attributes()
            .user_pool_id(user.pool_id)
            .username(user.username)
            .set_user_attributes(Some(attributes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let (kind, detail) = classify(&e, REJECTED);
                StoreError { kind, detail }
            })
    }
}

impl ChallengeStore for CognitoStore {
    /// User attributes have no conditional write.
    const CONDITIONAL: bool = false;

    async fn write(
        &self,
        write: &StateWrite<'_>,
        _expected: Version,
    ) -> Result<Stored, StoreError> {
        let mut attributes = vec![attribute(&self.attribute, write.encoded)?];
        if let Some(email) = write.verified_email {
            // The address the code went to, with the flag: if `email` changed since Cognito read
            // it, this puts back the address that was proven, instead of verifying the new one.
            attributes.push(attribute("email", email.as_str())?);
            attributes.push(attribute("email_verified", "true")?);
        }
        self.update(write.user, attributes).await?;
        Ok(Stored::Written)
    }

    #[instrument(name = "cognito.admin_get_user", skip_all)]
    async fn read(&self, user: UserRef<'_>) -> Result<Snapshot, StoreError> {
        let out = self
            .client()
            .await
            .admin_get_user()
            .user_pool_id(user.pool_id)
            .username(user.username)
            .send()
            .await
            .map_err(|e| {
                let (kind, detail) = classify(&e, REJECTED);
                StoreError { kind, detail }
            })?;
        let encoded = out
            .user_attributes()
            .iter()
            .find(|a| a.name() == self.attribute)
            .and_then(|a| a.value().map(str::to_owned));
        Ok(Snapshot {
            encoded,
            version: Version::Unchecked,
        })
    }
}
