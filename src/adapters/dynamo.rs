//! [`ChallengeStore`] over a DynamoDB table (`CHALLENGE_STORE=dynamodb`): every write is one
//! conditional `UpdateItem`.
//!
//! The item, under the table's only key, the String partition key `pk`:
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `pk` | S | `u1#` and 32 hex digits of a keyed hash (`REFERENCE_KEY`) of pool and username: no name in clear, and unknown users (decoys) get their own key the same way |
//! | `st` | S | the encoded state, exactly as in the attribute store (hashes and times, no code, no address) |
//! | `v` | S | the version: the hex write tag of the write that stored it |
//! | `ttl` | N | the state's `live_until` (Unix seconds), the table's TTL attribute |
//!
//! A write names the version it was decided on: `v = :expected`, or for a user with no live state
//! `attribute_not_exists(pk) OR ttl < :now` (a state past its `live_until` decides like none,
//! and DynamoDB's TTL sweep may take up to a few days to remove it). A refused write answers
//! with the stored item in the same request (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), so
//! the trigger decides again without a read. Reads are strongly consistent `GetItem`s.
//!
//! The one Cognito call left is the first correct code's `email` + `email_verified`, made after
//! the code is consumed and only when the flag is not already true.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use tracing::instrument;

use super::aws::{AwsContext, LazyClient, classify};
use super::cognito::CognitoStore;
use crate::domain::code::CodeHasher;
use crate::domain::policy::UserRef;
use crate::domain::state::WRITE_TAG_LEN;
use crate::hex;
use crate::ports::{
    ChallengeStore, FailureKind, Snapshot, StateWrite, StoreError, Stored, Version,
};

/// The partition key attribute (the table's only key).
pub const KEY_ATTRIBUTE: &str = "pk";
/// The encoded state.
pub const STATE_ATTRIBUTE: &str = "st";
/// The version (write tag, hex).
pub const VERSION_ATTRIBUTE: &str = "v";
/// The TTL attribute: turn on the table's TTL with this name.
pub const TTL_ATTRIBUTE: &str = "ttl";

/// DynamoDB error codes that will not succeed on a retry.
const REJECTED: &[&str] = &[
    "ResourceNotFoundException",
    "ValidationException",
    "AccessDeniedException",
    "UnrecognizedClientException",
];

/// The challenge state in a DynamoDB table. Clients are built on first use.
#[derive(Debug)]
pub struct DynamoStore {
    client: LazyClient<Client>,
    table: String,
    keys: CodeHasher,
    cognito: CognitoStore,
}

impl DynamoStore {
    /// A store in `table` (`CHALLENGE_TABLE`), keyed with `keys` (`REFERENCE_KEY`). `cognito`
    /// makes the first correct code's `email_verified` write.
    pub fn new(
        aws: Arc<AwsContext>,
        table: String,
        keys: CodeHasher,
        cognito: CognitoStore,
    ) -> Self {
        Self {
            client: LazyClient::new(aws, Client::new),
            table,
            keys,
            cognito,
        }
    }

    async fn client(&self) -> &Client {
        self.client.get().await
    }

    /// Whether the DynamoDB client has been built (for tests of laziness).
    pub fn is_initialized(&self) -> bool {
        self.client.is_initialized()
    }

    fn key(&self, user: UserRef<'_>) -> AttributeValue {
        AttributeValue::S(partition_key(&self.keys, user))
    }

    fn error<E>(&self, e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> StoreError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (kind, detail) = classify(e, REJECTED);
        // A missing table or a missing grant is a deployment problem: name the setting.
        let detail = match kind {
            FailureKind::Rejected => format!("{detail} (CHALLENGE_TABLE={:?})", self.table),
            _ => detail,
        };
        StoreError { kind, detail }
    }

    /// The snapshot in an item, or a clear refusal for an item this function did not write.
    fn snapshot(&self, item: &HashMap<String, AttributeValue>) -> Result<Snapshot, StoreError> {
        let text = |name| item.get(name).and_then(|v| v.as_s().ok());
        let version = text(VERSION_ATTRIBUTE).and_then(|v| hex::decode::<WRITE_TAG_LEN>(v));
        match (text(STATE_ATTRIBUTE), version) {
            (Some(st), Some(tag)) => Ok(Snapshot {
                encoded: Some(st.clone()),
                version: Version::Tagged(tag),
            }),
            _ => Err(StoreError {
                kind: FailureKind::Rejected,
                detail: format!(
                    "an item in CHALLENGE_TABLE={:?} has no string `{STATE_ATTRIBUTE}` and hex `{VERSION_ATTRIBUTE}`: it was not written by this function",
                    self.table
                ),
            }),
        }
    }
}

/// The partition key of `user`'s item: a keyed hash of pool and username, so the table holds no
/// username (which may be an email address, or a name that does not exist) in clear.
pub fn partition_key(keys: &CodeHasher, user: UserRef<'_>) -> String {
    let digest = keys.keyed_reference(
        "challenge-store",
        &format!("{}/{}", user.pool_id, user.username),
    );
    format!("u1#{}", hex::encode(&digest[..16]))
}

/// A version (write tag) as stored in `v`.
fn version_text(tag: &[u8; WRITE_TAG_LEN]) -> String {
    hex::encode(tag)
}

impl ChallengeStore for DynamoStore {
    const CONDITIONAL: bool = true;

    #[instrument(name = "dynamodb.update_item", skip_all)]
    async fn write(&self, write: &StateWrite<'_>, expected: Version) -> Result<Stored, StoreError> {
        let request = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, self.key(write.user))
            .update_expression("SET #st = :st, #v = :v, #ttl = :ttl")
            .expression_attribute_names("#st", STATE_ATTRIBUTE)
            .expression_attribute_names("#v", VERSION_ATTRIBUTE)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":st", AttributeValue::S(write.encoded.to_owned()))
            .expression_attribute_values(":v", AttributeValue::S(version_text(&write.tag)))
            .expression_attribute_values(":ttl", AttributeValue::N(write.live_until.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            Version::Absent => request
                .condition_expression("attribute_not_exists(#pk) OR #ttl < :now")
                .expression_attribute_names("#pk", KEY_ATTRIBUTE)
                .expression_attribute_values(":now", AttributeValue::N(write.now.to_string())),
            Version::Tagged(tag) => request
                .condition_expression("#v = :expected")
                .expression_attribute_values(":expected", AttributeValue::S(version_text(&tag))),
            // Only a store without versions hands these out; written as asked.
            Version::Unchecked => request,
        };
        if let Err(e) = request.send().await {
            // Refused by the condition: the stored item came back with the refusal.
            if let Some(UpdateItemError::ConditionalCheckFailedException(c)) = e.as_service_error()
            {
                return match c.item() {
                    // Deleted between the condition and now (TTL): there is nothing to return.
                    None => Ok(Stored::Conflict(Snapshot::ABSENT)),
                    Some(item) => self.snapshot(item).map(Stored::Conflict),
                };
            }
            return Err(self.error(&e));
        }
        if let Some(email) = write.verified_email {
            self.cognito.verify_email(write.user, email).await?;
        }
        Ok(Stored::Written)
    }

    #[instrument(name = "dynamodb.get_item", skip_all)]
    async fn read(&self, user: UserRef<'_>) -> Result<Snapshot, StoreError> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, self.key(user))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(&e))?;
        match out.item() {
            None => Ok(Snapshot::ABSENT),
            Some(item) => self.snapshot(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_nobody_and_differ_per_pool_and_user() {
        let keys = CodeHasher::new(b"reference-key-reference-key-0123");
        let user = |pool_id, username| UserRef { pool_id, username };
        let a = partition_key(&keys, user("eu-west-1_A", "maria@example.org"));
        assert!(a.starts_with("u1#") && a.len() == 3 + 32, "{a}");
        assert!(!a.contains("maria") && !a.contains("example"));
        assert_eq!(
            a,
            partition_key(&keys, user("eu-west-1_A", "maria@example.org"))
        );
        assert_ne!(
            a,
            partition_key(&keys, user("eu-west-1_B", "maria@example.org"))
        );
        assert_ne!(
            a,
            partition_key(&keys, user("eu-west-1_A", "maria@example.com"))
        );
        let other = CodeHasher::new(b"another-key-another-key-01234567");
        assert_ne!(
            a,
            partition_key(&other, user("eu-west-1_A", "maria@example.org"))
        );
    }

    #[test]
    fn versions_round_trip_and_garbage_is_refused() {
        let tag = [0, 1, 0xab, 0xff, 9, 8, 7, 6];
        let unhex = hex::decode::<WRITE_TAG_LEN>;
        assert_eq!(unhex(&version_text(&tag)), Some(tag));
        assert_eq!(unhex("00"), None);
        assert_eq!(unhex("zz01abff09080706"), None);
        assert_eq!(unhex("éé01abff090807"), None);
    }
}
