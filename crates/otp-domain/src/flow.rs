//! Which challenge comes next: the DefineAuthChallenge decision.
//!
//! Cognito hands Define the whole history of the sign-in (`session`). Every shape the chosen flow
//! does not allow fails authentication, so a client cannot skip the password, replay a failed step,
//! or smuggle in a challenge we did not ask for.
//!
//! A sign-in that runs out of answers (`MAX_ATTEMPTS` wrong codes) or of rounds is not failed here:
//! `failAuthentication` only ever reaches the user as "Incorrect username or password", which a
//! passwordless user never typed. Define asks for one more round instead
//! ([`DefineDecision::EndInCreate`]), and Create, deciding the same way on the same session
//! ([`session_end`]), refuses it with an error the user can read. No answer is taken in that
//! round: Create issues nothing, so Cognito has no challenge to return. Should a round be answered
//! beyond the limit all the same, Define fails it and never issues tokens for it.
//!
//! A password-first sign-in of a user without a permanent password (`cognito:user_status`
//! `FORCE_CHANGE_PASSWORD` or `RESET_REQUIRED`) is refused before Cognito checks the password:
//! what Cognito does with such a user in a custom flow after the password step is undocumented,
//! and one public report has it issue tokens without the custom challenge ([`PasswordChange`]).

/// The sign-in flows, from `AUTH_FLOW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthFlow {
    /// Password (SRP) first, then an emailed code.
    #[default]
    Mfa,
    /// An emailed code only.
    Passwordless,
    /// Either shape. An explicit opt-in, because it lets a user skip the password.
    Both,
}

impl AuthFlow {
    /// Parses `mfa`, `passwordless` or `both`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mfa" => Some(Self::Mfa),
            "passwordless" => Some(Self::Passwordless),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mfa => "mfa",
            Self::Passwordless => "passwordless",
            Self::Both => "both",
        }
    }

    fn allows_password_first(self) -> bool {
        matches!(self, Self::Mfa | Self::Both)
    }

    fn allows_code_only(self) -> bool {
        matches!(self, Self::Passwordless | Self::Both)
    }
}

/// A challenge name as it appears in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `SRP_A`
    SrpA,
    /// `PASSWORD_VERIFIER`
    PasswordVerifier,
    /// `CUSTOM_CHALLENGE`
    Custom,
    /// Anything else (`SMS_MFA`, `NEW_PASSWORD_REQUIRED`, a missing name, …).
    Other,
}

impl ChallengeKind {
    /// Maps Cognito's challenge name.
    pub fn from_name(name: Option<&str>) -> Self {
        match name {
            Some("SRP_A") => Self::SrpA,
            Some("PASSWORD_VERIFIER") => Self::PasswordVerifier,
            Some("CUSTOM_CHALLENGE") => Self::Custom,
            _ => Self::Other,
        }
    }
}

/// The `userAttributes` key that carries Cognito's account status (`CONFIRMED`,
/// `FORCE_CHANGE_PASSWORD`, …). Cognito adds it to every trigger's attributes of a real user; an
/// unknown user (`userNotFound`) has no attributes at all.
pub const USER_STATUS_ATTRIBUTE: &str = "cognito:user_status";

/// A password the user cannot sign in with here: Cognito would ask for a new one after the
/// password step.
///
/// In a custom flow Cognito's behaviour after PASSWORD_VERIFIER for such a user is undocumented.
/// A public report (amazon-cognito-identity-js#341) says that answering its
/// `NEW_PASSWORD_REQUIRED` issued tokens without the custom challenge, which would skip the
/// emailed code; if it instead calls Define with a `NEW_PASSWORD_REQUIRED` round, that round fails
/// the sign-in after the user chose a password. Refusing the sign-in before the password step
/// means Cognito never verifies such a password and neither outcome can happen; the user is told
/// why, and an administrator sets a permanent password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChange {
    /// `FORCE_CHANGE_PASSWORD`: created by an administrator with a temporary password.
    Temporary,
    /// `RESET_REQUIRED`: an administrator reset the password (or the user was imported without one).
    ResetRequired,
}

impl PasswordChange {
    /// The change a `cognito:user_status` value calls for. Every other status (`CONFIRMED`,
    /// `EXTERNAL_PROVIDER`, …) and a missing one call for none: they do not make Cognito ask for a
    /// new password, and whatever else they mean is Cognito's to enforce, as before.
    pub fn from_user_status(status: Option<&str>) -> Option<Self> {
        match status {
            Some("FORCE_CHANGE_PASSWORD") => Some(Self::Temporary),
            Some("RESET_REQUIRED") => Some(Self::ResetRequired),
            _ => None,
        }
    }
}

/// The `challengeMetadata` Create puts on an ordinary round.
pub const ROUND_LABEL: &str = "EMAIL_OTP";
/// The `challengeMetadata` Create puts on a round that follows a resend request. It tells Define
/// that the failed round before it was a resend, not a wrong answer.
pub const ROUND_LABEL_AFTER_RESEND: &str = "EMAIL_OTP_RESENT";

/// One completed round of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The challenge of the round.
    pub kind: ChallengeKind,
    /// Whether it was answered correctly.
    pub succeeded: bool,
    /// The `challengeMetadata` Create set (custom rounds only).
    pub label: Option<String>,
}

impl Round {
    fn follows_resend(&self) -> bool {
        self.label.as_deref().map(label_base) == Some(ROUND_LABEL_AFTER_RESEND)
    }
}

/// Separates a round label from the issue time a decoy round carries (`EMAIL_OTP#1767225600`).
/// Clients never see `challengeMetadata`; it lets a decoy keep its `expiresAt` across the rounds
/// of one sign-in, as a real code does, without any store.
pub const LABEL_TIME_SEPARATOR: char = '#';

/// The label without a decoy's issue time.
pub fn label_base(label: &str) -> &str {
    label.split(LABEL_TIME_SEPARATOR).next().unwrap_or(label)
}

/// The issue time a decoy round's label carries, if any.
pub fn label_time(label: &str) -> Option<u32> {
    label.split_once(LABEL_TIME_SEPARATOR)?.1.parse().ok()
}

/// What Define answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefineDecision {
    /// Ask Cognito to verify the password (SRP) next.
    PasswordVerifier,
    /// Ask for an emailed code next.
    CustomChallenge,
    /// The sign-in is complete.
    IssueTokens,
    /// The sign-in fails.
    Fail(FailReason),
    /// A password-first sign-in of a user without a permanent password: refused with a message the
    /// user can act on (a trigger error, which Cognito shows), before any password step.
    PasswordChangeRequired(PasswordChange),
    /// The sign-in is over: ask for one more custom round, which Create refuses with a message
    /// the user can read (see the module docs).
    EndInCreate(SessionEnd),
}

/// Why a sign-in ends with Create's refusal rather than Define's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// `MAX_ATTEMPTS` wrong answers in this sign-in.
    TooManyAttempts,
    /// As many rounds as `MAX_ATTEMPTS` wrong answers and `SEND_LIMIT` resends allow.
    TooManyRounds,
}

impl SessionEnd {
    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooManyAttempts => "too_many_attempts",
            Self::TooManyRounds => "too_many_rounds",
        }
    }
}

/// Why a sign-in fails at Define. Logged, never shown: Cognito only says "not authorized".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The user has no email address to send a code to.
    NoEmail,
    /// The flow needs a password step and the session started without one.
    PasswordRequired,
    /// The session started with a password step the flow does not allow.
    PasswordNotAllowed,
    /// A password step failed.
    PasswordFailed,
    /// A challenge we never ask for, or one out of order.
    UnexpectedChallenge,
    /// A successful custom round that was not the last one.
    SuccessNotLast,
    /// A round was answered after `MAX_ATTEMPTS` wrong answers (Create refuses that round, so
    /// this is the second guard).
    TooManyAttempts,
    /// A round was answered after the last round the limits allow (likewise a second guard).
    TooManyRounds,
    /// An unknown user's decoy round was answered correctly, which Verify never does.
    DecoyExhausted,
}

impl FailReason {
    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoEmail => "no_email",
            Self::PasswordRequired => "password_required",
            Self::PasswordNotAllowed => "password_not_allowed",
            Self::PasswordFailed => "password_failed",
            Self::UnexpectedChallenge => "unexpected_challenge",
            Self::SuccessNotLast => "success_not_last",
            Self::TooManyAttempts => "too_many_attempts",
            Self::TooManyRounds => "too_many_rounds",
            Self::DecoyExhausted => "decoy_exhausted",
        }
    }
}

/// What Define knows besides the session.
#[derive(Debug, Clone, Copy)]
pub struct DefineContext {
    /// The configured flow.
    pub flow: AuthFlow,
    /// `MAX_ATTEMPTS`.
    pub max_attempts: u8,
    /// `SEND_LIMIT`, used to bound the number of resend rounds.
    pub send_limit: u16,
    /// Cognito said the user does not exist (decoy mode).
    pub user_not_found: bool,
    /// The user has a usable email address.
    pub has_email: bool,
    /// This call's `clientMetadata` asks for a resend (so the last failed round was not a guess).
    pub resend_requested: bool,
    /// The user's password needs changing (from `cognito:user_status`), if it does.
    pub password_change: Option<PasswordChange>,
}

/// Decides the next step of a sign-in.
pub fn decide(ctx: &DefineContext, session: &[Round]) -> DefineDecision {
    use DefineDecision::*;
    // An unknown user goes through the same motions (so the caller cannot tell), but has no email.
    if !ctx.user_not_found && !ctx.has_email {
        return Fail(FailReason::NoEmail);
    }
    let custom = match session.first().map(|r| r.kind) {
        None if ctx.flow.allows_code_only() => return CustomChallenge,
        None => return Fail(FailReason::PasswordRequired),
        Some(ChallengeKind::SrpA) => {
            if !ctx.flow.allows_password_first() {
                return Fail(FailReason::PasswordNotAllowed);
            }
            // Before Cognito checks a temporary or reset password, and at every later round too (a
            // status that changed mid-sign-in). An unknown user has no status; the guard keeps the
            // decoy's path exactly as it was whatever Cognito sends.
            if !ctx.user_not_found
                && let Some(change) = ctx.password_change
            {
                return PasswordChangeRequired(change);
            }
            match session {
                [srp] if srp.succeeded => return PasswordVerifier,
                [srp, pv, rest @ ..]
                    if srp.succeeded
                        && pv.kind == ChallengeKind::PasswordVerifier
                        && pv.succeeded =>
                {
                    rest
                }
                [_, pv, ..] if pv.kind == ChallengeKind::PasswordVerifier => {
                    return Fail(FailReason::PasswordFailed);
                }
                [srp, ..] if !srp.succeeded => return Fail(FailReason::PasswordFailed),
                _ => return Fail(FailReason::UnexpectedChallenge),
            }
        }
        Some(ChallengeKind::Custom) if ctx.flow.allows_code_only() => session,
        Some(ChallengeKind::Custom) => return Fail(FailReason::PasswordRequired),
        Some(_) => return Fail(FailReason::UnexpectedChallenge),
    };
    decide_custom_rounds(ctx, custom)
}

fn decide_custom_rounds(ctx: &DefineContext, rounds: &[Round]) -> DefineDecision {
    use DefineDecision::*;
    if rounds.iter().any(|r| r.kind != ChallengeKind::Custom) {
        return Fail(FailReason::UnexpectedChallenge);
    }
    let Some((last, earlier)) = rounds.split_last() else {
        return CustomChallenge;
    };
    if earlier.iter().any(|r| r.succeeded) {
        return Fail(FailReason::SuccessNotLast);
    }
    let wrong = wrong_answers(rounds, ctx.resend_requested);
    let max = usize::from(ctx.max_attempts);
    if last.succeeded {
        // Create refuses the round after the last wrong answer; a right answer to a round that
        // got past it all the same signs no one in.
        if wrong >= max {
            return Fail(FailReason::TooManyAttempts);
        }
        // Verify never accepts a decoy answer; refuse tokens for one all the same.
        return if ctx.user_not_found {
            Fail(FailReason::DecoyExhausted)
        } else {
            IssueTokens
        };
    }
    // Real users and decoys end alike, so the ending tells nothing about the account.
    match wrong.cmp(&max) {
        std::cmp::Ordering::Greater => return Fail(FailReason::TooManyAttempts),
        std::cmp::Ordering::Equal => return EndInCreate(SessionEnd::TooManyAttempts),
        std::cmp::Ordering::Less => {}
    }
    // Resends are bounded by the send limit anyway; this bounds a session that loops on them.
    match rounds.len().cmp(&(max + usize::from(ctx.send_limit))) {
        std::cmp::Ordering::Greater => Fail(FailReason::TooManyRounds),
        std::cmp::Ordering::Equal => EndInCreate(SessionEnd::TooManyRounds),
        std::cmp::Ordering::Less => CustomChallenge,
    }
}

/// The wrong answers among a sign-in's custom rounds: every failed round, unless the round after
/// it says it was a resend or (for the last round) this very call asks for one.
fn wrong_answers(rounds: &[Round], resend_requested: bool) -> usize {
    rounds
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            !r.succeeded
                && !match rounds.get(i + 1) {
                    Some(next) => next.follows_resend(),
                    None => resend_requested,
                }
        })
        .count()
}

/// How the sign-in `session` ends, if it does: Create refuses its round when this is `Some`.
/// Decided exactly as Define decided before asking for the round (Create is handed the same
/// session and the same client metadata), so the two cannot disagree.
pub fn session_end(ctx: &DefineContext, session: &[Round]) -> Option<SessionEnd> {
    match decide(ctx, session) {
        DefineDecision::EndInCreate(end) => Some(end),
        _ => None,
    }
}

/// The wrong answers this sign-in still takes (public `attemptsLeft`, with the code's own count):
/// `MAX_ATTEMPTS` less its wrong answers so far, counted as [`decide`] counts them.
pub fn attempts_left(ctx: &DefineContext, session: &[Round]) -> u8 {
    let custom: Vec<Round> = session
        .iter()
        .filter(|r| r.kind == ChallengeKind::Custom)
        .cloned()
        .collect();
    let wrong = wrong_answers(&custom, ctx.resend_requested);
    ctx.max_attempts
        .saturating_sub(u8::try_from(wrong).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChallengeKind::{Custom, Other, PasswordVerifier as Pv, SrpA};
    use DefineDecision::{CustomChallenge, EndInCreate, Fail, IssueTokens, PasswordVerifier};

    fn ctx(flow: AuthFlow) -> DefineContext {
        DefineContext {
            flow,
            max_attempts: 3,
            send_limit: 5,
            user_not_found: false,
            has_email: true,
            resend_requested: false,
            password_change: None,
        }
    }
    fn r(kind: ChallengeKind, ok: bool) -> Round {
        Round {
            kind,
            succeeded: ok,
            label: (kind == Custom).then(|| ROUND_LABEL.to_owned()),
        }
    }
    fn resent(ok: bool) -> Round {
        Round {
            kind: Custom,
            succeeded: ok,
            label: Some(ROUND_LABEL_AFTER_RESEND.to_owned()),
        }
    }
    const SRP: [(ChallengeKind, bool); 2] = [(SrpA, true), (Pv, true)];
    fn s(items: &[(ChallengeKind, bool)]) -> Vec<Round> {
        items.iter().map(|&(k, ok)| r(k, ok)).collect()
    }
    fn mfa(custom: &[bool]) -> Vec<Round> {
        let mut v = s(&SRP);
        v.extend(custom.iter().map(|&ok| r(Custom, ok)));
        v
    }

    #[test]
    fn mfa_walks_srp_then_password_then_code() {
        let c = ctx(AuthFlow::Mfa);
        assert_eq!(decide(&c, &[]), Fail(FailReason::PasswordRequired));
        assert_eq!(decide(&c, &s(&[(SrpA, true)])), PasswordVerifier);
        assert_eq!(decide(&c, &mfa(&[])), CustomChallenge);
        assert_eq!(decide(&c, &mfa(&[false])), CustomChallenge);
        assert_eq!(decide(&c, &mfa(&[false, false])), CustomChallenge);
        assert_eq!(decide(&c, &mfa(&[true])), IssueTokens);
        assert_eq!(decide(&c, &mfa(&[false, false, true])), IssueTokens);
        assert_eq!(
            decide(&c, &mfa(&[false, false, false])),
            EndInCreate(SessionEnd::TooManyAttempts)
        );
        // Rounds that got past Create's refusal: never tokens.
        for last in [false, true] {
            assert_eq!(
                decide(&c, &mfa(&[false, false, false, last])),
                Fail(FailReason::TooManyAttempts)
            );
        }
    }

    #[test]
    fn mfa_refuses_every_way_around_the_password() {
        let c = ctx(AuthFlow::Mfa);
        let cases: Vec<(Vec<Round>, FailReason)> = vec![
            (s(&[(Custom, true)]), FailReason::PasswordRequired),
            (s(&[(Custom, false)]), FailReason::PasswordRequired),
            (s(&[(SrpA, false)]), FailReason::PasswordFailed),
            (s(&[(SrpA, true), (Pv, false)]), FailReason::PasswordFailed),
            (
                s(&[(SrpA, true), (Pv, false), (Custom, true)]),
                FailReason::PasswordFailed,
            ),
            (
                s(&[(SrpA, true), (Custom, true)]),
                FailReason::UnexpectedChallenge,
            ),
            (
                s(&[(SrpA, true), (SrpA, true), (Custom, true)]),
                FailReason::UnexpectedChallenge,
            ),
            (
                s(&[(Pv, true), (Custom, true)]),
                FailReason::UnexpectedChallenge,
            ),
            (s(&[(Other, true)]), FailReason::UnexpectedChallenge),
            (
                s(&[(SrpA, true), (Pv, true), (Other, true)]),
                FailReason::UnexpectedChallenge,
            ),
            (
                s(&[
                    (SrpA, true),
                    (Pv, true),
                    (Custom, false),
                    (Pv, true),
                    (Custom, true),
                ]),
                FailReason::UnexpectedChallenge,
            ),
            (
                s(&[
                    (SrpA, true),
                    (Pv, true),
                    (SrpA, true),
                    (Pv, true),
                    (Custom, true),
                ]),
                FailReason::UnexpectedChallenge,
            ),
            (mfa(&[true, true]), FailReason::SuccessNotLast),
            (mfa(&[true, false]), FailReason::SuccessNotLast),
        ];
        for (session, why) in cases {
            assert_eq!(decide(&c, &session), Fail(why), "{session:?}");
        }
    }

    #[test]
    fn passwordless_starts_empty_and_refuses_srp() {
        let c = ctx(AuthFlow::Passwordless);
        assert_eq!(decide(&c, &[]), CustomChallenge);
        assert_eq!(decide(&c, &s(&[(Custom, false)])), CustomChallenge);
        assert_eq!(decide(&c, &s(&[(Custom, true)])), IssueTokens);
        assert_eq!(
            decide(&c, &s(&[(Custom, false), (Custom, false), (Custom, false)])),
            EndInCreate(SessionEnd::TooManyAttempts)
        );
        assert_eq!(
            decide(&c, &s(&[(Custom, false), (Custom, false), (Custom, true)])),
            IssueTokens
        );
        assert_eq!(
            decide(
                &c,
                &s(&[
                    (Custom, false),
                    (Custom, false),
                    (Custom, false),
                    (Custom, true)
                ])
            ),
            Fail(FailReason::TooManyAttempts)
        );
        assert_eq!(
            decide(&c, &s(&[(SrpA, true)])),
            Fail(FailReason::PasswordNotAllowed)
        );
        assert_eq!(
            decide(&c, &mfa(&[true])),
            Fail(FailReason::PasswordNotAllowed)
        );
        assert_eq!(
            decide(&c, &s(&[(Pv, true)])),
            Fail(FailReason::UnexpectedChallenge)
        );
    }

    #[test]
    fn both_accepts_either_shape() {
        let c = ctx(AuthFlow::Both);
        assert_eq!(decide(&c, &[]), CustomChallenge);
        assert_eq!(decide(&c, &s(&[(SrpA, true)])), PasswordVerifier);
        assert_eq!(decide(&c, &mfa(&[true])), IssueTokens);
        assert_eq!(decide(&c, &s(&[(Custom, true)])), IssueTokens);
        assert_eq!(
            decide(&c, &s(&[(SrpA, true), (Pv, false)])),
            Fail(FailReason::PasswordFailed)
        );
    }

    fn without_permanent_password(flow: AuthFlow, change: PasswordChange) -> DefineContext {
        DefineContext {
            password_change: Some(change),
            ..ctx(flow)
        }
    }

    /// An invited user (temporary password) or one whose password was reset: a password-first
    /// sign-in is refused at its first Define, before Cognito checks that password, so Cognito
    /// never gets to ask for a new one; and at any later round, should the status change mid-way.
    #[test]
    fn a_password_first_sign_in_needs_a_permanent_password() {
        for change in [PasswordChange::Temporary, PasswordChange::ResetRequired] {
            for flow in [AuthFlow::Mfa, AuthFlow::Both] {
                let c = without_permanent_password(flow, change);
                for session in [
                    s(&[(SrpA, true)]),
                    s(&[(SrpA, false)]),
                    mfa(&[]),
                    mfa(&[false]),
                    mfa(&[true]),
                    s(&[(SrpA, true), (Pv, true), (Other, true)]),
                ] {
                    assert_eq!(
                        decide(&c, &session),
                        DefineDecision::PasswordChangeRequired(change),
                        "{flow:?} {session:?}"
                    );
                }
            }
        }
    }

    /// A code-only sign-in involves no password, so the status does not matter: the code is
    /// required either way. (Whether Cognito asks such a user for a new password after the tokens
    /// is Cognito's business.) The flows' other rules are unchanged.
    #[test]
    fn a_code_only_sign_in_does_not_need_a_permanent_password() {
        for flow in [AuthFlow::Passwordless, AuthFlow::Both] {
            let c = without_permanent_password(flow, PasswordChange::Temporary);
            assert_eq!(decide(&c, &[]), CustomChallenge, "{flow:?}");
            assert_eq!(decide(&c, &s(&[(Custom, false)])), CustomChallenge);
            assert_eq!(decide(&c, &s(&[(Custom, true)])), IssueTokens);
        }
        let c = without_permanent_password(AuthFlow::Passwordless, PasswordChange::Temporary);
        assert_eq!(
            decide(&c, &s(&[(SrpA, true)])),
            Fail(FailReason::PasswordNotAllowed)
        );
        let c = without_permanent_password(AuthFlow::Mfa, PasswordChange::ResetRequired);
        assert_eq!(decide(&c, &[]), Fail(FailReason::PasswordRequired));
    }

    /// Cognito sends an unknown user no attributes, so no status; were one to come, the decoy's
    /// steps stay those of every other unknown name, which a prober cannot tell apart.
    #[test]
    fn an_unknown_user_is_never_refused_for_its_password() {
        let c = DefineContext {
            user_not_found: true,
            has_email: false,
            ..without_permanent_password(AuthFlow::Mfa, PasswordChange::Temporary)
        };
        assert_eq!(decide(&c, &s(&[(SrpA, true)])), PasswordVerifier);
        assert_eq!(decide(&c, &mfa(&[])), CustomChallenge);
    }

    /// The outcome where Cognito calls Define after the user answered `NEW_PASSWORD_REQUIRED`:
    /// never tokens, whatever follows. With the new password in place the session fails, and the
    /// user signs in again with it (password, then code); a status still temporary is refused.
    #[test]
    fn a_new_password_round_never_leads_to_tokens() {
        let npr = ChallengeKind::from_name(Some("NEW_PASSWORD_REQUIRED"));
        let after_password = |rest: &[(ChallengeKind, bool)]| {
            let mut v = s(&SRP);
            v.extend(s(rest));
            v
        };
        for session in [
            after_password(&[(npr, true)]),
            after_password(&[(npr, true), (Custom, true)]),
            after_password(&[(npr, true), (Custom, false)]),
            after_password(&[(Custom, true), (npr, true)]),
        ] {
            for flow in [AuthFlow::Mfa, AuthFlow::Both] {
                assert_eq!(
                    decide(&ctx(flow), &session),
                    Fail(FailReason::UnexpectedChallenge),
                    "{session:?}"
                );
            }
            assert_eq!(
                decide(
                    &without_permanent_password(AuthFlow::Mfa, PasswordChange::Temporary),
                    &session
                ),
                DefineDecision::PasswordChangeRequired(PasswordChange::Temporary)
            );
        }
    }

    #[test]
    fn user_statuses_map_to_password_changes() {
        use PasswordChange::{ResetRequired, Temporary};
        assert_eq!(
            PasswordChange::from_user_status(Some("FORCE_CHANGE_PASSWORD")),
            Some(Temporary)
        );
        assert_eq!(
            PasswordChange::from_user_status(Some("RESET_REQUIRED")),
            Some(ResetRequired)
        );
        for other in [
            Some("CONFIRMED"),
            Some("UNCONFIRMED"),
            Some("EXTERNAL_PROVIDER"),
            Some("force_change_password"),
            Some(""),
            None,
        ] {
            assert_eq!(PasswordChange::from_user_status(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_user_without_email_fails_but_an_unknown_user_gets_a_decoy() {
        let mut c = ctx(AuthFlow::Passwordless);
        c.has_email = false;
        assert_eq!(decide(&c, &[]), Fail(FailReason::NoEmail));
        c.user_not_found = true;
        assert_eq!(decide(&c, &[]), CustomChallenge);
        assert_eq!(
            decide(&c, &s(&[(Custom, false), (Custom, false)])),
            CustomChallenge
        );
        // A decoy ends exactly as a real user does.
        assert_eq!(
            decide(&c, &s(&[(Custom, false), (Custom, false), (Custom, false)])),
            EndInCreate(SessionEnd::TooManyAttempts)
        );
        assert_eq!(
            decide(&c, &s(&[(Custom, true)])),
            Fail(FailReason::DecoyExhausted)
        );
    }

    #[test]
    fn cognito_challenge_names_map_to_kinds() {
        assert_eq!(ChallengeKind::from_name(Some("SRP_A")), SrpA);
        assert_eq!(ChallengeKind::from_name(Some("PASSWORD_VERIFIER")), Pv);
        assert_eq!(ChallengeKind::from_name(Some("CUSTOM_CHALLENGE")), Custom);
        for other in [
            Some("srp_a"),
            Some("SMS_MFA"),
            Some("NEW_PASSWORD_REQUIRED"),
            Some(""),
            None,
        ] {
            assert_eq!(ChallengeKind::from_name(other), Other);
        }
    }

    #[test]
    fn failure_reasons_have_their_documented_names() {
        use FailReason::*;
        let names: Vec<&str> = [
            NoEmail,
            PasswordRequired,
            PasswordNotAllowed,
            PasswordFailed,
            UnexpectedChallenge,
            SuccessNotLast,
            TooManyAttempts,
            TooManyRounds,
            DecoyExhausted,
        ]
        .into_iter()
        .map(FailReason::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "no_email",
                "password_required",
                "password_not_allowed",
                "password_failed",
                "unexpected_challenge",
                "success_not_last",
                "too_many_attempts",
                "too_many_rounds",
                "decoy_exhausted"
            ]
        );
    }

    #[test]
    fn decoy_labels_keep_their_meaning() {
        assert_eq!(
            label_base("EMAIL_OTP_RESENT#1767225600"),
            ROUND_LABEL_AFTER_RESEND
        );
        assert_eq!(label_time("EMAIL_OTP#1767225600"), Some(1_767_225_600));
        assert_eq!(label_time("EMAIL_OTP"), None);
        assert_eq!(label_time("EMAIL_OTP#x"), None);
        let resent = Round {
            label: Some(format!("{ROUND_LABEL_AFTER_RESEND}#5")),
            ..resent(false)
        };
        assert!(resent.follows_resend());
    }

    #[test]
    fn resends_are_not_counted_as_wrong_answers() {
        let mut c = ctx(AuthFlow::Passwordless);
        // Two wrong answers, then a resend request: the third failed round is the resend.
        c.resend_requested = true;
        assert_eq!(
            decide(&c, &s(&[(Custom, false), (Custom, false), (Custom, false)])),
            CustomChallenge
        );
        c.resend_requested = false;
        // Later, the round after the resend carries the marker, so the resend still does not count.
        let session = vec![
            r(Custom, false),
            r(Custom, false),
            r(Custom, false),
            resent(false),
        ];
        assert_eq!(
            decide(&c, &session),
            EndInCreate(SessionEnd::TooManyAttempts)
        );
        let session = vec![r(Custom, false), r(Custom, false), resent(false)];
        assert_eq!(decide(&c, &session), CustomChallenge);
        let session = vec![r(Custom, false), resent(true)];
        assert_eq!(decide(&c, &session), IssueTokens);
    }

    #[test]
    fn endless_resend_rounds_are_cut_off() {
        let c = DefineContext {
            resend_requested: true,
            ..ctx(AuthFlow::Passwordless)
        };
        let mut session = vec![r(Custom, false)];
        // The cap is MAX_ATTEMPTS + SEND_LIMIT = 8 rounds.
        while session.len() < 8 {
            assert_eq!(decide(&c, &session), CustomChallenge, "{}", session.len());
            session.push(resent(false));
        }
        assert_eq!(decide(&c, &session), EndInCreate(SessionEnd::TooManyRounds));
        session.push(resent(false));
        assert_eq!(decide(&c, &session), Fail(FailReason::TooManyRounds));
    }

    /// Create refuses exactly the round Define asked for to end the sign-in, for the same reason.
    #[test]
    fn create_ends_the_sign_ins_define_ends() {
        let c = ctx(AuthFlow::Both);
        assert_eq!(session_end(&c, &mfa(&[false, false])), None);
        assert_eq!(
            session_end(&c, &mfa(&[false, false, false])),
            Some(SessionEnd::TooManyAttempts)
        );
        assert_eq!(
            session_end(&c, &s(&[(Custom, false), (Custom, false), (Custom, false)])),
            Some(SessionEnd::TooManyAttempts)
        );
        // A failure is not an ending Create makes (Define has already failed the sign-in).
        assert_eq!(session_end(&c, &mfa(&[false, false, false, false])), None);
        let c = DefineContext {
            resend_requested: true,
            ..c
        };
        let mut session = vec![r(Custom, false)];
        session.extend((1..8).map(|_| resent(false)));
        assert_eq!(session_end(&c, &session), Some(SessionEnd::TooManyRounds));
        assert_eq!(SessionEnd::TooManyAttempts.as_str(), "too_many_attempts");
        assert_eq!(SessionEnd::TooManyRounds.as_str(), "too_many_rounds");
    }

    #[test]
    fn attempts_left_counts_wrong_answers_only() {
        let c = ctx(AuthFlow::Both);
        assert_eq!(attempts_left(&c, &[]), 3);
        // Password rounds are not answers to a code.
        assert_eq!(attempts_left(&c, &mfa(&[])), 3);
        assert_eq!(attempts_left(&c, &mfa(&[false])), 2);
        assert_eq!(
            attempts_left(&c, &s(&[(Custom, false), (Custom, false)])),
            1
        );
        assert_eq!(
            attempts_left(&c, &s(&[(Custom, false), (Custom, false), (Custom, false)])),
            0
        );
        // A round followed by a resend is not a wrong answer, nor is the last one when this call
        // asks for a resend.
        assert_eq!(attempts_left(&c, &[r(Custom, false), resent(false)]), 2);
        let resend = DefineContext {
            resend_requested: true,
            ..c
        };
        assert_eq!(
            attempts_left(&resend, &[r(Custom, false), resent(false)]),
            3
        );
        let many: Vec<Round> = (0..300).map(|_| r(Custom, false)).collect();
        assert_eq!(attempts_left(&c, &many), 0);
    }

    #[test]
    fn flow_names_parse() {
        for f in [AuthFlow::Mfa, AuthFlow::Passwordless, AuthFlow::Both] {
            assert_eq!(AuthFlow::parse(f.as_str()), Some(f));
        }
        assert_eq!(AuthFlow::parse("MFA"), None);
        assert_eq!(AuthFlow::default(), AuthFlow::Mfa);
    }
}
