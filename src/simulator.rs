//! Cognito's side of a custom-auth sign-in, played faithfully enough to drive the function: for
//! `make demo`, and for tests that run whole sign-ins. The Lambda never uses it.
//!
//! What it reproduces (see `shared/reference/cognito-custom-auth.md`):
//! - the session grows one entry per completed round, carrying Create's `challengeMetadata` and
//!   Verify's result; SRP rounds carry `challengeMetadata: null`;
//! - `userAttributes` are read afresh from the user directory before every trigger;
//! - `privateChallengeParameters` go from Create to the following Verify;
//! - `clientMetadata` is present only on RespondToAuthChallenge;
//! - an unknown user yields `userNotFound: true` and empty attributes;
//! - responses arrive with Cognito's nulls, and a trigger error ends the sign-in with
//!   "<Trigger> failed with error <message>".

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::{Map, Value, json};

/// Invokes the function with one event (in-process, or over the Lambda Runtime API).
pub trait Invoker {
    /// Returns the function's response, or its error message.
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, String>>;
}

/// Reads a user's attributes, as Cognito does before each trigger (AdminGetUser, in effect).
pub trait Directory {
    /// `None` when the user does not exist.
    fn attributes(&self, username: &str) -> impl Future<Output = Option<BTreeMap<String, String>>>;
}

/// Where a sign-in stands after a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Cognito asks for the password proof (SRP).
    PasswordVerifier,
    /// A custom challenge with its public parameters.
    CustomChallenge(BTreeMap<String, String>),
    /// Signed in.
    Tokens,
}

/// Why a sign-in stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Define failed authentication (`NotAuthorizedException`).
    #[error("NotAuthorizedException: Incorrect username or password.")]
    NotAuthorized,
    /// A trigger returned an error (`UserLambdaValidationException`), with Cognito's message.
    #[error("UserLambdaValidationException: {0}")]
    TriggerFailed(String),
    /// The function answered with something that is not a usable event.
    #[error("InvalidLambdaResponseException: {0}")]
    InvalidResponse(String),
}

/// One sign-in in progress.
#[derive(Debug, Clone)]
pub struct SignIn {
    username: String,
    session: Vec<Value>,
    current_metadata: Option<String>,
    private: Value,
    /// The public parameters of the current custom round.
    pub public: BTreeMap<String, String>,
}

impl SignIn {
    /// The private challenge parameters of the current round, as Cognito keeps them for Verify.
    pub fn private_parameters(&self) -> &Value {
        &self.private
    }
}

/// The simulated user pool.
#[derive(Debug, Clone)]
pub struct CognitoSim<I, D> {
    /// How the function is invoked.
    pub invoker: I,
    /// Where users live.
    pub directory: D,
    /// The pool ID put in every event.
    pub pool_id: String,
    /// The app client ID put in every event.
    pub client_id: String,
}

impl<I: Invoker, D: Directory> CognitoSim<I, D> {
    /// InitiateAuth with `CUSTOM_AUTH`; `with_srp` starts the password-first flow (`CHALLENGE_NAME: SRP_A`).
    pub async fn initiate_auth(
        &self,
        username: &str,
        with_srp: bool,
    ) -> Result<(SignIn, Step), SignInError> {
        let mut s = SignIn {
            username: username.to_owned(),
            session: Vec::new(),
            current_metadata: None,
            private: Value::Null,
            public: BTreeMap::new(),
        };
        if with_srp {
            s.session.push(json!({ "challengeName": "SRP_A", "challengeResult": true, "challengeMetadata": null }));
        }
        // InitiateAuth's ClientMetadata is never forwarded to these triggers.
        let step = self.define_then_create(&mut s, None).await?;
        Ok((s, step))
    }

    /// RespondToAuthChallenge for PASSWORD_VERIFIER. Cognito checks the proof itself; a wrong
    /// password is recorded as a failed round, and Define decides.
    pub async fn respond_password(
        &self,
        s: &mut SignIn,
        password_ok: bool,
    ) -> Result<Step, SignInError> {
        s.session.push(json!({ "challengeName": "PASSWORD_VERIFIER", "challengeResult": password_ok, "challengeMetadata": null }));
        self.define_then_create(s, Some(Map::new())).await
    }

    /// RespondToAuthChallenge for CUSTOM_CHALLENGE with `answer` and `client_metadata`.
    pub async fn respond_custom(
        &self,
        s: &mut SignIn,
        answer: &str,
        client_metadata: &[(&str, &str)],
    ) -> Result<Step, SignInError> {
        let metadata: Map<String, Value> = client_metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let (attrs, not_found) = self.load(&s.username).await;
        let event = self.verify_event(s, &attrs, not_found, &json!(answer), &metadata);
        let response = self.call(event, "VerifyAuthChallengeResponse").await?;
        let correct = response
            .get("answerCorrect")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        s.session.push(json!({
            "challengeName": "CUSTOM_CHALLENGE",
            "challengeResult": correct,
            "challengeMetadata": s.current_metadata,
        }));
        self.define_then_create(s, Some(metadata)).await
    }

    async fn define_then_create(
        &self,
        s: &mut SignIn,
        client_metadata: Option<Map<String, Value>>,
    ) -> Result<Step, SignInError> {
        let (attrs, not_found) = self.load(&s.username).await;
        let mut request =
            json!({ "userAttributes": attrs, "session": s.session, "userNotFound": not_found });
        if let Some(m) = &client_metadata {
            request["clientMetadata"] = Value::Object(m.clone());
        }
        let event = self.event(
            "DefineAuthChallenge_Authentication",
            &s.username,
            request,
            json!({ "challengeName": null, "issueTokens": null, "failAuthentication": null }),
        );
        let r = self.call(event, "DefineAuthChallenge").await?;
        let flag = |k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
        if flag("failAuthentication") {
            return Err(SignInError::NotAuthorized);
        }
        if flag("issueTokens") {
            return Ok(Step::Tokens);
        }
        match r.get("challengeName").and_then(Value::as_str) {
            Some("PASSWORD_VERIFIER") => Ok(Step::PasswordVerifier),
            Some("CUSTOM_CHALLENGE") => {
                let (attrs, not_found) = self.load(&s.username).await;
                let mut request = json!({
                    "userAttributes": attrs,
                    "challengeName": "CUSTOM_CHALLENGE",
                    "session": s.session,
                    "userNotFound": not_found,
                });
                if let Some(m) = &client_metadata {
                    request["clientMetadata"] = Value::Object(m.clone());
                }
                let event = self.event(
                    "CreateAuthChallenge_Authentication",
                    &s.username,
                    request,
                    json!({ "publicChallengeParameters": null, "privateChallengeParameters": null, "challengeMetadata": null }),
                );
                let r = self.call(event, "CreateAuthChallenge").await?;
                s.private = r
                    .get("privateChallengeParameters")
                    .cloned()
                    .unwrap_or(Value::Null);
                s.current_metadata = r
                    .get("challengeMetadata")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                s.public = r
                    .get("publicChallengeParameters")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Step::CustomChallenge(s.public.clone()))
            }
            other => Err(SignInError::InvalidResponse(format!(
                "Define answered challengeName {other:?}"
            ))),
        }
    }

    async fn load(&self, username: &str) -> (BTreeMap<String, String>, bool) {
        match self.directory.attributes(username).await {
            Some(a) => (a, false),
            None => (BTreeMap::new(), true),
        }
    }

    async fn call(&self, event: Value, trigger: &str) -> Result<Value, SignInError> {
        let out =
            self.invoker.invoke(event).await.map_err(|m| {
                SignInError::TriggerFailed(format!("{trigger} failed with error {m}"))
            })?;
        out.get("response")
            .cloned()
            .ok_or_else(|| SignInError::InvalidResponse(format!("{trigger} returned no response")))
    }
}

impl<I, D> CognitoSim<I, D> {
    /// The Verify event Cognito sends for `s`, with `attrs` as read from the pool and any JSON as
    /// the answer (tests send answers of the wrong type, or the same answer from many callers).
    pub fn verify_event(
        &self,
        s: &SignIn,
        attrs: &BTreeMap<String, String>,
        user_not_found: bool,
        answer: &Value,
        client_metadata: &Map<String, Value>,
    ) -> Value {
        self.event(
            "VerifyAuthChallengeResponse_Authentication",
            &s.username,
            json!({
                "userAttributes": attrs,
                "privateChallengeParameters": s.private,
                "challengeAnswer": answer,
                "clientMetadata": client_metadata,
                "userNotFound": user_not_found,
            }),
            json!({ "answerCorrect": null }),
        )
    }

    /// The Create event Cognito sends for a new passwordless sign-in of `username`, with `attrs`
    /// as read from the pool (tests send the same event from many callers at once).
    pub fn create_event(&self, username: &str, attrs: &BTreeMap<String, String>) -> Value {
        self.event(
            "CreateAuthChallenge_Authentication",
            username,
            json!({
                "userAttributes": attrs,
                "challengeName": "CUSTOM_CHALLENGE",
                "session": [],
                "userNotFound": false,
            }),
            json!({ "publicChallengeParameters": null, "privateChallengeParameters": null, "challengeMetadata": null }),
        )
    }

    fn event(&self, source: &str, username: &str, request: Value, response: Value) -> Value {
        json!({
            "version": "1",
            "triggerSource": source,
            "region": self.pool_id.split('_').next().unwrap_or("eu-west-1"),
            "userPoolId": self.pool_id,
            "userName": username,
            "callerContext": { "awsSdkVersion": "aws-sdk-js-3.700.0", "clientId": self.client_id },
            "request": request,
            "response": response,
        })
    }
}

/// The function called in-process, through the same dispatcher the Lambda runs. An error becomes
/// its user-facing message, as Cognito would show it.
impl<M, S, C> Invoker for &crate::triggers::App<M, S, C>
where
    M: crate::ports::Mailer,
    S: crate::ports::ChallengeStore,
    C: crate::ports::Clock,
{
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        self.handle(event).await.map_err(|e| e.user_message())
    }
}

/// Users in a [`crate::adapters::local::LocalUserStore`], in one pool.
#[derive(Debug, Clone, Copy)]
pub struct LocalDirectory<'a> {
    /// The store.
    pub store: &'a crate::adapters::local::LocalUserStore,
    /// The pool the simulated users belong to.
    pub pool_id: &'a str,
}

impl<'a, I: Invoker> CognitoSim<I, LocalDirectory<'a>> {
    /// A simulated pool `pool_id` whose users live in `store` (the demo and the local tests).
    pub fn local(
        invoker: I,
        store: &'a crate::adapters::local::LocalUserStore,
        pool_id: &'a str,
    ) -> Self {
        Self {
            invoker,
            directory: LocalDirectory { store, pool_id },
            pool_id: pool_id.to_owned(),
            client_id: "3n4b5v6c7x8z9a0s1d2f3g4h5j".to_owned(),
        }
    }
}

impl Directory for LocalDirectory<'_> {
    async fn attributes(&self, username: &str) -> Option<BTreeMap<String, String>> {
        self.store.attributes(self.pool_id, username).ok().flatten()
    }
}

/// The code in an email body rendered by [`crate::domain::message::render`] (text or HTML, any
/// locale), for scripted sign-ins: the first run of 6 to 10 digits standing alone, on a line of
/// its own in the text or as an element's whole content in the HTML. Digits inside a sentence,
/// a subject or a link (`expiresAt=…`) are not taken.
pub fn code_from_email(body: &str) -> Option<String> {
    body.split(['\n', '<', '>'])
        .map(str::trim)
        .find(|s| (6..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// A well-formed but wrong answer for `code`: every digit shifted by one.
pub fn wrong_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b.wrapping_sub(b'0') + 1) % 10))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code::OtpCode;

    #[test]
    fn a_wrong_code_differs_in_every_digit() {
        assert_eq!(wrong_code("092"), "103");
        let w = wrong_code("482913");
        assert_eq!(w.len(), 6);
        assert!(w.bytes().zip("482913".bytes()).all(|(a, b)| a != b));
    }
    use crate::domain::message::render;

    #[test]
    fn finds_the_code_in_both_renderings_of_every_locale() {
        use crate::domain::message::{AppName, Email, LinkBase, SignInLink, bundled_locales};
        let code = OtpCode::from_digits("0482913").unwrap();
        let base = LinkBase::parse("https://app.example/in").unwrap();
        let link = SignInLink::new(&base, "1234567", &code, 1_767_225_900);
        let app = AppName::parse("1234567").unwrap();
        for locale in bundled_locales() {
            let m = render(&Email {
                locale,
                app_name: Some(&app),
                subject: None,
                code_in_subject: true,
                code: &code,
                minutes: 5,
                link: Some(&link),
            });
            assert_eq!(code_from_email(&m.text).as_deref(), Some("0482913"));
            assert_eq!(code_from_email(&m.html).as_deref(), Some("0482913"));
            let eml = format!("Subject: {}\n\n{}", m.subject, m.text);
            assert_eq!(code_from_email(&eml).as_deref(), Some("0482913"));
        }
        assert_eq!(code_from_email("nothing here 123456 in a sentence"), None);
    }
}
