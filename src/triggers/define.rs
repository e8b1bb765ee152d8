//! DefineAuthChallenge: maps the session into domain rounds and applies [`flow::decide`].
//!
//! No I/O: everything comes from the event. Two decisions end a sign-in with a message the user can
//! read rather than `failAuthentication` (which only says "not authorized"): a password-first
//! sign-in of a user without a permanent password becomes a trigger error here, and a sign-in that
//! ran out of answers or rounds gets one more round, which Create refuses (see
//! [`flow::SessionEnd`]).

use std::collections::HashMap;

use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsChallengeResult as ChallengeResult,
    CognitoEventUserPoolsDefineAuthChallengeRequest as DefineRequest,
};
use serde_json::{Map, Value, json};

use super::{App, Outcome, TriggerError, request, resend_requested};
use crate::domain::email::EmailAddress;
use crate::domain::flow::{
    self, ChallengeKind, DefineContext, DefineDecision, PasswordChange, Round,
    USER_STATUS_ATTRIBUTE,
};
use crate::ports::{ChallengeStore, Clock, KeySource, Mailer, PoolInspector};

/// The session as the domain reads it. Create maps its own copy the same way, so it decides the
/// end of a sign-in exactly as Define did ([`flow::session_end`]).
pub(super) fn session_rounds(session: &[Option<ChallengeResult>]) -> Vec<Round> {
    session
        .iter()
        .map(|entry| match entry {
            Some(r) => Round {
                kind: ChallengeKind::from_name(r.challenge_name.as_deref()),
                succeeded: r.challenge_result,
                label: r.challenge_metadata.clone(),
            },
            // A null entry is nothing Cognito sends; make it fail like an unknown challenge.
            None => Round {
                kind: ChallengeKind::Other,
                succeeded: false,
                label: None,
            },
        })
        .collect()
}

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector> App<M, S, C, K, I> {
    /// What Define knows besides the session, from the fields Define's and Create's requests share.
    pub(super) fn define_context(
        &self,
        user_not_found: bool,
        user_attributes: &HashMap<String, String>,
        client_metadata: &HashMap<String, String>,
    ) -> DefineContext {
        DefineContext {
            flow: self.config.flow,
            max_attempts: self.config.limits.max_attempts,
            send_limit: self.config.limits.send_limit,
            user_not_found,
            has_email: user_attributes
                .get("email")
                .and_then(|e| EmailAddress::parse(e))
                .is_some(),
            resend_requested: resend_requested(client_metadata),
            password_change: PasswordChange::from_user_status(
                user_attributes
                    .get(USER_STATUS_ATTRIBUTE)
                    .map(String::as_str),
            ),
        }
    }

    pub(super) fn define(&self, event: &mut Map<String, Value>) -> Result<Outcome, TriggerError> {
        let req: DefineRequest = request(event)?;
        let session = session_rounds(&req.session);
        let ctx = self.define_context(
            req.user_not_found,
            &req.user_attributes,
            &req.client_metadata,
        );
        let decision = flow::decide(&ctx, &session);
        let (challenge, tokens, fail, outcome) = match decision {
            DefineDecision::PasswordVerifier => (
                Some("PASSWORD_VERIFIER"),
                false,
                false,
                Outcome::new("password_next", None),
            ),
            DefineDecision::CustomChallenge => (
                Some("CUSTOM_CHALLENGE"),
                false,
                false,
                Outcome::new("challenge_next", None),
            ),
            // One more round, which Create refuses with the reason the user can read.
            DefineDecision::EndInCreate(end) => (
                Some("CUSTOM_CHALLENGE"),
                false,
                false,
                Outcome::new("ending_next", Some(end.as_str())),
            ),
            DefineDecision::IssueTokens => (None, true, false, Outcome::new("tokens_issued", None)),
            DefineDecision::Fail(why) => (
                None,
                false,
                true,
                Outcome::new("refused_session", Some(why.as_str())),
            ),
            // Cognito shows the error's text; the event goes back without a response.
            DefineDecision::PasswordChangeRequired(PasswordChange::Temporary) => {
                return Err(TriggerError::TemporaryPassword);
            }
            DefineDecision::PasswordChangeRequired(PasswordChange::ResetRequired) => {
                return Err(TriggerError::PasswordResetRequired);
            }
        };
        event.insert(
            "response".into(),
            json!({ "challengeName": challenge, "issueTokens": tokens, "failAuthentication": fail }),
        );
        Ok(outcome)
    }
}
