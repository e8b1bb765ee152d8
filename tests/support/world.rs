//! The end-to-end world shared by `tests/e2e.rs` and `tests/attacks.rs`: moto with a pool and a
//! user behind the fault proxy, the simulator playing Cognito against it, and helpers to start
//! sign-ins, read emails and outcomes, and move stored state into the past.

use std::time::Duration;

use cognito_email_otp::simulator::{CognitoSim, Invoker, SignInError, Step};
use serde_json::Value;

use super::lambda::{Lambda, Mode, lambda_env};
use super::moto::{FaultServer, Moto};
use super::pool::{Cognito, PoolDirectory, age, age_state, attributes, set_up};
use cognito_email_otp::simulator::code_from_email;

/// Cognito gives up on a trigger after 5 s.
pub const COGNITO_LIMIT: Duration = Duration::from_secs(5);

/// Where the function keeps its challenge state in a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The user's `custom:authChallenge` attribute (the default).
    Attribute,
    /// The DynamoDB table [`TABLE`] (`CHALLENGE_STORE=dynamodb`).
    Table,
}

/// The table of [`Store::Table`] worlds.
pub const TABLE: &str = "otp-challenges";

/// Runs a scenario `async fn name(store: Store)` once per store, as two tests named
/// `name::attribute` and `name::table`.
#[macro_export]
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn attribute() {
                super::$name($crate::support::world::Store::Attribute).await
            }
            #[tokio::test]
            async fn table() {
                super::$name($crate::support::world::Store::Table).await
            }
        }
    )*};
}

/// moto with a pool and a user, and the fault proxy the function talks to.
pub struct World {
    pub moto: Moto,
    pub proxy: FaultServer,
    pub cognito: Cognito,
    pub pool_id: String,
    pub username: String,
    pub store: Store,
}

impl World {
    /// A world whose function keeps state in the user's attribute.
    pub async fn new() -> Self {
        Self::with(Store::Attribute).await
    }

    /// A world whose function keeps state in `store` (creating the table for [`Store::Table`]).
    pub async fn with(store: Store) -> Self {
        let moto = Moto::start();
        let (cognito, pool_id, username) = set_up(&moto.aws()).await;
        if store == Store::Table {
            moto.create_table(TABLE).await;
        }
        let proxy = FaultServer::proxy(&moto);
        Self {
            moto,
            proxy,
            cognito,
            pool_id,
            username,
            store,
        }
    }

    /// The function's environment: AWS through the proxy, the world's store, plus `config`.
    /// Both flows are enabled unless `config` says otherwise.
    pub fn env(&self, config: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![("AUTH_FLOW", "both")];
        if self.store == Store::Table {
            all.extend([("CHALLENGE_STORE", "dynamodb"), ("CHALLENGE_TABLE", TABLE)]);
        }
        all.extend_from_slice(config);
        lambda_env(&self.proxy.endpoint, &all)
    }

    /// The partition key of `username`'s item, keyed as the function keys it (the reference key
    /// derived from the test `CODE_HMAC_KEY`).
    pub fn item_key(&self, username: &str) -> String {
        let env = lambda_env("http://127.0.0.1:1", &[]);
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let config = cognito_email_otp::config::Config::from_lookup(lookup).expect("test config");
        cognito_email_otp::adapters::dynamo::partition_key(
            &config.reference,
            cognito_email_otp::domain::policy::UserRef {
                pool_id: &self.pool_id,
                username,
            },
        )
    }

    /// `username`'s table item, if any.
    pub async fn item(
        &self,
        username: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.moto
            .dynamodb()
            .await
            .get_item()
            .table_name(TABLE)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(self.item_key(username)),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item()
            .cloned()
    }

    pub fn sim<I>(&self, invoker: I) -> CognitoSim<I, PoolDirectory> {
        CognitoSim {
            invoker,
            directory: PoolDirectory {
                cognito: self.cognito.clone(),
                pool_id: self.pool_id.clone(),
            },
            pool_id: self.pool_id.clone(),
            client_id: "3n4b5v6c7x8z9a0s1d2f3g4h5j".into(),
        }
    }

    /// Bodies of every email moto delivered, oldest first.
    pub fn emails(&self) -> Vec<String> {
        self.moto
            .sent_emails()
            .iter()
            .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn last_code(&self) -> String {
        code_from_email(self.emails().last().expect("an email")).expect("a code in the email")
    }

    /// Moves the seeded user's stored state `secs` into the past (see `support::pool::age_state`).
    pub async fn age(&self, secs: u32, code: Option<&str>) {
        use aws_sdk_dynamodb::types::AttributeValue;
        use cognito_email_otp::domain::state::ChallengeState;
        if self.store == Store::Attribute {
            age_state(&self.cognito, &self.pool_id, &self.username, secs, code).await;
            return;
        }
        let Some(mut item) = self.item(&self.username).await else {
            return;
        };
        let Some(mut state) = item["st"]
            .as_s()
            .ok()
            .and_then(|s| ChallengeState::decode(s))
        else {
            return;
        };
        let attrs = attributes(&self.cognito, &self.pool_id, &self.username).await;
        age(
            &mut state,
            &attrs["email"],
            &self.pool_id,
            &self.username,
            secs,
            code,
        );
        // Moving the state is a write: a new version, so a Verify holding the state Create left
        // (the same code, at its old times) is refused by the condition and judges the moved one,
        // as it would judge the same state after real time had passed.
        let tag: [u8; 8] = rand_tag();
        state.write_tag = Some(tag);
        item.insert("st".into(), AttributeValue::S(state.encode()));
        item.insert(
            "v".into(),
            AttributeValue::S(tag.iter().map(|b| format!("{b:02x}")).collect()),
        );
        let ttl: u32 = item["ttl"].as_n().unwrap().parse().unwrap();
        item.insert("ttl".into(), AttributeValue::N((ttl - secs).to_string()));
        self.moto
            .dynamodb()
            .await
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }

    /// The encoded state stored for `username`, in the world's store ("" if none).
    pub async fn stored(&self, username: &str) -> String {
        match self.store {
            Store::Attribute => attributes(&self.cognito, &self.pool_id, username)
                .await
                .get("custom:authChallenge")
                .cloned()
                .unwrap_or_default(),
            Store::Table => self
                .item(username)
                .await
                .and_then(|i| i.get("st").and_then(|v| v.as_s().ok()).cloned())
                .unwrap_or_default(),
        }
    }
}

/// Starts a sign-in; for `mfa`, answers the password step first.
pub async fn begin<I: Invoker>(
    sim: &CognitoSim<I, PoolDirectory>,
    user: &str,
    with_password: bool,
) -> Result<(cognito_email_otp::simulator::SignIn, Step), SignInError> {
    let (mut s, step) = sim.initiate_auth(user, with_password).await?;
    if with_password {
        assert_eq!(step, Step::PasswordVerifier);
        let step = sim.respond_password(&mut s, true).await?;
        return Ok((s, step));
    }
    Ok((s, step))
}

pub fn is_challenge(step: &Result<Step, SignInError>) -> bool {
    matches!(step, Ok(Step::CustomChallenge(_)))
}

/// Asserts that no code appears in what the function logged or answered, or in the attribute.
pub fn assert_no_code_leaks(lambda: &Lambda, codes: &[String], stored: &[String]) {
    let output = lambda.output();
    let answers = lambda.answers_text();
    assert!(!output.is_empty() && !answers.is_empty());
    for code in codes {
        assert!(!output.contains(code.as_str()), "a code in the logs");
        assert!(
            !answers.contains(code.as_str()),
            "a code in a trigger answer"
        );
        for s in stored {
            assert!(!s.contains(code.as_str()), "a code in the attribute");
        }
    }
}

/// The per-invocation log lines' `outcome` and `reason`, in order.
pub fn outcomes(lambda: &Lambda) -> Vec<(String, String)> {
    lambda
        .invocation_lines()
        .iter()
        .map(|l| {
            (
                l["outcome"].as_str().unwrap_or_default().to_owned(),
                l["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A Verify event for the sign-in `s`, with `attrs` as Cognito read them.
pub fn verify_event(
    w: &World,
    s: &cognito_email_otp::simulator::SignIn,
    attrs: &std::collections::BTreeMap<String, String>,
    answer: &Value,
) -> Value {
    w.sim(())
        .verify_event(s, attrs, false, answer, &serde_json::Map::new())
}

/// `n` warm execution environments of the function with `env`, as Lambda scales out under load.
pub async fn warm_lambdas(env: &[(String, String)], n: usize) -> Vec<Lambda> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(Lambda::start(Mode::Warm, env.to_vec()).await);
    }
    all
}

/// The same event sent to every environment at once; the answers in order.
pub async fn burst(lambdas: &[Lambda], event: &Value) -> Vec<Result<Value, String>> {
    futures::future::join_all(lambdas.iter().map(|l| {
        let e = event.clone();
        async move { l.invoke(e).await }
    }))
    .await
}

fn rand_tag() -> [u8; 8] {
    let mut tag = [0u8; 8];
    cognito_email_otp::domain::random::fill(&mut tag);
    tag
}
