//! VerifyAuthChallengeResponse: judge the answer, record the outcome, answer true only after the
//! code is consumed.
//!
//! A wrong answer is counted before Verify answers; a right one is consumed before it is accepted.
//! If either write fails, the invocation fails with the same error in both cases, so a failing
//! store tells a guesser nothing and no answer is accepted without being consumed.
//!
//! Parallel guesses: user attributes have no conditional write, so answers sent at the same time
//! can all start from the same stored state. Verify therefore judges only on a fresh read (never
//! the event's copy; a failed or slow read fails closed), stamps its write with a random tag, lets
//! it settle, and reads the attribute back: if another write replaced it in between, the answers
//! raced and this one is refused (`contended`) even when right. Of a burst of simultaneous
//! answers only the last writer can be accepted. The measured bound is in docs/security.md.
//!
//! The code is bound to the address it was mailed to. If the user's `email` is no longer that
//! address, the answer is refused (`destination_changed`) without a write, and a first correct
//! code writes back the address it was mailed to together with `email_verified`, so the flag only
//! ever covers an address that received a code.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallengeRequest as VerifyRequest;
use serde_json::{Map, Value, json};

use super::decoy::Path;
use super::{
    App, Budget, Outcome, TriggerError, Written, header, request, resend_requested, unhex,
};
use crate::domain::email::EmailAddress;
use crate::domain::policy::{self, VerifyInput, VerifyOutcome};
use crate::ports::{ChallengeStore, Clock, KeySource, Mailer};

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource> App<M, S, C, K> {
    pub(super) async fn verify(
        &self,
        event: &mut Map<String, Value>,
        budget: &Budget,
    ) -> Result<Outcome, TriggerError> {
        let started = std::time::Instant::now();
        let req: VerifyRequest = request(event)?;
        let head = header(event)?;
        // The answer may be the code, so it is not echoed back: the returned event carries an empty
        // `challengeAnswer` (Cognito reads only `response`; the field keeps its type).
        let answer_correct = |event: &mut Map<String, Value>, ok: bool| {
            if let Some(Value::Object(r)) = event.get_mut("request")
                && r.contains_key("challengeAnswer")
            {
                r.insert("challengeAnswer".into(), Value::String(String::new()));
            }
            event.insert("response".into(), json!({ "answerCorrect": ok }));
        };
        if req.user_not_found {
            tokio::time::sleep(self.timings.draw(Path::Judge)).await;
            answer_correct(event, false);
            return Ok(Outcome::new("decoy", None));
        }
        let user = head.user();
        let state = self.fresh_state(user, budget).await?;
        let hasher = self.hasher(budget).await?;
        let email = req
            .user_attributes
            .get("email")
            .and_then(|e| EmailAddress::parse(e));
        let input = VerifyInput {
            now: self.clock.now(),
            state: state.as_ref(),
            round_nonce: req
                .private_challenge_parameters
                .get("nonce")
                .and_then(|n| unhex(n)),
            answer: req.challenge_answer.as_ref().and_then(Value::as_str),
            resend_requested: resend_requested(&req.client_metadata),
            destination: email.as_ref().map(|e| hasher.destination_tag(e)),
        };
        let (next, accepted) = match policy::judge(&self.config.limits, &input, hasher, user) {
            VerifyOutcome::Rejected(why) => {
                answer_correct(event, false);
                return Ok(Outcome::new("answer_rejected", Some(why.as_str())));
            }
            VerifyOutcome::Wrong { state } => (state, false),
            VerifyOutcome::Accepted { state } => (state, true),
        };
        // A first correct code verifies the address it was mailed to (the judge checked that the
        // event's address is that one), written back with the flag in the same request.
        let verified_email = email.as_ref().filter(|_| {
            accepted
                && req
                    .user_attributes
                    .get("email_verified")
                    .map(String::as_str)
                    != Some("true")
        });
        let outcome = match self
            .write_tagged(user, next, verified_email, budget)
            .await?
        {
            Written::Ours if accepted => Outcome::new("answer_accepted", None),
            Written::Ours => Outcome::new("answer_rejected", Some("wrong")),
            Written::Replaced(_) => Outcome::new("answer_rejected", Some("contended")),
            Written::Unconfirmed(e) => return Err(e),
        };
        self.timings.record(Path::Judge, started.elapsed());
        answer_correct(event, outcome.name == "answer_accepted");
        Ok(outcome)
    }
}
