//! Email addresses: parsing, the masked form shown to clients, and the sender.
//!
//! Parsing is deliberately conservative: one `@`, a non-empty local part, a dotted domain, no white
//! space or control characters, at most 254 bytes. It is a sanity check on what Cognito holds, not
//! an RFC 5322 parser; SES has the last word.

use std::fmt;

/// The longest address accepted (RFC 5321's path limit).
const MAX_LEN: usize = 254;

/// A recipient address. Its `Debug` output is masked, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

impl EmailAddress {
    /// Parses an address; `None` if it does not look like one.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty()
            || s.len() > MAX_LEN
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return None;
        }
        if s.contains(['<', '>', ',', ';', '"']) {
            return None;
        }
        let (local, domain) = s.split_once('@')?;
        if local.is_empty() || domain.contains('@') {
            return None;
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return None;
        }
        Some(Self(s.to_owned()))
    }

    /// The address itself, for the SES destination.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address in the form used for comparisons and keyed tags: lower-cased. Domains are
    /// case-insensitive, and so in practice are local parts (every large provider folds them).
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// The domain, lower-cased, for the sign-up allow-list.
    pub fn domain(&self) -> String {
        self.0
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The masked form for clients: `maria.rossi@example.org` becomes `m***@e***.org`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        format!("{}***@{}***.{}", first_char(local), first_char(host), tld)
    }
}

fn first_char(s: &str) -> String {
    s.chars().next().map(String::from).unwrap_or_default()
}

/// The sender from `EMAIL_FROM`: an address, optionally with a display name (`Acme <no-reply@acme.org>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    display: Option<String>,
    address: EmailAddress,
}

impl Sender {
    /// Parses `addr` or `Display Name <addr>`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(open) = s.find('<') {
            let inner = s[open + 1..].strip_suffix('>')?;
            let display = s[..open].trim().trim_matches('"').trim();
            if display
                .chars()
                .any(|c| c.is_control() || c == '<' || c == '>' || c == '"')
            {
                return None;
            }
            Some(Self {
                display: (!display.is_empty()).then(|| display.to_owned()),
                address: EmailAddress::parse(inner)?,
            })
        } else {
            Some(Self {
                display: None,
                address: EmailAddress::parse(s)?,
            })
        }
    }

    /// The value for SES `FromEmailAddress`.
    pub fn header_value(&self) -> String {
        match &self.display {
            Some(d) => format!("\"{d}\" <{}>", self.address.as_str()),
            None => self.address.as_str().to_owned(),
        }
    }

    /// The bare address (the SES identity that must be verified).
    pub fn address(&self) -> &EmailAddress {
        &self.address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_the_spec_says() {
        assert_eq!(
            EmailAddress::parse("maria.rossi@example.org")
                .unwrap()
                .masked(),
            "m***@e***.org"
        );
        assert_eq!(
            EmailAddress::parse("a@mail.example.co.uk")
                .unwrap()
                .masked(),
            "a***@m***.uk"
        );
        assert_eq!(
            EmailAddress::parse("émile@exämple.fr").unwrap().masked(),
            "é***@e***.fr"
        );
    }

    #[test]
    fn debug_is_masked() {
        let e = EmailAddress::parse("maria.rossi@example.org").unwrap();
        let d = format!("{e:?}");
        assert!(!d.contains("maria") && !d.contains("example"), "{d}");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "maria",
            "@example.org",
            "maria@",
            "maria@example",
            "maria@@example.org",
            "maria@example..org",
            "ma ria@example.org",
            "maria@example.org\nBcc: x@y.z",
            "a,b@example.org",
            "<maria@example.org>",
        ] {
            assert!(EmailAddress::parse(bad).is_none(), "{bad:?}");
        }
        assert!(EmailAddress::parse(&format!("{}@example.org", "a".repeat(250))).is_none());
    }

    #[test]
    fn domain_is_lower_cased() {
        assert_eq!(
            EmailAddress::parse("x@Example.ORG").unwrap().domain(),
            "example.org"
        );
    }

    #[test]
    fn sender_with_and_without_display_name() {
        let s = Sender::parse("Acme Sign-in <no-reply@acme.org>").unwrap();
        assert_eq!(s.header_value(), "\"Acme Sign-in\" <no-reply@acme.org>");
        assert_eq!(s.address().as_str(), "no-reply@acme.org");
        assert_eq!(
            Sender::parse("no-reply@acme.org").unwrap().header_value(),
            "no-reply@acme.org"
        );
        assert!(Sender::parse("Acme <no-reply@acme.org").is_none());
        assert!(Sender::parse("Acme <not-an-address>").is_none());
        assert!(Sender::parse("Ac\"me <no-reply@acme.org>").is_none());
    }
}
