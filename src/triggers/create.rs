//! CreateAuthChallenge: issue (write, then send) or reuse a code, or refuse; a decoy for unknown users.
//!
//! Order of I/O for a new code: the state is written first, then the email is sent. If the write
//! fails, nothing is sent. If the send fails, the previous state is written back (best effort,
//! within the budget), so the next sign-in does not "reuse" a code nobody received and the failed
//! send does not count against the limit.
//!
//! The stored state is read afresh before deciding. When Cognito retries a Create that timed out,
//! it sends the same event again, whose `userAttributes` predate the first attempt's write; the
//! fresh read lets the retry see the code already sent and reuse it, instead of mailing a second
//! one. If the read fails or is slow, the event's copy is used (see `App::current_state`).

use std::time::Duration;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsCreateAuthChallengeRequest as CreateRequest;
use serde_json::{Map, Value, json};
use tracing::warn;

use super::{
    App, Budget, CALL_CAP, Outcome, TriggerError, header, hex, over_budget, request,
    resend_requested,
};
use crate::domain::code::new_nonce;
use crate::domain::email::EmailAddress;
use crate::domain::flow::{ChallengeKind, ROUND_LABEL, ROUND_LABEL_AFTER_RESEND};
use crate::domain::message::{render, validity_minutes};
use crate::domain::policy::{
    self, CreateContext, CreateDecision, IssueReason, ReuseReason, UserRef,
};
use crate::domain::random;
use crate::domain::state::ChallengeState;
use crate::ports::{ChallengeStore, Clock, Mailer, OutgoingEmail, StateWrite};

/// The decoy waits about as long as a real Create (one Cognito write plus one SES send in-region).
pub const DECOY_CREATE_DELAY_MS: (u64, u64) = (120, 300);

/// The public and private parameters and metadata of one round.
struct Round<'a> {
    destination: String,
    expires_at: u32,
    nonce: &'a [u8],
    after_resend: bool,
}

impl<M: Mailer, S: ChallengeStore, C: Clock> App<M, S, C> {
    pub(super) async fn create(
        &self,
        event: &mut Map<String, Value>,
        budget: &Budget,
    ) -> Result<Outcome, TriggerError> {
        let req: CreateRequest = request(event)?;
        let head = header(event)?;
        if req.challenge_name.as_deref() != Some("CUSTOM_CHALLENGE") {
            return Err(TriggerError::InvalidEvent(
                "challengeName is not CUSTOM_CHALLENGE".into(),
            ));
        }
        let now = self.clock.now();
        let after_resend = resend_requested(&req.client_metadata);
        if req.user_not_found {
            let nonce = new_nonce();
            let destination = self.decoy_destination(&head.user_pool_id, &head.user_name);
            let expires_at = now.saturating_add(self.config.limits.ttl);
            tokio::time::sleep(Duration::from_millis(random::jitter_millis(
                DECOY_CREATE_DELAY_MS.0,
                DECOY_CREATE_DELAY_MS.1,
            )))
            .await;
            self.respond(
                event,
                &Round {
                    destination,
                    expires_at,
                    nonce: &nonce,
                    after_resend,
                },
            );
            return Ok(Outcome::new("decoy", None));
        }
        let email = req
            .user_attributes
            .get("email")
            .and_then(|e| EmailAddress::parse(e))
            .ok_or(TriggerError::NoEmail)?;
        let prior = self
            .current_state(
                head.user(),
                req.user_attributes.get(&self.config.challenge_attribute),
                budget,
            )
            .await;
        let ctx = CreateContext {
            now,
            first_round: !req.session.iter().flatten().any(|r| {
                ChallengeKind::from_name(r.challenge_name.as_deref()) == ChallengeKind::Custom
            }),
            resend_requested: after_resend,
        };
        let limits = &self.config.limits;
        match policy::decide_create(limits, &ctx, prior.as_ref()) {
            CreateDecision::SendLimited => Err(TriggerError::SendLimited),
            CreateDecision::Reuse(active, why) => {
                let round = Round {
                    destination: email.masked(),
                    expires_at: active.expires_at,
                    nonce: &active.nonce,
                    after_resend,
                };
                self.respond(event, &round);
                let reason = match why {
                    ReuseReason::Cooldown => "cooldown",
                    ReuseReason::RetryRound => "retry_round",
                };
                Ok(Outcome::new("challenge_reused", Some(reason)))
            }
            CreateDecision::Issue(why) => {
                let user = head.user();
                let issued = policy::issue(limits, now, prior.as_ref(), &self.config.hasher, user);
                let encoded = issued.state.encode();
                let write = StateWrite {
                    user,
                    encoded: &encoded,
                    mark_email_verified: false,
                };
                budget
                    .run(CALL_CAP, self.store.write(&write))
                    .await
                    .unwrap_or_else(|_| Err(over_budget::store()))?;
                let minutes = validity_minutes(limits.ttl);
                let rendered = render(self.config.email_subject.as_deref(), &issued.code, minutes);
                let mail = OutgoingEmail {
                    to: &email,
                    code: &issued.code,
                    minutes,
                    rendered: &rendered,
                };
                let sent = budget
                    .run(CALL_CAP, self.mailer.send(&mail))
                    .await
                    .unwrap_or_else(|_| Err(over_budget::delivery()));
                if let Err(e) = sent {
                    self.restore(user, prior.as_ref(), budget).await;
                    return Err(e.into());
                }
                let active = issued.active();
                self.respond(
                    event,
                    &Round {
                        destination: email.masked(),
                        expires_at: active.expires_at,
                        nonce: &active.nonce,
                        after_resend,
                    },
                );
                let (name, reason) = match why {
                    IssueReason::Resend => ("challenge_resent", None),
                    IssueReason::NewSignIn => ("challenge_issued", Some("new_sign_in")),
                    IssueReason::NoUsableCode => ("challenge_issued", Some("no_usable_code")),
                };
                Ok(Outcome::new(name, reason))
            }
        }
    }

    /// Writes back the state from before a failed send, within what is left of the budget.
    async fn restore(&self, user: UserRef<'_>, prior: Option<&ChallengeState>, budget: &Budget) {
        let encoded = policy::restore_after_failed_send(prior).encode();
        let write = StateWrite {
            user,
            encoded: &encoded,
            mark_email_verified: false,
        };
        match budget.run(CALL_CAP, self.store.write(&write)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(reason = e.kind.as_str(), error = %e, "could not restore the state after a failed send")
            }
            Err(_) => warn!(
                reason = "timeout",
                "could not restore the state after a failed send"
            ),
        }
    }

    fn respond(&self, event: &mut Map<String, Value>, round: &Round<'_>) {
        let label = if round.after_resend {
            ROUND_LABEL_AFTER_RESEND
        } else {
            ROUND_LABEL
        };
        event.insert(
            "response".into(),
            json!({
                "publicChallengeParameters": {
                    "delivery": "EMAIL",
                    "destination": round.destination,
                    "codeLength": self.config.limits.code_length.get().to_string(),
                    "expiresAt": round.expires_at.to_string(),
                },
                // The nonce identifies the issue, so Verify can tell a replaced code. It is not secret.
                "privateChallengeParameters": { "nonce": hex(round.nonce) },
                "challengeMetadata": label,
            }),
        );
    }

    /// A masked address for an unknown user that looks like a real one: the username itself when
    /// it is an email address (what a real user with email sign-in would see), otherwise a stable
    /// keyed placeholder.
    fn decoy_destination(&self, pool_id: &str, username: &str) -> String {
        if let Some(e) = EmailAddress::parse(username) {
            return e.masked();
        }
        let r = self
            .config
            .hasher
            .keyed_reference("decoy", &format!("{pool_id}/{username}"));
        let letter = |b: u8| char::from(b'a' + b % 26);
        format!("{}***@{}***.com", letter(r[0]), letter(r[1]))
    }
}
