//! The checks of `otp-admin check`: every setting of a pool, its app clients, the function and
//! the sender's SES identity that voids a guarantee of this product, as findings.
//!
//! [`check`] is pure: it reads [`Facts`] and returns findings, so the Lambda can run it on a
//! schedule with facts gathered by [`crate::adapters::admin`]. What the function expects of the
//! pool (the attribute, the code lifetime, the flow) comes from its own environment, parsed by
//! [`crate::config::Config`] exactly as the function parses it at start-up; without a function,
//! the documented defaults are assumed and the messages say so.
//!
//! Each id, its severity and its fix are listed in `docs/admin.md`; [`ALL`] is the same list.

use serde::Serialize;

use super::arn::Relation;
use super::facts::{ClientFacts, Facts, FunctionFacts, PoolFacts, invoke_grants};
use crate::config::{Config, StoreChoice};
use crate::domain::code::{DIGEST_LEN, NONCE_LEN};
use crate::domain::flow::AuthFlow;
use crate::domain::state::{ActiveCode, ChallengeState, MAX_SENDS, WRITE_TAG_LEN};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A guarantee of the product is void (a bypass, leaked or writable state, or sign-ins that
    /// cannot work).
    Critical,
    /// Something users or operators will trip over, or a guarantee weakened.
    Warning,
    /// Worth knowing; nothing is void.
    Info,
}

impl Severity {
    /// `critical`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One finding: what is wrong, for which client, what it voids, and the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable id, one of [`ALL`].
    pub id: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The app client it concerns; `None` for the pool, the function or SES.
    pub client_id: Option<String>,
    /// One sentence: what is set, and what it voids.
    pub message: String,
    /// The fix, as a command.
    pub fix: String,
}

/// Every finding id with its severity (the pool's recovery finding is critical only under
/// `AUTH_FLOW=mfa`, a warning when the flow is unknown).
pub const ALL: &[(&str, Severity)] = &[
    (POOL_MFA, Severity::Critical),
    (POOL_EMAIL_CHANGE, Severity::Critical),
    (POOL_RECOVERY_BY_EMAIL, Severity::Critical),
    (POOL_NO_CLIENTS, Severity::Info),
    (TRIGGERS_MISSING, Severity::Critical),
    (TRIGGERS_OTHER_FUNCTION, Severity::Critical),
    (TRIGGERS_OTHER_VERSION, Severity::Critical),
    (TRIGGERS_INCONSISTENT, Severity::Critical),
    (ATTRIBUTE_MISSING, Severity::Critical),
    (ATTRIBUTE_UNUSABLE, Severity::Critical),
    (ATTRIBUTE_TOO_SHORT, Severity::Critical),
    (CLIENT_PASSWORD_AUTH, Severity::Critical),
    (CLIENT_USER_AUTH_PASSWORD, Severity::Critical),
    (CLIENT_USER_AUTH, Severity::Warning),
    (CLIENT_HOSTED_UI, Severity::Critical),
    (CLIENT_OAUTH_NO_DOMAIN, Severity::Info),
    (CLIENT_READS_STATE, Severity::Critical),
    (CLIENT_WRITES_STATE, Severity::Critical),
    (CLIENT_USER_EXISTENCE, Severity::Critical),
    (CLIENT_SESSION_SHORT, Severity::Warning),
    (CLIENT_NO_CUSTOM_AUTH, Severity::Info),
    (FUNCTION_CONFIG_INVALID, Severity::Critical),
    (FUNCTION_KEY_IN_ENV, Severity::Warning),
    (PERMISSION_MISSING, Severity::Critical),
    (PERMISSION_UNSCOPED, Severity::Warning),
    (SES_IDENTITY_MISSING, Severity::Critical),
    (SES_IDENTITY_UNVERIFIED, Severity::Critical),
    (SES_SANDBOX, Severity::Warning),
];

/// Pool-level MFA is `ON` or `OPTIONAL`.
pub const POOL_MFA: &str = "pool-mfa-enabled";
/// A changed `email` takes effect before it is verified.
pub const POOL_EMAIL_CHANGE: &str = "pool-email-change-unverified";
/// Passwords can be reset through the mailbox that also receives the codes.
pub const POOL_RECOVERY_BY_EMAIL: &str = "pool-recovery-by-email";
/// The pool (or the selection) has no app client.
pub const POOL_NO_CLIENTS: &str = "pool-no-clients";
/// A challenge slot (Define, Create, Verify) is empty.
pub const TRIGGERS_MISSING: &str = "triggers-missing";
/// A challenge slot holds another function.
pub const TRIGGERS_OTHER_FUNCTION: &str = "triggers-other-function";
/// A challenge slot holds another version or alias of the function.
pub const TRIGGERS_OTHER_VERSION: &str = "triggers-other-version";
/// Without `--function-arn`: the challenge slots hold different functions.
pub const TRIGGERS_INCONSISTENT: &str = "triggers-inconsistent";
/// The challenge attribute is not in the pool's schema.
pub const ATTRIBUTE_MISSING: &str = "attribute-missing";
/// The challenge attribute is not a mutable String.
pub const ATTRIBUTE_UNUSABLE: &str = "attribute-unusable";
/// The challenge attribute's maximum length is below the longest state.
pub const ATTRIBUTE_TOO_SHORT: &str = "attribute-too-short";
/// The client allows a password-only flow.
pub const CLIENT_PASSWORD_AUTH: &str = "client-password-auth";
/// The client allows `ALLOW_USER_AUTH` and the pool offers a password as first factor.
pub const CLIENT_USER_AUTH_PASSWORD: &str = "client-user-auth-password";
/// The client allows `ALLOW_USER_AUTH` with other first factors only.
pub const CLIENT_USER_AUTH: &str = "client-user-auth";
/// The client has OAuth flows on a pool with managed login (a domain).
pub const CLIENT_HOSTED_UI: &str = "client-hosted-ui";
/// The client has OAuth flows, and the pool no domain yet.
pub const CLIENT_OAUTH_NO_DOMAIN: &str = "client-oauth-no-domain";
/// The client can read the challenge attribute (it lands in ID tokens).
pub const CLIENT_READS_STATE: &str = "client-reads-state";
/// The client can write the challenge attribute.
pub const CLIENT_WRITES_STATE: &str = "client-writes-state";
/// `PreventUserExistenceErrors` is not `ENABLED`.
pub const CLIENT_USER_EXISTENCE: &str = "client-user-existence-errors";
/// `AuthSessionValidity` is shorter than `CODE_TTL_SECONDS`.
pub const CLIENT_SESSION_SHORT: &str = "client-session-too-short";
/// The client cannot use custom auth at all.
pub const CLIENT_NO_CUSTOM_AUTH: &str = "client-no-custom-auth";
/// The function's environment does not pass its own start-up validation.
pub const FUNCTION_CONFIG_INVALID: &str = "function-config-invalid";
/// The code key itself is in the function's environment.
pub const FUNCTION_KEY_IN_ENV: &str = "function-key-in-environment";
/// Cognito has no permission to invoke the function for this pool.
pub const PERMISSION_MISSING: &str = "invoke-permission-missing";
/// Cognito may invoke the function for any pool, in any account.
pub const PERMISSION_UNSCOPED: &str = "invoke-permission-unscoped";
/// No SES identity covers the sender.
pub const SES_IDENTITY_MISSING: &str = "ses-identity-missing";
/// The sender's SES identity is not verified.
pub const SES_IDENTITY_UNVERIFIED: &str = "ses-identity-unverified";
/// The account is in the SES sandbox.
pub const SES_SANDBOX: &str = "ses-sandbox";

/// The three challenge slots, in the order Cognito calls them.
pub const CHALLENGE_SLOTS: [&str; 3] = [
    "DefineAuthChallenge",
    "CreateAuthChallenge",
    "VerifyAuthChallengeResponse",
];

/// Flows with which a password alone signs in, by their `ExplicitAuthFlows` names (the legacy
/// names without `ALLOW_` included).
const PASSWORD_FLOWS: [&str; 5] = [
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "USER_PASSWORD_AUTH",
    "ADMIN_NO_SRP_AUTH",
];

/// The longest value the function can store in the challenge attribute with `send_limit`: an
/// active code, its destination and write tags, and `send_limit` send times, encoded by the
/// domain's own encoder.
pub fn longest_state(send_limit: u16) -> usize {
    ChallengeState {
        active: Some(ActiveCode {
            nonce: [0; NONCE_LEN],
            digest: [0; DIGEST_LEN],
            issued_at: u32::MAX,
            expires_at: u32::MAX,
            attempts: u8::MAX,
            destination: Some(Default::default()),
        }),
        sends: vec![u32::MAX; usize::from(send_limit).min(MAX_SENDS)],
        write_tag: Some([0; WRITE_TAG_LEN]),
    }
    .encode()
    .len()
}

/// What the function expects of the pool: from its environment when known, else the defaults.
#[derive(Debug, Clone)]
struct Expect {
    /// The challenge attribute; `None` with the DynamoDB store (no attribute is used).
    attribute: Option<String>,
    ttl: u32,
    send_limit: u16,
    /// `None` when the function is unknown or its configuration does not load.
    flow: Option<AuthFlow>,
    /// Appended to messages that rest on assumed defaults.
    assumed: &'static str,
}

impl Expect {
    fn defaults(assumed: &'static str) -> Self {
        Self {
            attribute: Some("custom:authChallenge".into()),
            ttl: 300,
            send_limit: 5,
            flow: None,
            assumed,
        }
    }

    fn from_config(c: &Config) -> Self {
        Self {
            attribute: match c.store {
                StoreChoice::Attribute => Some(c.challenge_attribute.clone()),
                StoreChoice::DynamoDb { .. } => None,
            },
            ttl: c.limits.ttl,
            send_limit: c.limits.send_limit,
            flow: Some(c.flow),
            assumed: "",
        }
    }
}

/// The function's configuration as the function itself would load it.
pub fn function_config(function: &FunctionFacts) -> Result<Config, crate::config::ConfigError> {
    Config::from_lookup(|k| function.environment.get(k).cloned())
}

struct Ctx<'a> {
    pool: &'a PoolFacts,
    /// The function ARN for fix commands: the one given, else the one the slots agree on.
    function: String,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    fn add(
        &mut self,
        id: &'static str,
        severity: Severity,
        client: Option<&ClientFacts>,
        message: String,
        fix: String,
    ) {
        self.out.push(Finding {
            id,
            severity,
            client_id: client.map(|c| c.id.clone()),
            message,
            fix,
        });
    }

    fn attach(&self, extra: &str) -> String {
        format!(
            "otp-admin attach --user-pool-id {} --function-arn {}{extra} --apply",
            self.pool.id, self.function
        )
    }
}

/// Every finding for `facts`, critical first; within a severity, pool, clients, function, SES.
pub fn check(facts: &Facts) -> Vec<Finding> {
    let pool = &facts.pool;
    let slot_values: Vec<&String> = CHALLENGE_SLOTS
        .iter()
        .filter_map(|s| pool.triggers.get(*s))
        .collect();
    let function = match &facts.function {
        Some(f) => f.arn.to_string(),
        None => match slot_values.first() {
            Some(first) if slot_values.iter().all(|v| v == first) => (*first).clone(),
            _ => "FUNCTION_ARN".into(),
        },
    };
    let mut cx = Ctx {
        pool,
        function,
        out: Vec::new(),
    };

    let expect = match &facts.function {
        None => Expect::defaults(
            " (the default; pass --function-arn to check against the function's own settings)",
        ),
        Some(f) => match function_config(f) {
            Ok(c) => Expect::from_config(&c),
            Err(e) => {
                cx.add(
                    FUNCTION_CONFIG_INVALID,
                    Severity::Critical,
                    None,
                    format!("The function's environment does not load ({e}), so the function stops at start-up and every sign-in fails."),
                    format!("aws lambda get-function-configuration --function-name {} --query Environment.Variables, then correct the variables named (keep the others: update-function-configuration --environment replaces them all)", f.arn),
                );
                Expect::defaults(" (the default, since the function's environment does not load)")
            }
        },
    };

    check_pool(&mut cx, facts, &expect);
    if facts.clients.is_empty() {
        cx.add(
            POOL_NO_CLIENTS,
            Severity::Info,
            None,
            "The pool has no app client to check, so no client can sign in with email codes yet.".into(),
            format!("aws cognito-idp create-user-pool-client --user-pool-id {} --client-name app --explicit-auth-flows ALLOW_CUSTOM_AUTH ALLOW_REFRESH_TOKEN_AUTH --prevent-user-existence-errors ENABLED --read-attributes email email_verified --write-attributes email --auth-session-validity {}", pool.id, session_minutes_for(expect.ttl)),
        );
    }
    for client in &facts.clients {
        check_client(&mut cx, client, &expect);
    }
    if let Some(f) = &facts.function {
        check_function(&mut cx, f);
    }
    if let Some(ses) = &facts.ses {
        check_ses(&mut cx, ses);
    }
    let mut out = cx.out;
    out.sort_by_key(|f| f.severity);
    out
}

/// The `AuthSessionValidity` (minutes, 3 to 15) that covers a code's lifetime, if one does.
pub fn session_minutes_for(ttl: u32) -> u32 {
    ttl.div_ceil(60).clamp(3, 15)
}

fn check_pool(cx: &mut Ctx<'_>, facts: &Facts, expect: &Expect) {
    let pool = cx.pool;
    if pool.mfa != "OFF" {
        cx.add(
            POOL_MFA,
            Severity::Critical,
            None,
            format!("Pool-level MFA is {}: Cognito adds its own SMS, TOTP or email step after the password, which the function refuses, so password-first sign-ins of users with an MFA factor fail.", pool.mfa),
            cx.attach(" --turn-off-mfa"),
        );
    }
    if !pool.verify_before_update.iter().any(|a| a == "email") {
        cx.add(
            POOL_EMAIL_CHANGE,
            Severity::Critical,
            None,
            "A changed email takes effect before it is verified, so whoever holds a user's access token can send that user's sign-in codes to an address of their own.".into(),
            cx.attach(""),
        );
    }
    let email_recovery = match &pool.recovery {
        None => true,
        Some(names) => names.iter().any(|n| n == "verified_email"),
    };
    if email_recovery {
        let (severity, flow) = match expect.flow {
            Some(AuthFlow::Mfa) => (Some(Severity::Critical), "AUTH_FLOW is mfa"),
            None => (
                Some(Severity::Warning),
                "if AUTH_FLOW is mfa (the default; pass --function-arn to know)",
            ),
            Some(AuthFlow::Passwordless | AuthFlow::Both) => (None, ""),
        };
        if let Some(severity) = severity {
            cx.add(
                POOL_RECOVERY_BY_EMAIL,
                severity,
                None,
                format!("Passwords can be reset through the mailbox that also receives the sign-in codes, so {flow}, whoever holds the mailbox holds both factors."),
                cx.attach(" --admin-only-recovery"),
            );
        }
    }

    let missing: Vec<&str> = CHALLENGE_SLOTS
        .iter()
        .copied()
        .filter(|s| !pool.triggers.contains_key(*s))
        .collect();
    if !missing.is_empty() {
        cx.add(
            TRIGGERS_MISSING,
            Severity::Critical,
            None,
            format!("{} {} not wired, so custom sign-ins fail (or, with no Define, never ask for a code).", missing.join(", "), if missing.len() == 1 { "is" } else { "are" }),
            cx.attach(""),
        );
    }
    match &facts.function {
        Some(f) => {
            let mut other_fn = Vec::new();
            let mut other_ver = Vec::new();
            for slot in CHALLENGE_SLOTS {
                let Some(value) = pool.triggers.get(slot) else {
                    continue;
                };
                match f.arn.relation(value) {
                    Relation::Same => {}
                    Relation::OtherVersion => other_ver.push(format!("{slot} ({value})")),
                    Relation::OtherFunction => other_fn.push(format!("{slot} ({value})")),
                }
            }
            if !other_fn.is_empty() {
                cx.add(
                    TRIGGERS_OTHER_FUNCTION,
                    Severity::Critical,
                    None,
                    format!("{} {} another function, so sign-ins run code other than this one, with none of its guarantees.", other_fn.join(", "), if other_fn.len() == 1 { "holds" } else { "hold" }),
                    cx.attach(" --replace"),
                );
            }
            if !other_ver.is_empty() {
                cx.add(
                    TRIGGERS_OTHER_VERSION,
                    Severity::Critical,
                    None,
                    format!("{} {} another version or alias of {}, so the rounds of one sign-in may run different code and configuration.", other_ver.join(", "), if other_ver.len() == 1 { "holds" } else { "hold" }, f.arn),
                    cx.attach(" --replace"),
                );
            }
        }
        None => {
            let mut distinct: Vec<&String> = CHALLENGE_SLOTS
                .iter()
                .filter_map(|s| pool.triggers.get(*s))
                .collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() > 1 {
                cx.add(
                    TRIGGERS_INCONSISTENT,
                    Severity::Critical,
                    None,
                    format!("The challenge slots hold different functions ({}), so Define, Create and Verify do not share one configuration and state.", distinct.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
                    cx.attach(" --replace"),
                );
            }
        }
    }

    if let Some(name) = &expect.attribute {
        let needed = longest_state(expect.send_limit);
        match pool.attribute(name) {
            None => cx.add(
                ATTRIBUTE_MISSING,
                Severity::Critical,
                None,
                format!("The pool has no {name}{}, so the function cannot store a code and every Create fails.", expect.assumed),
                cx.attach(""),
            ),
            Some(a) if a.data_type.as_deref() != Some("String") || a.mutable == Some(false) => cx.add(
                ATTRIBUTE_UNUSABLE,
                Severity::Critical,
                None,
                format!("{name} is {} and {}, but the function writes it as a mutable String, so every Create fails.", a.data_type.as_deref().unwrap_or("of no type"), if a.mutable == Some(false) { "immutable" } else { "mutable" }),
                format!("custom attributes cannot be changed: set CHALLENGE_ATTRIBUTE=custom:otpState on the function, then {}", cx.attach("")),
            ),
            Some(a) if a.max_length.unwrap_or(2048) < needed as u32 => cx.add(
                ATTRIBUTE_TOO_SHORT,
                Severity::Critical,
                None,
                format!("{name} holds at most {} characters, but the state reaches {needed} at SEND_LIMIT {}{}, so Create fails once a user's sends fill it.", a.max_length.unwrap_or(2048), expect.send_limit, expect.assumed),
                format!("custom attributes cannot be changed: set CHALLENGE_ATTRIBUTE=custom:otpState (or a lower SEND_LIMIT) on the function, then {}", cx.attach("")),
            ),
            Some(_) => {}
        }
    }
}

fn check_client(cx: &mut Ctx<'_>, c: &ClientFacts, expect: &Expect) {
    let fix = cx.attach(&format!(" --client-id {}", c.id));
    let flows: Option<&[String]> = c.auth_flows.as_deref().filter(|f| !f.is_empty());
    let password: Vec<String> = match flows {
        None => vec!["ALLOW_USER_SRP_AUTH (Cognito's default with no ExplicitAuthFlows)".into()],
        Some(list) => {
            let mut p: Vec<String> = list
                .iter()
                .filter(|f| PASSWORD_FLOWS.contains(&f.as_str()))
                .cloned()
                .collect();
            // Legacy lists (without ALLOW_) always allow SRP, unless custom auth is all they allow.
            if list.iter().any(|f| !f.starts_with("ALLOW_"))
                && !list.iter().any(|f| f == "CUSTOM_AUTH_FLOW_ONLY")
            {
                p.push("USER_SRP_AUTH (implied by legacy ExplicitAuthFlows)".into());
            }
            p
        }
    };
    if !password.is_empty() {
        cx.add(
            CLIENT_PASSWORD_AUTH,
            Severity::Critical,
            Some(c),
            format!("The client allows {}, so a password alone signs in and the emailed code is never asked.", password.join(", ")),
            fix.clone(),
        );
    }
    if flows.is_some_and(|l| l.iter().any(|f| f == "ALLOW_USER_AUTH")) {
        let factors = cx
            .pool
            .first_factors
            .clone()
            .unwrap_or_else(|| vec!["PASSWORD".into()]);
        if factors.iter().any(|f| f == "PASSWORD") {
            cx.add(
                CLIENT_USER_AUTH_PASSWORD,
                Severity::Critical,
                Some(c),
                "The client allows ALLOW_USER_AUTH and the pool offers PASSWORD as a first factor, so a password alone signs in and the emailed code is never asked.".into(),
                fix.clone(),
            );
        } else {
            cx.add(
                CLIENT_USER_AUTH,
                Severity::Warning,
                Some(c),
                format!("The client allows ALLOW_USER_AUTH with {}, so sign-ins by Cognito's own choice-based flow skip this function: its limits, decoys and, under mfa, the password step.", factors.join(", ")),
                fix.clone(),
            );
        }
    }
    let has_custom = match flows {
        None => true,
        Some(l) => l
            .iter()
            .any(|f| f == "ALLOW_CUSTOM_AUTH" || f == "CUSTOM_AUTH_FLOW_ONLY"),
    };
    if !has_custom {
        cx.add(
            CLIENT_NO_CUSTOM_AUTH,
            Severity::Info,
            Some(c),
            "The client does not allow ALLOW_CUSTOM_AUTH, so it cannot sign in with email codes."
                .into(),
            fix.clone(),
        );
    }
    let interactive_oauth =
        c.oauth_enabled && c.oauth_flows.iter().any(|f| f == "code" || f == "implicit");
    if interactive_oauth {
        match &cx.pool.domain {
            Some(domain) => cx.add(
                CLIENT_HOSTED_UI,
                Severity::Critical,
                Some(c),
                format!("The client has OAuth flows ({}) and the pool has the domain {domain}, so managed login signs users in with their password (or a federated identity) and never runs custom auth.", c.oauth_flows.join(", ")),
                fix.clone(),
            ),
            None => cx.add(
                CLIENT_OAUTH_NO_DOMAIN,
                Severity::Info,
                Some(c),
                format!("The client has OAuth flows ({}); the pool has no domain yet, but adding one would let managed login sign in without custom auth.", c.oauth_flows.join(", ")),
                fix.clone(),
            ),
        }
    }
    if let Some(name) = &expect.attribute {
        if c.read_attributes.as_ref().is_some_and(|r| r.contains(name)) {
            cx.add(
                CLIENT_READS_STATE,
                Severity::Critical,
                Some(c),
                format!("The client can read {name}, so the code state lands in every ID token and GetUser answer."),
                fix.clone(),
            );
        }
        if c.write_attributes
            .as_ref()
            .is_some_and(|w| w.contains(name))
        {
            cx.add(
                CLIENT_WRITES_STATE,
                Severity::Critical,
                Some(c),
                format!("The client can write {name}, so a signed-in user can overwrite their own code state: attempts, the send cap and single use."),
                fix.clone(),
            );
        }
    }
    if c.prevent_user_existence_errors != "ENABLED" {
        cx.add(
            CLIENT_USER_EXISTENCE,
            Severity::Critical,
            Some(c),
            format!("PreventUserExistenceErrors is {}, so Cognito answers unknown names with UserNotFoundException before the function's decoy runs, and anyone can tell which addresses have accounts.", c.prevent_user_existence_errors),
            fix.clone(),
        );
    }
    if c.session_minutes * 60 < expect.ttl {
        cx.add(
            CLIENT_SESSION_SHORT,
            Severity::Warning,
            Some(c),
            format!("AuthSessionValidity is {} minutes but a code lives {} s{}, so a user who answers late finds the session gone while the code still works.", c.session_minutes, expect.ttl, expect.assumed),
            fix,
        );
    }
}

fn check_function(cx: &mut Ctx<'_>, f: &FunctionFacts) {
    let pool = cx.pool;
    if f.environment.contains_key("CODE_HMAC_KEY") {
        cx.add(
            FUNCTION_KEY_IN_ENV,
            Severity::Warning,
            None,
            "CODE_HMAC_KEY is in the function's environment, so whoever can read the function's configuration can forge codes' hashes; it belongs in Secrets Manager.".into(),
            format!("aws secretsmanager create-secret --name {}-code-key --secret-string \"$CODE_HMAC_KEY\", then set CODE_HMAC_KEY_SECRET_ARN to its ARN and REFERENCE_KEY to a new random value of 32 characters or more, and remove CODE_HMAC_KEY", f.arn.name()),
        );
    }
    let grants = f
        .policy
        .as_deref()
        .map(|p| invoke_grants(p, pool.arn.as_deref()))
        .unwrap_or_default();
    let account = pool
        .arn
        .as_deref()
        .and_then(super::arn::pool_arn_account)
        .unwrap_or(f.arn.account());
    let source_arn = pool.arn.clone().unwrap_or_else(|| {
        format!(
            "arn:aws:cognito-idp:{}:{account}:userpool/{}",
            f.arn.region(),
            pool.id
        )
    });
    let add = format!(
        "aws lambda add-permission --function-name {} --statement-id {} --action lambda:InvokeFunction --principal cognito-idp.amazonaws.com --source-arn {source_arn} --source-account {account}",
        f.arn,
        super::wiring::statement_id(&pool.id)
    );
    if grants.is_empty() {
        cx.add(
            PERMISSION_MISSING,
            Severity::Critical,
            None,
            format!("Cognito has no permission to invoke {} for this pool, so every trigger call fails and nobody can sign in.", f.arn),
            add,
        );
    } else if let Some(broad) = grants.iter().find(|g| g.source_arns.is_empty()) {
        // Even beside a scoped statement, an unscoped one lets any pool use the function.
        let sid = broad.sid.clone().unwrap_or_else(|| "SID".into());
        cx.add(
            PERMISSION_UNSCOPED,
            Severity::Warning,
            None,
            format!("The permission {sid} lets Cognito invoke the function for any user pool, in any account, so another pool can run sign-ins through it."),
            format!("aws lambda remove-permission --function-name {} --statement-id {sid} && {add}", f.arn),
        );
    }
}

fn check_ses(cx: &mut Ctx<'_>, ses: &super::facts::SesFacts) {
    let domain = ses
        .sender
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    if ses.identities.is_empty() {
        cx.add(
            SES_IDENTITY_MISSING,
            Severity::Critical,
            None,
            format!("No SES identity covers {} (neither the address nor {domain}), so SES refuses every code email.", ses.sender),
            format!("aws sesv2 create-email-identity --email-identity {domain}, then publish the DKIM records it lists"),
        );
    } else if !ses.identities.iter().any(|(_, verified)| *verified) {
        let names: Vec<&str> = ses.identities.iter().map(|(n, _)| n.as_str()).collect();
        cx.add(
            SES_IDENTITY_UNVERIFIED,
            Severity::Critical,
            None,
            format!("The SES identity {} is not verified, so SES refuses every code email.", names.join(" and ")),
            format!("aws sesv2 get-email-identity --email-identity {} (publish the DKIM records it lists, or open the verification email)", names[0]),
        );
    }
    if !ses.production_access {
        cx.add(
            SES_SANDBOX,
            Severity::Warning,
            None,
            "The account is in the SES sandbox, so codes reach only verified addresses, at most 200 a day.".into(),
            "aws sesv2 put-account-details --production-access-enabled --mail-type TRANSACTIONAL --website-url https://YOUR-SITE --use-case-description \"One-time sign-in codes for our users\"".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_state_matches_the_documented_sizes() {
        // docs/security.md: about 130 characters at the defaults, at most 632 at SEND_LIMIT=100.
        assert!(
            (120..=140).contains(&longest_state(5)),
            "{}",
            longest_state(5)
        );
        assert!(
            (600..=632).contains(&longest_state(100)),
            "{}",
            longest_state(100)
        );
        assert!(longest_state(100) <= 2048);
    }

    #[test]
    fn every_id_is_listed_once() {
        let mut ids: Vec<&str> = ALL.iter().map(|(id, _)| *id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
    }

    use crate::admin::facts::{ClientFacts, PoolFacts};
    use crate::admin::{FunctionArn, FunctionFacts};
    use serde_json::{Value, json};

    const FN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:otp";
    const POOL_ARN: &str = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc";

    fn facts(client: Value, policy: Option<Value>) -> Facts {
        let pool = json!({
            "Id": "eu-west-1_abc", "Arn": POOL_ARN, "MfaConfiguration": "OFF",
            "LambdaConfig": {"DefineAuthChallenge": FN, "CreateAuthChallenge": FN, "VerifyAuthChallengeResponse": FN},
            "SchemaAttributes": [{"Name": "custom:authChallenge", "AttributeDataType": "String", "Mutable": true}],
            "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}
        });
        let mut c = json!({"ClientId": "c1", "ExplicitAuthFlows": ["ALLOW_CUSTOM_AUTH"], "PreventUserExistenceErrors": "ENABLED", "AuthSessionValidity": 5});
        for (k, v) in client.as_object().unwrap() {
            c[k] = v.clone();
        }
        let env = [
            ("EMAIL_FROM", "a@acme.example"),
            (
                "CODE_HMAC_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf",
            ),
            ("REFERENCE_KEY", "r-0123456789abcdef0123456789abcdef"),
        ];
        Facts {
            pool: PoolFacts::from_json(pool.as_object().unwrap()).unwrap(),
            clients: vec![ClientFacts::from_json(c.as_object().unwrap()).unwrap()],
            function: Some(FunctionFacts {
                arn: FunctionArn::parse(FN).unwrap(),
                environment: env
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
                policy: policy.map(|p| p.to_string()),
            }),
            ses: None,
        }
    }

    fn grant(condition: Option<Value>) -> Value {
        let mut s = json!({"Sid": "s", "Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "lambda:InvokeFunction"});
        if let Some(c) = condition {
            s["Condition"] = c;
            s["Sid"] = json!("scoped");
        }
        s
    }

    fn scoped() -> Value {
        json!({"Statement": [grant(Some(json!({"ArnLike": {"AWS:SourceArn": POOL_ARN}})))]})
    }

    #[test]
    fn a_clean_pool_gives_nothing_and_legacy_flows_are_read() {
        assert_eq!(check(&facts(json!({}), Some(scoped()))), vec![]);
        let ids = |client: Value| -> Vec<&'static str> {
            check(&facts(client, Some(scoped())))
                .iter()
                .map(|f| f.id)
                .collect()
        };
        assert_eq!(
            ids(json!({"ExplicitAuthFlows": ["CUSTOM_AUTH_FLOW_ONLY"]})),
            Vec::<&str>::new()
        );
        assert_eq!(
            ids(json!({"ExplicitAuthFlows": ["ADMIN_NO_SRP_AUTH"]})),
            vec![CLIENT_PASSWORD_AUTH, CLIENT_NO_CUSTOM_AUTH]
        );
        assert_eq!(
            ids(json!({"ExplicitAuthFlows": []})),
            vec![CLIENT_PASSWORD_AUTH],
            "an empty list is Cognito's default"
        );
        let f = check(&facts(
            json!({"ExplicitAuthFlows": ["ADMIN_NO_SRP_AUTH", "CUSTOM_AUTH_FLOW_ONLY"]}),
            Some(scoped()),
        ));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("ADMIN_NO_SRP_AUTH")
                && !f[0].message.contains("USER_SRP_AUTH (implied"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn critical_comes_first_and_a_broad_grant_beside_a_scoped_one_is_found() {
        let policy = json!({"Statement": [grant(Some(json!({"ArnLike": {"AWS:SourceArn": POOL_ARN}}))), grant(None)]});
        let f = check(&facts(
            json!({"AuthSessionValidity": 3, "PreventUserExistenceErrors": "LEGACY"}),
            Some(policy),
        ));
        let got: Vec<(&str, Severity)> = f.iter().map(|f| (f.id, f.severity)).collect();
        assert_eq!(
            got,
            vec![
                (CLIENT_USER_EXISTENCE, Severity::Critical),
                (CLIENT_SESSION_SHORT, Severity::Warning),
                (PERMISSION_UNSCOPED, Severity::Warning),
            ]
        );
        assert!(
            f[2].fix
                .starts_with("aws lambda remove-permission --function-name")
                && f[2].fix.contains("--statement-id s "),
            "{}",
            f[2].fix
        );
        // A grant for another pool is no grant for this one.
        let other = json!({"Statement": [grant(Some(json!({"ArnLike": {"AWS:SourceArn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_other"}})))]});
        assert_eq!(
            check(&facts(json!({}), Some(other)))[0].id,
            PERMISSION_MISSING
        );
    }

    #[test]
    fn session_minutes_cover_the_code() {
        assert_eq!(session_minutes_for(300), 5);
        assert_eq!(session_minutes_for(30), 3);
        assert_eq!(session_minutes_for(301), 6);
        assert_eq!(session_minutes_for(3600), 15);
    }
}
