//! CreateAuthChallenge: issue (write, confirm, then send) or reuse a code, or refuse; a decoy for
//! unknown users.
//!
//! Every decision starts from a fresh read of the stored state; a read that fails or is slow fails
//! the invocation closed (see `App::fresh_state`). When Cognito retries a Create that timed out it
//! sends the same event again, whose `userAttributes` predate the first attempt's write; the fresh
//! read lets the retry see the code already sent and reuse it instead of mailing a second one.
//!
//! Order of I/O for a new code: the new state (code hash, send recorded) is written with a random
//! tag, left to settle, and read back; the email goes out only if the tag is still ours. Of a burst
//! of parallel sign-ins that all read the same state, only the last writer sends, so the send cap
//! and the cooldown hold under bursts; the others answer with the winner's code. If the write
//! fails, nothing is sent. If the send fails (or there is no time left for it), the previous state
//! is written back, with one retry, so the next sign-in does not "reuse" a code nobody received
//! and the failed send does not count against the limit.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsCreateAuthChallengeRequest as CreateRequest;
use serde_json::{Map, Value, json};
use tracing::warn;

use super::decoy::{self, Path};
use super::{
    App, Budget, CALL_CAP, MIN_SEND_TIME, Outcome, RESTORE_RESERVE, TriggerError, Written, header,
    hex, over_budget, request, resend_requested,
};
use crate::domain::code::new_nonce;
use crate::domain::email::EmailAddress;
use crate::domain::flow::{
    ChallengeKind, LABEL_TIME_SEPARATOR, ROUND_LABEL, ROUND_LABEL_AFTER_RESEND, label_time,
};
use crate::domain::message::{render, validity_minutes};
use crate::domain::policy::{
    self, CreateContext, CreateDecision, IssueReason, ReuseReason, UserRef,
};
use crate::domain::state::{ActiveCode, ChallengeState};
use crate::ports::{
    ChallengeStore, Clock, FailureKind, KeySource, Mailer, OutgoingEmail, StateWrite, StoreError,
};

/// Whether a failed write may nevertheless have been applied: a timeout or a lost answer may
/// hide a write that landed; a throttle or a refusal did not land.
fn may_have_landed(e: &TriggerError) -> bool {
    matches!(e, TriggerError::Store(s) if matches!(s.kind, FailureKind::Timeout | FailureKind::Unavailable))
}

/// The public and private parameters and metadata of one round.
struct Round<'a> {
    destination: String,
    expires_at: u32,
    nonce: &'a [u8],
    after_resend: bool,
    /// A decoy's issue time, carried in the label so later rounds keep `expiresAt`.
    decoy_issued_at: Option<u32>,
}

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource> App<M, S, C, K> {
    pub(super) async fn create(
        &self,
        event: &mut Map<String, Value>,
        budget: &Budget,
    ) -> Result<Outcome, TriggerError> {
        let started = std::time::Instant::now();
        let req: CreateRequest = request(event)?;
        let head = header(event)?;
        if req.challenge_name.as_deref() != Some("CUSTOM_CHALLENGE") {
            return Err(TriggerError::InvalidEvent(
                "challengeName is not CUSTOM_CHALLENGE".into(),
            ));
        }
        let now = self.clock.now();
        let after_resend = resend_requested(&req.client_metadata);
        let custom_rounds: Vec<Option<&str>> = req
            .session
            .iter()
            .flatten()
            .filter(|r| {
                ChallengeKind::from_name(r.challenge_name.as_deref()) == ChallengeKind::Custom
            })
            .map(|r| r.challenge_metadata.as_deref())
            .collect();
        let first_round = custom_rounds.is_empty();
        if req.user_not_found {
            return self
                .decoy_create(
                    event,
                    &head.user_pool_id,
                    &head.user_name,
                    now,
                    &custom_rounds,
                    after_resend,
                )
                .await;
        }
        let email = req
            .user_attributes
            .get("email")
            .and_then(|e| EmailAddress::parse(e))
            .ok_or(TriggerError::NoEmail)?;
        let user = head.user();
        let prior = self.fresh_state(user, budget).await?;
        let hasher = self.hasher(budget).await?;
        let ctx = CreateContext {
            now,
            first_round,
            resend_requested: after_resend,
            destination: hasher.destination_tag(&email),
        };
        let limits = &self.config.limits;
        let outcome = match policy::decide_create(limits, &ctx, prior.as_ref()) {
            CreateDecision::SendLimited => return Err(TriggerError::SendLimited),
            CreateDecision::Locked => return Err(TriggerError::Locked),
            CreateDecision::Reuse(active, why) => {
                self.respond_with(event, &email, &active, after_resend);
                let reason = match why {
                    ReuseReason::Cooldown => "cooldown",
                    ReuseReason::RetryRound => "retry_round",
                    ReuseReason::SendLimited => "send_limited",
                };
                self.timings.record(Path::Reuse, started.elapsed());
                Outcome::new("challenge_reused", Some(reason))
            }
            CreateDecision::Issue(why) => {
                let issued =
                    policy::issue(limits, now, prior.as_ref(), hasher, user, ctx.destination);
                let written = match self
                    .write_tagged(user, issued.state.clone(), None, budget)
                    .await
                {
                    Ok(w) => w,
                    Err(e) => {
                        // A write that timed out may still have landed: put the previous state
                        // back, so no code nobody received stays active.
                        if may_have_landed(&e) {
                            self.restore(user, prior.as_ref(), budget).await;
                        }
                        return Err(e);
                    }
                };
                if let Written::Unconfirmed(e) = written {
                    self.restore(user, prior.as_ref(), budget).await;
                    return Err(e);
                }
                if let Written::Replaced(current) = written {
                    // A parallel sign-in wrote after us: it sends, we do not. Offer its code if
                    // it went to the same address; otherwise the user just tries again.
                    let theirs = current.and_then(|s| s.active).filter(|a| {
                        a.usable(now, limits.max_attempts) && a.sent_to(&ctx.destination)
                    });
                    return match theirs {
                        Some(active) => {
                            self.respond_with(event, &email, &active, after_resend);
                            Ok(Outcome::new("challenge_reused", Some("contended")))
                        }
                        None => Err(TriggerError::Store(StoreError {
                            kind: FailureKind::Unavailable,
                            detail: "contended: a parallel write replaced the new code".into(),
                        })),
                    };
                }
                // Keep time for a restore if the send fails; but when so little is left that
                // keeping it would leave too little to send, send with all of it: a code that is
                // written and confirmed is better mailed than restored by a write that could not
                // finish either (a write slow enough to eat the budget is as slow for the restore).
                let remaining = budget.remaining();
                let with_reserve = remaining.saturating_sub(RESTORE_RESERVE);
                let send_window = if with_reserve >= MIN_SEND_TIME {
                    with_reserve
                } else {
                    remaining
                }
                .min(CALL_CAP);
                if send_window < MIN_SEND_TIME {
                    self.restore(user, prior.as_ref(), budget).await;
                    return Err(TriggerError::Delivery(over_budget::delivery()));
                }
                let minutes = validity_minutes(limits.ttl);
                let rendered = render(self.config.email_subject.as_deref(), &issued.code, minutes);
                let mail = OutgoingEmail {
                    to: &email,
                    code: &issued.code,
                    minutes,
                    rendered: &rendered,
                };
                let sent = budget
                    .run(send_window, self.mailer.send(&mail))
                    .await
                    .unwrap_or_else(|_| Err(over_budget::delivery()));
                if let Err(e) = sent {
                    self.restore(user, prior.as_ref(), budget).await;
                    return Err(e.into());
                }
                self.respond_with(event, &email, issued.active(), after_resend);
                self.timings.record(Path::Issue, started.elapsed());
                let (name, reason) = match why {
                    IssueReason::Resend => ("challenge_resent", None),
                    IssueReason::NewSignIn => ("challenge_issued", Some("new_sign_in")),
                    IssueReason::NoUsableCode => ("challenge_issued", Some("no_usable_code")),
                    IssueReason::DestinationChanged => {
                        ("challenge_issued", Some("destination_changed"))
                    }
                };
                Outcome::new(name, reason)
            }
        };
        Ok(outcome)
    }

    /// An unknown user's round: parameters derived from the typed name and the time (see
    /// [`decoy`]), a delay drawn from the matching real path, no email and no AWS call.
    async fn decoy_create(
        &self,
        event: &mut Map<String, Value>,
        pool_id: &str,
        username: &str,
        now: u32,
        custom_rounds: &[Option<&str>],
        after_resend: bool,
    ) -> Result<Outcome, TriggerError> {
        let limits = &self.config.limits;
        let reference = &self.config.reference;
        let current = decoy::issue_time(reference, pool_id, username, now, limits.cooldown);
        // A later round of the same sign-in keeps the issue time of the round before, as a real
        // code is reused; a resend moves it once the cooldown has passed, as a real resend does.
        let carried = custom_rounds.last().copied().flatten().and_then(label_time);
        let (issued_at, path) = match carried {
            None => (current, Path::Issue),
            Some(t) if after_resend && current != t => (current, Path::Issue),
            Some(t) => (t, Path::Reuse),
        };
        tokio::time::sleep(self.timings.draw(path)).await;
        let nonce = new_nonce();
        self.respond(
            event,
            &Round {
                destination: decoy::destination(reference, pool_id, username),
                expires_at: issued_at.saturating_add(limits.ttl),
                nonce: &nonce,
                after_resend,
                decoy_issued_at: Some(issued_at),
            },
        );
        Ok(Outcome::new("decoy", None))
    }

    fn respond_with(
        &self,
        event: &mut Map<String, Value>,
        email: &EmailAddress,
        active: &ActiveCode,
        after_resend: bool,
    ) {
        self.respond(
            event,
            &Round {
                destination: email.masked(),
                expires_at: active.expires_at,
                nonce: &active.nonce,
                after_resend,
                decoy_issued_at: None,
            },
        );
    }

    /// Writes back the state from before a failed send, within what is left of the budget, trying
    /// twice: a code nobody received must not stay active for the next sign-in to reuse.
    async fn restore(&self, user: UserRef<'_>, prior: Option<&ChallengeState>, budget: &Budget) {
        let encoded = policy::restore_after_failed_send(prior).encode();
        let write = StateWrite {
            user,
            encoded: &encoded,
            verified_email: None,
        };
        for attempt in 1..=2 {
            let reason = match budget.run(CALL_CAP, self.store.write(&write)).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.kind.as_str(),
                Err(_) => "timeout",
            };
            warn!(
                reason,
                attempt, "could not restore the state after a failed send"
            );
            if budget.remaining().is_zero() {
                return;
            }
        }
    }

    fn respond(&self, event: &mut Map<String, Value>, round: &Round<'_>) {
        let base = if round.after_resend {
            ROUND_LABEL_AFTER_RESEND
        } else {
            ROUND_LABEL
        };
        let label = match round.decoy_issued_at {
            Some(t) => format!("{base}{LABEL_TIME_SEPARATOR}{t}"),
            None => base.to_owned(),
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
}
