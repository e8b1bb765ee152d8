//! VerifyAuthChallengeResponse: judge the answer, record the outcome, answer true only after the
//! code is consumed.
//!
//! A wrong answer is counted before Verify answers; a right one is consumed before it is accepted.
//! If either write fails, the invocation fails with the same error in both cases, so a failing
//! store tells a guesser nothing and no answer is accepted without being consumed.
//!
//! Parallel guesses: user attributes have no conditional write, so answers sent at the same time
//! can all start from the same stored state. Verify therefore reads the state afresh instead of
//! trusting the event's copy, stamps its write with a random tag, and reads the attribute back: if
//! another write replaced it in between, the answers raced and this one is refused (`contended`)
//! even when right. Of a burst of simultaneous answers only the last writer can be accepted, which
//! keeps parallel guessing close to one guess per burst. The measured bound is in README
//! ("Parallel guessing").

use std::time::Duration;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsVerifyAuthChallengeRequest as VerifyRequest;
use serde_json::{Map, Value, json};

use super::{
    App, Budget, CALL_CAP, Outcome, TriggerError, header, over_budget, request, resend_requested,
    unhex,
};
use crate::domain::policy::{self, VerifyInput, VerifyOutcome};
use crate::domain::random;
use crate::domain::state::{ChallengeState, WRITE_TAG_LEN};
use crate::ports::{ChallengeStore, Clock, Mailer, StateWrite};

/// The decoy waits about as long as a real Verify (one Cognito write in-region).
pub const DECOY_VERIFY_DELAY_MS: (u64, u64) = (40, 120);

impl<M: Mailer, S: ChallengeStore, C: Clock> App<M, S, C> {
    pub(super) async fn verify(
        &self,
        event: &mut Map<String, Value>,
        budget: &Budget,
    ) -> Result<Outcome, TriggerError> {
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
            tokio::time::sleep(Duration::from_millis(random::jitter_millis(
                DECOY_VERIFY_DELAY_MS.0,
                DECOY_VERIFY_DELAY_MS.1,
            )))
            .await;
            answer_correct(event, false);
            return Ok(Outcome::new("decoy", None));
        }
        let state = self
            .current_state(
                head.user(),
                req.user_attributes.get(&self.config.challenge_attribute),
                budget,
            )
            .await;
        let input = VerifyInput {
            now: self.clock.now(),
            state: state.as_ref(),
            round_nonce: req
                .private_challenge_parameters
                .get("nonce")
                .and_then(|n| unhex(n)),
            answer: req.challenge_answer.as_ref().and_then(Value::as_str),
            resend_requested: resend_requested(&req.client_metadata),
        };
        let user = head.user();
        let (correct, next, outcome) =
            match policy::judge(&self.config.limits, &input, &self.config.hasher, user) {
                VerifyOutcome::Rejected(why) => (
                    false,
                    None,
                    Outcome::new("answer_rejected", Some(why.as_str())),
                ),
                VerifyOutcome::Wrong { state } => (
                    false,
                    Some(state),
                    Outcome::new("answer_rejected", Some("wrong")),
                ),
                VerifyOutcome::Accepted { state } => {
                    (true, Some(state), Outcome::new("answer_accepted", None))
                }
            };
        let (mut correct, mut outcome) = (correct, outcome);
        if let Some(mut next) = next {
            let mut tag = [0u8; WRITE_TAG_LEN];
            random::fill(&mut tag);
            next.write_tag = Some(tag);
            let encoded = next.encode();
            let mark_email_verified = correct
                && req
                    .user_attributes
                    .get("email_verified")
                    .map(String::as_str)
                    != Some("true");
            let write = StateWrite {
                user,
                encoded: &encoded,
                mark_email_verified,
            };
            budget
                .run(CALL_CAP, self.store.write(&write))
                .await
                .unwrap_or_else(|_| Err(over_budget::store()))?;
            let stored = budget
                .run(CALL_CAP, self.store.read(user))
                .await
                .unwrap_or_else(|_| Err(over_budget::store()))?;
            let still_ours = stored
                .as_deref()
                .and_then(ChallengeState::decode)
                .is_some_and(|s| s.write_tag == Some(tag));
            if !still_ours {
                correct = false;
                outcome = Outcome::new("answer_rejected", Some("contended"));
            }
        }
        answer_correct(event, correct);
        Ok(outcome)
    }
}
