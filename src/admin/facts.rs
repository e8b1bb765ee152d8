//! The plain data `check` looks at, and how it is read from the JSON AWS answers.
//!
//! The pool and its clients are read from the JSON objects `DescribeUserPool` and
//! `DescribeUserPoolClient` return (`UserPool`, `UserPoolClient`), the same objects `attach` sends
//! back, so what is checked is exactly what would be preserved. A field that is missing takes the
//! value Cognito documents as its default; a value of the wrong JSON type counts as missing.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::FunctionArn;

/// Everything [`super::check`] looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The user pool.
    pub pool: PoolFacts,
    /// Every app client of the pool, or the ones named.
    pub clients: Vec<ClientFacts>,
    /// The function, when one was named.
    pub function: Option<FunctionFacts>,
    /// The sender's SES identity and the account's sending status, when a sender is known.
    pub ses: Option<SesFacts>,
}

/// A user pool's settings that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFacts {
    /// `Id`.
    pub id: String,
    /// `Arn`, when the answer has one.
    pub arn: Option<String>,
    /// `MfaConfiguration` (`OFF` when absent).
    pub mfa: String,
    /// The top-level string members of `LambdaConfig`: slot name to function ARN.
    pub triggers: BTreeMap<String, String>,
    /// `SchemaAttributes`.
    pub attributes: Vec<SchemaAttribute>,
    /// `AutoVerifiedAttributes`.
    pub auto_verified: Vec<String>,
    /// `UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate`.
    pub verify_before_update: Vec<String>,
    /// `Domain` or `CustomDomain`: the pool has managed login (the hosted UI).
    pub domain: Option<String>,
    /// `Policies.SignInPolicy.AllowedFirstAuthFactors`; `None` when absent, which Cognito reads as
    /// `[PASSWORD]`.
    pub first_factors: Option<Vec<String>>,
    /// `AccountRecoverySetting.RecoveryMechanisms[].Name`; `None` when absent (Cognito's legacy
    /// behaviour then recovers by a verified phone number, else a verified email).
    pub recovery: Option<Vec<String>>,
}

/// One entry of `SchemaAttributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaAttribute {
    /// `Name`, with its `custom:` prefix for custom attributes.
    pub name: String,
    /// `AttributeDataType` (`String`, `Number`, …).
    pub data_type: Option<String>,
    /// `Mutable`.
    pub mutable: Option<bool>,
    /// `StringAttributeConstraints.MaxLength` (a string in the API), if given and a number.
    pub max_length: Option<u32>,
}

/// An app client's settings that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFacts {
    /// `ClientId`.
    pub id: String,
    /// `ClientName`.
    pub name: Option<String>,
    /// `ExplicitAuthFlows`; `None` when absent (Cognito then allows `ALLOW_USER_SRP_AUTH`,
    /// `ALLOW_CUSTOM_AUTH` and `ALLOW_REFRESH_TOKEN_AUTH`).
    pub auth_flows: Option<Vec<String>>,
    /// `AllowedOAuthFlowsUserPoolClient`.
    pub oauth_enabled: bool,
    /// `AllowedOAuthFlows`.
    pub oauth_flows: Vec<String>,
    /// `ReadAttributes`; `None` when absent (Cognito's default set).
    pub read_attributes: Option<Vec<String>>,
    /// `WriteAttributes`; `None` when absent (Cognito's default set).
    pub write_attributes: Option<Vec<String>>,
    /// `PreventUserExistenceErrors` (`LEGACY` when absent, Cognito's default).
    pub prevent_user_existence_errors: String,
    /// `AuthSessionValidity` in minutes (3 when absent, Cognito's default).
    pub session_minutes: u32,
}

/// The function's configuration and resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    /// The ARN given.
    pub arn: FunctionArn,
    /// `Environment.Variables`.
    pub environment: BTreeMap<String, String>,
    /// The resource policy document (`GetPolicy`), `None` when the function has none.
    pub policy: Option<String>,
}

/// The sender's SES identity and the account's sending status, in the function's Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesFacts {
    /// The sender address checked.
    pub sender: String,
    /// The identities found that cover the sender (the address itself, its domain), with whether
    /// each is verified for sending.
    pub identities: Vec<(String, bool)>,
    /// `GetAccount.ProductionAccessEnabled`: false in the SES sandbox.
    pub production_access: bool,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    })
}

fn string(v: Option<&Value>) -> Option<String> {
    v?.as_str().map(str::to_owned)
}

impl PoolFacts {
    /// Reads the `UserPool` object of a `DescribeUserPool` answer. `None` without an `Id`.
    pub fn from_json(pool: &Map<String, Value>) -> Option<Self> {
        let id = string(pool.get("Id"))?;
        let triggers = pool
            .get("LambdaConfig")
            .and_then(Value::as_object)
            .map(|lc| {
                lc.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let attributes = pool
            .get("SchemaAttributes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        Some(SchemaAttribute {
                            name: string(s.get("Name"))?,
                            data_type: string(s.get("AttributeDataType")),
                            mutable: s.get("Mutable").and_then(Value::as_bool),
                            max_length: s
                                .get("StringAttributeConstraints")
                                .and_then(|c| c.get("MaxLength"))
                                .and_then(|m| match m {
                                    Value::String(s) => s.parse().ok(),
                                    Value::Number(n) => {
                                        n.as_u64().and_then(|n| u32::try_from(n).ok())
                                    }
                                    _ => None,
                                }),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let domain = string(pool.get("CustomDomain"))
            .or_else(|| string(pool.get("Domain")))
            .filter(|d| !d.is_empty());
        Some(Self {
            id,
            arn: string(pool.get("Arn")),
            mfa: string(pool.get("MfaConfiguration")).unwrap_or_else(|| "OFF".into()),
            triggers,
            attributes,
            auto_verified: strings(pool.get("AutoVerifiedAttributes")).unwrap_or_default(),
            verify_before_update: strings(
                pool.get("UserAttributeUpdateSettings")
                    .and_then(|u| u.get("AttributesRequireVerificationBeforeUpdate")),
            )
            .unwrap_or_default(),
            domain,
            first_factors: strings(
                pool.get("Policies")
                    .and_then(|p| p.get("SignInPolicy"))
                    .and_then(|s| s.get("AllowedFirstAuthFactors")),
            ),
            recovery: pool
                .get("AccountRecoverySetting")
                .and_then(|a| a.get("RecoveryMechanisms"))
                .and_then(Value::as_array)
                .map(|m| m.iter().filter_map(|r| string(r.get("Name"))).collect()),
        })
    }

    /// The schema attribute named `name` (`custom:authChallenge`).
    pub fn attribute(&self, name: &str) -> Option<&SchemaAttribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

impl ClientFacts {
    /// Reads the `UserPoolClient` object of a `DescribeUserPoolClient` answer. `None` without a
    /// `ClientId`.
    pub fn from_json(client: &Map<String, Value>) -> Option<Self> {
        Some(Self {
            id: string(client.get("ClientId"))?,
            name: string(client.get("ClientName")),
            auth_flows: strings(client.get("ExplicitAuthFlows")),
            oauth_enabled: client
                .get("AllowedOAuthFlowsUserPoolClient")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            oauth_flows: strings(client.get("AllowedOAuthFlows")).unwrap_or_default(),
            read_attributes: strings(client.get("ReadAttributes")),
            write_attributes: strings(client.get("WriteAttributes")),
            prevent_user_existence_errors: string(client.get("PreventUserExistenceErrors"))
                .unwrap_or_else(|| "LEGACY".into()),
            session_minutes: client
                .get("AuthSessionValidity")
                .and_then(Value::as_u64)
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(3),
        })
    }
}

/// A statement of a function's resource policy that lets Cognito invoke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeGrant {
    /// `Sid`.
    pub sid: Option<String>,
    /// The `SourceArn` patterns it is limited to; empty when it is not limited (any pool, in any
    /// account, could then have the function invoked).
    pub source_arns: Vec<String>,
}

/// The statements of `policy` (a resource policy document) that allow `lambda:InvokeFunction` to
/// `cognito-idp.amazonaws.com` and whose `SourceArn` condition, if any, matches `pool_arn` (or,
/// when `pool_arn` is `None`, any pool). A document that is not JSON gives none.
pub fn invoke_grants(policy: &str, pool_arn: Option<&str>) -> Vec<InvokeGrant> {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return Vec::new();
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let one_or_many = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .filter(|s| {
            let principal = s.get("Principal");
            principal.and_then(Value::as_str) == Some("*")
                || one_or_many(principal.and_then(|p| p.get("Service")))
                    .iter()
                    .any(|p| p == "cognito-idp.amazonaws.com")
        })
        .filter(|s| {
            one_or_many(s.get("Action"))
                .iter()
                .any(|a| matches!(a.as_str(), "lambda:InvokeFunction" | "lambda:*" | "*"))
        })
        .filter_map(|s| {
            // Condition keys are case-insensitive in IAM: aws:SourceArn, AWS:SourceArn.
            let mut source_arns = Vec::new();
            if let Some(cond) = s.get("Condition").and_then(Value::as_object) {
                for (op, block) in cond {
                    let Some(block) = block.as_object() else {
                        continue;
                    };
                    for (key, value) in block {
                        if key.eq_ignore_ascii_case("aws:SourceArn")
                            && matches!(
                                op.as_str(),
                                "ArnLike" | "ArnEquals" | "StringEquals" | "StringLike"
                            )
                        {
                            source_arns.extend(one_or_many(Some(value)));
                        }
                    }
                }
            }
            let applies = source_arns.is_empty()
                || pool_arn.is_none_or(|arn| source_arns.iter().any(|p| glob_match(p, arn)));
            applies.then(|| InvokeGrant {
                sid: string(s.get("Sid")),
                source_arns,
            })
        })
        .collect()
}

/// IAM's `ArnLike` matching: `*` any run of characters, `?` one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_client_settings_take_cognitos_defaults() {
        let c = ClientFacts::from_json(json!({"ClientId": "abc"}).as_object().unwrap()).unwrap();
        assert_eq!(c.auth_flows, None);
        assert_eq!(c.prevent_user_existence_errors, "LEGACY");
        assert_eq!(c.session_minutes, 3);
        assert!(ClientFacts::from_json(json!({"ClientName": "x"}).as_object().unwrap()).is_none());
    }

    #[test]
    fn pool_facts_tolerate_wrong_types_and_nulls() {
        let p = PoolFacts::from_json(
            json!({
                "Id": "eu-west-1_x", "Status": null, "LambdaConfig": {"DefineAuthChallenge": "a", "PreTokenGenerationConfig": {"LambdaArn": "b"}},
                "SchemaAttributes": [{"Name": "custom:authChallenge", "AttributeDataType": "String", "Mutable": true, "StringAttributeConstraints": {"MaxLength": "256"}}, {"Name": 7}],
                "Domain": "", "AutoVerifiedAttributes": "email"
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(p.triggers.len(), 1, "only string slots");
        assert_eq!(
            p.attribute("custom:authChallenge").unwrap().max_length,
            Some(256)
        );
        assert_eq!(p.attributes.len(), 1);
        assert_eq!((p.mfa.as_str(), p.domain.as_deref()), ("OFF", None));
        assert!(p.auto_verified.is_empty() && p.first_factors.is_none() && p.recovery.is_none());
    }

    #[test]
    fn invoke_grants_follow_principal_action_and_source_arn() {
        let pool = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc";
        let doc = |statement: Value| {
            json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
        };
        let grant = json!({"Sid": "s", "Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": "f",
            "Condition": {"ArnLike": {"AWS:SourceArn": pool}}});
        assert_eq!(invoke_grants(&doc(grant.clone()), Some(pool)).len(), 1);
        let mut other = grant.clone();
        other["Condition"]["ArnLike"]["AWS:SourceArn"] =
            json!("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_other");
        assert!(invoke_grants(&doc(other), Some(pool)).is_empty());
        let mut wildcard = grant.clone();
        wildcard["Condition"] = json!({"ArnLike": {"aws:sourcearn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/*"}});
        assert_eq!(invoke_grants(&doc(wildcard), Some(pool)).len(), 1);
        let mut unscoped = grant.clone();
        unscoped.as_object_mut().unwrap().remove("Condition");
        let g = invoke_grants(&doc(unscoped), Some(pool));
        assert!(g.len() == 1 && g[0].source_arns.is_empty());
        let mut deny = grant.clone();
        deny["Effect"] = json!("Deny");
        assert!(invoke_grants(&doc(deny), Some(pool)).is_empty());
        let mut sns = grant.clone();
        sns["Principal"] = json!({"Service": ["sns.amazonaws.com"]});
        assert!(invoke_grants(&doc(sns), Some(pool)).is_empty());
        let mut get = grant;
        get["Action"] = json!(["lambda:GetFunction"]);
        assert!(invoke_grants(&doc(get), Some(pool)).is_empty());
        assert!(invoke_grants("not json", Some(pool)).is_empty());
        assert!(glob_match("a*c?e", "abbbcde") && !glob_match("a*c", "abd") && glob_match("*", ""));
    }
}
