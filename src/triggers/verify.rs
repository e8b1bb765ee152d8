//! VerifyAuthChallengeResponse: judge the answer, record the outcome, answer true only after the
//! code is consumed.
//!
//! A wrong answer is counted before Verify answers; a right one is consumed before it is accepted.
//! If either write fails, the invocation fails with the same error in both cases, so a failing
//! store tells a guesser nothing and no answer is accepted without being consumed.
//!
//! Parallel guesses with a conditional store (DynamoDB): the answer is judged on the state Create
//! left in the private challenge parameters, and the write names that state's version. If any
//! other write came first, the store refuses and returns what is stored now, and the answer is
//! judged again on it. Every judged answer moved the version once, so no answer beyond
//! `MAX_ATTEMPTS` is judged and a code is accepted at most once, exactly.
//!
//! Parallel guesses with the attribute store: user attributes have no conditional write, so
//! answers sent at the same time can all start from the same stored state. Verify therefore judges only on a fresh read (never
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

use super::decoy::{self, Path};
use super::{
    App, Budget, MAX_CONFLICTS, Outcome, TriggerError, Written, decode, header, new_tag, request,
    resend_requested,
};
use crate::domain::email::EmailAddress;
use crate::domain::policy::{self, VerifyInput, VerifyOutcome};
use crate::domain::state::ChallengeState;
use crate::hex;
use crate::ports::{ChallengeStore, Clock, KeySource, Mailer, PoolInspector, Snapshot, Version};

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector> App<M, S, C, K, I> {
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
        let reference = &self.config.reference;
        if req.user_not_found && !S::CONDITIONAL {
            tokio::time::sleep(self.timings.draw(Path::Judge)).await;
            answer_correct(event, false);
            return Ok(Outcome::new("decoy", None));
        }
        let decoy_owner = req
            .user_not_found
            .then(|| decoy::state_owner(&head.user_name));
        let user = head.owner(decoy_owner.as_deref());
        // The state Create left for this round, if the store can refuse a write made on a stale
        // one; otherwise (or if it is missing) a fresh read.
        let hinted = S::CONDITIONAL
            .then(|| req.private_challenge_parameters.get("state"))
            .flatten()
            .and_then(|s| ChallengeState::decode(s).map(|d| (s, d)))
            .and_then(|(s, d)| {
                d.write_tag.map(|tag| Snapshot {
                    encoded: Some(s.clone()),
                    version: Version::Tagged(tag),
                })
            });
        let mut snapshot = match hinted {
            Some(s) => s,
            None => self.fresh(user, budget).await?,
        };
        let hasher = self.hasher(budget).await?;
        // An unknown user (with a conditional store) is judged against the state of its stand-in
        // address, and never accepted.
        let email = if req.user_not_found {
            Some(decoy::stand_in_address(
                reference,
                &head.user_pool_id,
                &head.user_name,
            ))
        } else {
            req.user_attributes
                .get("email")
                .and_then(|e| EmailAddress::parse(e))
        };
        let round_nonce = req
            .private_challenge_parameters
            .get("nonce")
            .and_then(|n| hex::decode(n));
        let answer = req.challenge_answer.as_ref().and_then(Value::as_str);
        let resend = resend_requested(&req.client_metadata);
        let destination = email.as_ref().map(|e| hasher.destination_tag(e));
        let mut conflicts = 0;
        let outcome = loop {
            let state = decode(&snapshot);
            let input = VerifyInput {
                now: self.clock.now(),
                state: state.as_ref(),
                round_nonce,
                answer,
                resend_requested: resend,
                destination,
            };
            let (next, accepted) = match policy::judge(&self.config.limits, &input, hasher, user) {
                VerifyOutcome::Rejected(why) => {
                    break Outcome::new("answer_rejected", Some(why.as_str()));
                }
                VerifyOutcome::Wrong { state } => (state, false),
                VerifyOutcome::Accepted { state } => (state, true),
            };
            // A first correct code verifies the address it was mailed to (the judge checked that
            // the event's address is that one), written back with the flag.
            let verified_email = email.as_ref().filter(|_| {
                accepted
                    && !req.user_not_found
                    && req
                        .user_attributes
                        .get("email_verified")
                        .map(String::as_str)
                        != Some("true")
            });
            match self
                .write_tagged(
                    user,
                    next,
                    verified_email,
                    snapshot.version,
                    new_tag(),
                    budget,
                )
                .await?
            {
                Written::Ours(_) if accepted => break Outcome::new("answer_accepted", None),
                Written::Ours(_) => break Outcome::new("answer_rejected", Some("wrong")),
                // A conditional store refused the write: another answer (or a new code) moved the
                // state first. Judge again on what is stored now; every refusal means another
                // writer succeeded, so this ends.
                Written::Replaced(current) if S::CONDITIONAL && conflicts < MAX_CONFLICTS => {
                    snapshot = current;
                    conflicts += 1;
                }
                Written::Replaced(_) => break Outcome::new("answer_rejected", Some("contended")),
                Written::Unconfirmed(e) => return Err(e),
            }
        };
        if req.user_not_found {
            answer_correct(event, false);
            return Ok(Outcome::new("decoy", None));
        }
        // Decoys imitate answers that were written (judged), not refusals made without a write.
        if outcome.name == "answer_accepted"
            || matches!(outcome.reason, Some("wrong" | "contended"))
        {
            self.timings.record(Path::Judge, started.elapsed());
        }
        answer_correct(event, outcome.name == "answer_accepted");
        Ok(outcome)
    }
}
