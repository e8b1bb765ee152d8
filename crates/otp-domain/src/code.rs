//! One-time codes: generation, the keyed hash that is stored instead of them, and answer checking.
//!
//! The plaintext code lives in an [`OtpCode`], which cannot be printed, and is handed out only to
//! render the email. What is stored is an HMAC-SHA256 over the code, bound to the user pool, the
//! user, the issue nonce and the issue/expiry times, so a stored hash is useless for any other user
//! or issue, and the code cannot be recovered from it without the key.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use std::fmt;

use super::email::EmailAddress;
use super::random;

/// Domain separation for the stored hash; bump together with the state version.
const HASH_CONTEXT: &[u8] = b"cognito-email-otp/code/v1";

/// The longest answer we even look at. Anything longer is malformed without further work.
pub const MAX_ANSWER_BYTES: usize = 64;

/// The number of digits in a code: 6 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLength(u8);

impl CodeLength {
    /// The smallest accepted length.
    pub const MIN: u8 = 6;
    /// The largest accepted length.
    pub const MAX: u8 = 10;

    /// Accepts 6 to 10 digits.
    pub fn parse(n: u8) -> Option<Self> {
        (Self::MIN..=Self::MAX).contains(&n).then_some(Self(n))
    }

    /// The number of digits.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for CodeLength {
    fn default() -> Self {
        Self(6)
    }
}

/// A plaintext one-time code. It has no `Display`, its `Debug` is redacted, and its digits are
/// reachable only through [`OtpCode::expose_digits`], which the email renderer and the hasher call.
pub struct OtpCode(SecretBox<str>);

impl OtpCode {
    /// Draws a code of `len` uniform decimal digits from the OS CSPRNG.
    ///
    /// Bytes of 250 and above are rejected rather than reduced, so each digit is exactly uniform
    /// (250 is the largest multiple of 10 that fits a byte).
    pub fn generate(len: CodeLength) -> Self {
        let mut digits = String::with_capacity(len.get());
        let mut pool = [0u8; 32];
        while digits.len() < len.get() {
            random::fill(&mut pool);
            for d in pool.iter().copied().filter_map(digit_of) {
                if digits.len() == len.get() {
                    break;
                }
                digits.push(d);
            }
        }
        pool.fill(0);
        Self(SecretBox::new(digits.into_boxed_str()))
    }

    /// The digits, for the email body and the keyed hash only.
    pub fn expose_digits(&self) -> &str {
        self.0.expose_secret()
    }

    /// Wraps digits that came from somewhere else (tests, the demo reading its mailbox).
    pub fn from_digits(digits: &str) -> Option<Self> {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(SecretBox::new(digits.into())))
    }
}

/// The decimal digit a random byte stands for, or `None` for the six bytes (250 to 255) that would
/// make the digits uneven: each digit then comes from exactly 25 byte values.
fn digit_of(b: u8) -> Option<char> {
    (b < 250).then(|| char::from(b'0' + b % 10))
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

/// What a stored hash is bound to: the user and one particular issue of a code.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The user pool ID from the event.
    pub pool_id: &'a str,
    /// The Cognito username from the event (stable for the user's lifetime).
    pub username: &'a str,
    /// The random nonce of this issue.
    pub nonce: &'a [u8; NONCE_LEN],
    /// When the code was issued, in Unix seconds.
    pub issued_at: u32,
    /// When the code expires, in Unix seconds.
    pub expires_at: u32,
    /// The keyed tag of the address the code was mailed to (see [`CodeHasher::destination_tag`]).
    pub destination: &'a DestinationTag,
}

/// Length of a [`DestinationTag`].
pub const DESTINATION_TAG_LEN: usize = 8;
/// A short keyed hash of the address a code was mailed to. Stored with the code so Verify can tell
/// that the user's address changed since, without storing the address itself.
pub type DestinationTag = [u8; DESTINATION_TAG_LEN];

/// Length of the per-issue nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the stored digest.
pub const DIGEST_LEN: usize = 32;

/// A fresh random nonce for one issue of a code.
pub fn new_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    random::fill(&mut n);
    n
}

/// The HMAC key from `CODE_HMAC_KEY`. Not printable; its `Debug` is redacted.
#[derive(Clone)]
pub struct CodeHasher {
    key: std::sync::Arc<SecretBox<[u8]>>,
}

impl fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHasher(<redacted key>)")
    }
}

impl CodeHasher {
    /// Builds a hasher from the key bytes (the configuration checks the length).
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: std::sync::Arc::new(SecretBox::new(key.into())),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).expect("HMAC takes any key length")
    }

    fn bound_mac(&self, binding: &Binding<'_>, digits: &str) -> Hmac<Sha256> {
        let mut mac = self.mac();
        // Length-prefix every variable field so no two different inputs share an encoding.
        for part in [
            HASH_CONTEXT,
            binding.pool_id.as_bytes(),
            binding.username.as_bytes(),
            binding.nonce.as_slice(),
            &binding.issued_at.to_be_bytes(),
            &binding.expires_at.to_be_bytes(),
            binding.destination.as_slice(),
            digits.as_bytes(),
        ] {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The keyed hash that is stored for `code` under `binding`.
    pub fn digest(&self, binding: &Binding<'_>, code: &OtpCode) -> [u8; DIGEST_LEN] {
        self.bound_mac(binding, code.expose_digits())
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `answer` is the code behind `expected`, compared in constant time.
    pub fn matches(
        &self,
        binding: &Binding<'_>,
        answer: &Answer,
        expected: &[u8; DIGEST_LEN],
    ) -> bool {
        // `verify_slice` compares with `subtle`'s constant-time equality.
        self.bound_mac(binding, answer.digits())
            .verify_slice(expected)
            .is_ok()
    }

    /// The tag of the address a code goes to: the first bytes of a keyed hash of the normalised
    /// address. Eight bytes tell addresses apart (a collision between a user's old and new address
    /// is a 2^-64 event) and reveal nothing without the key.
    pub fn destination_tag(&self, email: &EmailAddress) -> DestinationTag {
        let digest = self.keyed_reference("destination", &email.normalized());
        let mut tag = [0u8; DESTINATION_TAG_LEN];
        tag.copy_from_slice(&digest[..DESTINATION_TAG_LEN]);
        tag
    }

    /// A keyed, non-reversible reference derived from `input`, for decoys and log references.
    pub fn keyed_reference(&self, label: &str, input: &str) -> [u8; DIGEST_LEN] {
        let mut mac = self.mac();
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A well-formed answer: exactly the configured number of ASCII digits. Redacted in `Debug`.
pub struct Answer(String);

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Answer(<redacted>)")
    }
}

/// Why an answer was not even compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedAnswer {
    /// No answer, or an answer that is not a string.
    Missing,
    /// Longer than [`MAX_ANSWER_BYTES`].
    Oversized,
    /// Contains something other than ASCII digits (after trimming surrounding white space).
    NotDigits,
    /// Digits, but not the configured number of them.
    WrongLength,
}

impl Answer {
    /// Parses a raw answer. Surrounding ASCII white space is forgiven (pasted codes often carry
    /// it); anything else that is not exactly `len` ASCII digits is malformed.
    pub fn parse(raw: Option<&str>, len: CodeLength) -> Result<Self, MalformedAnswer> {
        let raw = raw.ok_or(MalformedAnswer::Missing)?;
        if raw.len() > MAX_ANSWER_BYTES {
            return Err(MalformedAnswer::Oversized);
        }
        let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() {
            return Err(MalformedAnswer::Missing);
        }
        if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MalformedAnswer::NotDigits);
        }
        if trimmed.len() != len.get() {
            return Err(MalformedAnswer::WrongLength);
        }
        Ok(Self(trimmed.to_owned()))
    }

    fn digits(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(nonce: &[u8; NONCE_LEN]) -> Binding<'_> {
        Binding {
            pool_id: "eu-west-1_abc",
            username: "user-1",
            nonce,
            issued_at: 1_000,
            expires_at: 1_300,
            destination: &DEST,
        }
    }

    const DEST: DestinationTag = [5; DESTINATION_TAG_LEN];
    const OTHER_DEST: DestinationTag = [6; DESTINATION_TAG_LEN];

    #[test]
    fn generated_codes_have_the_configured_number_of_digits() {
        for n in CodeLength::MIN..=CodeLength::MAX {
            let len = CodeLength::parse(n).unwrap();
            for _ in 0..50 {
                let code = OtpCode::generate(len);
                assert_eq!(code.expose_digits().len(), usize::from(n));
                assert!(code.expose_digits().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn code_length_outside_6_to_10_is_refused() {
        assert!(CodeLength::parse(5).is_none());
        assert!(CodeLength::parse(11).is_none());
        assert!(CodeLength::parse(0).is_none());
        assert_eq!(CodeLength::parse(8).unwrap().get(), 8);
    }

    /// All ten digits appear evenly: a chi-square test over 200,000 digits. With 9 degrees of
    /// freedom the 99.99th percentile is 33.7, so a uniform generator fails this about once in
    /// 10,000 runs, while `b % 10` over raw bytes (digits 0-5 over-represented by 1/25) scores
    /// in the hundreds.
    #[test]
    fn all_ten_digits_are_uniform() {
        let mut counts = [0u64; 10];
        let len = CodeLength::parse(10).unwrap();
        for _ in 0..20_000 {
            for b in OtpCode::generate(len).expose_digits().bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        let total: u64 = counts.iter().sum();
        assert_eq!(total, 200_000);
        let expected = total as f64 / 10.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(
            chi2 < 33.7,
            "digits are not uniform: chi2={chi2:.1}, counts={counts:?}"
        );
    }

    #[test]
    fn two_codes_differ() {
        // 10 digits: a collision here has probability 1e-10.
        let len = CodeLength::parse(10).unwrap();
        assert_ne!(
            OtpCode::generate(len).expose_digits(),
            OtpCode::generate(len).expose_digits()
        );
    }

    #[test]
    fn debug_output_never_shows_the_code_or_key() {
        let code = OtpCode::from_digits("482913").unwrap();
        assert_eq!(format!("{code:?}"), "OtpCode(<redacted>)");
        let hasher = CodeHasher::new(b"a-very-secret-key-of-32-characters!!");
        assert!(!format!("{hasher:?}").contains("secret"));
        let answer = Answer::parse(Some("482913"), CodeLength::default()).unwrap();
        assert!(!format!("{answer:?}").contains("482913"));
    }

    #[test]
    fn the_right_answer_matches_and_others_do_not() {
        let hasher = CodeHasher::new(&[7u8; 32]);
        let nonce = [1u8; NONCE_LEN];
        let code = OtpCode::from_digits("482913").unwrap();
        let digest = hasher.digest(&binding(&nonce), &code);
        let len = CodeLength::default();
        assert!(hasher.matches(
            &binding(&nonce),
            &Answer::parse(Some("482913"), len).unwrap(),
            &digest
        ));
        assert!(!hasher.matches(
            &binding(&nonce),
            &Answer::parse(Some("482914"), len).unwrap(),
            &digest
        ));
    }

    #[test]
    fn every_digit_comes_from_exactly_25_byte_values() {
        let mut from = [0usize; 10];
        for b in 0..=u8::MAX {
            match digit_of(b) {
                Some(d) => from[usize::from(d as u8 - b'0')] += 1,
                None => assert!(b >= 250, "byte {b} dropped"),
            }
        }
        assert_eq!(from, [25; 10]);
    }

    #[test]
    fn only_digits_make_a_code_and_secrets_print_redacted() {
        assert!(OtpCode::from_digits("").is_none());
        assert!(OtpCode::from_digits("12a4").is_none());
        assert!(OtpCode::from_digits(" 1234").is_none());
        assert_eq!(
            OtpCode::from_digits("0042").unwrap().expose_digits(),
            "0042"
        );
        let code = OtpCode::from_digits("482913").unwrap();
        assert_eq!(format!("{code:?}"), "OtpCode(<redacted>)");
        let hasher = CodeHasher::new(b"a-key-that-must-not-print-0123456789");
        assert_eq!(format!("{hasher:?}"), "CodeHasher(<redacted key>)");
        let answer = Answer::parse(Some("482913"), CodeLength::default()).unwrap();
        assert_eq!(format!("{answer:?}"), "Answer(<redacted>)");
    }

    #[test]
    fn answers_are_measured_before_they_are_read() {
        let len = CodeLength::default();
        // Up to MAX_ANSWER_BYTES an answer is read (here: digits, but not six of them) …
        let at_cap = "1".repeat(MAX_ANSWER_BYTES);
        assert_eq!(
            Answer::parse(Some(&at_cap), len).unwrap_err(),
            MalformedAnswer::WrongLength
        );
        // … one byte more and it is refused unread.
        let over = "1".repeat(MAX_ANSWER_BYTES + 1);
        assert_eq!(
            Answer::parse(Some(&over), len).unwrap_err(),
            MalformedAnswer::Oversized
        );
    }

    /// A comparison fooled by a shared prefix (only the first byte, say) would accept about one
    /// wrong code in 256. Every other 6-digit code below 200,000 is tried against one stored
    /// digest, including the few hundred whose digest starts like the stored one; none passes.
    #[test]
    fn no_wrong_code_passes_not_even_one_whose_digest_shares_a_prefix() {
        let hasher = CodeHasher::new(&[7u8; 32]);
        let nonce = [1u8; NONCE_LEN];
        let b = binding(&nonce);
        let stored = hasher.digest(&b, &OtpCode::from_digits("482913").unwrap());
        let mut sharing = [0usize; 3];
        for n in 0..200_000u32 {
            let digits = format!("{n:06}");
            let d = hasher.digest(&b, &OtpCode::from_digits(&digits).unwrap());
            let shared = d.iter().zip(&stored).take_while(|(x, y)| x == y).count();
            for (k, count) in sharing.iter_mut().enumerate() {
                if shared > k {
                    *count += 1;
                }
            }
            let answer = Answer::parse(Some(&digits), CodeLength::default()).unwrap();
            assert!(!hasher.matches(&b, &answer, &stored), "{digits} accepted");
        }
        // About 781 share the first byte and 3 the first two; the test is only as good as these.
        assert!(sharing[0] > 600, "{sharing:?}");
        assert!(sharing[1] >= 1, "{sharing:?}");
        let right = Answer::parse(Some("482913"), CodeLength::default()).unwrap();
        assert!(hasher.matches(&b, &right, &stored));
    }

    #[test]
    fn destination_tags_fold_case_and_tell_addresses_apart() {
        let hasher = CodeHasher::new(&[7u8; 32]);
        let tag = |s: &str| hasher.destination_tag(&EmailAddress::parse(s).unwrap());
        assert_eq!(
            tag("Maria.Rossi@Example.ORG"),
            tag("maria.rossi@example.org")
        );
        assert_ne!(tag("maria.rossi@example.org"), tag("ceo@victim.example"));
        assert_ne!(
            CodeHasher::new(&[8u8; 32]).destination_tag(&EmailAddress::parse("a@b.co").unwrap()),
            tag("a@b.co"),
            "keyed"
        );
    }

    #[test]
    fn the_digest_is_bound_to_user_issue_times_and_key() {
        let hasher = CodeHasher::new(&[7u8; 32]);
        let nonce = [1u8; NONCE_LEN];
        let code = OtpCode::from_digits("482913").unwrap();
        let base = hasher.digest(&binding(&nonce), &code);
        let other_nonce = [2u8; NONCE_LEN];
        let variants = [
            Binding {
                username: "user-2",
                ..binding(&nonce)
            },
            Binding {
                pool_id: "eu-west-1_xyz",
                ..binding(&nonce)
            },
            Binding {
                nonce: &other_nonce,
                ..binding(&nonce)
            },
            Binding {
                expires_at: 9_999,
                ..binding(&nonce)
            },
            Binding {
                issued_at: 999,
                ..binding(&nonce)
            },
            Binding {
                destination: &OTHER_DEST,
                ..binding(&nonce)
            },
        ];
        for v in variants {
            assert_ne!(hasher.digest(&v, &code), base, "{v:?}");
        }
        assert_ne!(
            CodeHasher::new(&[8u8; 32]).digest(&binding(&nonce), &code),
            base
        );
        // Length prefixes: moving a character between fields changes the digest.
        let a = Binding {
            pool_id: "ab",
            username: "c",
            ..binding(&nonce)
        };
        let b = Binding {
            pool_id: "a",
            username: "bc",
            ..binding(&nonce)
        };
        assert_ne!(hasher.digest(&a, &code), hasher.digest(&b, &code));
    }

    #[test]
    fn answers_are_parsed_strictly() {
        let len = CodeLength::default();
        assert!(Answer::parse(Some(" 482913\n"), len).is_ok());
        assert_eq!(
            Answer::parse(None, len).unwrap_err(),
            MalformedAnswer::Missing
        );
        assert_eq!(
            Answer::parse(Some("   "), len).unwrap_err(),
            MalformedAnswer::Missing
        );
        assert_eq!(
            Answer::parse(Some("48291"), len).unwrap_err(),
            MalformedAnswer::WrongLength
        );
        assert_eq!(
            Answer::parse(Some("4829130"), len).unwrap_err(),
            MalformedAnswer::WrongLength
        );
        assert_eq!(
            Answer::parse(Some("48 913"), len).unwrap_err(),
            MalformedAnswer::NotDigits
        );
        assert_eq!(
            Answer::parse(Some("48291a"), len).unwrap_err(),
            MalformedAnswer::NotDigits
        );
        // Unicode digits (Arabic-Indic, full-width) are not ASCII digits.
        assert_eq!(
            Answer::parse(Some("٤٨٢٩١٣"), len).unwrap_err(),
            MalformedAnswer::NotDigits
        );
        assert_eq!(
            Answer::parse(Some("４８２９１３"), len).unwrap_err(),
            MalformedAnswer::NotDigits
        );
        let huge = "1".repeat(1 << 20);
        assert_eq!(
            Answer::parse(Some(&huge), len).unwrap_err(),
            MalformedAnswer::Oversized
        );
    }
}
