//! When to issue, reuse or refuse a code (CreateAuthChallenge), and how an answer is judged
//! (VerifyAuthChallengeResponse).
//!
//! Both are pure: they take the decoded state and the current time and return what should be
//! written and sent. The trigger layer performs that I/O.

use super::code::{
    Answer, Binding, CodeHasher, CodeLength, DestinationTag, MalformedAnswer, NONCE_LEN, OtpCode,
    new_nonce,
};
use super::state::{ActiveCode, ChallengeState, MAX_SENDS};

/// The limits from the configuration that the policy applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `CODE_LENGTH`.
    pub code_length: CodeLength,
    /// `CODE_TTL_SECONDS`.
    pub ttl: u32,
    /// `MAX_ATTEMPTS`.
    pub max_attempts: u8,
    /// `RESEND_COOLDOWN_SECONDS`.
    pub cooldown: u32,
    /// `SEND_LIMIT`.
    pub send_limit: u16,
    /// `SEND_WINDOW_SECONDS`.
    pub send_window: u32,
}

/// The user a code belongs to.
#[derive(Debug, Clone, Copy)]
pub struct UserRef<'a> {
    /// The user pool ID.
    pub pool_id: &'a str,
    /// The Cognito username.
    pub username: &'a str,
}

impl ActiveCode {
    fn binding<'a>(&'a self, user: UserRef<'a>, destination: &'a DestinationTag) -> Binding<'a> {
        Binding {
            pool_id: user.pool_id,
            username: user.username,
            nonce: &self.nonce,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            destination,
        }
    }

    /// Whether the code can still be answered at `now`.
    pub fn usable(&self, now: u32, max_attempts: u8) -> bool {
        now < self.expires_at && self.attempts < max_attempts
    }

    /// Whether the code was mailed to the address whose tag is `destination`.
    pub fn sent_to(&self, destination: &DestinationTag) -> bool {
        self.destination.as_ref() == Some(destination)
    }
}

/// The situation Create is called in.
#[derive(Debug, Clone, Copy)]
pub struct CreateContext {
    /// Now, Unix seconds.
    pub now: u32,
    /// No custom round has completed in this session yet: a new sign-in, or Cognito retrying
    /// Create for the first round.
    pub first_round: bool,
    /// This round follows a resend request.
    pub resend_requested: bool,
    /// The tag of the user's current address (a code sent elsewhere is never reused).
    pub destination: DestinationTag,
}

/// Why an existing code is used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReuseReason {
    /// A later round of the same sign-in, after a wrong answer.
    RetryRound,
    /// Sent less than `RESEND_COOLDOWN_SECONDS` ago (a Cognito retry, a double submit, an early
    /// resend).
    Cooldown,
    /// `SEND_LIMIT` is reached, but the last code sent is still usable: the user gets it again
    /// (it is in their mailbox) instead of a refusal.
    SendLimited,
    /// A new sign-in while the code mailed earlier is still usable: it is in the user's mailbox
    /// (and a one-click link in that email starts exactly such a sign-in), so nothing is sent.
    /// Cognito cannot tell Create that a sign-in came from a link (InitiateAuth passes no
    /// `ClientMetadata` to it), so every new sign-in is treated alike; a user who lost the email
    /// asks for a resend.
    NewSignIn,
}

/// Why a new code is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueReason {
    /// There is no usable code (none, consumed, expired or exhausted).
    NoUsableCode,
    /// The user asked for a new code.
    Resend,
    /// The user's address changed since the active code was mailed.
    DestinationChanged,
}

/// What Create should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateDecision {
    /// Use the active code again; send and write nothing.
    Reuse(ActiveCode, ReuseReason),
    /// Issue, store and send a new code.
    Issue(IssueReason),
    /// `SEND_LIMIT` codes went out within `SEND_WINDOW_SECONDS`: refuse, send nothing.
    SendLimited,
    /// The last code was exhausted by wrong answers less than `RESEND_COOLDOWN_SECONDS` after it
    /// was issued: refuse, send nothing. Without this, whoever knows an address could burn through
    /// `SEND_LIMIT` codes in a second and lock its owner out for the window.
    Locked,
}

/// Decides between reusing the active code, issuing a new one, or refusing.
pub fn decide_create(
    limits: &Limits,
    ctx: &CreateContext,
    state: Option<&ChallengeState>,
) -> CreateDecision {
    let current = state.and_then(|s| s.active.as_ref());
    if current.is_some_and(|a| {
        a.attempts >= limits.max_attempts && ctx.now.saturating_sub(a.issued_at) < limits.cooldown
    }) {
        return CreateDecision::Locked;
    }
    let usable = current.filter(|a| a.usable(ctx.now, limits.max_attempts));
    let reusable = usable.filter(|a| a.sent_to(&ctx.destination));
    let reason = match (usable, reusable) {
        (_, Some(a)) => {
            let cooled = ctx.now.saturating_sub(a.issued_at) >= limits.cooldown;
            if !cooled {
                return CreateDecision::Reuse(a.clone(), ReuseReason::Cooldown);
            }
            if !ctx.resend_requested {
                let why = if ctx.first_round {
                    ReuseReason::NewSignIn
                } else {
                    ReuseReason::RetryRound
                };
                return CreateDecision::Reuse(a.clone(), why);
            }
            IssueReason::Resend
        }
        (Some(_), None) => IssueReason::DestinationChanged,
        (None, _) => IssueReason::NoUsableCode,
    };
    let recent = state.map_or(0, |s| recent_sends(limits, ctx.now, &s.sends).count());
    if recent >= usize::from(limits.send_limit) {
        return match reusable {
            Some(a) => CreateDecision::Reuse(a.clone(), ReuseReason::SendLimited),
            None => CreateDecision::SendLimited,
        };
    }
    CreateDecision::Issue(reason)
}

fn recent_sends<'a>(limits: &Limits, now: u32, sends: &'a [u32]) -> impl Iterator<Item = &'a u32> {
    let since = now.saturating_sub(limits.send_window);
    // A send time in the future (clock skew, hand-made state) counts as recent: the safe side.
    sends.iter().filter(move |&&t| t > since)
}

/// When a resend will mail a new code (public `resendAfter`), Unix seconds: once the active code
/// is `RESEND_COOLDOWN_SECONDS` old, and, when `SEND_LIMIT` sends already count in the window, once
/// enough of them have left it for one more. A time at or before `now` means at once. It mirrors
/// [`decide_create`] for a resend of the same code to the same address.
pub fn resend_after(limits: &Limits, now: u32, state: &ChallengeState) -> u32 {
    let cooled = state
        .active
        .as_ref()
        .map_or(now, |a| a.issued_at.saturating_add(limits.cooldown));
    let mut recent: Vec<u32> = recent_sends(limits, now, &state.sends).copied().collect();
    recent.sort_unstable();
    // A send stops counting `SEND_WINDOW_SECONDS` after it went out; one more send is allowed
    // when fewer than `SEND_LIMIT` still count, that is when the oldest `len - limit + 1` are out.
    let freed = recent
        .len()
        .checked_sub(usize::from(limits.send_limit))
        .and_then(|i| recent.get(i))
        .map_or(0, |t| t.saturating_add(limits.send_window));
    cooled.max(freed)
}

/// A freshly issued code and the state to store before sending it.
#[derive(Debug)]
pub struct Issued {
    /// The plaintext code, for the email only.
    pub code: OtpCode,
    /// The state to write.
    pub state: ChallengeState,
}

impl Issued {
    /// The active code inside the new state.
    pub fn active(&self) -> &ActiveCode {
        self.state
            .active
            .as_ref()
            .expect("an issued state always has an active code")
    }
}

/// Issues a new code for `user`, to be mailed to the address tagged `destination`, replacing any
/// previous one and recording the send.
pub fn issue(
    limits: &Limits,
    now: u32,
    prior: Option<&ChallengeState>,
    hasher: &CodeHasher,
    user: UserRef<'_>,
    destination: DestinationTag,
) -> Issued {
    let code = OtpCode::generate(limits.code_length);
    let mut active = ActiveCode {
        nonce: new_nonce(),
        digest: [0; 32],
        issued_at: now,
        expires_at: now.saturating_add(limits.ttl),
        attempts: 0,
        destination: Some(destination),
    };
    active.digest = hasher.digest(&active.binding(user, &destination), &code);
    let mut sends: Vec<u32> = prior
        .map(|s| recent_sends(limits, now, &s.sends).copied().collect())
        .unwrap_or_default();
    sends.push(now);
    let keep = usize::from(limits.send_limit).min(MAX_SENDS);
    sends.drain(..sends.len().saturating_sub(keep));
    Issued {
        code,
        state: ChallengeState {
            active: Some(active),
            sends,
            write_tag: None,
        },
    }
}

/// The state to restore when a send fails after the new state was written: the previous code
/// (if any) and the previous send history, so a failed send neither blocks the next sign-in with
/// a code nobody received nor counts against the send limit.
pub fn restore_after_failed_send(prior: Option<&ChallengeState>) -> ChallengeState {
    prior.cloned().unwrap_or_default()
}

/// The last second at which `state` can still change a decision. After it the active code has
/// expired, the lockout after an exhausted code is over and every recorded send is outside the
/// window, so [`decide_create`] and [`judge`] treat it as they treat no state at all (only the
/// rejection's name differs). A store with expiry (the DynamoDB table's TTL attribute) may drop it
/// from then on, and may overwrite it as if it were absent.
pub fn live_until(limits: &Limits, state: &ChallengeState) -> u32 {
    let code = state.active.as_ref().map_or(0, |a| {
        a.expires_at
            .max(a.issued_at.saturating_add(limits.cooldown))
    });
    let sends = state
        .sends
        .iter()
        .map(|t| t.saturating_add(limits.send_window))
        .max()
        .unwrap_or(0);
    code.max(sends)
}

/// Why an answer is refused without changing the stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The client asked for a resend; the answer is not looked at and not counted.
    ResendRequested,
    /// No active code (never issued, consumed, or unreadable state).
    Missing,
    /// The round's code was replaced by a newer one.
    Superseded,
    /// The user's address is not the one the code was mailed to: answering would verify an
    /// address that never received it.
    DestinationChanged,
    /// The code expired.
    Expired,
    /// `MAX_ATTEMPTS` wrong answers were given for this code.
    Exhausted,
    /// The answer is not a well-formed code.
    Malformed(MalformedAnswer),
}

impl RejectReason {
    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResendRequested => "resend_requested",
            Self::Missing => "missing",
            Self::Superseded => "superseded",
            Self::DestinationChanged => "destination_changed",
            Self::Expired => "expired",
            Self::Exhausted => "exhausted",
            Self::Malformed(_) => "malformed",
        }
    }
}

/// The verdict on an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Right: store `state` (the code consumed) before accepting.
    Accepted {
        /// The state with the code consumed.
        state: ChallengeState,
    },
    /// Wrong: store `state` (one more attempt counted) before answering.
    Wrong {
        /// The state with the attempt counted.
        state: ChallengeState,
    },
    /// Refused without a write.
    Rejected(RejectReason),
}

/// What Verify is given.
#[derive(Debug, Clone, Copy)]
pub struct VerifyInput<'a> {
    /// Now, Unix seconds.
    pub now: u32,
    /// The decoded state (`None` if absent or unreadable).
    pub state: Option<&'a ChallengeState>,
    /// The nonce Create handed over in the private challenge parameters, if readable.
    pub round_nonce: Option<[u8; NONCE_LEN]>,
    /// The raw answer, if it was a string.
    pub answer: Option<&'a str>,
    /// The client asked for a resend instead of answering.
    pub resend_requested: bool,
    /// The tag of the user's address now (`None` if the user has no usable address).
    pub destination: Option<DestinationTag>,
}

/// Judges an answer.
pub fn judge(
    limits: &Limits,
    input: &VerifyInput<'_>,
    hasher: &CodeHasher,
    user: UserRef<'_>,
) -> VerifyOutcome {
    use RejectReason::*;
    let reject = VerifyOutcome::Rejected;
    if input.resend_requested {
        return reject(ResendRequested);
    }
    let Some(state) = input.state else {
        return reject(Missing);
    };
    let Some(active) = state.active.as_ref() else {
        return reject(Missing);
    };
    if input.round_nonce != Some(active.nonce) {
        return reject(Superseded);
    }
    let Some(destination) = input.destination.filter(|d| active.sent_to(d)) else {
        return reject(DestinationChanged);
    };
    if input.now >= active.expires_at {
        return reject(Expired);
    }
    if active.attempts >= limits.max_attempts {
        return reject(Exhausted);
    }
    let answer = match Answer::parse(input.answer, limits.code_length) {
        Ok(a) => a,
        Err(m) => return reject(Malformed(m)),
    };
    if hasher.matches(&active.binding(user, &destination), &answer, &active.digest) {
        VerifyOutcome::Accepted {
            state: ChallengeState {
                active: None,
                sends: state.sends.clone(),
                write_tag: None,
            },
        }
    } else {
        let mut next = state.clone();
        if let Some(a) = next.active.as_mut() {
            a.attempts = a.attempts.saturating_add(1);
        }
        VerifyOutcome::Wrong { state: next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u32 = 1_767_225_600;
    const USER: UserRef<'static> = UserRef {
        pool_id: "eu-west-1_Q7xk2PzRm",
        username: "5c2e9a14",
    };

    fn limits() -> Limits {
        Limits {
            code_length: CodeLength::default(),
            ttl: 300,
            max_attempts: 3,
            cooldown: 30,
            send_limit: 5,
            send_window: 3600,
        }
    }
    fn hasher() -> CodeHasher {
        CodeHasher::new(b"0123456789abcdef0123456789abcdef")
    }
    const DEST: DestinationTag = [7; 8];
    const NEW_DEST: DestinationTag = [9; 8];

    fn ctx(now: u32) -> CreateContext {
        CreateContext {
            now,
            first_round: true,
            resend_requested: false,
            destination: DEST,
        }
    }
    fn issued_at(now: u32) -> Issued {
        issue(&limits(), now, None, &hasher(), USER, DEST)
    }
    fn verify(state: &ChallengeState, now: u32, answer: &str) -> VerifyOutcome {
        let input = VerifyInput {
            now,
            state: Some(state),
            round_nonce: state.active.as_ref().map(|a| a.nonce),
            answer: Some(answer),
            resend_requested: false,
            destination: Some(DEST),
        };
        judge(&limits(), &input, &hasher(), USER)
    }
    fn wrong_answer(code: &OtpCode) -> String {
        let d = code.expose_digits();
        let first = if d.starts_with('0') { '1' } else { '0' };
        format!("{first}{}", &d[1..])
    }

    /// `resendAfter` is exactly the first second at which a resend of the same code issues a new
    /// one, checked against [`decide_create`] itself.
    #[test]
    fn resend_after_is_when_decide_create_first_issues_on_a_resend() {
        let l = limits();
        let resend_at = |state: &ChallengeState, from: u32| {
            (from..from + 2 * l.send_window)
                .find(|&t| {
                    let c = CreateContext {
                        resend_requested: true,
                        first_round: false,
                        ..ctx(t)
                    };
                    matches!(decide_create(&l, &c, Some(state)), CreateDecision::Issue(_))
                })
                .expect("a resend issues eventually")
        };
        // One send: the cooldown alone.
        let one = issued_at(NOW).state;
        assert_eq!(resend_after(&l, NOW, &one), NOW + l.cooldown);
        assert_eq!(resend_at(&one, NOW), NOW + l.cooldown);
        // The limit reached, sends spread over the window: when the oldest leaves it.
        let mut full = issued_at(NOW).state;
        full.sends = vec![NOW - 3000, NOW - 2000, NOW - 1000, NOW - 500, NOW];
        assert_eq!(resend_after(&l, NOW, &full), NOW - 3000 + l.send_window);
        assert_eq!(resend_at(&full, NOW), NOW - 3000 + l.send_window);
        // Out of order, and with sends already out of the window: only the counted ones matter.
        full.sends = vec![NOW, NOW - 100, NOW - 5000, NOW - 300, NOW - 200, NOW - 400];
        assert_eq!(resend_after(&l, NOW, &full), NOW - 400 + l.send_window);
        assert_eq!(resend_at(&full, NOW), NOW - 400 + l.send_window);
        // Six counted sends (the limit lowered since): two must leave.
        full.sends = vec![NOW - 600, NOW - 500, NOW - 400, NOW - 300, NOW - 200, NOW];
        assert_eq!(resend_after(&l, NOW, &full), NOW - 500 + l.send_window);
        assert_eq!(resend_at(&full, NOW), NOW - 500 + l.send_window);
        // No active code: the window alone; nothing to wait for without sends.
        let none = ChallengeState::default();
        assert_eq!(resend_after(&l, NOW, &none), NOW);
    }

    #[test]
    fn from_live_until_on_a_state_decides_like_no_state() {
        let l = limits();
        let contexts = |now| {
            [
                ctx(now),
                CreateContext {
                    first_round: false,
                    ..ctx(now)
                },
                CreateContext {
                    first_round: false,
                    resend_requested: true,
                    ..ctx(now)
                },
            ]
        };
        // The send window bounds it: five sends at the limit.
        let mut full = issued_at(NOW).state;
        full.sends = vec![NOW; 5];
        let until = live_until(&l, &full);
        assert_eq!(until, NOW + 3600);
        for c in contexts(until) {
            assert_eq!(
                decide_create(&l, &c, Some(&full)),
                decide_create(&l, &c, None)
            );
        }
        assert_eq!(
            decide_create(&l, &ctx(until - 1), Some(&full)),
            CreateDecision::SendLimited
        );
        // A short window: the code's expiry bounds it.
        let short = Limits {
            send_window: 10,
            ..l
        };
        let s = issued_at(NOW).state;
        assert_eq!(live_until(&short, &s), NOW + 300);
        let retry = contexts(NOW + 299)[1];
        assert!(matches!(
            decide_create(&short, &retry, Some(&s)),
            CreateDecision::Reuse(_, ReuseReason::RetryRound)
        ));
        for c in contexts(NOW + 300) {
            assert_eq!(
                decide_create(&short, &c, Some(&s)),
                decide_create(&short, &c, None)
            );
        }
        // A cooldown longer than the code's life: the lockout bounds it.
        let long_cooldown = Limits {
            ttl: 20,
            cooldown: 60,
            send_window: 10,
            ..l
        };
        let mut exhausted = issue(&long_cooldown, NOW, None, &hasher(), USER, DEST).state;
        exhausted.active.as_mut().unwrap().attempts = 3;
        assert_eq!(live_until(&long_cooldown, &exhausted), NOW + 60);
        assert_eq!(
            decide_create(&long_cooldown, &ctx(NOW + 59), Some(&exhausted)),
            CreateDecision::Locked
        );
        for c in contexts(NOW + 60) {
            assert_eq!(
                decide_create(&long_cooldown, &c, Some(&exhausted)),
                decide_create(&long_cooldown, &c, None)
            );
        }
        assert_eq!(live_until(&l, &ChallengeState::default()), 0);
    }

    #[test]
    fn issues_when_there_is_no_state() {
        assert_eq!(
            decide_create(&limits(), &ctx(NOW), None),
            CreateDecision::Issue(IssueReason::NoUsableCode)
        );
    }

    #[test]
    fn an_issued_state_holds_no_plaintext_and_expires_after_the_ttl() {
        let i = issued_at(NOW);
        let a = i.active();
        assert_eq!(a.expires_at, NOW + 300);
        assert_eq!(a.attempts, 0);
        assert_eq!(i.state.sends, vec![NOW]);
        assert!(!i.state.encode().contains(i.code.expose_digits()));
    }

    #[test]
    fn reuses_within_the_cooldown_for_new_sign_ins_and_retries() {
        let s = issued_at(NOW).state;
        let a = s.active.clone().unwrap();
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 29), Some(&s)),
            CreateDecision::Reuse(a.clone(), ReuseReason::Cooldown)
        );
        // After the cooldown a new sign-in still gets the mailed code (the one a link holds),
        // for as long as it is usable, and nothing is sent …
        for later in [NOW + 30, NOW + 299] {
            assert_eq!(
                decide_create(&limits(), &ctx(later), Some(&s)),
                CreateDecision::Reuse(a.clone(), ReuseReason::NewSignIn)
            );
        }
        // … until it expires.
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 300), Some(&s)),
            CreateDecision::Issue(IssueReason::NoUsableCode)
        );
        // … but a retry round of the same sign-in keeps the code and sends nothing.
        let retry = CreateContext {
            first_round: false,
            ..ctx(NOW + 200)
        };
        assert_eq!(
            decide_create(&limits(), &retry, Some(&s)),
            CreateDecision::Reuse(a, ReuseReason::RetryRound)
        );
    }

    #[test]
    fn resend_issues_a_fresh_code_only_after_the_cooldown() {
        let s = issued_at(NOW).state;
        let early = CreateContext {
            now: NOW + 5,
            first_round: false,
            resend_requested: true,
            destination: DEST,
        };
        assert!(matches!(
            decide_create(&limits(), &early, Some(&s)),
            CreateDecision::Reuse(_, ReuseReason::Cooldown)
        ));
        let later = CreateContext {
            now: NOW + 31,
            ..early
        };
        assert_eq!(
            decide_create(&limits(), &later, Some(&s)),
            CreateDecision::Issue(IssueReason::Resend)
        );
    }

    #[test]
    fn expired_exhausted_or_consumed_codes_are_replaced_even_within_the_cooldown() {
        let mut s = issued_at(NOW).state;
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 300), Some(&s)),
            CreateDecision::Issue(IssueReason::NoUsableCode)
        );
        s.active.as_mut().unwrap().attempts = 3;
        // An exhausted code is not replaced before the cooldown since its issue (lockout brake) …
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 1), Some(&s)),
            CreateDecision::Locked
        );
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 29), Some(&s)),
            CreateDecision::Locked
        );
        // … and is replaced from then on.
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 30), Some(&s)),
            CreateDecision::Issue(IssueReason::NoUsableCode)
        );
        s.active = None;
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 1), Some(&s)),
            CreateDecision::Issue(IssueReason::NoUsableCode)
        );
    }

    #[test]
    fn the_send_limit_holds_within_the_window_and_frees_up_after_it() {
        let mut state: Option<ChallengeState> = None;
        let mut now = NOW;
        // Resends a minute apart (a new sign-in would reuse the usable code).
        let resend_at = |now| CreateContext {
            resend_requested: true,
            first_round: false,
            ..ctx(now)
        };
        for _ in 0..5 {
            assert!(matches!(
                decide_create(&limits(), &resend_at(now), state.as_ref()),
                CreateDecision::Issue(_)
            ));
            state = Some(issue(&limits(), now, state.as_ref(), &hasher(), USER, DEST).state);
            now += 60;
        }
        // At the limit the last code, still usable and in the user's mailbox, is offered again
        // instead of a refusal; nothing is sent.
        assert!(matches!(
            decide_create(&limits(), &resend_at(now), state.as_ref()),
            CreateDecision::Reuse(_, ReuseReason::SendLimited)
        ));
        assert!(matches!(
            decide_create(&limits(), &ctx(now), state.as_ref()),
            CreateDecision::Reuse(_, ReuseReason::NewSignIn)
        ));
        // Consuming the code does not reset the limit.
        let consumed = ChallengeState {
            active: None,
            ..state.clone().unwrap()
        };
        assert_eq!(
            decide_create(&limits(), &ctx(now), Some(&consumed)),
            CreateDecision::SendLimited
        );
        // The first send leaves the window an hour after it was made.
        assert!(matches!(
            decide_create(&limits(), &ctx(NOW + 3600), state.as_ref()),
            CreateDecision::Issue(_)
        ));
        // The history never grows past the limit.
        let s = issue(&limits(), NOW + 3600, state.as_ref(), &hasher(), USER, DEST).state;
        assert_eq!(s.sends.len(), 5);
    }

    #[test]
    fn the_right_answer_is_accepted_once() {
        let i = issued_at(NOW);
        let VerifyOutcome::Accepted { state } = verify(&i.state, NOW + 10, i.code.expose_digits())
        else {
            panic!("right answer refused")
        };
        assert!(state.active.is_none());
        assert_eq!(state.sends, i.state.sends);
        let again = VerifyInput {
            now: NOW + 11,
            state: Some(&state),
            round_nonce: i.state.active.as_ref().map(|a| a.nonce),
            answer: Some(i.code.expose_digits()),
            resend_requested: false,
            destination: Some(DEST),
        };
        assert_eq!(
            judge(&limits(), &again, &hasher(), USER),
            VerifyOutcome::Rejected(RejectReason::Missing)
        );
    }

    #[test]
    fn wrong_answers_count_until_exhausted_across_sessions() {
        let i = issued_at(NOW);
        let wrong = wrong_answer(&i.code);
        let mut s = i.state.clone();
        for n in 1..=3 {
            let VerifyOutcome::Wrong { state } = verify(&s, NOW + 10, &wrong) else {
                panic!("not counted")
            };
            assert_eq!(state.active.as_ref().unwrap().attempts, n);
            s = state;
        }
        // Even the right code is refused now.
        assert_eq!(
            verify(&s, NOW + 10, i.code.expose_digits()),
            VerifyOutcome::Rejected(RejectReason::Exhausted)
        );
    }

    #[test]
    fn expired_codes_are_refused_even_when_right() {
        let i = issued_at(NOW);
        assert!(matches!(
            verify(&i.state, NOW + 299, i.code.expose_digits()),
            VerifyOutcome::Accepted { .. }
        ));
        assert_eq!(
            verify(&i.state, NOW + 300, i.code.expose_digits()),
            VerifyOutcome::Rejected(RejectReason::Expired)
        );
    }

    #[test]
    fn malformed_answers_are_refused_without_a_write() {
        let i = issued_at(NOW);
        for bad in [
            "",
            "12345",
            "1234567",
            "12a456",
            "١٢٣٤٥٦",
            &"9".repeat(10_000),
        ] {
            assert!(
                matches!(
                    verify(&i.state, NOW + 1, bad),
                    VerifyOutcome::Rejected(RejectReason::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_resend_request_is_not_an_answer() {
        let i = issued_at(NOW);
        let input = VerifyInput {
            now: NOW + 1,
            state: Some(&i.state),
            round_nonce: i.state.active.as_ref().map(|a| a.nonce),
            answer: Some(i.code.expose_digits()),
            resend_requested: true,
            destination: Some(DEST),
        };
        assert_eq!(
            judge(&limits(), &input, &hasher(), USER),
            VerifyOutcome::Rejected(RejectReason::ResendRequested)
        );
    }

    #[test]
    fn an_answer_to_a_replaced_code_or_another_user_is_refused() {
        let old = issued_at(NOW);
        let new = issue(&limits(), NOW + 40, Some(&old.state), &hasher(), USER, DEST);
        let stale = VerifyInput {
            now: NOW + 41,
            state: Some(&new.state),
            round_nonce: old.state.active.as_ref().map(|a| a.nonce),
            answer: Some(new.code.expose_digits()),
            resend_requested: false,
            destination: Some(DEST),
        };
        assert_eq!(
            judge(&limits(), &stale, &hasher(), USER),
            VerifyOutcome::Rejected(RejectReason::Superseded)
        );
        let other = UserRef {
            username: "someone-else",
            ..USER
        };
        let input = VerifyInput {
            round_nonce: new.state.active.as_ref().map(|a| a.nonce),
            ..stale
        };
        assert!(matches!(
            judge(&limits(), &input, &hasher(), other),
            VerifyOutcome::Wrong { .. }
        ));
    }

    #[test]
    fn a_failed_send_restores_the_previous_state() {
        let old = issued_at(NOW);
        assert_eq!(restore_after_failed_send(Some(&old.state)), old.state);
        assert_eq!(restore_after_failed_send(None), ChallengeState::default());
    }

    #[test]
    fn a_code_sent_to_another_address_is_never_reused_or_accepted() {
        let i = issued_at(NOW);
        let moved = CreateContext {
            destination: NEW_DEST,
            ..ctx(NOW + 1)
        };
        // Within the cooldown the same address reuses; a changed address gets a fresh code.
        assert!(matches!(
            decide_create(&limits(), &ctx(NOW + 1), Some(&i.state)),
            CreateDecision::Reuse(_, ReuseReason::Cooldown)
        ));
        assert_eq!(
            decide_create(&limits(), &moved, Some(&i.state)),
            CreateDecision::Issue(IssueReason::DestinationChanged)
        );
        // The right code, answered after the address changed, is refused without a write.
        for destination in [Some(NEW_DEST), None] {
            let input = VerifyInput {
                now: NOW + 2,
                state: Some(&i.state),
                round_nonce: i.state.active.as_ref().map(|a| a.nonce),
                answer: Some(i.code.expose_digits()),
                resend_requested: false,
                destination,
            };
            assert_eq!(
                judge(&limits(), &input, &hasher(), USER),
                VerifyOutcome::Rejected(RejectReason::DestinationChanged)
            );
        }
        // A state written before codes carried their address counts as sent elsewhere.
        let mut legacy = i.state.clone();
        legacy.active.as_mut().unwrap().destination = None;
        assert!(matches!(
            verify(&legacy, NOW + 2, i.code.expose_digits()),
            VerifyOutcome::Rejected(RejectReason::DestinationChanged)
        ));
        assert_eq!(
            decide_create(&limits(), &ctx(NOW + 1), Some(&legacy)),
            CreateDecision::Issue(IssueReason::DestinationChanged)
        );
    }

    #[test]
    fn reject_reasons_have_their_documented_names() {
        use RejectReason::*;
        let names: Vec<&str> = [
            ResendRequested,
            Missing,
            Superseded,
            DestinationChanged,
            Expired,
            Exhausted,
            Malformed(MalformedAnswer::Missing),
        ]
        .into_iter()
        .map(RejectReason::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "resend_requested",
                "missing",
                "superseded",
                "destination_changed",
                "expired",
                "exhausted",
                "malformed"
            ]
        );
    }
}
