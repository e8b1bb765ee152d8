//! The plans of `otp-admin attach` and `detach`: what to change in a pool, its named app clients
//! and the function's resource policy, and nothing else.
//!
//! `UpdateUserPool` and `UpdateUserPoolClient` reset every setting a request leaves out (the API
//! reference says so). So an update is built from the JSON object the matching `Describe…` call
//! returned: every field the update accepts is copied as it was read, byte for byte, nested
//! members the SDK does not know included (they are JSON here, never SDK structs, which would fill
//! a missing `UnusedAccountValidityDays` with 0 or a missing boolean with false). Then only the
//! fields the plan means to change are changed. [`POOL_FIELDS`] and [`CLIENT_FIELDS`] list what
//! is copied; [`POOL_NOT_SENT`] and [`CLIENT_NOT_SENT`] what is read-only. A field in neither
//! list is a setting this tool does not know: an update would reset it, so the plan refuses.

use serde_json::{Map, Value, json};

use super::FunctionArn;
use super::arn::Relation;
use super::checks::{CHALLENGE_SLOTS, session_minutes_for};
use super::facts::{PoolFacts, invoke_grants};

/// `DescribeUserPool`'s fields that `UpdateUserPool` takes, as (read, sent) names. All have the
/// same name and shape in both but the pool's name.
pub const POOL_FIELDS: &[(&str, &str)] = &[
    ("Name", "PoolName"),
    ("Policies", "Policies"),
    ("DeletionProtection", "DeletionProtection"),
    ("LambdaConfig", "LambdaConfig"),
    ("AutoVerifiedAttributes", "AutoVerifiedAttributes"),
    ("SmsVerificationMessage", "SmsVerificationMessage"),
    ("EmailVerificationMessage", "EmailVerificationMessage"),
    ("EmailVerificationSubject", "EmailVerificationSubject"),
    ("VerificationMessageTemplate", "VerificationMessageTemplate"),
    ("SmsAuthenticationMessage", "SmsAuthenticationMessage"),
    ("UserAttributeUpdateSettings", "UserAttributeUpdateSettings"),
    ("MfaConfiguration", "MfaConfiguration"),
    ("DeviceConfiguration", "DeviceConfiguration"),
    ("EmailConfiguration", "EmailConfiguration"),
    ("SmsConfiguration", "SmsConfiguration"),
    ("UserPoolTags", "UserPoolTags"),
    ("AdminCreateUserConfig", "AdminCreateUserConfig"),
    ("UserPoolAddOns", "UserPoolAddOns"),
    ("AccountRecoverySetting", "AccountRecoverySetting"),
    ("UserPoolTier", "UserPoolTier"),
    ("KeyConfiguration", "KeyConfiguration"),
    ("IssuerConfiguration", "IssuerConfiguration"),
    ("AcrConfiguration", "AcrConfiguration"),
];

/// `DescribeUserPool`'s fields that `UpdateUserPool` does not take: read-only, set only at
/// creation, or changed through other calls (`AddCustomAttributes`, `CreateUserPoolDomain`).
/// `UserPoolId` is not in AWS's answer; moto echoes it after an update, and it is sent anyway.
pub const POOL_NOT_SENT: &[&str] = &[
    "Id",
    "Arn",
    "Status",
    "CreationDate",
    "LastModifiedDate",
    "EstimatedNumberOfUsers",
    "SchemaAttributes",
    "AliasAttributes",
    "UsernameAttributes",
    "UsernameConfiguration",
    "SmsConfigurationFailure",
    "EmailConfigurationFailure",
    "Domain",
    "CustomDomain",
    "UserPoolId",
];

/// `DescribeUserPoolClient`'s fields that `UpdateUserPoolClient` takes (same names).
pub const CLIENT_FIELDS: &[&str] = &[
    "ClientName",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "ExplicitAuthFlows",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "AnalyticsConfiguration",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
    "RefreshTokenRotation",
];

/// `DescribeUserPoolClient`'s fields that `UpdateUserPoolClient` does not take (the two IDs are
/// sent, as the request's keys).
pub const CLIENT_NOT_SENT: &[&str] = &[
    "UserPoolId",
    "ClientId",
    "ClientSecret",
    "CreationDate",
    "LastModifiedDate",
];

/// Why `attach` or `detach` changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Challenge (or PreSignUp) slots hold another function, and `--replace` was not given.
    #[error("{} held by another function: {}; nothing was changed (pass --replace to take them over; the other function then stops running for this pool)", if .0.len() == 1 { "a slot is" } else { "slots are" }, .0.iter().map(|(s, f)| format!("{s} ({f})")).collect::<Vec<_>>().join(", "))]
    SlotsHeld(Vec<(String, String)>),
    /// The describe answer holds top-level settings this tool does not know.
    #[error("{call} returned settings otp-admin does not know ({}); {update} would reset them, so nothing was changed (use an otp-admin that knows them)", .fields.join(", "))]
    UnknownFields {
        /// `DescribeUserPool` or `DescribeUserPoolClient CLIENT`.
        call: String,
        /// `UpdateUserPool` or `UpdateUserPoolClient`.
        update: &'static str,
        /// The unknown fields.
        fields: Vec<String>,
    },
    /// The challenge attribute exists but cannot hold the state; custom attributes cannot change.
    #[error(
        "{name} exists but {why}; custom attributes cannot be changed or removed, so set CHALLENGE_ATTRIBUTE on the function to a new name (e.g. custom:otpState) and run attach again; nothing was changed"
    )]
    AttributeUnusable {
        /// The attribute.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// The function's own configuration does not load: wiring it would break every sign-in.
    #[error(
        "the function's environment does not load ({0}); wiring it would make every sign-in fail, so nothing was changed"
    )]
    FunctionConfig(String),
}

/// The fields of `object` an update takes, copied as read (JSON `null` counts as absent), under
/// the update's names; and the fields it holds that are in neither list.
fn copy_fields(
    object: &Map<String, Value>,
    fields: &[(&str, &str)],
    not_sent: &[&str],
) -> (Map<String, Value>, Vec<String>) {
    let mut body = Map::new();
    for (read, sent) in fields {
        if let Some(v) = object.get(*read).filter(|v| !v.is_null()) {
            body.insert((*sent).to_owned(), v.clone());
        }
    }
    let unknown = object
        .keys()
        .filter(|k| !fields.iter().any(|(r, _)| r == k) && !not_sent.contains(&k.as_str()))
        .cloned()
        .collect();
    (body, unknown)
}

/// The `UpdateUserPool` body that changes nothing: `UserPoolId` and every field of
/// [`POOL_FIELDS`] present in `pool` (a `DescribeUserPool` `UserPool` object), as read; plus the
/// unknown fields.
pub fn pool_update_body(
    pool_id: &str,
    pool: &Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let pairs: Vec<(&str, &str)> = POOL_FIELDS.to_vec();
    let (copied, unknown) = copy_fields(pool, &pairs, POOL_NOT_SENT);
    let mut body = Map::new();
    body.insert("UserPoolId".into(), json!(pool_id));
    body.extend(copied);
    (body, unknown)
}

/// The `UpdateUserPoolClient` body that changes nothing, and the unknown fields.
pub fn client_update_body(
    pool_id: &str,
    client_id: &str,
    client: &Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let pairs: Vec<(&str, &str)> = CLIENT_FIELDS.iter().map(|f| (*f, *f)).collect();
    let (copied, unknown) = copy_fields(client, &pairs, CLIENT_NOT_SENT);
    let mut body = Map::new();
    body.insert("UserPoolId".into(), json!(pool_id));
    body.insert("ClientId".into(), json!(client_id));
    body.extend(copied);
    (body, unknown)
}

/// What `attach` is asked to do.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The function to wire.
    pub function: FunctionArn,
    /// Wire PreSignUp too.
    pub pre_sign_up: bool,
    /// Take over slots held by another function (or another version of this one).
    pub replace: bool,
    /// Turn pool-level MFA off.
    pub turn_off_mfa: bool,
    /// Make account recovery admin-only.
    pub admin_only_recovery: bool,
    /// The challenge attribute the function writes (`custom:authChallenge`); `None` with the
    /// DynamoDB store, which needs none (and a custom attribute can never be removed again).
    pub attribute: Option<String>,
    /// The longest state the function can store ([`super::checks::longest_state`]).
    pub needed_length: usize,
    /// Whether the function runs password-first sign-ins (`AUTH_FLOW=mfa`): then recovery by email
    /// lets the mailbox alone take over an account.
    pub password_first_only: bool,
}

/// A custom attribute to add (`AddCustomAttributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttribute {
    /// The name without `custom:`.
    pub name: String,
    /// String, mutable, of at most this many characters.
    pub max_length: u32,
}

/// What `attach` or `detach` will do to the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPlan {
    /// The pool.
    pub pool_id: String,
    /// `AddCustomAttributes`, first.
    pub add_attribute: Option<NewAttribute>,
    /// The whole `UpdateUserPool` body, when something changes.
    pub update: Option<Map<String, Value>>,
    /// The `UpdateUserPool` body that would change nothing, built from the pool as read: applying
    /// reads the pool again just before the update and stops if this differs (someone changed the
    /// pool in between, and the update would undo it).
    pub source: Map<String, Value>,
    /// One line per change.
    pub changes: Vec<String>,
    /// What is not changed and should be said.
    pub notes: Vec<String>,
}

/// The fields of `body` sent exactly as they were read (in `source`), for the plan's "sent back
/// as read" line; the request's keys (`UserPoolId`, `ClientId`) are not settings.
pub fn unchanged_fields<'a>(
    body: &'a Map<String, Value>,
    source: &Map<String, Value>,
) -> Vec<&'a str> {
    body.iter()
        .filter(|(k, v)| *k != "UserPoolId" && *k != "ClientId" && source.get(*k) == Some(*v))
        .map(|(k, _)| k.as_str())
        .collect()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn object_mut<'a>(body: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = body.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("just made an object")
}

/// The plan of `attach` for the pool (`pool` is the `UserPool` object of `DescribeUserPool`).
pub fn plan_attach(pool: &Map<String, Value>, o: &AttachOptions) -> Result<PoolPlan, Refusal> {
    let facts = PoolFacts::from_json(pool).unwrap_or_else(empty_facts);
    let (source, unknown) = pool_update_body(&facts.id, pool);
    let mut body = source.clone();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let arn = o.function.as_str();

    let mut slots: Vec<&str> = CHALLENGE_SLOTS.to_vec();
    if o.pre_sign_up {
        slots.push("PreSignUp");
    }
    let mut held = Vec::new();
    for slot in &slots {
        match facts.triggers.get(*slot) {
            None => changes.push(format!("wire {slot} to {arn}")),
            Some(v) if o.function.relation(v) == Relation::Same => {}
            Some(v) if o.replace => changes.push(format!("replace {slot}: {v} -> {arn}")),
            Some(v) => held.push(((*slot).to_owned(), v.clone())),
        }
    }
    if !held.is_empty() {
        return Err(Refusal::SlotsHeld(held));
    }
    if changes
        .iter()
        .any(|c| c.starts_with("wire") || c.starts_with("replace"))
    {
        let lc = object_mut(&mut body, "LambdaConfig");
        for slot in &slots {
            lc.insert((*slot).to_owned(), json!(arn));
        }
    }

    if !facts.verify_before_update.iter().any(|a| a == "email") {
        let mut list = facts.verify_before_update.clone();
        list.push("email".into());
        changes.push(format!(
            "hold email changes until verified: AttributesRequireVerificationBeforeUpdate {:?} -> {list:?}",
            facts.verify_before_update
        ));
        object_mut(&mut body, "UserAttributeUpdateSettings").insert(
            "AttributesRequireVerificationBeforeUpdate".into(),
            json!(list),
        );
    }
    // Cognito accepts the setting only with email among the auto-verified attributes (it mails
    // the new address its own code).
    if !facts.auto_verified.iter().any(|a| a == "email") {
        let mut list = facts.auto_verified.clone();
        list.push("email".into());
        changes.push(format!(
            "AutoVerifiedAttributes {:?} -> {list:?} (Cognito mails a changed address its own code)",
            facts.auto_verified
        ));
        body.insert("AutoVerifiedAttributes".into(), json!(list));
    }

    if facts.mfa != "OFF" {
        if o.turn_off_mfa {
            changes.push(format!("MfaConfiguration {} -> OFF", facts.mfa));
            body.insert("MfaConfiguration".into(), json!("OFF"));
        } else {
            notes.push(format!("pool-level MFA is {}: it must be off, or Cognito adds its own step after the password and the function refuses those sign-ins; pass --turn-off-mfa to turn it off", facts.mfa));
        }
    }

    let email_recovery = facts
        .recovery
        .as_ref()
        .is_none_or(|r| r.iter().any(|n| n == "verified_email"));
    if email_recovery {
        if o.admin_only_recovery {
            changes.push(format!(
                "AccountRecoverySetting {} -> admin_only",
                facts
                    .recovery
                    .as_ref()
                    .map_or("(Cognito's legacy default)".into(), |r| r.join(", "))
            ));
            body.insert(
                "AccountRecoverySetting".into(),
                json!({"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}),
            );
        } else if o.password_first_only {
            notes.push("passwords can be reset by email, the mailbox that also gets the codes: under AUTH_FLOW=mfa the mailbox alone then takes over an account; pass --admin-only-recovery to make recovery admin-only".into());
        }
    }

    let mut add_attribute = None;
    if let Some(name) = &o.attribute {
        match facts.attribute(name) {
            None => {
                let short = name.strip_prefix("custom:").unwrap_or(name).to_owned();
                changes.insert(0, format!("add the custom attribute {name}: String, mutable, at most 2048 characters (custom attributes cannot be removed again)"));
                add_attribute = Some(NewAttribute {
                    name: short,
                    max_length: 2048,
                });
            }
            Some(a) if a.data_type.as_deref() != Some("String") => {
                return Err(Refusal::AttributeUnusable {
                    name: name.clone(),
                    why: format!(
                        "is of type {}, not String",
                        a.data_type.as_deref().unwrap_or("unknown")
                    ),
                });
            }
            Some(a) if a.mutable == Some(false) => {
                return Err(Refusal::AttributeUnusable {
                    name: name.clone(),
                    why: "is immutable".into(),
                });
            }
            Some(a) if (a.max_length.unwrap_or(2048) as usize) < o.needed_length => {
                return Err(Refusal::AttributeUnusable {
                    name: name.clone(),
                    why: format!(
                        "holds at most {} characters and the state needs {}",
                        a.max_length.unwrap_or(2048),
                        o.needed_length
                    ),
                });
            }
            Some(_) => {}
        }
    }

    let update = if body != source {
        if !unknown.is_empty() {
            return Err(Refusal::UnknownFields {
                call: "DescribeUserPool".into(),
                update: "UpdateUserPool",
                fields: unknown,
            });
        }
        Some(body)
    } else {
        None
    };
    Ok(PoolPlan {
        pool_id: facts.id,
        add_attribute,
        update,
        source,
        changes,
        notes,
    })
}

fn empty_facts() -> PoolFacts {
    PoolFacts {
        id: String::new(),
        arn: None,
        mfa: "OFF".into(),
        triggers: Default::default(),
        attributes: Vec::new(),
        auto_verified: Vec::new(),
        verify_before_update: Vec::new(),
        domain: None,
        first_factors: None,
        recovery: None,
    }
}

/// The plan of `detach`: every `LambdaConfig` slot holding exactly this function's ARN is
/// emptied; nothing else changes (the attribute stays: custom attributes cannot be removed).
pub fn plan_detach(pool: &Map<String, Value>, function: &FunctionArn) -> Result<PoolPlan, Refusal> {
    let facts = PoolFacts::from_json(pool).unwrap_or_else(empty_facts);
    let (source, unknown) = pool_update_body(&facts.id, pool);
    let mut body = source.clone();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    if let Some(lc) = body.get_mut("LambdaConfig").and_then(Value::as_object_mut) {
        let ours: Vec<String> = lc
            .iter()
            .filter(|(_, v)| v.as_str() == Some(function.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        for slot in ours {
            lc.remove(&slot);
            changes.push(format!("unwire {slot} (was {function})"));
        }
        for (slot, v) in lc.iter() {
            if v.as_str()
                .is_some_and(|v| function.relation(v) == Relation::OtherVersion)
            {
                notes.push(format!(
                    "{slot} holds another version of the function ({}), left as it is",
                    v.as_str().unwrap_or_default()
                ));
            }
        }
    }
    let update = if body != source {
        if !unknown.is_empty() {
            return Err(Refusal::UnknownFields {
                call: "DescribeUserPool".into(),
                update: "UpdateUserPool",
                fields: unknown,
            });
        }
        Some(body)
    } else {
        None
    };
    Ok(PoolPlan {
        pool_id: facts.id,
        add_attribute: None,
        update,
        source,
        changes,
        notes,
    })
}

/// What `attach --client-id` will do to one app client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPlan {
    /// The client.
    pub client_id: String,
    /// The whole `UpdateUserPoolClient` body, when something changes.
    pub update: Option<Map<String, Value>>,
    /// The body that would change nothing, as read (compared again just before the update).
    pub source: Map<String, Value>,
    /// One line per change.
    pub changes: Vec<String>,
}

const DROPPED_FLOWS: [&str; 4] = [
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_USER_AUTH",
];

/// The plan for one named client (`client` is the `UserPoolClient` object): custom auth and
/// refresh only, user existence errors prevented, the challenge attribute out of both attribute
/// lists, a session as long as a code lives (at most 15 minutes), and, on a pool with a domain,
/// OAuth off. Everything else is sent back as read.
pub fn plan_client(
    pool_id: &str,
    client: &Map<String, Value>,
    attribute: Option<&str>,
    ttl: u32,
    pool_has_domain: bool,
) -> Result<ClientPlan, Refusal> {
    let client_id = client
        .get("ClientId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (source, unknown) = client_update_body(pool_id, &client_id, client);
    let mut body = source.clone();
    let mut changes = Vec::new();

    let current = string_list(client.get("ExplicitAuthFlows"));
    let legacy = current.iter().any(|f| !f.starts_with("ALLOW_"));
    let mut flows: Vec<String> = if current.is_empty() || legacy {
        Vec::new()
    } else {
        current
            .iter()
            .filter(|f| !DROPPED_FLOWS.contains(&f.as_str()))
            .cloned()
            .collect()
    };
    for needed in ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"] {
        if !flows.iter().any(|f| f == needed) {
            flows.push(needed.into());
        }
    }
    if flows != current {
        changes.push(format!("ExplicitAuthFlows {current:?} -> {flows:?}"));
        body.insert("ExplicitAuthFlows".into(), json!(flows));
    }
    if client
        .get("PreventUserExistenceErrors")
        .and_then(Value::as_str)
        != Some("ENABLED")
    {
        changes.push(format!(
            "PreventUserExistenceErrors {} -> ENABLED",
            client
                .get("PreventUserExistenceErrors")
                .and_then(Value::as_str)
                .unwrap_or("LEGACY (unset)")
        ));
        body.insert("PreventUserExistenceErrors".into(), json!("ENABLED"));
    }
    if let Some(name) = attribute {
        for list in ["ReadAttributes", "WriteAttributes"] {
            let values = string_list(client.get(list));
            if values.iter().any(|v| v == name) {
                let kept: Vec<&String> = values.iter().filter(|v| *v != name).collect();
                changes.push(format!("{list}: remove {name}"));
                body.insert(list.into(), json!(kept));
            }
        }
    }
    let minutes = client
        .get("AuthSessionValidity")
        .and_then(Value::as_u64)
        .unwrap_or(3);
    let wanted = u64::from(session_minutes_for(ttl));
    if minutes * 60 < u64::from(ttl) && wanted > minutes {
        changes.push(format!(
            "AuthSessionValidity {minutes} -> {wanted} minutes (a code lives {ttl} s)"
        ));
        body.insert("AuthSessionValidity".into(), json!(wanted));
    }
    let oauth_on = client
        .get("AllowedOAuthFlowsUserPoolClient")
        .and_then(Value::as_bool)
        == Some(true);
    let interactive = string_list(client.get("AllowedOAuthFlows"))
        .iter()
        .any(|f| f == "code" || f == "implicit");
    if pool_has_domain && oauth_on && interactive {
        changes.push("managed login off: AllowedOAuthFlowsUserPoolClient true -> false, AllowedOAuthFlows and AllowedOAuthScopes no longer sent".into());
        body.insert("AllowedOAuthFlowsUserPoolClient".into(), json!(false));
        body.remove("AllowedOAuthFlows");
        body.remove("AllowedOAuthScopes");
    }

    let update = if body != source {
        if !unknown.is_empty() {
            return Err(Refusal::UnknownFields {
                call: format!("DescribeUserPoolClient {client_id}"),
                update: "UpdateUserPoolClient",
                fields: unknown,
            });
        }
        Some(body)
    } else {
        None
    };
    Ok(ClientPlan {
        client_id,
        update,
        source,
        changes,
    })
}

/// Everything `attach` or `detach` will do, in the order it is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The function wired or unwired.
    pub function: FunctionArn,
    /// The pool's attribute and update.
    pub pool: PoolPlan,
    /// `attach`: the invoke permission to add (before the pool is wired to the function).
    pub add_permission: Option<Permission>,
    /// `attach --client-id`: the named clients.
    pub clients: Vec<ClientPlan>,
    /// `detach`: the permission statements to remove (after the pool is unwired).
    pub remove_permissions: Vec<String>,
}

impl Plan {
    /// Whether the plan changes nothing (a second `attach` finds nothing to do).
    pub fn is_empty(&self) -> bool {
        self.pool.add_attribute.is_none()
            && self.pool.update.is_none()
            && self.add_permission.is_none()
            && self.clients.iter().all(|c| c.update.is_none())
            && self.remove_permissions.is_empty()
    }

    /// The plan for a person: one numbered step per AWS call that changes something, with what
    /// it changes, in the order they are made.
    pub fn steps(&self) -> Vec<String> {
        let mut steps = Vec::new();
        if let Some(a) = &self.pool.add_attribute {
            steps.push(format!("cognito-idp:AddCustomAttributes: custom:{} (String, mutable, at most {} characters; custom attributes cannot be removed again)", a.name, a.max_length));
        }
        if let Some(p) = &self.add_permission {
            steps.push(format!("lambda:AddPermission: Cognito may invoke the function for this pool alone, the same as\n       {}", p.command(&self.function)));
        }
        if let Some(body) = &self.pool.update {
            let mut s = String::from("cognito-idp:UpdateUserPool:");
            for c in self
                .pool
                .changes
                .iter()
                .filter(|c| !c.starts_with("add the custom attribute"))
            {
                s.push_str(&format!("\n       - {c}"));
            }
            s.push_str(&format!(
                "\n       sent back as DescribeUserPool returned them: {}",
                unchanged_fields(body, &self.pool.source).join(", ")
            ));
            steps.push(s);
        }
        for c in &self.clients {
            if let Some(body) = &c.update {
                let mut s = format!("cognito-idp:UpdateUserPoolClient {}:", c.client_id);
                for change in &c.changes {
                    s.push_str(&format!("\n       - {change}"));
                }
                s.push_str(&format!(
                    "\n       sent back as DescribeUserPoolClient returned them: {}",
                    unchanged_fields(body, &c.source).join(", ")
                ));
                steps.push(s);
            }
        }
        for sid in &self.remove_permissions {
            steps.push(format!("lambda:RemovePermission: the statement {sid} (Cognito invoking the function for this pool)"));
        }
        steps
    }
}

/// The statement ID of the invoke permission `attach` adds for a pool.
pub fn statement_id(pool_id: &str) -> String {
    format!("cognito-email-otp-{pool_id}")
}

/// The invoke permission `attach` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// `StatementId`.
    pub statement_id: String,
    /// `SourceArn`: the pool.
    pub source_arn: String,
    /// `SourceAccount`: the pool's account.
    pub source_account: String,
}

impl Permission {
    /// The same as an AWS CLI command.
    pub fn command(&self, function: &FunctionArn) -> String {
        format!(
            "aws lambda add-permission --function-name {function} --statement-id {} --action lambda:InvokeFunction --principal cognito-idp.amazonaws.com --source-arn {} --source-account {}",
            self.statement_id, self.source_arn, self.source_account
        )
    }
}

/// The permission to add so Cognito may invoke the function for this pool; `None` when the
/// function's policy already grants it for this pool (scoped or not).
pub fn plan_permission(
    policy: Option<&str>,
    pool_id: &str,
    pool_arn: &str,
    source_account: &str,
) -> Option<Permission> {
    let granted = policy.is_some_and(|p| !invoke_grants(p, Some(pool_arn)).is_empty());
    (!granted).then(|| Permission {
        statement_id: statement_id(pool_id),
        source_arn: pool_arn.to_owned(),
        source_account: source_account.to_owned(),
    })
}

/// The statements `detach` removes: those letting Cognito invoke the function for this pool
/// alone (a statement scoped by `SourceArn` to it). Unscoped grants may serve other pools: kept.
pub fn permissions_to_remove(policy: Option<&str>, pool_arn: &str) -> Vec<String> {
    policy
        .map(|p| invoke_grants(p, Some(pool_arn)))
        .unwrap_or_default()
        .into_iter()
        .filter(|g| g.source_arns.iter().all(|a| a == pool_arn) && !g.source_arns.is_empty())
        .filter_map(|g| g.sid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:otp";

    fn options() -> AttachOptions {
        AttachOptions {
            function: FunctionArn::parse(FN).unwrap(),
            pre_sign_up: false,
            replace: false,
            turn_off_mfa: false,
            admin_only_recovery: false,
            attribute: Some("custom:authChallenge".into()),
            needed_length: 131,
            password_first_only: true,
        }
    }

    fn wired_pool() -> Map<String, Value> {
        json!({
            "Id": "eu-west-1_abc", "Name": "users", "Arn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc",
            "MfaConfiguration": "OFF",
            "LambdaConfig": {"DefineAuthChallenge": FN, "CreateAuthChallenge": FN, "VerifyAuthChallengeResponse": FN, "PostConfirmation": "arn:aws:lambda:eu-west-1:123456789012:function:welcome"},
            "SchemaAttributes": [{"Name": "custom:authChallenge", "AttributeDataType": "String", "Mutable": true, "StringAttributeConstraints": {"MaxLength": "2048"}}],
            "AutoVerifiedAttributes": ["email"],
            "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]},
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": true},
            "EstimatedNumberOfUsers": 3, "CreationDate": 1.7e9
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_wired_pool_needs_nothing_and_unknown_fields_do_not_matter_then() {
        let mut pool = wired_pool();
        pool.insert("SomethingNew".into(), json!({"x": 1}));
        let plan = plan_attach(&pool, &options()).unwrap();
        assert_eq!(plan.update, None);
        assert!(
            plan.changes.is_empty() && plan.add_attribute.is_none(),
            "{plan:?}"
        );
    }

    #[test]
    fn attach_wires_only_what_is_missing_and_copies_the_rest() {
        let mut pool = wired_pool();
        pool["LambdaConfig"]
            .as_object_mut()
            .unwrap()
            .remove("CreateAuthChallenge");
        let plan = plan_attach(&pool, &options()).unwrap();
        let body = plan.update.unwrap();
        assert_eq!(body["LambdaConfig"]["CreateAuthChallenge"], FN);
        assert_eq!(
            body["LambdaConfig"]["PostConfirmation"],
            pool["LambdaConfig"]["PostConfirmation"]
        );
        // No SDK default sneaks in: the nested object is exactly what was read.
        assert_eq!(
            body["AdminCreateUserConfig"],
            json!({"AllowAdminCreateUserOnly": true})
        );
        assert_eq!(body["PoolName"], "users");
        for read_only in [
            "Id",
            "Arn",
            "SchemaAttributes",
            "EstimatedNumberOfUsers",
            "CreationDate",
            "Name",
        ] {
            assert!(!body.contains_key(read_only), "{read_only}");
        }
        assert_eq!(
            plan.changes,
            vec![format!("wire CreateAuthChallenge to {FN}")]
        );
    }

    #[test]
    fn a_slot_held_by_another_function_is_refused_unless_replace() {
        let mut pool = wired_pool();
        let other = "arn:aws:lambda:eu-west-1:123456789012:function:legacy-otp";
        pool["LambdaConfig"]["VerifyAuthChallengeResponse"] = json!(other);
        let e = plan_attach(&pool, &options()).unwrap_err();
        assert_eq!(
            e,
            Refusal::SlotsHeld(vec![("VerifyAuthChallengeResponse".into(), other.into())])
        );
        assert!(e.to_string().contains("--replace"), "{e}");
        let plan = plan_attach(
            &pool,
            &AttachOptions {
                replace: true,
                ..options()
            },
        )
        .unwrap();
        assert_eq!(
            plan.update.unwrap()["LambdaConfig"]["VerifyAuthChallengeResponse"],
            FN
        );
    }

    #[test]
    fn an_unknown_setting_stops_an_update_that_would_reset_it() {
        let mut pool = wired_pool();
        pool["LambdaConfig"]
            .as_object_mut()
            .unwrap()
            .remove("DefineAuthChallenge");
        pool.insert("BrandNewSetting".into(), json!(true));
        let e = plan_attach(&pool, &options()).unwrap_err();
        assert!(
            matches!(&e, Refusal::UnknownFields { fields, .. } if fields == &["BrandNewSetting"]),
            "{e}"
        );
    }

    #[test]
    fn mfa_is_turned_off_only_when_asked() {
        let mut pool = wired_pool();
        pool["MfaConfiguration"] = json!("OPTIONAL");
        let plan = plan_attach(&pool, &options()).unwrap();
        assert!(
            plan.update.is_none() && plan.notes[0].contains("--turn-off-mfa"),
            "{plan:?}"
        );
        let plan = plan_attach(
            &pool,
            &AttachOptions {
                turn_off_mfa: true,
                ..options()
            },
        )
        .unwrap();
        assert_eq!(plan.update.unwrap()["MfaConfiguration"], "OFF");
    }

    #[test]
    fn an_attribute_that_cannot_hold_the_state_is_refused() {
        for (attr, why) in [
            (
                json!({"Name": "custom:authChallenge", "AttributeDataType": "Number", "Mutable": true}),
                "Number",
            ),
            (
                json!({"Name": "custom:authChallenge", "AttributeDataType": "String", "Mutable": false}),
                "immutable",
            ),
            (
                json!({"Name": "custom:authChallenge", "AttributeDataType": "String", "Mutable": true, "StringAttributeConstraints": {"MaxLength": "64"}}),
                "at most 64",
            ),
        ] {
            let mut pool = wired_pool();
            pool["SchemaAttributes"] = json!([attr]);
            let e = plan_attach(&pool, &options()).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        let mut pool = wired_pool();
        pool["SchemaAttributes"] = json!([]);
        let plan = plan_attach(&pool, &options()).unwrap();
        assert_eq!(
            plan.add_attribute,
            Some(NewAttribute {
                name: "authChallenge".into(),
                max_length: 2048
            })
        );
        assert!(
            plan.update.is_none(),
            "adding an attribute is not an UpdateUserPool"
        );
        let plan = plan_attach(
            &pool,
            &AttachOptions {
                attribute: None,
                ..options()
            },
        )
        .unwrap();
        assert!(
            plan.add_attribute.is_none(),
            "the table store adds no attribute"
        );
    }

    #[test]
    fn detach_removes_only_this_functions_slots() {
        let mut pool = wired_pool();
        pool["LambdaConfig"]["PreSignUp"] = json!(format!("{FN}:3"));
        let plan = plan_detach(&pool, &FunctionArn::parse(FN).unwrap()).unwrap();
        let lc = plan.update.unwrap()["LambdaConfig"].clone();
        assert_eq!(
            lc,
            json!({"PostConfirmation": "arn:aws:lambda:eu-west-1:123456789012:function:welcome", "PreSignUp": format!("{FN}:3")})
        );
        assert_eq!(plan.changes.len(), 3);
        assert!(plan.notes[0].contains("PreSignUp"), "{:?}", plan.notes);
    }

    #[test]
    fn a_named_client_gets_custom_auth_only_and_keeps_everything_else() {
        let client = json!({
            "UserPoolId": "eu-west-1_abc", "ClientId": "c1", "ClientName": "web", "ClientSecret": "s",
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_USER_AUTH"],
            "ReadAttributes": ["email", "custom:authChallenge"], "WriteAttributes": ["custom:authChallenge"],
            "AuthSessionValidity": 3, "RefreshTokenValidity": 30, "TokenValidityUnits": {"RefreshToken": "days"},
            "AllowedOAuthFlowsUserPoolClient": true, "AllowedOAuthFlows": ["code"], "AllowedOAuthScopes": ["openid"],
            "CallbackURLs": ["https://app.example/cb"], "SupportedIdentityProviders": ["COGNITO"]
        });
        let plan = plan_client(
            "eu-west-1_abc",
            client.as_object().unwrap(),
            Some("custom:authChallenge"),
            300,
            true,
        )
        .unwrap();
        let body = plan.update.unwrap();
        assert_eq!(
            body["ExplicitAuthFlows"],
            json!(["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
        );
        assert_eq!(body["PreventUserExistenceErrors"], "ENABLED");
        assert_eq!(body["ReadAttributes"], json!(["email"]));
        assert_eq!(body["WriteAttributes"], json!([]));
        assert_eq!(body["AuthSessionValidity"], 5);
        assert_eq!(body["AllowedOAuthFlowsUserPoolClient"], false);
        assert!(!body.contains_key("AllowedOAuthFlows") && !body.contains_key("ClientSecret"));
        assert_eq!(body["CallbackURLs"], client["CallbackURLs"]);
        assert_eq!(body["TokenValidityUnits"], client["TokenValidityUnits"]);
        // Without a domain, OAuth is inert and left alone.
        let plan = plan_client(
            "eu-west-1_abc",
            client.as_object().unwrap(),
            None,
            300,
            false,
        )
        .unwrap();
        assert_eq!(plan.update.unwrap()["AllowedOAuthFlows"], json!(["code"]));
    }

    #[test]
    fn permissions_are_added_once_and_removed_only_when_scoped_to_the_pool() {
        let pool_arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc";
        let p = plan_permission(None, "eu-west-1_abc", pool_arn, "123456789012").unwrap();
        assert!(
            p.command(&FunctionArn::parse(FN).unwrap())
                .contains("--source-arn arn:aws:cognito-idp")
        );
        let policy = json!({"Statement": [
            {"Sid": "mine", "Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": pool_arn}}},
            {"Sid": "broad", "Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"}, "Action": "lambda:InvokeFunction"}
        ]})
        .to_string();
        assert_eq!(
            plan_permission(Some(&policy), "eu-west-1_abc", pool_arn, "123456789012"),
            None
        );
        assert_eq!(
            permissions_to_remove(Some(&policy), pool_arn),
            vec!["mine".to_owned()]
        );
    }
}
