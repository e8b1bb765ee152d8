//! CreateAuthChallenge: issue (write, confirm, then send) or reuse a code, or refuse; a decoy for
//! unknown users.
//!
//! Decisions are never made on the event's copy of the state. With the attribute store each starts
//! from a fresh read; a read that fails or is slow fails the invocation closed (see `App::fresh`).
//! A conditional store (DynamoDB) starts from "no live state" and decides again on what a refused
//! write returns, which is the stored state at that moment. When Cognito retries a Create that
//! timed out it sends the same event again, whose `userAttributes` predate the first attempt's
//! write; either way the retry sees the code already sent and reuses it instead of mailing a
//! second one.
//!
//! Order of I/O for a new code: the new state (code hash, send recorded) is written with a random
//! tag, and the email goes out only if that write is confirmed as the stored one: a conditional
//! store says so in the same request; with attributes the write is left to settle and read back.
//! Of a burst of parallel sign-ins only one writer sends, so the send cap and the cooldown hold
//! under bursts; the others decide again on what the winner stored, which reuses its code. If the
//! write fails, nothing is sent. If the send fails (or there is no time left for it), the previous
//! state is written back (over our own write only, with a conditional store), with one retry, so
//! the next sign-in does not "reuse" a code nobody received and the failed send does not count
//! against the limit. That holds only for a send that certainly failed (a throttle, a refusal, no
//! time left to try). A send whose outcome is unknown (a timeout, a lost connection, a 5xx) may
//! have delivered the code, so it stays active and counted, and the user gets the challenge: the
//! code may be in their mailbox, and if it is not, a resend after the cooldown mails a new one
//! (an error instead would leave them no screen to resend from, and their next sign-in would
//! reuse the code without mailing it). Each counted send is at most one email, since the SES
//! client never retries.
//!
//! Unknown users: with the attribute store a stateless decoy ([`decoy`]); with a conditional store
//! the real path under a keyed name and a stand-in address, waiting as long as a send instead of
//! sending, so their sends and attempts are counted like anyone's.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsCreateAuthChallengeRequest as CreateRequest;
use serde_json::{Map, Value, json};
use tracing::warn;

use super::decoy::{self, Path};
use super::define::session_rounds;
use super::{
    App, Budget, CALL_CAP, MAX_CONFLICTS, MIN_SEND_TIME, Outcome, RESTORE_RESERVE, TriggerError,
    Written, contended, decode, header, new_tag, over_budget, request, resend_requested,
};
use crate::domain::code::new_nonce;
use crate::domain::email::EmailAddress;
use crate::domain::flow::{
    self, ChallengeKind, LABEL_TIME_SEPARATOR, ROUND_LABEL, ROUND_LABEL_AFTER_RESEND, label_time,
};
use crate::domain::locale;
use crate::domain::message::{Email, SignInLink, bundled_locales, render, validity_minutes};
use crate::domain::policy::{
    self, CreateContext, CreateDecision, IssueReason, ReuseReason, UserRef,
};
use crate::domain::state::{ActiveCode, ChallengeState, WRITE_TAG_LEN};
use crate::hex;
use crate::ports::{
    ChallengeStore, Clock, DeliveryError, FailureKind, KeySource, Mailer, OutgoingEmail,
    PoolInspector, Snapshot, Stored, StoredTemplate, Version,
};

/// Whether a failed write may nevertheless have been applied: a timeout or a lost answer may
/// hide a write that landed; a throttle or a refusal did not land.
fn may_have_landed(e: &TriggerError) -> bool {
    matches!(e, TriggerError::Store(s) if matches!(s.kind, FailureKind::Timeout | FailureKind::Unavailable))
}

/// Who a code email goes to, beyond the address: what picks its language and whether it may
/// carry a one-click link.
struct Recipient<'a> {
    email: &'a EmailAddress,
    /// The Cognito username, which the link's page signs in with.
    username: &'a str,
    /// The user's raw `locale` attribute.
    locale: Option<&'a str>,
    /// Whether this sign-in is passwordless (no password round in the session): only then may
    /// the email carry a link, which signs in without the password.
    passwordless: bool,
}

/// How a send failed, which decides whether its code stays.
enum SendFailed {
    /// Nothing went out (no time left to try, a throttle, a refusal): the previous state goes back.
    NotSent(TriggerError),
    /// The outcome is unknown (a timeout, a lost connection, a 5xx): the email may have arrived.
    Unknown(DeliveryError),
}

/// The public and private parameters and metadata of one round.
struct Round<'a> {
    destination: String,
    /// Wrong answers still taken (public `attemptsLeft`): the lesser of what the code and the
    /// sign-in have left.
    attempts_left: u8,
    /// When a resend mails a new code (public `resendAfter`, see [`policy::resend_after`]).
    resend_after: u32,
    /// When the code was issued and mailed (public `sentAt`): a page can say "we sent you a code
    /// at 10:42" when a new sign-in reuses the code already mailed.
    sent_at: u32,
    expires_at: u32,
    nonce: &'a [u8],
    after_resend: bool,
    /// A decoy's issue time, carried in the label so later rounds keep `expiresAt`.
    decoy_issued_at: Option<u32>,
    /// The stored state as this round left it, for Verify (conditional stores only).
    state: Option<&'a str>,
}

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector> App<M, S, C, K, I> {
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
        // A sign-in Define ended with one more round: refused before any I/O, with what the user
        // can read, for a real user and a decoy alike.
        let rounds = session_rounds(&req.session);
        let flow_ctx = self.define_context(
            req.user_not_found,
            &req.user_attributes,
            &req.client_metadata,
        );
        if let Some(end) = flow::session_end(&flow_ctx, &rounds) {
            return Err(TriggerError::SignInEnded(end));
        }
        let session_left = flow::attempts_left(&flow_ctx, &rounds);
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
        // A password round in the session makes this an mfa sign-in: its email never carries a
        // link (the link signs in without the password).
        let passwordless = req.session.iter().flatten().all(|r| {
            !matches!(
                ChallengeKind::from_name(r.challenge_name.as_deref()),
                ChallengeKind::SrpA | ChallengeKind::PasswordVerifier
            )
        });
        let reference = &self.config.reference;
        // An unknown user: without a store that can hold them, a stateless decoy; with one, the
        // real path under a keyed name and a stand-in address, sending nothing.
        let (email, shown) = if req.user_not_found {
            // Refused like a real user at that domain would be, so the refusal tells nothing.
            if let Some(typed) = decoy::typed_address(&head.user_name) {
                self.check_domain(&typed)?;
            }
            if !S::CONDITIONAL {
                return self
                    .decoy_create(
                        event,
                        &head.user_pool_id,
                        &head.user_name,
                        now,
                        &custom_rounds,
                        (after_resend, session_left),
                    )
                    .await;
            }
            (
                decoy::stand_in_address(reference, &head.user_pool_id, &head.user_name),
                decoy::destination(reference, &head.user_pool_id, &head.user_name),
            )
        } else {
            let email = req
                .user_attributes
                .get("email")
                .and_then(|e| EmailAddress::parse(e))
                .ok_or(TriggerError::NoEmail)?;
            self.check_domain(&email)?;
            let shown = email.masked();
            (email, shown)
        };
        let decoy_owner = req
            .user_not_found
            .then(|| decoy::state_owner(&head.user_name));
        let user = head.owner(decoy_owner.as_deref());
        // A conditional store starts from "no live state" and, if that is wrong, learns the truth
        // from the refusal (which carries the stored state): a user with no live state costs one
        // write. Without conditional writes every decision starts from a fresh read.
        let mut snapshot = if S::CONDITIONAL {
            Snapshot::ABSENT
        } else {
            self.fresh(user, budget).await?
        };
        let hasher = self.hasher(budget).await?;
        let ctx = CreateContext {
            now,
            first_round,
            resend_requested: after_resend,
            destination: hasher.destination_tag(&email),
        };
        let limits = &self.config.limits;
        let mut conflicts = 0;
        loop {
            let prior = decode(&snapshot);
            let why = match policy::decide_create(limits, &ctx, prior.as_ref()) {
                CreateDecision::SendLimited => return Err(TriggerError::SendLimited),
                CreateDecision::Locked => return Err(TriggerError::Locked),
                CreateDecision::Reuse(active, why) => {
                    // A reused code always comes from the stored state; should it not, its
                    // sends are unknown and the cooldown alone sets `resendAfter`.
                    let state = prior.clone().unwrap_or_else(|| ChallengeState {
                        active: Some(active.clone()),
                        ..ChallengeState::default()
                    });
                    self.respond_with(
                        event,
                        &shown,
                        (&active, &state),
                        (after_resend, session_left),
                        &snapshot,
                    );
                    let reason = match why {
                        ReuseReason::Cooldown => "cooldown",
                        ReuseReason::RetryRound => "retry_round",
                        ReuseReason::SendLimited => "send_limited",
                        ReuseReason::NewSignIn => "new_sign_in",
                    };
                    if req.user_not_found {
                        return Ok(Outcome::new("decoy", None));
                    }
                    self.timings.record(Path::Reuse, started.elapsed());
                    return Ok(Outcome::new("challenge_reused", Some(reason)));
                }
                CreateDecision::Issue(why) => why,
            };
            // Without conditional writes, a parallel writer that replaced ours may only be
            // followed (its code reused, above), never raced again.
            let allowed = if S::CONDITIONAL { MAX_CONFLICTS } else { 0 };
            if conflicts > allowed {
                return Err(contended());
            }
            let issued = policy::issue(limits, now, prior.as_ref(), hasher, user, ctx.destination);
            let tag = new_tag();
            let written = match self
                .write_tagged(
                    user,
                    issued.state.clone(),
                    None,
                    snapshot.version,
                    tag,
                    budget,
                )
                .await
            {
                Ok(w) => w,
                Err(e) => {
                    // A write that timed out may still have landed: put the previous state
                    // back, so no code nobody received stays active.
                    if may_have_landed(&e) {
                        self.restore(user, prior.as_ref(), tag, budget).await;
                    }
                    return Err(e);
                }
            };
            let ours = match written {
                Written::Ours(ours) => ours,
                Written::Unconfirmed(e) => {
                    self.restore(user, prior.as_ref(), tag, budget).await;
                    return Err(e);
                }
                Written::Replaced(current) => {
                    // A parallel sign-in wrote first: decide again on what it stored (usually
                    // reusing its code, which it sends).
                    snapshot = current;
                    conflicts += 1;
                    continue;
                }
            };
            let mut unconfirmed = None;
            if req.user_not_found {
                // Where a real user's code is mailed, the decoy waits as long as a real send.
                tokio::time::sleep(self.timings.draw(Path::Send).min(budget.remaining())).await;
            } else if let Err(failed) = Box::pin(self.send(
                &Recipient {
                    email: &email,
                    username: &head.user_name,
                    locale: req.user_attributes.get("locale").map(String::as_str),
                    passwordless,
                },
                &issued.code,
                issued.active().expires_at,
                budget,
            ))
            // Boxed: the send's state (the rendered email, the SES request) is large, and
            // kept out of Create's own future it keeps every caller's stack small.
            .await
            {
                match failed {
                    SendFailed::NotSent(e) => {
                        self.restore(user, prior.as_ref(), tag, budget).await;
                        return Err(e);
                    }
                    // It may have arrived: the code stays, counted, and the user can answer it.
                    SendFailed::Unknown(e) => unconfirmed = Some(e.kind.as_str()),
                }
            }
            self.respond_with(
                event,
                &shown,
                (issued.active(), &issued.state),
                (after_resend, session_left),
                &ours,
            );
            // Operators see a decoy as one (logs and the DecoyChallenge metric), never as a code
            // sent; the client sees the same answer either way.
            if req.user_not_found {
                return Ok(Outcome::new("decoy", None));
            }
            if let Some(kind) = unconfirmed {
                return Ok(Outcome::new("send_unconfirmed", Some(kind)));
            }
            self.timings.record(Path::Issue, started.elapsed());
            let (name, reason) = match why {
                IssueReason::Resend => ("challenge_resent", None),
                IssueReason::NoUsableCode => ("challenge_issued", Some("no_usable_code")),
                IssueReason::DestinationChanged => {
                    ("challenge_issued", Some("destination_changed"))
                }
            };
            return Ok(Outcome::new(name, reason));
        }
    }

    /// `SIGNUP_ALLOWED_DOMAINS` holds for every code, not only at sign-up: a verified change of
    /// address must not carry an account's sign-in codes to a mailbox outside the organisation.
    fn check_domain(&self, to: &EmailAddress) -> Result<(), TriggerError> {
        match &self.config.signup_allowed_domains {
            Some(allowed) if !allowed.contains(&to.domain()) => Err(TriggerError::DomainNotAllowed),
            _ => Ok(()),
        }
    }

    /// Mails a written and confirmed code, within the time left: in the user's language, with the
    /// app's name, and with a one-click link for a passwordless sign-in when one is configured.
    ///
    /// Keeps time for a restore if the send fails; but when so little is left that keeping it
    /// would leave too little to send, sends with all of it: a code that is written and confirmed
    /// is better mailed than restored by a write that could not finish either (a write slow
    /// enough to eat the budget is as slow for the restore).
    async fn send(
        &self,
        to: &Recipient<'_>,
        code: &crate::domain::code::OtpCode,
        expires_at: u32,
        budget: &Budget,
    ) -> Result<(), SendFailed> {
        let remaining = budget.remaining();
        let with_reserve = remaining.saturating_sub(RESTORE_RESERVE);
        let send_window = if with_reserve >= MIN_SEND_TIME {
            with_reserve
        } else {
            remaining
        }
        .min(CALL_CAP);
        if send_window < MIN_SEND_TIME {
            return Err(SendFailed::NotSent(over_budget::delivery().into()));
        }
        let config = &self.config;
        let minutes = validity_minutes(config.limits.ttl);
        let link = config
            .sign_in_link
            .as_ref()
            .filter(|_| to.passwordless)
            .map(|base| SignInLink::new(base, to.username, code, expires_at));
        let rendered = render(&Email {
            locale: locale::resolve(to.locale, bundled_locales(), &config.default_locale),
            app_name: config.app_name.as_ref(),
            subject: config.email_subject.as_deref(),
            code_in_subject: config.code_in_subject,
            code,
            minutes,
            link: link.as_ref(),
        });
        let template = config.ses_template.as_ref().map(|t| {
            let (name, locale) = t.for_user(to.locale, &config.default_locale);
            StoredTemplate {
                name,
                locale,
                app_name: config.app_name.as_ref(),
                link: link.as_ref(),
            }
        });
        let mail = OutgoingEmail {
            to: to.email,
            code,
            minutes,
            rendered: &rendered,
            template,
        };
        let sending = std::time::Instant::now();
        budget
            .run(send_window, self.mailer.send(&mail))
            .await
            // Cut off by the budget: the request may have reached SES.
            .unwrap_or_else(|_| Err(over_budget::delivery()))
            .map_err(|e| {
                if e.may_have_been_sent() {
                    SendFailed::Unknown(e)
                } else {
                    SendFailed::NotSent(e.into())
                }
            })?;
        self.timings.record(Path::Send, sending.elapsed());
        Ok(())
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
        (after_resend, session_left): (bool, u8),
    ) -> Result<Outcome, TriggerError> {
        let limits = &self.config.limits;
        let reference = &self.config.reference;
        // A real user's new sign-ins reuse the mailed code until it expires: the decoy's issue
        // time is the start of a TTL-long cell, stable across sign-ins within it.
        let mailed = decoy::issue_time(reference, pool_id, username, now, limits.ttl);
        // A later round of the same sign-in keeps the issue time of the round before, as a real
        // code is reused; a resend moves it to now once the cooldown has passed, as a real
        // resend mails a new code then.
        let carried = custom_rounds.last().copied().flatten().and_then(label_time);
        let (issued_at, path) = match carried {
            None => (mailed, Path::Issue),
            Some(t) if after_resend && now.saturating_sub(t) >= limits.cooldown => {
                (now, Path::Issue)
            }
            Some(t) => (t, Path::Reuse),
        };
        tokio::time::sleep(self.timings.draw(path)).await;
        let nonce = new_nonce();
        self.respond(
            event,
            &Round {
                destination: decoy::destination(reference, pool_id, username),
                // Without a store a decoy counts what this sign-in shows (its wrong answers and
                // its code's age), not what earlier ones left: docs/security.md, residuals.
                attempts_left: session_left,
                resend_after: issued_at.saturating_add(limits.cooldown),
                sent_at: issued_at,
                expires_at: issued_at.saturating_add(limits.ttl),
                nonce: &nonce,
                after_resend,
                decoy_issued_at: Some(issued_at),
                state: None,
            },
        );
        Ok(Outcome::new("decoy", None))
    }

    /// A round for a stored code: `code` is the active code and the state it is part of, `round`
    /// says whether it follows a resend and what the sign-in has left of `MAX_ATTEMPTS`.
    fn respond_with(
        &self,
        event: &mut Map<String, Value>,
        shown: &str,
        (active, state): (&ActiveCode, &ChallengeState),
        (after_resend, session_left): (bool, u8),
        stored: &Snapshot,
    ) {
        let limits = &self.config.limits;
        let code_left = limits.max_attempts.saturating_sub(active.attempts);
        self.respond(
            event,
            &Round {
                destination: shown.to_owned(),
                attempts_left: code_left.min(session_left),
                resend_after: policy::resend_after(limits, self.clock.now(), state),
                sent_at: active.issued_at,
                expires_at: active.expires_at,
                nonce: &active.nonce,
                after_resend,
                decoy_issued_at: None,
                // What Verify may decide on without a read: a conditional store refuses the
                // write if it is no longer current. Hashes and times only, never the code.
                state: S::CONDITIONAL
                    .then_some(stored.encoded.as_deref())
                    .flatten(),
            },
        );
    }

    /// Writes back the state from before a failed send, within what is left of the budget, trying
    /// twice: a code nobody received must not stay active for the next sign-in to reuse. A
    /// conditional store writes it only over our own write (`tag`): a newer write stays.
    async fn restore(
        &self,
        user: UserRef<'_>,
        prior: Option<&ChallengeState>,
        tag: [u8; WRITE_TAG_LEN],
        budget: &Budget,
    ) {
        let stamped = self.stamp(policy::restore_after_failed_send(prior), new_tag());
        let write = stamped.write(user, self.clock.now(), None);
        for attempt in 1..=2 {
            let reason = match budget
                .run(CALL_CAP, self.store.write(&write, Version::Tagged(tag)))
                .await
            {
                Ok(Ok(Stored::Written)) => return,
                Ok(Ok(Stored::Conflict(_))) => {
                    // Our write did not land (a timed-out write that was never applied), or a
                    // newer one replaced it: either way the stored state is not ours to undo.
                    warn!("not restored after a failed send: the stored state is not our write");
                    return;
                }
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
        let mut private = json!({ "nonce": hex::encode(round.nonce) });
        if let Some(state) = round.state {
            private["state"] = Value::String(state.to_owned());
        }
        event.insert(
            "response".into(),
            json!({
                "publicChallengeParameters": {
                    "delivery": "EMAIL",
                    "destination": round.destination,
                    "codeLength": self.config.limits.code_length.get().to_string(),
                    "sentAt": round.sent_at.to_string(),
                    "expiresAt": round.expires_at.to_string(),
                    "attemptsLeft": round.attempts_left.to_string(),
                    "resendAfter": round.resend_after.to_string(),
                },
                // The nonce identifies the issue, so Verify can tell a replaced code. It is not secret.
                "privateChallengeParameters": private,
                "challengeMetadata": label,
            }),
        );
    }
}
