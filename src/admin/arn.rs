//! Identifiers from outside, parsed once and never trusted further: Lambda function ARNs, user pool
//! IDs and ARNs, app client IDs. A value that does not parse is an [`AdminError::BadInput`], never
//! a panic.

use super::AdminError;

/// A Lambda function ARN: `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionArn {
    raw: String,
    partition: String,
    region: String,
    account: String,
    name: String,
    qualifier: Option<String>,
}

impl FunctionArn {
    /// Parses a function ARN, with or without a version or alias.
    pub fn parse(value: &str) -> Result<Self, AdminError> {
        let bad = |why| AdminError::BadInput {
            what: "--function-arn",
            value: value.to_owned(),
            why,
        };
        let parts: Vec<&str> = value.split(':').collect();
        let (arn, partition, service, region, account, kind, name) = match parts[..] {
            [a, p, s, r, acc, k, n] | [a, p, s, r, acc, k, n, _] => (a, p, s, r, acc, k, n),
            _ => {
                return Err(bad(
                    "use arn:aws:lambda:REGION:ACCOUNT:function:NAME[:VERSION or ALIAS]",
                ));
            }
        };
        if arn != "arn"
            || !partition.starts_with("aws")
            || service != "lambda"
            || kind != "function"
        {
            return Err(bad(
                "use arn:aws:lambda:REGION:ACCOUNT:function:NAME[:VERSION or ALIAS]",
            ));
        }
        if !valid_region(region) {
            return Err(bad("the Region part is not a Region, e.g. eu-west-1"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the account part must be 12 digits"));
        }
        let word = |s: &str, max: usize| {
            (1..=max).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !word(name, 64) {
            return Err(bad(
                "the function name must be 1 to 64 letters, digits, - or _",
            ));
        }
        let qualifier = match parts.get(7) {
            None => None,
            Some(q) if *q == "$LATEST" || word(q, 128) => Some((*q).to_owned()),
            Some(_) => {
                return Err(bad(
                    "the version or alias must be $LATEST, a number or an alias name",
                ));
            }
        };
        Ok(Self {
            raw: value.to_owned(),
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
            qualifier,
        })
    }

    /// The ARN exactly as given (what Cognito stores in a trigger slot).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The function's Region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The function's account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The function's name, without version or alias.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version or alias, if the ARN names one.
    pub fn qualifier(&self) -> Option<&str> {
        self.qualifier.as_deref()
    }

    /// The same function without its version or alias: what `lambda:GetPolicy` is granted on
    /// when a grant names the function alone (the drift check's).
    pub fn unqualified(&self) -> FunctionArn {
        match &self.qualifier {
            None => self.clone(),
            Some(_) => Self {
                raw: format!(
                    "arn:{}:lambda:{}:{}:function:{}",
                    self.partition, self.region, self.account, self.name
                ),
                qualifier: None,
                ..self.clone()
            },
        }
    }

    /// How `other` (a trigger slot's value) relates to this function.
    pub fn relation(&self, other: &str) -> Relation {
        if other == self.raw {
            return Relation::Same;
        }
        match Self::parse(other) {
            Ok(o)
                if o.partition == self.partition
                    && o.region == self.region
                    && o.account == self.account
                    && o.name == self.name =>
            {
                Relation::OtherVersion
            }
            _ => Relation::OtherFunction,
        }
    }
}

impl std::fmt::Display for FunctionArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// How a trigger slot's value relates to the function being checked or attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Exactly this ARN.
    Same,
    /// The same function, another version or alias (or qualified where this one is not).
    OtherVersion,
    /// Anything else.
    OtherFunction,
}

/// Whether `s` looks like an AWS Region name (`eu-west-1`, `us-gov-west-1`, `cn-north-1`).
fn valid_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a user pool ID (`REGION_ID`, e.g. `eu-west-1_Q7xk2PzRm`) and returns its Region: Cognito
/// answers for a pool only in that Region.
pub fn pool_region(pool_id: &str) -> Result<&str, AdminError> {
    let bad = |why| AdminError::BadInput {
        what: "--user-pool-id",
        value: pool_id.to_owned(),
        why,
    };
    let (region, id) = pool_id
        .split_once('_')
        .ok_or_else(|| bad("use the pool's ID, REGION_ID, e.g. eu-west-1_Q7xk2PzRm"))?;
    if !valid_region(region) {
        return Err(bad(
            "the part before _ must be the pool's Region, e.g. eu-west-1",
        ));
    }
    if id.is_empty() || id.len() > 54 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad("the part after _ must be letters and digits"));
    }
    Ok(region)
}

/// Checks an app client ID (1 to 128 letters, digits, `+` or `]`, as Cognito's model allows; in
/// practice 26 lower-case letters and digits).
pub fn check_client_id(client_id: &str) -> Result<(), AdminError> {
    if (1..=128).contains(&client_id.len())
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b']')
    {
        Ok(())
    } else {
        Err(AdminError::BadInput {
            what: "--client-id",
            value: client_id.to_owned(),
            why: "an app client ID is letters and digits, e.g. 3n4b5v6c7x8z9a0s1d2f3g4h5j",
        })
    }
}

/// The account in a user pool ARN (`arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID`), if it is one.
pub fn pool_arn_account(pool_arn: &str) -> Option<&str> {
    let parts: Vec<&str> = pool_arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", _, "cognito-idp", _, account, rest]
            if rest.starts_with("userpool/") && account.len() == 12 =>
        {
            Some(account)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_arns_parse_with_and_without_a_qualifier() {
        let f = FunctionArn::parse("arn:aws:lambda:eu-west-1:123456789012:function:otp").unwrap();
        assert_eq!(
            (f.region(), f.account(), f.name(), f.qualifier()),
            ("eu-west-1", "123456789012", "otp", None)
        );
        let v = FunctionArn::parse("arn:aws:lambda:eu-west-1:123456789012:function:otp:7").unwrap();
        assert_eq!(v.qualifier(), Some("7"));
        assert_eq!(v.unqualified(), f);
        assert_eq!(f.unqualified(), f);
        assert_eq!(f.relation(v.as_str()), Relation::OtherVersion);
        assert_eq!(v.relation(f.as_str()), Relation::OtherVersion);
        assert_eq!(f.relation(f.as_str()), Relation::Same);
        assert_eq!(
            f.relation("arn:aws:lambda:eu-west-1:123456789012:function:other"),
            Relation::OtherFunction
        );
        assert_eq!(
            f.relation("arn:aws:lambda:eu-west-2:123456789012:function:otp"),
            Relation::OtherFunction
        );
        assert_eq!(f.relation("not an arn"), Relation::OtherFunction);
        for bad in [
            "",
            "otp",
            "arn:aws:lambda:eu-west-1:123456789012:function:",
            "arn:aws:lambda:eu-west-1:1234:function:otp",
            "arn:aws:s3:eu-west-1:123456789012:function:otp",
            "arn:aws:lambda:eu-west-1:123456789012:layer:otp",
            "arn:aws:lambda:europe:123456789012:function:otp",
            "arn:aws:lambda:eu-west-1:123456789012:function:otp:1:2",
            "arn:aws:lambda:eu-west-1:123456789012:function:o t p",
        ] {
            let e = FunctionArn::parse(bad).unwrap_err();
            assert!(e.to_string().contains("--function-arn"), "{bad}: {e}");
        }
    }

    #[test]
    fn pool_ids_name_their_region() {
        assert_eq!(pool_region("eu-west-1_Q7xk2PzRm").unwrap(), "eu-west-1");
        assert_eq!(pool_region("us-gov-west-1_abc").unwrap(), "us-gov-west-1");
        for bad in [
            "",
            "Q7xk2PzRm",
            "eu-west-1_",
            "eu_west_1",
            "eu-west-1_a/b",
            "EU-WEST-1_abc",
        ] {
            assert!(pool_region(bad).is_err(), "{bad}");
        }
        assert!(check_client_id("3n4b5v6c7x8z9a0s1d2f3g4h5j").is_ok());
        assert!(check_client_id("a b").is_err() && check_client_id("").is_err());
        assert_eq!(
            pool_arn_account("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_x"),
            Some("123456789012")
        );
        assert_eq!(
            pool_arn_account("arn:aws:lambda:eu-west-1:123456789012:function:x"),
            None
        );
    }
}
