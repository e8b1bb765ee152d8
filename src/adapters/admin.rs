//! The AWS calls of `otp-admin`: read a pool, its app clients, the function and the sender's SES
//! identity into [`Facts`], and apply the plans of [`crate::admin::wiring`].
//!
//! The pool and its clients are kept as the JSON objects Cognito answered, not as SDK structs: an
//! interceptor copies the raw body of `DescribeUserPool` and `DescribeUserPoolClient`, and another
//! replaces the body of `UpdateUserPool` and `UpdateUserPoolClient` with the plan's JSON before
//! the request is signed. That is how an update sends back every setting exactly as it was read,
//! including members this SDK version does not model, and never a default the SDK would fill in.
//!
//! The SDK configuration is the standard one (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, …)
//! with timeouts for an interactive tool rather than the function's 1.6 s; the function's drift
//! check ([`AwsInspector`]) reads through the function's own configuration instead, and only the
//! pool, its clients and the function's policy. Cognito is called in
//! the Region the pool ID names, Lambda in the function ARN's, SES in the function's (where it
//! sends), else the pool's. Calls made: see `docs/admin.md`.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_cognitoidentityprovider::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_cognitoidentityprovider::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_cognitoidentityprovider::error::{
    BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError,
};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, SchemaAttributeType, StringAttributeConstraintsType,
};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::adapters::aws::AwsContext;
use crate::admin::arn::pool_region;
use crate::admin::facts::{ClientFacts, Facts, FunctionFacts, PoolFacts, SesFacts};
use crate::admin::wiring::{self, AttachOptions, NewAttribute, Permission, Plan, Refusal};
use crate::admin::{AdminError, FunctionArn};
use crate::config::StoreChoice;
use crate::domain::email::Sender;
use crate::ports::PoolInspector;

type Cognito = aws_sdk_cognitoidentityprovider::Client;
type Lambda = aws_sdk_lambda::Client;
type Ses = aws_sdk_sesv2::Client;

/// The standard SDK configuration, with timeouts for a command line tool.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

/// What `check` looks at.
#[derive(Debug, Clone)]
pub struct CheckTarget {
    /// `--user-pool-id`.
    pub pool_id: String,
    /// `--client-id`, repeated; empty for every client of the pool.
    pub client_ids: Vec<String>,
    /// `--function-arn`.
    pub function: Option<FunctionArn>,
    /// `--from`; without it, the function's `EMAIL_FROM` if the function is given.
    pub sender: Option<String>,
    /// The function's environment when the caller has it: the drift check runs inside the
    /// function and passes its own. Then `GetFunctionConfiguration` is not called (`GetPolicy`
    /// still is); `None` reads it.
    pub environment: Option<BTreeMap<String, String>>,
    /// Whether to read the sender's SES identity and the account's sending status. The drift
    /// check does not: `ses:GetAccount` can only be granted on `*`.
    pub ses: bool,
}

/// How many `DescribeUserPoolClient` calls are in flight at once: a pool with many clients is
/// read in a fraction of the time one after another takes, and Cognito's per-account request
/// rate for client reads is not run into.
pub const CLIENT_READS_IN_FLIGHT: usize = 4;

/// The AWS side of `otp-admin`.
#[derive(Debug, Clone)]
pub struct AdminAws {
    sdk: SdkConfig,
}

/// Copies the raw body of an answer (read-only; the SDK still parses it as usual).
#[derive(Debug, Clone, Default)]
struct CaptureBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for CaptureBody {
    fn name(&self) -> &'static str {
        "otp-admin.CaptureBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes.to_vec());
        }
        Ok(())
    }
}

impl CaptureBody {
    /// The captured body's JSON object under `key` (`UserPool`, `UserPoolClient`).
    fn object(&self, call: &'static str, key: &str) -> Result<Map<String, Value>, AdminError> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        let bad = |what: String| AdminError::BadAnswer { call, what };
        let bytes = bytes.ok_or_else(|| bad("a body".into()))?;
        let mut doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("a JSON body ({e})")))?;
        match doc.get_mut(key).map(Value::take) {
            Some(Value::Object(o)) => Ok(o),
            _ => Err(bad(format!("a {key} object"))),
        }
    }
}

/// Replaces a request's body before it is signed (so the signature covers it).
#[derive(Debug)]
struct ReplaceBody(Vec<u8>);

impl Intercept for ReplaceBody {
    fn name(&self) -> &'static str {
        "otp-admin.ReplaceBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        *request.body_mut() = self.0.clone().into();
        request
            .headers_mut()
            .insert("content-length", self.0.len().to_string());
        Ok(())
    }
}

/// Error codes that mean the caller lacks a permission.
const DENIED: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
];
/// Error codes that mean the credentials themselves are wrong.
const BAD_CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// A failed call as an [`AdminError::Aws`], with what to do about it.
fn failed<E>(
    call: &'static str,
    err: &SdkError<E, aws_sdk_cognitoidentityprovider::config::http::HttpResponse>,
) -> AdminError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let code = err.code().unwrap_or_default();
    let (detail, hint) = match err {
        SdkError::ServiceError(_) => (
            format!("{code}: {}", err.message().unwrap_or("no message")),
            if DENIED.contains(&code) {
                format!("; the caller needs the IAM permission {call}")
            } else if BAD_CREDENTIALS.contains(&code) {
                "; the credentials are not valid (AWS_PROFILE, AWS_ACCESS_KEY_ID, an expired session)".into()
            } else {
                String::new()
            },
        ),
        _ => (
            DisplayErrorContext(err).to_string(),
            "; check the credentials, AWS_REGION, AWS_ENDPOINT_URL and the network".into(),
        ),
    };
    AdminError::Aws { call, detail, hint }
}

impl AdminAws {
    /// Calls AWS with `sdk` (from [`load_config`], or a test's).
    pub fn new(sdk: SdkConfig) -> Self {
        Self { sdk }
    }

    fn cognito(&self, region: &str) -> Cognito {
        let conf = aws_sdk_cognitoidentityprovider::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        Cognito::from_conf(conf)
    }

    fn lambda(&self, region: &str) -> Lambda {
        let conf = aws_sdk_lambda::config::Builder::from(&self.sdk)
            .region(aws_sdk_lambda::config::Region::new(region.to_owned()))
            .build();
        Lambda::from_conf(conf)
    }

    fn ses(&self, region: &str) -> Ses {
        let conf = aws_sdk_sesv2::config::Builder::from(&self.sdk)
            .region(aws_sdk_sesv2::config::Region::new(region.to_owned()))
            .build();
        Ses::from_conf(conf)
    }

    /// `DescribeUserPool`: the `UserPool` object exactly as answered.
    pub async fn describe_pool(&self, pool_id: &str) -> Result<Map<String, Value>, AdminError> {
        const CALL: &str = "cognito-idp:DescribeUserPool";
        let capture = CaptureBody::default();
        let answer = self
            .cognito(pool_region(pool_id)?)
            .describe_user_pool()
            .user_pool_id(pool_id)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await;
        match answer {
            Ok(_) => {
                let pool = capture.object(CALL, "UserPool")?;
                // Every plan names the pool by this Id: it must be the one asked for.
                if pool.get("Id").and_then(Value::as_str) != Some(pool_id) {
                    return Err(AdminError::BadAnswer {
                        call: CALL,
                        what: format!("the Id {pool_id}"),
                    });
                }
                Ok(pool)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Err(AdminError::NoPool(pool_id.to_owned()))
            }
            Err(e) => Err(failed(CALL, &e)),
        }
    }

    /// `ListUserPoolClients`, every page: the pool's client IDs.
    pub async fn client_ids(&self, pool_id: &str) -> Result<Vec<String>, AdminError> {
        const CALL: &str = "cognito-idp:ListUserPoolClients";
        let cognito = self.cognito(pool_region(pool_id)?);
        let mut ids = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = cognito
                .list_user_pool_clients()
                .user_pool_id(pool_id)
                .max_results(60)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| failed(CALL, &e))?;
            ids.extend(
                page.user_pool_clients()
                    .iter()
                    .filter_map(|c| c.client_id().map(str::to_owned)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => return Ok(ids),
            }
        }
    }

    /// `DescribeUserPoolClient`: the `UserPoolClient` object exactly as answered.
    pub async fn describe_client(
        &self,
        pool_id: &str,
        client_id: &str,
    ) -> Result<Map<String, Value>, AdminError> {
        const CALL: &str = "cognito-idp:DescribeUserPoolClient";
        let capture = CaptureBody::default();
        let answer = self
            .cognito(pool_region(pool_id)?)
            .describe_user_pool_client()
            .user_pool_id(pool_id)
            .client_id(client_id)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await;
        match answer {
            Ok(_) => {
                let client = capture.object(CALL, "UserPoolClient")?;
                if client.get("ClientId").and_then(Value::as_str) != Some(client_id) {
                    return Err(AdminError::BadAnswer {
                        call: CALL,
                        what: format!("the ClientId {client_id}"),
                    });
                }
                Ok(client)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Err(AdminError::NoClient {
                    pool: pool_id.to_owned(),
                    client: client_id.to_owned(),
                })
            }
            Err(e) => Err(failed(CALL, &e)),
        }
    }

    /// `GetFunctionConfiguration` and `GetPolicy`.
    pub async fn function(&self, arn: &FunctionArn) -> Result<FunctionFacts, AdminError> {
        let config = self
            .lambda(arn.region())
            .get_function_configuration()
            .function_name(arn.as_str())
            .send();
        let (config, policy) = tokio::join!(config, self.policy(arn));
        let config = match config {
            Ok(c) => c,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Err(AdminError::NoFunction(arn.to_string()));
            }
            Err(e) => return Err(failed("lambda:GetFunctionConfiguration", &e)),
        };
        let policy = policy?;
        let environment: BTreeMap<String, String> = config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(FunctionFacts {
            arn: arn.clone(),
            environment,
            policy,
        })
    }

    /// `GetPolicy` of `arn` (as given: with a qualifier, the alias's or version's own policy).
    /// `None` when the function has no resource policy at all (Cognito may then not invoke it).
    pub async fn policy(&self, arn: &FunctionArn) -> Result<Option<String>, AdminError> {
        match self
            .lambda(arn.region())
            .get_policy()
            .function_name(arn.as_str())
            .send()
            .await
        {
            Ok(p) => Ok(p.policy().map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(failed("lambda:GetPolicy", &e)),
        }
    }

    /// `DescribeUserPoolClient` of each of `ids`, at most [`CLIENT_READS_IN_FLIGHT`] at once, in
    /// the order given. The first failure is the answer (the other reads are dropped).
    pub async fn describe_clients(
        &self,
        pool_id: &str,
        ids: Vec<String>,
    ) -> Result<Vec<ClientFacts>, AdminError> {
        const CALL: &str = "cognito-idp:DescribeUserPoolClient";
        let permits = Arc::new(tokio::sync::Semaphore::new(CLIENT_READS_IN_FLIGHT));
        // Dropping the set (an error, or the caller's deadline) aborts every read still running.
        let mut reads = tokio::task::JoinSet::new();
        for (i, id) in ids.into_iter().enumerate() {
            let (aws, pool_id, permits) = (self.clone(), pool_id.to_owned(), permits.clone());
            reads.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let raw = aws.describe_client(&pool_id, &id).await?;
                let client = ClientFacts::from_json(&raw).ok_or(AdminError::BadAnswer {
                    call: CALL,
                    what: "the client's ClientId".into(),
                })?;
                Ok::<_, AdminError>((i, client))
            });
        }
        let mut clients = Vec::with_capacity(reads.len());
        while let Some(done) = reads.join_next().await {
            let read = done.map_err(|e| AdminError::BadAnswer {
                call: CALL,
                what: format!("a read that finished ({e})"),
            })?;
            clients.push(read?);
        }
        clients.sort_by_key(|(i, _)| *i);
        Ok(clients.into_iter().map(|(_, c)| c).collect())
    }

    /// `GetEmailIdentity` of the address and of its domain, and `GetAccount`, in `region`.
    pub async fn ses_facts(&self, region: &str, sender: &str) -> Result<SesFacts, AdminError> {
        const CALL: &str = "ses:GetEmailIdentity";
        let ses = self.ses(region);
        let domain = sender
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        let identity = |name: String| {
            let ses = ses.clone();
            async move {
                match ses.get_email_identity().email_identity(&name).send().await {
                    Ok(i) => Ok(Some((name, i.verified_for_sending_status()))),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_not_found_exception()) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(failed(CALL, &e)),
                }
            }
        };
        let account = async {
            ses.get_account()
                .send()
                .await
                .map_err(|e| failed("ses:GetAccount", &e))
        };
        let (address, domain, account) =
            tokio::join!(identity(sender.to_owned()), identity(domain), account);
        Ok(SesFacts {
            sender: sender.to_owned(),
            identities: [address?, domain?].into_iter().flatten().collect(),
            production_access: account?.production_access_enabled(),
        })
    }

    /// Everything `check` looks at: the pool, its clients and the function at once (clients
    /// read [`CLIENT_READS_IN_FLIGHT`] at a time), then SES if asked. Read-only. Shared by
    /// `otp-admin check` and the function's drift check (see [`AwsInspector`]).
    pub async fn gather(&self, target: &CheckTarget) -> Result<Facts, AdminError> {
        let region = pool_region(&target.pool_id)?.to_owned();
        let pool = async {
            let raw = self.describe_pool(&target.pool_id).await?;
            PoolFacts::from_json(&raw).ok_or(AdminError::BadAnswer {
                call: "cognito-idp:DescribeUserPool",
                what: "the pool's Id".into(),
            })
        };
        let clients = async {
            let ids = if target.client_ids.is_empty() {
                self.client_ids(&target.pool_id).await?
            } else {
                target.client_ids.clone()
            };
            self.describe_clients(&target.pool_id, ids).await
        };
        let function = async {
            match (&target.function, &target.environment) {
                (Some(arn), Some(environment)) => Ok(Some(FunctionFacts {
                    arn: arn.clone(),
                    environment: environment.clone(),
                    policy: self.policy(arn).await?,
                })),
                (Some(arn), None) => self.function(arn).await.map(Some),
                (None, _) => Ok(None),
            }
        };
        // All three at once, but a missing pool is reported as such, not as the clients' or
        // the policy's failure that follows from it.
        let (pool, clients, function) = tokio::join!(pool, clients, function);
        let (pool, clients, function) = (pool?, clients?, function?);
        if !target.ses {
            return Ok(Facts {
                pool,
                clients,
                function,
                ses: None,
            });
        }
        let sender = match (&target.sender, &function) {
            (Some(s), _) => Some(sender_address(s, "--from")?),
            (None, Some(f)) => f
                .environment
                .get("EMAIL_FROM")
                .and_then(|s| Sender::parse(s))
                .map(|s| s.address().as_str().to_owned()),
            (None, None) => None,
        };
        let ses_region = target
            .function
            .as_ref()
            .map_or(region, |f| f.region().to_owned());
        let ses = match sender {
            Some(s) => Some(self.ses_facts(&ses_region, &s).await?),
            None => None,
        };
        Ok(Facts {
            pool,
            clients,
            function,
            ses,
        })
    }

    /// `AddCustomAttributes`: one String attribute, mutable.
    pub async fn add_attribute(
        &self,
        pool_id: &str,
        attribute: &NewAttribute,
    ) -> Result<(), AdminError> {
        let schema = SchemaAttributeType::builder()
            .name(&attribute.name)
            .attribute_data_type(AttributeDataType::String)
            .mutable(true)
            .string_attribute_constraints(
                StringAttributeConstraintsType::builder()
                    .min_length("0")
                    .max_length(attribute.max_length.to_string())
                    .build(),
            )
            .build();
        self.cognito(pool_region(pool_id)?)
            .add_custom_attributes()
            .user_pool_id(pool_id)
            .custom_attributes(schema)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("cognito-idp:AddCustomAttributes", &e))
    }

    /// `UpdateUserPool` with exactly `body` (which names the pool).
    pub async fn update_pool(
        &self,
        pool_id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), AdminError> {
        let bytes = serde_json::to_vec(body).map_err(|e| AdminError::BadAnswer {
            call: "cognito-idp:UpdateUserPool",
            what: format!("a body it could serialize ({e})"),
        })?;
        self.cognito(pool_region(pool_id)?)
            .update_user_pool()
            .user_pool_id(pool_id)
            .customize()
            .interceptor(ReplaceBody(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("cognito-idp:UpdateUserPool", &e))
    }

    /// `UpdateUserPoolClient` with exactly `body` (which names the pool and the client).
    pub async fn update_client(
        &self,
        pool_id: &str,
        client_id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), AdminError> {
        let bytes = serde_json::to_vec(body).map_err(|e| AdminError::BadAnswer {
            call: "cognito-idp:UpdateUserPoolClient",
            what: format!("a body it could serialize ({e})"),
        })?;
        self.cognito(pool_region(pool_id)?)
            .update_user_pool_client()
            .user_pool_id(pool_id)
            .client_id(client_id)
            .customize()
            .interceptor(ReplaceBody(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("cognito-idp:UpdateUserPoolClient", &e))
    }

    /// `AddPermission`: Cognito may invoke the function for this pool alone.
    pub async fn add_permission(
        &self,
        function: &FunctionArn,
        p: &Permission,
    ) -> Result<(), AdminError> {
        self.lambda(function.region())
            .add_permission()
            .function_name(function.as_str())
            .statement_id(&p.statement_id)
            .action("lambda:InvokeFunction")
            .principal("cognito-idp.amazonaws.com")
            .source_arn(&p.source_arn)
            .source_account(&p.source_account)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("lambda:AddPermission", &e))
    }

    /// `RemovePermission` of one statement.
    pub async fn remove_permission(
        &self,
        function: &FunctionArn,
        statement_id: &str,
    ) -> Result<(), AdminError> {
        self.lambda(function.region())
            .remove_permission()
            .function_name(function.as_str())
            .statement_id(statement_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("lambda:RemovePermission", &e))
    }
}

/// The address of a sender given as `Name <address>` or `address`.
pub fn sender_address(value: &str, what: &'static str) -> Result<String, AdminError> {
    Sender::parse(value)
        .map(|s| s.address().as_str().to_owned())
        .ok_or_else(|| AdminError::BadInput {
            what,
            value: value.to_owned(),
            why: "use an address, e.g. no-reply@acme.example or \"Acme <no-reply@acme.example>\"",
        })
}

/// What `attach` is asked to do.
#[derive(Debug, Clone)]
pub struct AttachRequest {
    /// `--user-pool-id`.
    pub pool_id: String,
    /// `--function-arn`.
    pub function: FunctionArn,
    /// `--client-id`, repeated: the clients to fix (none are touched otherwise).
    pub client_ids: Vec<String>,
    /// `--pre-sign-up`.
    pub pre_sign_up: bool,
    /// `--replace`.
    pub replace: bool,
    /// `--turn-off-mfa`.
    pub turn_off_mfa: bool,
    /// `--admin-only-recovery`.
    pub admin_only_recovery: bool,
}

impl AdminAws {
    /// The pool's ARN and account, from the `DescribeUserPool` object.
    fn pool_arn(pool: &Map<String, Value>) -> Result<(String, String), AdminError> {
        let arn = pool.get("Arn").and_then(Value::as_str).unwrap_or_default();
        let account = crate::admin::arn::pool_arn_account(arn).ok_or(AdminError::BadAnswer {
            call: "cognito-idp:DescribeUserPool",
            what: "the pool's Arn".into(),
        })?;
        Ok((arn.to_owned(), account.to_owned()))
    }

    /// The plan of `attach`. Read-only: `DescribeUserPool`, `GetFunctionConfiguration`,
    /// `GetPolicy`, and `DescribeUserPoolClient` of each named client.
    pub async fn plan_attach(&self, req: &AttachRequest) -> Result<Plan, AdminError> {
        pool_region(&req.pool_id)?;
        let (pool, function) = tokio::try_join!(
            self.describe_pool(&req.pool_id),
            self.function(&req.function)
        )?;
        let config = crate::admin::checks::function_config(&function)
            .map_err(|e| Refusal::FunctionConfig(e.to_string()))?;
        let attribute = match config.store {
            StoreChoice::Attribute => Some(config.challenge_attribute.clone()),
            StoreChoice::DynamoDb { .. } => None,
        };
        let options = AttachOptions {
            function: req.function.clone(),
            pre_sign_up: req.pre_sign_up,
            replace: req.replace,
            turn_off_mfa: req.turn_off_mfa,
            admin_only_recovery: req.admin_only_recovery,
            attribute: attribute.clone(),
            needed_length: crate::admin::checks::longest_state(config.limits.send_limit),
            password_first_only: config.flow == crate::domain::flow::AuthFlow::Mfa,
        };
        let pool_plan = wiring::plan_attach(&pool, &options)?;
        let (pool_arn, account) = Self::pool_arn(&pool)?;
        let add_permission = wiring::plan_permission(
            function.policy.as_deref(),
            &req.pool_id,
            &pool_arn,
            &account,
        );
        let has_domain = PoolFacts::from_json(&pool).is_some_and(|p| p.domain.is_some());
        let mut clients = Vec::new();
        for id in &req.client_ids {
            let raw = self.describe_client(&req.pool_id, id).await?;
            clients.push(wiring::plan_client(
                &req.pool_id,
                &raw,
                attribute.as_deref(),
                config.limits.ttl,
                has_domain,
            )?);
        }
        Ok(Plan {
            function: req.function.clone(),
            pool: pool_plan,
            add_permission,
            clients,
            remove_permissions: Vec::new(),
        })
    }

    /// The plan of `detach`. Read-only: `DescribeUserPool` and `GetPolicy`.
    pub async fn plan_detach(
        &self,
        pool_id: &str,
        function: &FunctionArn,
    ) -> Result<Plan, AdminError> {
        pool_region(pool_id)?;
        let pool = self.describe_pool(pool_id).await?;
        let policy = self.policy(function).await?;
        let (pool_arn, _) = Self::pool_arn(&pool)?;
        Ok(Plan {
            function: function.clone(),
            pool: wiring::plan_detach(&pool, function)?,
            add_permission: None,
            clients: Vec::new(),
            remove_permissions: wiring::permissions_to_remove(policy.as_deref(), &pool_arn),
        })
    }

    /// Makes the plan's changes in its order, calling `done` after each step. Just before an
    /// update, the pool (or client) is read again; if its settings changed since the plan was
    /// made, nothing more is done (the update would undo that change).
    pub async fn apply(&self, plan: &Plan, mut done: impl FnMut(usize)) -> Result<(), AdminError> {
        let pool_id = plan.pool.pool_id.as_str();
        let mut step = 0;
        let mut next = |done: &mut dyn FnMut(usize)| {
            step += 1;
            done(step);
        };
        if let Some(a) = &plan.pool.add_attribute {
            self.add_attribute(pool_id, a).await?;
            next(&mut done);
        }
        if let Some(p) = &plan.add_permission {
            self.add_permission(&plan.function, p).await?;
            next(&mut done);
        }
        if let Some(body) = &plan.pool.update {
            let now = self.describe_pool(pool_id).await?;
            if wiring::pool_update_body(pool_id, &now).0 != plan.pool.source {
                return Err(AdminError::Changed(format!("user pool {pool_id}")));
            }
            self.update_pool(pool_id, body).await?;
            next(&mut done);
        }
        for c in &plan.clients {
            if let Some(body) = &c.update {
                let now = self.describe_client(pool_id, &c.client_id).await?;
                if wiring::client_update_body(pool_id, &c.client_id, &now).0 != c.source {
                    return Err(AdminError::Changed(format!("app client {}", c.client_id)));
                }
                self.update_client(pool_id, &c.client_id, body).await?;
                next(&mut done);
            }
        }
        for sid in &plan.remove_permissions {
            self.remove_permission(&plan.function, sid).await?;
            next(&mut done);
        }
        Ok(())
    }
}

/// The drift check's [`PoolInspector`]: [`AdminAws::gather`] on the function's own SDK
/// configuration (its timeouts and retries, loaded on first use), with the function's environment
/// read from its own process when a check runs (not at start-up: Define never pays for it, and no
/// copy of it is kept) and no SES. Four calls: `DescribeUserPool`, `ListUserPoolClients`,
/// `DescribeUserPoolClient` per client, `GetPolicy`.
#[derive(Debug)]
pub struct AwsInspector {
    aws: Arc<AwsContext>,
    admin: OnceCell<AdminAws>,
}

impl AwsInspector {
    /// Reads through `aws`, the function's shared SDK context.
    pub fn new(aws: Arc<AwsContext>) -> Self {
        Self {
            aws,
            admin: OnceCell::new(),
        }
    }

    async fn admin(&self) -> &AdminAws {
        self.admin
            .get_or_init(|| async { AdminAws::new(self.aws.sdk_config().await.clone()) })
            .await
    }
}

impl PoolInspector for AwsInspector {
    async fn inspect(&self, pool_id: &str, function: &FunctionArn) -> Result<Facts, AdminError> {
        let target = CheckTarget {
            pool_id: pool_id.to_owned(),
            client_ids: Vec::new(),
            function: Some(function.clone()),
            sender: None,
            environment: Some(own_environment()),
            ses: false,
        };
        self.admin().await.gather(&target).await
    }
}

/// Variables Lambda sets that are credentials, not configuration: never handed to the checks.
const CREDENTIALS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// This process's environment as the function's configuration, for the drift check: what
/// `GetFunctionConfiguration` would answer, plus the variables Lambda itself sets (which the
/// checks do not read), less the role's credentials.
fn own_environment() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| !CREDENTIALS.contains(&k.as_str()))
        .collect()
}
