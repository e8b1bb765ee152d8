//! The configuration: read once from the environment at start-up, validated, typed.
//!
//! Every problem is reported at once, each naming the variable, what was wrong and what is
//! accepted. The HMAC key is held in a type that cannot be printed. AWS endpoints, region and
//! credentials are not here: the SDK reads its own standard variables (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, …).

use std::fmt;

use crate::domain::code::{CodeHasher, CodeLength};
use crate::domain::email::Sender;
use crate::domain::flow::AuthFlow;
use crate::domain::locale::{self, Locale};
use crate::domain::message::{AppName, LinkBase, bundled_locales};
use crate::domain::policy::Limits;

/// The minimum length of `CODE_HMAC_KEY` and `REFERENCE_KEY`, in characters.
pub const MIN_KEY_CHARS: usize = 32;

/// The smallest `RESEND_COOLDOWN_SECONDS`. Cognito retries a Create that did not answer in time
/// with the same event, seconds later; within the cooldown the retry reuses the code the first
/// attempt mailed instead of mailing a second one that kills the first.
pub const MIN_COOLDOWN_SECONDS: u32 = 10;

/// Where the code key comes from.
#[derive(Debug, Clone)]
pub enum CodeKey {
    /// `CODE_HMAC_KEY`: the key itself (local runs and tests).
    Inline(CodeHasher),
    /// `CODE_HMAC_KEY_SECRET_ARN`: a Secrets Manager secret whose `SecretString` is the key, read
    /// at the first invocation that needs it (in Lambda, so the key is never in the function's
    /// configuration).
    Secret(String),
}

/// Where the challenge state is kept (`CHALLENGE_STORE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// `attribute` (the default): the user's own `CHALLENGE_ATTRIBUTE`.
    #[default]
    Attribute,
    /// `dynamodb`: the table `CHALLENGE_TABLE` (a name or a table ARN).
    DynamoDb {
        /// `CHALLENGE_TABLE`.
        table: String,
    },
}

impl StoreChoice {
    /// The name used in `CHALLENGE_STORE`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Attribute => "attribute",
            Self::DynamoDb { .. } => "dynamodb",
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `EMAIL_FROM`.
    pub email_from: Sender,
    /// `CODE_HMAC_KEY` or `CODE_HMAC_KEY_SECRET_ARN`: the key of the stored code hashes.
    pub code_key: CodeKey,
    /// `REFERENCE_KEY` (or, without it, a key derived from `CODE_HMAC_KEY`): keys the decoys for
    /// unknown users and the user references in logs, which must never wait for an AWS call.
    /// It protects no code: knowing it lets someone predict a decoy, nothing more.
    pub reference: CodeHasher,
    /// `AUTH_FLOW`.
    pub flow: AuthFlow,
    /// `CODE_LENGTH`, `CODE_TTL_SECONDS`, `MAX_ATTEMPTS`, `RESEND_COOLDOWN_SECONDS`, `SEND_LIMIT`,
    /// `SEND_WINDOW_SECONDS`.
    pub limits: Limits,
    /// `CHALLENGE_ATTRIBUTE`, with its `custom:` prefix.
    pub challenge_attribute: String,
    /// `CHALLENGE_STORE` and `CHALLENGE_TABLE`.
    pub store: StoreChoice,
    /// `EMAIL_SUBJECT`.
    pub email_subject: Option<String>,
    /// `APP_NAME`: shown in the subject and body.
    pub app_name: Option<AppName>,
    /// `EMAIL_DEFAULT_LOCALE` (default `en`): the language for users whose `locale` matches none
    /// on offer.
    pub default_locale: Locale,
    /// `EMAIL_CODE_IN_SUBJECT` (default false).
    pub code_in_subject: bool,
    /// `SES_TEMPLATE` and `SES_TEMPLATE_LOCALES`.
    pub ses_template: Option<SesTemplate>,
    /// `SIGN_IN_LINK_URL`: the page a one-click link opens (passwordless sign-ins only).
    pub sign_in_link: Option<LinkBase>,
    /// `SES_CONFIGURATION_SET`.
    pub ses_configuration_set: Option<String>,
    /// `SIGNUP_AUTO_CONFIRM`.
    pub signup_auto_confirm: bool,
    /// `SIGNUP_ALLOWED_DOMAINS`, lower-cased; `None` allows every domain.
    pub signup_allowed_domains: Option<Vec<String>>,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
    /// `METRICS_POOL_ID_DIMENSION`: add the user pool ID as a metric dimension.
    pub metrics_pool_dimension: bool,
}

/// `SES_TEMPLATE`: a stored SES template, or one per locale when the name holds `{locale}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesTemplate {
    /// The name, possibly with `{locale}` in it (`otp-{locale}`).
    pub pattern: String,
    /// `SES_TEMPLATE_LOCALES` (default: the bundled locales): the locales there is a template
    /// for, which the user's `locale` is resolved against like the bundled messages.
    pub locales: Vec<Locale>,
}

impl SesTemplate {
    /// The template for a user whose `locale` attribute is `requested`, and the locale it is for.
    pub fn for_user<'a>(
        &'a self,
        requested: Option<&str>,
        default: &'a Locale,
    ) -> (String, &'a Locale) {
        let locale = locale::resolve(requested, &self.locales, default);
        (self.pattern.replace("{locale}", locale.as_str()), locale)
    }
}

/// Whether `name` is a valid SES template name: 1 to 64 letters, digits, `_` or `-`.
fn valid_template_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The default `METRICS_NAMESPACE`.
pub const DEFAULT_METRICS_NAMESPACE: &str = "CognitoEmailOtp";

/// One or more configuration problems, each naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `(variable, problem)` pairs, in table order.
    pub problems: Vec<(&'static str, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: ")?;
        for (i, (var, msg)) in self.problems.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{var}: {msg}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

struct Reader<F> {
    lookup: F,
    problems: Vec<(&'static str, String)>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// The trimmed value, or `None` when unset or blank.
    fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn fail(&mut self, var: &'static str, msg: String) {
        self.problems.push((var, msg));
    }

    fn int<T>(&mut self, var: &'static str, default: T, lo: T, hi: T) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(raw) = self.get(var) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) if v >= lo && v <= hi => v,
            _ => {
                self.fail(var, format!("{raw:?} is not accepted; use a whole number from {lo} to {hi} (default {default})"));
                default
            }
        }
    }

    fn bool(&mut self, var: &'static str, default: bool) -> bool {
        let Some(raw) = self.get(var) else {
            return default;
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                self.fail(
                    var,
                    format!("{raw:?} is not accepted; use true or false (default {default})"),
                );
                default
            }
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };

        let email_from = match r.get("EMAIL_FROM") {
            None => {
                r.fail("EMAIL_FROM", "is required; set it to the SES-verified sender, e.g. \"Acme <no-reply@acme.example>\"".into());
                None
            }
            Some(v) => Sender::parse(&v).or_else(|| {
                r.fail("EMAIL_FROM", "is not an email address; use \"no-reply@acme.example\" or \"Acme <no-reply@acme.example>\"".into());
                None
            }),
        };

        // No key's value is ever echoed, not even in an error.
        let key_problem = |k: &str| {
            (k.chars().count() < MIN_KEY_CHARS).then(|| {
                format!(
                    "is too short ({} characters); use at least {MIN_KEY_CHARS}",
                    k.chars().count()
                )
            })
        };
        let inline = (r.lookup)("CODE_HMAC_KEY");
        let secret_arn = r.get("CODE_HMAC_KEY_SECRET_ARN");
        let code_key = match (&inline, secret_arn) {
            (Some(_), Some(_)) => {
                r.fail("CODE_HMAC_KEY_SECRET_ARN", "is set together with CODE_HMAC_KEY; set only one (the secret in Lambda, the key itself for local runs)".into());
                None
            }
            (None, None) => {
                r.fail("CODE_HMAC_KEY", format!("is required (or CODE_HMAC_KEY_SECRET_ARN in Lambda); set it to a random secret of at least {MIN_KEY_CHARS} characters"));
                None
            }
            (Some(k), None) => match key_problem(k) {
                Some(msg) => {
                    r.fail("CODE_HMAC_KEY", msg);
                    None
                }
                None => Some(CodeKey::Inline(CodeHasher::new(k.as_bytes()))),
            },
            (None, Some(arn)) if valid_secret_arn(&arn) => Some(CodeKey::Secret(arn)),
            (None, Some(arn)) => {
                r.fail("CODE_HMAC_KEY_SECRET_ARN", format!("{arn:?} is not accepted; use the secret's ARN, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX"));
                None
            }
        };
        let reference = match ((r.lookup)("REFERENCE_KEY"), &code_key) {
            (Some(k), _) => match key_problem(&k) {
                Some(msg) => {
                    r.fail("REFERENCE_KEY", msg);
                    None
                }
                None => Some(CodeHasher::new(k.as_bytes())),
            },
            // Locally one key is enough: the reference key is derived from it, under its own label.
            (None, Some(CodeKey::Inline(h))) => Some(CodeHasher::new(
                &h.keyed_reference("reference-key", "cognito-email-otp"),
            )),
            (None, Some(CodeKey::Secret(_))) => {
                r.fail("REFERENCE_KEY", format!("is required with CODE_HMAC_KEY_SECRET_ARN; set it to a random value of at least {MIN_KEY_CHARS} characters (the template uses the stack's UUID)"));
                None
            }
            (None, None) => None,
        };

        let flow = match r.get("AUTH_FLOW") {
            None => AuthFlow::default(),
            Some(v) => AuthFlow::parse(&v).unwrap_or_else(|| {
                r.fail(
                    "AUTH_FLOW",
                    format!("{v:?} is not accepted; use mfa, passwordless or both (default mfa)"),
                );
                AuthFlow::default()
            }),
        };

        let code_length =
            CodeLength::parse(r.int("CODE_LENGTH", 6u8, CodeLength::MIN, CodeLength::MAX))
                .unwrap_or_default();
        let limits = Limits {
            code_length,
            ttl: r.int("CODE_TTL_SECONDS", 300, 30, 3600),
            max_attempts: r.int("MAX_ATTEMPTS", 3, 1, 10),
            cooldown: r.int("RESEND_COOLDOWN_SECONDS", 30, MIN_COOLDOWN_SECONDS, 600),
            send_limit: r.int("SEND_LIMIT", 5, 1, 100),
            send_window: r.int("SEND_WINDOW_SECONDS", 3600, 60, 86_400),
        };

        let challenge_attribute = match r.get("CHALLENGE_ATTRIBUTE") {
            None => "custom:authChallenge".to_owned(),
            Some(v) if valid_custom_attribute(&v) => v,
            Some(v) => {
                r.fail("CHALLENGE_ATTRIBUTE", format!("{v:?} is not accepted; use custom: followed by 1 to 20 letters, digits, _ or - (default custom:authChallenge)"));
                String::new()
            }
        };

        let table = r.get("CHALLENGE_TABLE");
        let store = match (
            r.get("CHALLENGE_STORE")
                .map(|v| v.to_ascii_lowercase())
                .as_deref(),
            table,
        ) {
            (None | Some("attribute"), None) => StoreChoice::Attribute,
            (None | Some("attribute"), Some(_)) => {
                r.fail("CHALLENGE_TABLE", "is set, but CHALLENGE_STORE is attribute; set CHALLENGE_STORE=dynamodb to use the table, or unset CHALLENGE_TABLE".into());
                StoreChoice::Attribute
            }
            (Some("dynamodb"), Some(t)) if valid_table(&t) => StoreChoice::DynamoDb { table: t },
            (Some("dynamodb"), Some(t)) => {
                r.fail("CHALLENGE_TABLE", format!("{t:?} is not accepted; use a table name (3 to 255 letters, digits, _ - .) or a table ARN"));
                StoreChoice::Attribute
            }
            (Some("dynamodb"), None) => {
                r.fail("CHALLENGE_TABLE", "is required with CHALLENGE_STORE=dynamodb; set it to the table's name (partition key `pk`, a String)".into());
                StoreChoice::Attribute
            }
            (Some(other), _) => {
                r.fail(
                    "CHALLENGE_STORE",
                    format!(
                        "{other:?} is not accepted; use attribute or dynamodb (default attribute)"
                    ),
                );
                StoreChoice::Attribute
            }
        };

        let email_subject = r.get("EMAIL_SUBJECT");
        if email_subject
            .as_deref()
            .is_some_and(|s| s.chars().any(char::is_control) || s.len() > 200)
        {
            r.fail(
                "EMAIL_SUBJECT",
                "must be one line of at most 200 characters".into(),
            );
        }
        let app_name = r.get("APP_NAME").and_then(|v| {
            AppName::parse(&v).or_else(|| {
                r.fail(
                    "APP_NAME",
                    format!(
                        "must be one line of at most {} characters",
                        AppName::MAX_CHARS
                    ),
                );
                None
            })
        });
        let code_in_subject = r.bool("EMAIL_CODE_IN_SUBJECT", false);
        let template_locales = r.get("SES_TEMPLATE_LOCALES").map(|v| {
            let parsed: Vec<Option<Locale>> = v.split(',').map(Locale::parse).collect();
            if parsed.is_empty() || parsed.iter().any(Option::is_none) {
                r.fail("SES_TEMPLATE_LOCALES", format!("{v:?} is not accepted; use a comma-separated list of language tags, e.g. en,de,pt-BR"));
            }
            parsed.into_iter().flatten().collect::<Vec<_>>()
        });
        let ses_template = match (r.get("SES_TEMPLATE"), template_locales) {
            (None, None) => None,
            (None, Some(_)) => {
                r.fail(
                    "SES_TEMPLATE_LOCALES",
                    "is set without SES_TEMPLATE; set SES_TEMPLATE=name-{locale} too, or unset it"
                        .into(),
                );
                None
            }
            (Some(pattern), locales) => {
                let locales = locales.unwrap_or_else(|| bundled_locales().to_vec());
                if locales
                    .iter()
                    .any(|l| !valid_template_name(&pattern.replace("{locale}", l.as_str())))
                {
                    r.fail("SES_TEMPLATE", format!("{pattern:?} is not accepted; use an SES template name (1 to 64 letters, digits, _ or -), optionally with {{locale}} in it, e.g. otp-{{locale}}"));
                }
                Some(SesTemplate { pattern, locales })
            }
        };
        // The default must be on offer: with templates, a default outside SES_TEMPLATE_LOCALES
        // would name a template that does not exist, for every user it applies to.
        let offered = ses_template
            .as_ref()
            .map_or_else(|| bundled_locales().to_vec(), |t| t.locales.clone());
        let en = Locale::parse("en").expect("en is a tag");
        let default_locale = match r.get("EMAIL_DEFAULT_LOCALE") {
            None if offered.contains(&en) => en,
            None => {
                r.fail("EMAIL_DEFAULT_LOCALE", "is required when SES_TEMPLATE_LOCALES does not list en; set it to one of the listed locales".into());
                en
            }
            Some(v) => match Locale::parse(&v).filter(|l| offered.contains(l)) {
                Some(l) => l,
                None => {
                    let list: Vec<&str> = offered.iter().map(Locale::as_str).collect();
                    r.fail("EMAIL_DEFAULT_LOCALE", format!("{v:?} is not accepted; use one of the locales on offer: {} (default en)", list.join(", ")));
                    en
                }
            },
        };
        let sign_in_link = r.get("SIGN_IN_LINK_URL").and_then(|v| {
            if flow == AuthFlow::Mfa {
                r.fail("SIGN_IN_LINK_URL", "is set, but AUTH_FLOW is mfa: a link signs in without the password, so it is only sent for passwordless sign-ins (AUTH_FLOW passwordless or both); unset it".into());
                return None;
            }
            LinkBase::parse(&v).or_else(|| {
                r.fail("SIGN_IN_LINK_URL", format!("{v:?} is not accepted; use the https:// address of your sign-in page (http:// only on localhost or 127.0.0.1), without a # fragment"));
                None
            })
        });
        let ses_configuration_set = r.get("SES_CONFIGURATION_SET");
        let signup_auto_confirm = r.bool("SIGNUP_AUTO_CONFIRM", true);
        let signup_allowed_domains = r.get("SIGNUP_ALLOWED_DOMAINS").map(|v| {
            let domains: Vec<String> = v
                .split(',')
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
            if domains.is_empty() || domains.iter().any(|d| !d.contains('.') || d.contains(char::is_whitespace)) {
                r.fail("SIGNUP_ALLOWED_DOMAINS", format!("{v:?} is not accepted; use a comma-separated list of domains, e.g. example.org,example.com"));
            }
            domains
        });

        let metrics_namespace = match r.get("METRICS_NAMESPACE") {
            None => DEFAULT_METRICS_NAMESPACE.to_owned(),
            Some(v) if valid_namespace(&v) => v,
            Some(v) => {
                r.fail("METRICS_NAMESPACE", format!("{v:?} is not accepted; use 1 to 255 letters, digits or . - _ / # : and not the AWS/ prefix (default {DEFAULT_METRICS_NAMESPACE})"));
                DEFAULT_METRICS_NAMESPACE.to_owned()
            }
        };
        let metrics_pool_dimension = r.bool("METRICS_POOL_ID_DIMENSION", false);

        match (email_from, code_key, reference, r.problems.is_empty()) {
            (Some(email_from), Some(code_key), Some(reference), true) => Ok(Self {
                email_from,
                code_key,
                reference,
                flow,
                limits,
                challenge_attribute,
                store,
                email_subject,
                app_name,
                default_locale,
                code_in_subject,
                ses_template,
                sign_in_link,
                ses_configuration_set,
                signup_auto_confirm,
                signup_allowed_domains,
                metrics_namespace,
                metrics_pool_dimension,
            }),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

/// CloudWatch's rule for namespaces; `AWS/` is reserved for AWS services.
fn valid_namespace(v: &str) -> bool {
    (1..=255).contains(&v.len())
        && !v.starts_with("AWS/")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" .-_/#:".contains(&b))
}

/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME` (the full ARN, with its suffix).
fn valid_secret_arn(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "secretsmanager"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "secret"
        && !parts[6].is_empty()
        && !v.contains(char::is_whitespace)
}

/// A DynamoDB table name, or a table's ARN (which the API accepts in its place).
fn valid_table(v: &str) -> bool {
    let name_ok = |n: &str| {
        (3..=255).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    };
    match v.strip_prefix("arn:") {
        None => name_ok(v),
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            parts.len() == 5
                && parts[0].starts_with("aws")
                && parts[1] == "dynamodb"
                && !parts[2].is_empty()
                && parts[3].len() == 12
                && parts[3].bytes().all(|b| b.is_ascii_digit())
                && parts[4].strip_prefix("table/").is_some_and(name_ok)
        }
    }
}

fn valid_custom_attribute(v: &str) -> bool {
    v.strip_prefix("custom:").is_some_and(|name| {
        (1..=20).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "k3y-for-tests-only-0123456789abcdef";

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("EMAIL_FROM", "Acme <no-reply@acme.example>"),
            ("CODE_HMAC_KEY", KEY),
        ]
    }

    #[test]
    fn defaults_match_the_readme_table() {
        let c = load(&base()).unwrap();
        assert_eq!(c.flow, AuthFlow::Mfa);
        assert_eq!(c.limits.code_length.get(), 6);
        assert_eq!(c.limits.ttl, 300);
        assert_eq!(c.limits.max_attempts, 3);
        assert_eq!(c.limits.cooldown, 30);
        assert_eq!(c.limits.send_limit, 5);
        assert_eq!(c.limits.send_window, 3600);
        assert_eq!(c.challenge_attribute, "custom:authChallenge");
        assert_eq!(c.store, StoreChoice::Attribute);
        assert!(c.signup_auto_confirm);
        assert!(c.signup_allowed_domains.is_none());
        assert_eq!(c.metrics_namespace, "CognitoEmailOtp");
        assert!(!c.metrics_pool_dimension);
        assert!(
            c.email_subject.is_none()
                && c.ses_template.is_none()
                && c.ses_configuration_set.is_none()
        );
        assert_eq!(c.default_locale.as_str(), "en");
        assert!(c.app_name.is_none() && !c.code_in_subject && c.sign_in_link.is_none());
    }

    #[test]
    fn email_settings_are_checked_and_typed() {
        let with = |pairs: &[(&str, &str)]| {
            let mut v = base();
            v.push(("AUTH_FLOW", "both"));
            v.extend_from_slice(pairs);
            load(&v)
        };
        let c = with(&[
            ("APP_NAME", " Acme <Beta> "),
            ("EMAIL_DEFAULT_LOCALE", "pt_br"),
            ("EMAIL_CODE_IN_SUBJECT", "true"),
            ("SIGN_IN_LINK_URL", "https://app.example/sign-in"),
        ])
        .unwrap();
        assert_eq!(c.app_name.unwrap().as_str(), "Acme <Beta>");
        assert_eq!(c.default_locale.as_str(), "pt-BR");
        assert!(c.code_in_subject);
        assert_eq!(
            c.sign_in_link.unwrap().as_str(),
            "https://app.example/sign-in"
        );
        // Templates per locale: the user's locale resolved against the listed ones.
        let c = with(&[
            ("SES_TEMPLATE", "otp-{locale}"),
            ("SES_TEMPLATE_LOCALES", "en, it ,pt-BR"),
            ("EMAIL_DEFAULT_LOCALE", "it"),
        ])
        .unwrap();
        let t = c.ses_template.unwrap();
        let pick = |l: Option<&str>| t.for_user(l, &c.default_locale).0;
        assert_eq!(pick(Some("pt-PT")), "otp-pt-BR");
        assert_eq!(pick(Some("en-GB")), "otp-en");
        assert_eq!(pick(Some("de")), "otp-it");
        assert_eq!(pick(None), "otp-it");
        // Without a list, the bundled locales.
        let c = with(&[("SES_TEMPLATE", "otp_{locale}")]).unwrap();
        let t = c.ses_template.unwrap();
        assert_eq!(t.for_user(Some("ja-JP"), &c.default_locale).0, "otp_ja");
        for (var, value) in [
            ("APP_NAME", "Acme\nBcc: x@example.org"),
            ("APP_NAME", &"x".repeat(65)[..]),
            ("EMAIL_DEFAULT_LOCALE", "it"),
            ("EMAIL_DEFAULT_LOCALE", "english"),
            ("EMAIL_CODE_IN_SUBJECT", "maybe"),
            ("SIGN_IN_LINK_URL", "http://app.example/sign-in"),
            ("SIGN_IN_LINK_URL", "https://app.example/#x"),
            ("SES_TEMPLATE", "otp {locale}"),
            ("SES_TEMPLATE_LOCALES", "en,de"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert!(
                e.problems.iter().any(|(v, _)| *v == var),
                "{var}={value:?}: {e}"
            );
        }
        let e = with(&[
            ("SES_TEMPLATE", "otp-{locale}"),
            ("SES_TEMPLATE_LOCALES", "de,fr"),
        ])
        .unwrap_err();
        assert_eq!(
            e.problems[0].0, "EMAIL_DEFAULT_LOCALE",
            "no otp-en to fall back to"
        );
        let e = with(&[
            ("SES_TEMPLATE", "otp-{locale}"),
            ("SES_TEMPLATE_LOCALES", "en,,de"),
        ])
        .unwrap_err();
        assert_eq!(e.problems[0].0, "SES_TEMPLATE_LOCALES");
        // A link signs in without the password: never with AUTH_FLOW=mfa.
        let mut v = base();
        v.push(("SIGN_IN_LINK_URL", "https://app.example/sign-in"));
        let e = load(&v).unwrap_err();
        assert!(e.to_string().contains("AUTH_FLOW is mfa"), "{e}");
    }

    #[test]
    fn the_table_is_a_name_or_an_arn_and_only_with_the_dynamodb_store() {
        let with = |store: &str, table: &str| {
            let mut v = base();
            v.extend([("CHALLENGE_STORE", store), ("CHALLENGE_TABLE", table)]);
            load(&v)
        };
        for ok in [
            "otp",
            "Otp_Challenges-1.prod",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/otp-challenges",
        ] {
            let c = with("dynamodb", ok).unwrap();
            assert_eq!(c.store, StoreChoice::DynamoDb { table: ok.into() });
            assert_eq!(c.store.as_str(), "dynamodb");
        }
        for bad in [
            "ab",
            "has space",
            "name/with/slash",
            "arn:aws:dynamodb:eu-west-1:123:table/otp",
            "arn:aws:s3:eu-west-1:123456789012:table/otp",
            "arn:aws:dynamodb:eu-west-1:123456789012:otp",
        ] {
            let err = with("dynamodb", bad).unwrap_err();
            assert_eq!(err.problems.len(), 1, "{bad}: {err}");
            assert_eq!(err.problems[0].0, "CHALLENGE_TABLE", "{bad}");
            assert!(err.to_string().contains("table name"), "{err}");
        }
        let mut v = base();
        v.push(("CHALLENGE_STORE", "dynamodb"));
        let err = load(&v).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].0, "CHALLENGE_TABLE");
        assert!(
            err.to_string()
                .contains("required with CHALLENGE_STORE=dynamodb")
        );
        let long = "t".repeat(256);
        assert!(with("dynamodb", &long).is_err());
        assert!(with("dynamodb", &"t".repeat(255)).is_ok());
    }

    #[test]
    fn every_variable_is_read() {
        let mut v = base();
        v.extend([
            ("AUTH_FLOW", "both"),
            ("CODE_LENGTH", "8"),
            ("CODE_TTL_SECONDS", "600"),
            ("MAX_ATTEMPTS", "5"),
            ("RESEND_COOLDOWN_SECONDS", "10"),
            ("SEND_LIMIT", "100"),
            ("SEND_WINDOW_SECONDS", "86400"),
            ("CHALLENGE_ATTRIBUTE", "custom:otp_state"),
            ("CHALLENGE_STORE", "DynamoDB"),
            ("CHALLENGE_TABLE", "otp-challenges"),
            ("EMAIL_SUBJECT", "Your code"),
            ("SES_TEMPLATE", "otp"),
            ("SES_CONFIGURATION_SET", "tracking"),
            ("SIGNUP_AUTO_CONFIRM", "false"),
            ("SIGNUP_ALLOWED_DOMAINS", " Example.org, @example.com "),
            ("METRICS_NAMESPACE", "Acme/SignIn"),
            ("METRICS_POOL_ID_DIMENSION", "true"),
        ]);
        let c = load(&v).unwrap();
        assert_eq!(c.flow, AuthFlow::Both);
        assert_eq!(c.limits.code_length.get(), 8);
        assert_eq!(
            (c.limits.ttl, c.limits.max_attempts, c.limits.cooldown),
            (600, 5, 10)
        );
        assert_eq!((c.limits.send_limit, c.limits.send_window), (100, 86_400));
        assert_eq!(c.challenge_attribute, "custom:otp_state");
        assert_eq!(
            c.store,
            StoreChoice::DynamoDb {
                table: "otp-challenges".into()
            }
        );
        assert_eq!(c.email_subject.as_deref(), Some("Your code"));
        assert_eq!(
            c.ses_template.as_ref().map(|t| t.pattern.as_str()),
            Some("otp")
        );
        assert_eq!(c.ses_configuration_set.as_deref(), Some("tracking"));
        assert!(!c.signup_auto_confirm);
        assert_eq!(
            c.signup_allowed_domains.unwrap(),
            vec!["example.org", "example.com"]
        );
        assert_eq!(c.metrics_namespace, "Acme/SignIn");
        assert!(c.metrics_pool_dimension);
    }

    #[test]
    fn each_bad_value_is_named_with_what_is_accepted() {
        let cases: &[(&str, &str, &str)] = &[
            ("AUTH_FLOW", "sms", "mfa, passwordless or both"),
            ("CODE_LENGTH", "5", "from 6 to 10"),
            ("CODE_LENGTH", "11", "from 6 to 10"),
            ("CODE_LENGTH", "six", "from 6 to 10"),
            ("CODE_TTL_SECONDS", "29", "from 30 to 3600"),
            ("CODE_TTL_SECONDS", "3601", "from 30 to 3600"),
            ("MAX_ATTEMPTS", "0", "from 1 to 10"),
            ("MAX_ATTEMPTS", "11", "from 1 to 10"),
            ("RESEND_COOLDOWN_SECONDS", "601", "from 10 to 600"),
            ("RESEND_COOLDOWN_SECONDS", "0", "from 10 to 600"),
            ("RESEND_COOLDOWN_SECONDS", "9", "from 10 to 600"),
            ("RESEND_COOLDOWN_SECONDS", "-1", "from 10 to 600"),
            ("REFERENCE_KEY", "short", "at least 32"),
            ("SEND_LIMIT", "0", "from 1 to 100"),
            ("SEND_WINDOW_SECONDS", "59", "from 60 to 86400"),
            ("CHALLENGE_ATTRIBUTE", "authChallenge", "custom:"),
            ("CHALLENGE_ATTRIBUTE", "custom:", "custom:"),
            (
                "CHALLENGE_ATTRIBUTE",
                "custom:this_name_is_far_too_long",
                "custom:",
            ),
            ("CHALLENGE_STORE", "redis", "attribute or dynamodb"),
            ("CHALLENGE_TABLE", "otp", "set CHALLENGE_STORE=dynamodb"),
            ("SIGNUP_AUTO_CONFIRM", "maybe", "true or false"),
            ("SIGNUP_ALLOWED_DOMAINS", ",", "comma-separated"),
            ("SIGNUP_ALLOWED_DOMAINS", "localhost", "comma-separated"),
            ("METRICS_NAMESPACE", "AWS/Cognito", "not the AWS/ prefix"),
            ("METRICS_NAMESPACE", "sign in $", "letters, digits"),
            ("METRICS_POOL_ID_DIMENSION", "pool", "true or false"),
            ("EMAIL_FROM", "not-an-address", "email address"),
            ("EMAIL_SUBJECT", "two\nlines", "one line"),
        ];
        for (var, value, expect) in cases {
            let mut v: Vec<(&str, &str)> = base().into_iter().filter(|(k, _)| k != var).collect();
            v.push((var, value));
            let err = load(&v).unwrap_err();
            assert_eq!(err.problems.len(), 1, "{var}={value}: {err}");
            assert_eq!(err.problems[0].0, *var);
            let text = err.to_string();
            assert!(
                text.contains(var) && text.contains(expect),
                "{var}={value}: {text}"
            );
        }
    }

    #[test]
    fn required_variables_and_the_key_length() {
        let err = load(&[]).unwrap_err();
        let vars: Vec<_> = err.problems.iter().map(|(v, _)| *v).collect();
        assert_eq!(vars, vec!["EMAIL_FROM", "CODE_HMAC_KEY"]);
        assert!(err.to_string().contains("CODE_HMAC_KEY_SECRET_ARN"));
        let short = "x".repeat(31);
        let err = load(&[("EMAIL_FROM", "a@b.org"), ("CODE_HMAC_KEY", &short)]).unwrap_err();
        assert!(err.to_string().contains("at least 32"));
        // The key itself never appears in an error.
        assert!(!err.to_string().contains(&short));
        assert!(
            load(&[
                ("EMAIL_FROM", "a@b.org"),
                ("CODE_HMAC_KEY", &"x".repeat(32))
            ])
            .is_ok()
        );
    }

    #[test]
    fn the_key_comes_from_the_environment_or_from_a_secret_never_both() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:otp-key-AbCdEf";
        let reference = "r".repeat(36);
        let c = load(&[
            ("EMAIL_FROM", "a@b.org"),
            ("CODE_HMAC_KEY_SECRET_ARN", arn),
            ("REFERENCE_KEY", &reference),
        ])
        .unwrap();
        assert!(matches!(&c.code_key, CodeKey::Secret(a) if a == arn));
        // With the secret, the reference key must be given: nothing may wait for AWS to get it.
        let err =
            load(&[("EMAIL_FROM", "a@b.org"), ("CODE_HMAC_KEY_SECRET_ARN", arn)]).unwrap_err();
        assert_eq!(err.problems[0].0, "REFERENCE_KEY");
        let err = load(&[
            ("EMAIL_FROM", "a@b.org"),
            ("CODE_HMAC_KEY", KEY),
            ("CODE_HMAC_KEY_SECRET_ARN", arn),
        ])
        .unwrap_err();
        assert_eq!(err.problems[0].0, "CODE_HMAC_KEY_SECRET_ARN");
        assert!(!err.to_string().contains(KEY));
        for bad in [
            "my-secret",
            "arn:aws:secretsmanager:eu-west-1:1234:secret:x",
            "arn:aws:s3:::bucket",
        ] {
            let err = load(&[
                ("EMAIL_FROM", "a@b.org"),
                ("CODE_HMAC_KEY_SECRET_ARN", bad),
                ("REFERENCE_KEY", &reference),
            ])
            .unwrap_err();
            assert!(err.to_string().contains("the secret's ARN"), "{bad}: {err}");
        }
        // Locally the reference key is derived from the code key, and differs from it.
        let c = load(&base()).unwrap();
        let CodeKey::Inline(code) = &c.code_key else {
            panic!("inline")
        };
        assert_ne!(
            code.keyed_reference("log-user", "x"),
            c.reference.keyed_reference("log-user", "x")
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = load(&[("CODE_LENGTH", "4"), ("AUTH_FLOW", "x")]).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
    }

    #[test]
    fn debug_output_hides_the_key() {
        let c = load(&base()).unwrap();
        assert!(!format!("{c:?}").contains(KEY));
    }
}
