//! The code state kept in the user attribute (`custom:authChallenge` by default).
//!
//! Encoding: `v1.` followed by unpadded base64url of a fixed binary layout:
//!
//! ```text
//! flags:u8 (bit 0: a code is active; bit 1: a write tag follows; bit 2: the active code
//!           carries its destination tag)
//! [if tagged] write_tag:[u8;8]
//! [if active] nonce:[u8;12] digest:[u8;32] issued_at:u32 expires_at:u32 attempts:u8
//!             [if bit 2] destination:[u8;8]
//! sends:u8, then that many send times as u32 (Unix seconds, oldest first)
//! ```
//!
//! At the largest send limit (100) this is 632 characters; at the defaults about 130, well under
//! Cognito's 2,048-character cap. Anything that does not decode exactly (another format, a truncated
//! or padded value, unknown flags, a value written by hand) is treated as "no state": the next
//! sign-in simply issues a new code. Times are u32 Unix seconds, which last until 2106.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::code::{DIGEST_LEN, DestinationTag, NONCE_LEN};

const PREFIX: &str = "v1.";
const FLAG_ACTIVE: u8 = 0b01;
const FLAG_TAGGED: u8 = 0b10;
const FLAG_DESTINATION: u8 = 0b100;
/// The length of a [`ChallengeState::write_tag`].
pub const WRITE_TAG_LEN: usize = 8;
/// The most send times kept; more than the largest `SEND_LIMIT`, so the limit is always checkable.
pub const MAX_SENDS: usize = 100;
/// Cognito's cap on an attribute value.
pub const MAX_ENCODED_LEN: usize = 2048;

/// An issued, not yet consumed code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCode {
    /// Random per-issue nonce; also handed to Verify through the private challenge parameters.
    pub nonce: [u8; NONCE_LEN],
    /// HMAC-SHA256 of the code, bound to the user and this issue.
    pub digest: [u8; DIGEST_LEN],
    /// When the code was issued (and last sent), Unix seconds.
    pub issued_at: u32,
    /// When the code stops being accepted, Unix seconds.
    pub expires_at: u32,
    /// Wrong answers so far, across all sessions.
    pub attempts: u8,
    /// The keyed tag of the address the code was mailed to. `None` only in states written before
    /// codes were bound to their address; such a code is treated as sent elsewhere.
    pub destination: Option<DestinationTag>,
}

/// Everything stored for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChallengeState {
    /// The code that may currently be answered, if any.
    pub active: Option<ActiveCode>,
    /// Times codes were sent, oldest first, for the send limit. Kept after a code is consumed,
    /// so signing in successfully does not reset the limit.
    pub sends: Vec<u32>,
    /// A random tag set by the Verify that wrote this state, read back to learn whether another
    /// write replaced it in the meantime (attributes have no conditional write). `None` otherwise.
    pub write_tag: Option<[u8; WRITE_TAG_LEN]>,
}

impl ChallengeState {
    /// Encodes to the attribute value.
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(72 + 4 * self.sends.len());
        let tag_flag = if self.write_tag.is_some() {
            FLAG_TAGGED
        } else {
            0
        };
        let active_flag = match &self.active {
            Some(a) if a.destination.is_some() => FLAG_ACTIVE | FLAG_DESTINATION,
            Some(_) => FLAG_ACTIVE,
            None => 0,
        };
        out.push(tag_flag | active_flag);
        if let Some(tag) = &self.write_tag {
            out.extend_from_slice(tag);
        }
        if let Some(a) = &self.active {
            out.extend_from_slice(&a.nonce);
            out.extend_from_slice(&a.digest);
            out.extend_from_slice(&a.issued_at.to_be_bytes());
            out.extend_from_slice(&a.expires_at.to_be_bytes());
            out.push(a.attempts);
            if let Some(d) = &a.destination {
                out.extend_from_slice(d);
            }
        }
        // Only the newest MAX_SENDS matter; older ones are outside any window we accept.
        let sends = &self.sends[self.sends.len().saturating_sub(MAX_SENDS)..];
        out.push(sends.len() as u8);
        for t in sends {
            out.extend_from_slice(&t.to_be_bytes());
        }
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decodes an attribute value. `None` for anything that is not exactly a value we wrote.
    pub fn decode(value: &str) -> Option<Self> {
        if oversized(value) {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value.strip_prefix(PREFIX)?).ok()?;
        let mut r = Reader(&bytes);
        let flags = r.u8()?;
        if flags & !(FLAG_ACTIVE | FLAG_TAGGED | FLAG_DESTINATION) != 0
            || (flags & FLAG_DESTINATION != 0 && flags & FLAG_ACTIVE == 0)
        {
            return None;
        }
        let write_tag = if flags & FLAG_TAGGED != 0 {
            Some(r.array()?)
        } else {
            None
        };
        let active = if flags & FLAG_ACTIVE != 0 {
            Some(ActiveCode {
                nonce: r.array()?,
                digest: r.array()?,
                issued_at: r.u32()?,
                expires_at: r.u32()?,
                attempts: r.u8()?,
                destination: if flags & FLAG_DESTINATION != 0 {
                    Some(r.array()?)
                } else {
                    None
                },
            })
        } else {
            None
        };
        let n = usize::from(r.u8()?);
        if n > MAX_SENDS {
            return None;
        }
        let sends = (0..n).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
        r.0.is_empty().then_some(Self {
            active,
            sends,
            write_tag,
        })
    }
}

/// A cost guard, not a correctness check: nothing longer than Cognito's cap is decoded at all.
/// (Nothing that long could decode exactly anyway, so no test can tell the guard's bound apart;
/// `.cargo/mutants.toml` says so.)
fn oversized(value: &str) -> bool {
    value.len() > MAX_ENCODED_LEN
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(sends: usize) -> ChallengeState {
        ChallengeState {
            active: Some(ActiveCode {
                nonce: [9; NONCE_LEN],
                digest: [3; DIGEST_LEN],
                issued_at: 1_767_225_600,
                expires_at: 1_767_225_900,
                attempts: 2,
                destination: Some([4; 8]),
            }),
            sends: (0..sends as u32).map(|i| 1_767_225_000 + i).collect(),
            write_tag: None,
        }
    }

    #[test]
    fn round_trips() {
        for s in [
            sample(0),
            sample(1),
            sample(5),
            sample(MAX_SENDS),
            ChallengeState::default(),
        ] {
            assert_eq!(ChallengeState::decode(&s.encode()), Some(s));
        }
        let consumed = ChallengeState {
            active: None,
            sends: vec![1, 2, 3],
            write_tag: Some([7; WRITE_TAG_LEN]),
        };
        assert_eq!(ChallengeState::decode(&consumed.encode()), Some(consumed));
        let tagged = ChallengeState {
            write_tag: Some([1, 2, 3, 4, 5, 6, 7, 8]),
            ..sample(2)
        };
        assert_eq!(ChallengeState::decode(&tagged.encode()), Some(tagged));
    }

    #[test]
    fn stays_well_under_the_attribute_cap() {
        let worst = ChallengeState {
            write_tag: Some([0; WRITE_TAG_LEN]),
            ..sample(MAX_SENDS)
        }
        .encode();
        assert!(worst.len() <= 632, "{}", worst.len());
        assert!(
            sample(5).encode().len() <= 131,
            "{}",
            sample(5).encode().len()
        );
        // More sends than we keep are trimmed to the newest MAX_SENDS.
        let trimmed = ChallengeState::decode(&sample(150).encode()).unwrap();
        assert_eq!(trimmed.sends.len(), MAX_SENDS);
        assert_eq!(trimmed.sends.last(), sample(150).sends.last());
    }

    #[test]
    fn foreign_or_corrupt_values_are_no_state() {
        let good = sample(3).encode();
        let cases = [
            String::new(),
            "v1.".into(),
            "v2.".to_string() + &good[3..],
            good[3..].to_string(),
            good[..good.len() - 1].to_string(),
            format!("{good}A"),
            format!("{good}=="),
            "{\"v\":1,\"kind\":\"otp\",\"h\":\"q3Vb\",\"exp\":1767225900,\"tries\":0}".into(),
            "123456".into(),
            format!("v1.{}", "A".repeat(3000)),
            "v1.!!!!".into(),
            // flags with an unknown bit
            format!("v1.{}", URL_SAFE_NO_PAD.encode([8u8, 0])),
            // a tag flag without its tag
            format!("v1.{}", URL_SAFE_NO_PAD.encode([2u8, 0])),
            // a destination flag without an active code
            format!("v1.{}", URL_SAFE_NO_PAD.encode([4u8, 0])),
            // more sends than allowed
            format!("v1.{}", URL_SAFE_NO_PAD.encode([0u8, 101])),
        ];
        for c in cases {
            assert_eq!(ChallengeState::decode(&c), None, "{c:?}");
        }
    }

    /// The state holds only the code's keyed hash: over 2,000 issued codes, neither the code's
    /// digits (as text) nor its value (as a 32-bit number, either byte order) appear anywhere in
    /// the decoded bytes, and each state round-trips exactly.
    #[test]
    fn an_encoded_state_never_contains_its_code() {
        use crate::code::{CodeHasher, CodeLength};
        use crate::policy::{Limits, UserRef, issue};
        let limits = Limits {
            code_length: CodeLength::default(),
            ttl: 300,
            max_attempts: 3,
            cooldown: 30,
            send_limit: 5,
            send_window: 3600,
        };
        let hasher = CodeHasher::new(&[1; 32]);
        let user = UserRef {
            pool_id: "eu-west-1_Q7xk2PzRm",
            username: "5c2e9a14",
        };
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        for i in 0..2_000u32 {
            let issued = issue(
                &limits,
                1_767_225_600 + i,
                None,
                &hasher,
                user,
                [i as u8; 8],
            );
            let encoded = issued.state.encode();
            let raw = URL_SAFE_NO_PAD.decode(&encoded[PREFIX.len()..]).unwrap();
            let digits = issued.code.expose_digits();
            let value: u32 = digits.parse().unwrap();
            assert!(!encoded.contains(digits) && !contains(&raw, digits.as_bytes()));
            assert!(!contains(&raw, &value.to_be_bytes()) && !contains(&raw, &value.to_le_bytes()));
            assert_eq!(
                ChallengeState::decode(&encoded).as_ref(),
                Some(&issued.state)
            );
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in ".{0,3000}") {
            let _ = ChallengeState::decode(&s);
        }

        #[test]
        fn decode_of_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ChallengeState::decode(&format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes)));
        }

        #[test]
        fn arbitrary_states_round_trip(
            active in proptest::option::of((any::<[u8; 12]>(), any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u8>(), proptest::option::of(any::<[u8; 8]>()))),
            sends in proptest::collection::vec(any::<u32>(), 0..=MAX_SENDS),
            write_tag in proptest::option::of(any::<[u8; WRITE_TAG_LEN]>()),
        ) {
            let s = ChallengeState {
                active: active.map(|(nonce, digest, issued_at, expires_at, attempts, destination)| ActiveCode { nonce, digest, issued_at, expires_at, attempts, destination }),
                sends,
                write_tag,
            };
            prop_assert_eq!(ChallengeState::decode(&s.encode()), Some(s));
        }
    }
}
