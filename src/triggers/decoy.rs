//! Decoys for unknown users (`userNotFound`, with PreventUserExistenceErrors): a challenge whose
//! public parameters and timing behave like a real user's, with no email; without a store that
//! keeps decoys (the attribute store), also with no AWS call.
//!
//! What a prober can compare, and how the decoy matches it:
//! - **`expiresAt`.** A real user's is stable while a code is reused (within the cooldown, and
//!   across the rounds of one sign-in) and moves when a new code is issued. A decoy derives its
//!   issue time from a keyed hash of the normalised typed username and a time grid whose step is
//!   `RESEND_COOLDOWN_SECONDS` (so it is stable within a cooldown-long window and moves after
//!   it), and carries it in the round label (`challengeMetadata`, which clients never see) so
//!   later rounds of the same sign-in keep it.
//! - **The masked address**, from the lower-cased typed name, as a real address is stored.
//! - **Timing.** Each delay is drawn from the durations this process measured for the same real
//!   path (a new code, a reused code, a judged answer), falling back to fixed ranges before it has
//!   measured any.
//!
//! What it cannot match without a store (a decoy has nowhere to count sends or attempts across
//! sign-ins) is listed in docs/security.md. The DynamoDB store closes it: there an unknown user
//! goes down the real path, with state under the normalised typed name ([`state_owner`]), a
//! stand-in address ([`stand_in_address`]) and a wait drawn from real sends in place of the email,
//! so sends and attempts are counted and refused exactly like a real user's.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use crate::domain::code::CodeHasher;
use crate::domain::email::EmailAddress;
use crate::domain::random;

/// A real path whose duration decoys imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Path {
    /// Create issuing and mailing a new code.
    Issue,
    /// Create reusing the active code (one read).
    Reuse,
    /// Verify judging an answer (read, write, settle, read-back).
    Judge,
    /// The SES send alone: what a decoy with state (the DynamoDB store) waits instead of sending.
    Send,
}

impl Path {
    /// Before any real duration is measured: the in-region costs of the path's calls (each
    /// Cognito call tens of milliseconds, an SES send about 100 ms) plus the settle window.
    fn fallback_ms(self) -> (u64, u64) {
        match self {
            Self::Issue => (160, 360),
            Self::Reuse => (15, 60),
            Self::Judge => (130, 260),
            Self::Send => (60, 160),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many recent durations are kept per path.
const KEEP: usize = 64;
/// How many a path needs before decoys draw from them instead of the fallback range.
const ENOUGH: usize = 8;

/// Recent durations of the real paths, in this process.
#[derive(Debug, Default)]
pub(super) struct PathTimings(Mutex<[VecDeque<u32>; 4]>);

impl PathTimings {
    /// Records a real path's duration.
    pub(super) fn record(&self, path: Path, took: Duration) {
        let ms = u32::try_from(took.as_millis()).unwrap_or(u32::MAX);
        if let Ok(mut all) = self.0.lock() {
            let q = &mut all[path.index()];
            if q.len() == KEEP {
                q.pop_front();
            }
            q.push_back(ms);
        }
    }

    /// A delay for a decoy on `path`: one of the recent real durations, picked at random, or a
    /// uniform draw from the fallback range.
    pub(super) fn draw(&self, path: Path) -> Duration {
        let sampled = self.0.lock().ok().and_then(|all| {
            let q = &all[path.index()];
            (q.len() >= ENOUGH).then(|| {
                let i = random::jitter_millis(0, q.len() as u64 - 1) as usize;
                u64::from(q[i])
            })
        });
        let (lo, hi) = path.fallback_ms();
        Duration::from_millis(sampled.unwrap_or_else(|| random::jitter_millis(lo, hi)))
    }
}

/// The decoy's issue time at `now` for the typed `username`: the start of the current
/// cooldown-long cell of a grid whose phase is keyed to the name. Stable within the cell, like a
/// reused code; a new one after it, like a new code after the cooldown.
pub(super) fn issue_time(
    reference: &CodeHasher,
    pool_id: &str,
    username: &str,
    now: u32,
    cooldown: u32,
) -> u32 {
    let step = cooldown.max(1);
    let h = reference.keyed_reference("decoy-phase", &format!("{pool_id}/{}", normalise(username)));
    let phase = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % step;
    let shifted = now.saturating_sub(phase);
    (shifted - shifted % step).saturating_add(phase)
}

/// The masked destination shown for an unknown user: the typed name, lower-cased as a real
/// address is stored, when it is an address; otherwise a stable keyed placeholder.
pub(super) fn destination(reference: &CodeHasher, pool_id: &str, username: &str) -> String {
    if let Some(e) = typed_address(username) {
        return e.masked();
    }
    let r = reference.keyed_reference("decoy", &format!("{pool_id}/{}", normalise(username)));
    let letter = |b: u8| char::from(b'a' + b % 26);
    format!("{}***@{}***.com", letter(r[0]), letter(r[1]))
}

/// The address an unknown user's code is "mailed" to, for the destination tag a decoy with state
/// stores like a real user's: keyed on the typed name, never deliverable (`.invalid`).
pub(super) fn stand_in_address(
    reference: &CodeHasher,
    pool_id: &str,
    username: &str,
) -> EmailAddress {
    let r = reference.keyed_reference(
        "decoy-address",
        &format!("{pool_id}/{}", normalise(username)),
    );
    EmailAddress::parse(&format!("{}@unknown.invalid", crate::hex::encode(&r[..8])))
        .expect("hex digits at a fixed domain always parse")
}

/// The typed name as an address, lower-cased as a real address is stored, if it is one.
pub(super) fn typed_address(username: &str) -> Option<EmailAddress> {
    EmailAddress::parse(&normalise(username))
}

/// The name an unknown user's state is kept under, with a store that keeps decoys (DynamoDB).
///
/// A case-insensitive pool (the template's, and Cognito's default) resolves every spelling of a
/// real user to one user and so one state; whether Cognito passes an unknown name as typed or
/// folded is not documented. So the decoy's name is the typed one normalised the way the other
/// decoy values are (trimmed, lower-cased): re-casing a name gives the same state, the same
/// `sentAt` and the same lock as a real user gets. The leading space puts it where no real user's
/// state can be: Cognito usernames never contain whitespace.
pub(super) fn state_owner(username: &str) -> String {
    format!(" unknown {}", normalise(username))
}

fn normalise(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CodeHasher {
        CodeHasher::new(&[3u8; 32])
    }

    #[test]
    fn the_issue_time_is_stable_within_a_cell_and_moves_after_it() {
        let k = key();
        let t = |now| issue_time(&k, "pool", "Maria.Rossi@Example.org", now, 30);
        let base = 1_767_225_600;
        let t0 = t(base);
        assert!(t0 <= base && base - t0 < 30);
        // Every time in the same cell gives the same issue time; the next cell gives t0 + 30.
        for now in t0..t0 + 30 {
            assert_eq!(t(now), t0);
        }
        assert_eq!(t(t0 + 30), t0 + 30);
        // Case and surrounding space do not matter; the key and the name do.
        assert_eq!(
            issue_time(&k, "pool", " maria.rossi@example.org", base, 30),
            t0
        );
        let phases: std::collections::BTreeSet<u32> = (0..50)
            .map(|i| issue_time(&k, "pool", &format!("user{i}@example.org"), base, 30) % 30)
            .collect();
        assert!(phases.len() > 10, "phases spread over the cell: {phases:?}");
    }

    #[test]
    fn the_masked_address_is_lower_cased_like_a_stored_one() {
        assert_eq!(
            destination(&key(), "pool", "MARIA.ROSSI@EXAMPLE.ORG"),
            "m***@e***.org"
        );
        let p = destination(&key(), "pool", "not-an-address");
        assert!(p.contains("***@") && p.ends_with("***.com"), "{p}");
        assert_eq!(p, destination(&key(), "pool", "NOT-AN-ADDRESS"));
    }

    #[test]
    fn the_stand_in_address_is_stable_keyed_and_undeliverable() {
        let k = key();
        let a = stand_in_address(&k, "pool", "Nobody@Example.org");
        assert!(a.as_str().ends_with("@unknown.invalid"), "{}", a.as_str());
        assert!(!a.as_str().contains("nobody"));
        assert_eq!(a, stand_in_address(&k, "pool", " nobody@example.org"));
        assert_ne!(a, stand_in_address(&k, "pool", "somebody@example.org"));
        assert_ne!(a, stand_in_address(&k, "other-pool", "nobody@example.org"));
        // Any typed name, however odd, gives an address (no panic on outside input).
        for name in ["", " ", "a@b@c", &"x".repeat(10_000), "\u{0}\u{202e}"] {
            assert!(stand_in_address(&k, "pool", name).as_str().contains('@'));
        }
    }

    #[test]
    fn every_spelling_of_an_unknown_name_owns_one_state_apart_from_real_users() {
        let owner = state_owner("Ghost.User@Example.org");
        for spelling in [
            "ghost.user@example.org",
            "GHOST.USER@EXAMPLE.ORG",
            " Ghost.User@example.ORG ",
        ] {
            assert_eq!(state_owner(spelling), owner, "{spelling}");
        }
        assert_ne!(state_owner("other@example.org"), owner);
        // No real username (no whitespace in Cognito usernames) names a decoy's state.
        assert!(owner.starts_with(char::is_whitespace));
        assert!(!owner.contains("Ghost"));
    }

    #[test]
    fn delays_come_from_measured_paths_once_there_are_enough() {
        let t = PathTimings::default();
        let d = t.draw(Path::Reuse).as_millis() as u64;
        assert!((15..=60).contains(&d), "{d}");
        for _ in 0..ENOUGH {
            t.record(Path::Reuse, Duration::from_millis(500));
        }
        assert_eq!(t.draw(Path::Reuse), Duration::from_millis(500));
        // Other paths are unaffected.
        assert!(t.draw(Path::Issue) <= Duration::from_millis(360));
        for _ in 0..200 {
            t.record(Path::Judge, Duration::from_millis(7));
        }
        assert_eq!(t.0.lock().unwrap()[Path::Judge.index()].len(), KEEP);
    }

    /// A delay is one of the recorded durations, any of them, and never a read past the end of
    /// the sample (a panic in the decoy would be an answer no real user gets).
    #[test]
    fn a_sampled_delay_is_any_recorded_one_and_only_those() {
        let t = PathTimings::default();
        let recorded: Vec<u64> = (1..=ENOUGH as u64).map(|i| 100 + i).collect();
        for ms in &recorded {
            t.record(Path::Send, Duration::from_millis(*ms));
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let d = t.draw(Path::Send).as_millis() as u64;
            assert!(recorded.contains(&d), "{d} was never recorded");
            seen.insert(d);
        }
        assert_eq!(
            seen.len(),
            recorded.len(),
            "every sample is drawn: {seen:?}"
        );
    }

    /// A cooldown of 0 or 1 second is a one-second grid: the issue time is the current second,
    /// whatever the name's phase; and at any step it is never later than now nor a step before.
    #[test]
    fn the_issue_time_is_never_in_the_future() {
        let k = key();
        let now = 1_767_225_600;
        for i in 0..50 {
            let name = format!("user{i}@example.org");
            for cooldown in [0, 1] {
                assert_eq!(issue_time(&k, "pool", &name, now, cooldown), now, "{name}");
            }
            for step in [2, 30, 3_600, 86_400] {
                let t = issue_time(&k, "pool", &name, now, step);
                assert!(t <= now && now - t < step, "{name} {step}: {t}");
            }
        }
    }

    /// The placeholder for a username that is not an address has letters like a masked address:
    /// lower-case a to z, spread over the alphabet.
    #[test]
    fn placeholders_are_lower_case_letters_spread_over_the_alphabet() {
        let k = key();
        let mut firsts = std::collections::BTreeSet::new();
        for i in 0..300 {
            let p = destination(&k, "pool", &format!("user-{i}"));
            let a = p.chars().next().unwrap();
            let b = p.split('@').nth(1).and_then(|d| d.chars().next()).unwrap();
            for c in [a, b] {
                assert!(c.is_ascii_lowercase(), "{p}");
            }
            firsts.insert(a);
        }
        assert!(firsts.len() >= 20, "letters over the alphabet: {firsts:?}");
    }
}
