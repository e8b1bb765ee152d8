//! The email that carries a code: subject, plain text and HTML.
//!
//! This is the only place the plaintext code is turned into text. The rendered message goes
//! straight to the mailer and is not logged or stored.

use super::code::OtpCode;
use std::fmt;

/// The subject used when `EMAIL_SUBJECT` is not set.
pub const DEFAULT_SUBJECT: &str = "Your sign-in code";

/// A rendered message. Its `Debug` output omits the bodies, which hold the code.
pub struct RenderedEmail {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl fmt::Debug for RenderedEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedEmail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Whole minutes of validity for the message, rounded up so "valid for 0 minutes" never appears.
pub fn validity_minutes(ttl_seconds: u32) -> u32 {
    ttl_seconds.div_ceil(60)
}

/// Renders the default message for `code`, valid for `minutes`.
pub fn render(subject: Option<&str>, code: &OtpCode, minutes: u32) -> RenderedEmail {
    let digits = code.expose_digits();
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    let text = format!(
        "Your sign-in code is {digits}\n\n\
         It is valid for {minutes} {unit} and can be used once.\n\n\
         If you did not try to sign in, you can ignore this email. Never share this code.\n"
    );
    // The code is digits only and the minutes a number, so nothing here needs HTML escaping.
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Your sign-in code is</p>\
         <p style=\"font-size:28px;letter-spacing:4px;font-weight:bold\">{digits}</p>\
         <p>It is valid for {minutes} {unit} and can be used once.</p>\
         <p style=\"color:#666\">If you did not try to sign in, you can ignore this email. Never share this code.</p>\
         </body></html>"
    );
    RenderedEmail {
        subject: subject.unwrap_or(DEFAULT_SUBJECT).to_owned(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_code_and_validity_in_both_bodies() {
        let code = OtpCode::from_digits("482913").unwrap();
        let m = render(None, &code, 5);
        assert_eq!(m.subject, DEFAULT_SUBJECT);
        for body in [&m.text, &m.html] {
            assert!(body.contains("482913"));
            assert!(body.contains("5 minutes"));
        }
        assert!(!format!("{m:?}").contains("482913"));
        assert_eq!(render(Some("Code"), &code, 1).subject, "Code");
        assert!(render(None, &code, 1).text.contains("1 minute "));
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(validity_minutes(30), 1);
        assert_eq!(validity_minutes(300), 5);
        assert_eq!(validity_minutes(301), 6);
    }
}
