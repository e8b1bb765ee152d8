//! One moto server for the whole `admin` test binary, a recording proxy in front of it, and raw
//! calls to moto for setting pools up.
//!
//! The proxy records every request `otp-admin` makes and every answer it gets, so a test can
//! compare an `UpdateUserPool` request with the `DescribeUserPool` answer it was built from. It
//! also plays the parts moto does not: SES `GetAccount` (moto has none; the access key `sandbox`
//! gets an account in the sandbox, any other one production access), and SES identities'
//! `VerifiedForSendingStatus` (moto reports every identity unverified; the proxy reports them
//! verified unless a test listed them in [`Proxy::unverified`]). A test may also register a
//! rewrite of one pool's `DescribeUserPool` answer.
//!
//! Setup calls go to moto directly as raw JSON (moto checks no signature; the fake
//! `Authorization` header only names the service and Region), so a pool is created with exactly
//! the JSON a test writes, with no SDK default filled in.
//!
//! The template-like pools ([`template`], [`build`]) are shared by `tests/admin.rs` and
//! `tests/drift.rs`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cognito_email_otp::adapters::admin::CheckTarget;
use cognito_email_otp::admin::FunctionArn;
use serde_json::{Map, Value, json};

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/otp-function";

/// One request through the proxy and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `DescribeUserPool` for Cognito (the `X-Amz-Target` operation), else `METHOD /path`.
    pub op: String,
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

type Rewrite = Box<dyn Fn(&mut Value) + Send + Sync>;

/// The recording proxy.
pub struct Proxy {
    pub endpoint: String,
    pub log: Mutex<Vec<Exchange>>,
    /// SES identities reported unverified.
    pub unverified: Mutex<HashSet<String>>,
    /// Rewrites of `DescribeUserPool` answers, by pool ID.
    rewrites: Mutex<Vec<(String, Rewrite)>>,
    requests: AtomicUsize,
}

impl Proxy {
    /// Registers `f` to rewrite the `UserPool` object of every `DescribeUserPool` answer for
    /// `pool_id`.
    pub fn rewrite_pool(&self, pool_id: &str, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.rewrites
            .lock()
            .unwrap()
            .push((pool_id.to_owned(), Box::new(f)));
    }

    /// The exchanges of operation `op` whose request names `pool_id`.
    pub fn calls(&self, op: &str, pool_id: &str) -> Vec<Exchange> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.op == op && e.request["UserPoolId"] == pool_id)
            .cloned()
            .collect()
    }
}

pub struct Shared {
    pub moto: SocketAddr,
    pub proxy: Arc<Proxy>,
    names: AtomicUsize,
}

impl Shared {
    /// A name no other test uses.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.names.fetch_add(1, Ordering::SeqCst))
    }
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The moto server and proxy of this test binary, started on first use.
pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let moto = start_moto();
        let proxy = start_proxy(moto);
        raw(moto, "iam", "us-east-1", None, "POST", "/", &format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=otp-function&AssumeRolePolicyDocument={}",
            "%7B%7D"
        ));
        Shared {
            moto,
            proxy,
            names: AtomicUsize::new(0),
        }
    })
}

/// Starts moto on a free port, under a shell that stops it when this test process is gone: a
/// static is never dropped, so nothing else would.
// The shell is left running on purpose (it is the watchdog), so it is not waited for.
#[allow(clippy::zombie_processes)]
fn start_moto() -> SocketAddr {
    let local = concat!(env!("CARGO_MANIFEST_DIR"), "/.local/venv/bin/moto_server");
    let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
        if std::path::Path::new(local).is_file() {
            local.into()
        } else {
            "moto_server".into()
        }
    });
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#""$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 & m=$!
                   while kill -0 "$3" 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done
                   kill $m 2>/dev/null"#,
                "sh",
                &bin,
                &port.to_string(),
                &std::process::id().to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh for {bin}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http(addr, "GET", "/moto-api/data.json", &[], b"") {
                return addr;
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
    }
    panic!("moto server ({bin}) did not start; `make tools` installs it, or set MOTO_SERVER");
}

/// One HTTP/1.0 request; the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let (status, _, body) = split_response(&raw);
    Ok((status, body))
}

/// A raw call to moto, as `service` in `region`, authenticated as `access_key` (default
/// `testing`). Panics on an error answer: setup must work.
pub fn raw(
    moto: SocketAddr,
    service: &str,
    region: &str,
    target: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Value {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut headers = vec![("Authorization", auth.as_str())];
    let content_type = match (service, target) {
        ("iam", _) => "application/x-www-form-urlencoded",
        (_, Some(_)) => "application/x-amz-json-1.1",
        _ => "application/json",
    };
    headers.push(("Content-Type", content_type));
    if let Some(t) = target {
        headers.push(("X-Amz-Target", t));
    }
    let (status, answer) =
        http(moto, method, path, &headers, body.as_bytes()).expect("moto answers");
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        (200..300).contains(&status),
        "{service} {method} {path} {target:?}: {status} {text}\nrequest: {body}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Splits a raw HTTP answer into status, head and de-chunked body.
fn split_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut body = raw[end..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[i + 2..i + 2 + size]);
            rest = &rest[i + 2 + size + 2..];
        }
        body = out;
    }
    (status, head, body)
}

fn start_proxy(moto: SocketAddr) -> Arc<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = Arc::new(Proxy {
        endpoint: format!("http://{}", listener.local_addr().unwrap()),
        log: Mutex::new(Vec::new()),
        unverified: Mutex::new(HashSet::new()),
        rewrites: Mutex::new(Vec::new()),
        requests: AtomicUsize::new(0),
    });
    let p = proxy.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let p = p.clone();
            std::thread::spawn(move || serve(stream, moto, &p));
        }
    });
    proxy
}

/// Reads one request: the head (as sent) and the body.
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < end + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, buf[end..].to_vec()))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn answer(s: &mut TcpStream, status: u16, body: &[u8]) {
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(body);
}

fn serve(mut s: TcpStream, moto: SocketAddr, p: &Proxy) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, body)) = read_request(&mut s) else {
        return;
    };
    p.requests.fetch_add(1, Ordering::SeqCst);
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let op = match header(&head, "x-amz-target") {
        Some(t) => t.rsplit('.').next().unwrap_or(t).to_owned(),
        None => format!("{method} {path}"),
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let access_key = header(&head, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or_default()
        .to_owned();

    // moto has no SES GetAccount.
    if method == "GET" && path == "/v2/email/account" {
        let production = access_key != "sandbox";
        let doc = json!({"ProductionAccessEnabled": production, "SendingEnabled": true, "EnforcementStatus": "HEALTHY", "DedicatedIpAutoWarmupEnabled": false});
        p.log.lock().unwrap().push(Exchange {
            op,
            request,
            status: 200,
            response: doc.clone(),
        });
        answer(&mut s, 200, doc.to_string().as_bytes());
        return;
    }

    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let Ok(mut up) = TcpStream::connect(moto) else {
        return;
    };
    let _ = up.write_all(out.as_bytes());
    let _ = up.write_all(&body);
    let mut raw = Vec::new();
    let _ = up.read_to_end(&mut raw);
    let (status, up_head, up_body) = split_response(&raw);
    let mut response: Value = serde_json::from_slice(&up_body).unwrap_or(Value::Null);
    let mut rewritten = false;
    if status == 200 && op == "DescribeUserPool" {
        let pool_id = request["UserPoolId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for (id, f) in p.rewrites.lock().unwrap().iter() {
            if *id == pool_id {
                f(&mut response["UserPool"]);
                rewritten = true;
            }
        }
    }
    if status == 200 && method == "GET" && path.starts_with("/v2/email/identities/") {
        let name = path
            .trim_start_matches("/v2/email/identities/")
            .replace("%40", "@");
        response["VerifiedForSendingStatus"] = json!(!p.unverified.lock().unwrap().contains(&name));
        rewritten = true;
    }
    p.log.lock().unwrap().push(Exchange {
        op,
        request,
        status,
        response: response.clone(),
    });
    if rewritten {
        let content_type = header(&up_head, "content-type")
            .unwrap_or("application/json")
            .to_owned();
        let doc = response.to_string();
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            doc.len()
        );
        let _ = s.write_all(doc.as_bytes());
    } else {
        // Relay the answer as moto gave it (with the body de-chunked and its length set).
        let mut h = String::new();
        for line in up_head.split("\r\n").filter(|l| !l.is_empty()) {
            let lower = line.to_ascii_lowercase();
            if !lower.starts_with("transfer-encoding:")
                && !lower.starts_with("content-length:")
                && !lower.starts_with("connection:")
            {
                h.push_str(line);
                h.push_str("\r\n");
            }
        }
        let _ = write!(
            s,
            "{h}Content-Length: {}\r\nConnection: close\r\n\r\n",
            up_body.len()
        );
        let _ = s.write_all(&up_body);
    }
}

const EMPTY_ZIP: &str = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";

/// What a test sets up: a function, a pool, its clients, the permission and the sender.
pub struct Spec {
    pub name: String,
    pub function: String,
    pub domain: String,
    pub env: Map<String, Value>,
    pub pool: Value,
    /// Client name and settings.
    pub clients: Vec<(String, Value)>,
    pub permission: Option<Value>,
    pub identity: bool,
    pub hosted_ui: bool,
}

/// A pool, client, function, permission and SES identity as `infra/template.yaml` makes them
/// (with its default parameters: AUTH_FLOW mfa, a 300 s code, a 10-minute session, PreSignUp on).
pub fn template(tag: &str) -> Spec {
    let s: &Shared = shared();
    let name = s.unique(tag);
    let function = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:otp-{name}");
    let domain = format!("{name}.example");
    let env = json!({
        "EMAIL_FROM": format!("Acme <no-reply@{domain}>"),
        "CODE_HMAC_KEY_SECRET_ARN": format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:otp-key-AbCdEf"),
        "REFERENCE_KEY": "5c2e9a14-7b31-4f0e-9d6a-1f8b3c0e7a52",
        "AUTH_FLOW": "mfa", "CODE_LENGTH": "6", "CODE_TTL_SECONDS": "300", "MAX_ATTEMPTS": "3",
        "RESEND_COOLDOWN_SECONDS": "30", "SEND_LIMIT": "5", "SEND_WINDOW_SECONDS": "3600",
        "CHALLENGE_ATTRIBUTE": "custom:authChallenge", "CHALLENGE_STORE": "attribute", "CHALLENGE_TABLE": "",
        "APP_NAME": "", "EMAIL_DEFAULT_LOCALE": "en", "EMAIL_SUBJECT": "", "EMAIL_CODE_IN_SUBJECT": "false",
        "SIGN_IN_LINK_URL": "", "SES_TEMPLATE": "", "SES_TEMPLATE_LOCALES": "", "SES_CONFIGURATION_SET": "",
        "SIGNUP_AUTO_CONFIRM": "true", "SIGNUP_ALLOWED_DOMAINS": "", "METRICS_NAMESPACE": "CognitoEmailOtp",
        "METRICS_POOL_ID_DIMENSION": "false"
    });
    let pool = json!({
        "PoolName": format!("{name}-users"),
        "DeletionProtection": "ACTIVE",
        "UsernameAttributes": ["email"],
        "UsernameConfiguration": {"CaseSensitive": false},
        "AutoVerifiedAttributes": ["email"],
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
        "MfaConfiguration": "OFF",
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]},
        "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": true, "RequireUppercase": true, "RequireNumbers": true, "RequireSymbols": false}},
        "Schema": [
            {"Name": "email", "AttributeDataType": "String", "Required": true, "Mutable": true},
            {"Name": "authChallenge", "AttributeDataType": "String", "Mutable": true, "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}}
        ],
        "LambdaConfig": {"DefineAuthChallenge": function, "CreateAuthChallenge": function, "VerifyAuthChallengeResponse": function, "PreSignUp": function}
    });
    Spec {
        env: env.as_object().unwrap().clone(),
        pool,
        clients: vec![("app".into(), template_client())],
        permission: Some(
            json!({"Action": "lambda:InvokeFunction", "Principal": "cognito-idp.amazonaws.com", "SourceAccount": ACCOUNT}),
        ),
        identity: true,
        hosted_ui: false,
        name,
        function,
        domain,
    }
}

/// The template's app client.
pub fn template_client() -> Value {
    json!({
        "GenerateSecret": false,
        "ExplicitAuthFlows": ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        "PreventUserExistenceErrors": "ENABLED",
        "AuthSessionValidity": 10,
        "ReadAttributes": ["email", "email_verified"],
        "WriteAttributes": ["email"]
    })
}

/// What [`build`] made.
pub struct Setup {
    pub pool_id: String,
    pub function: FunctionArn,
    pub function_name: String,
    pub sender_domain: String,
    /// Client name to ID.
    pub clients: Vec<(String, String)>,
}

impl Setup {
    pub fn client(&self, name: &str) -> String {
        self.clients
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap()
    }

    pub fn target(&self) -> CheckTarget {
        CheckTarget {
            pool_id: self.pool_id.clone(),
            client_ids: Vec::new(),
            function: Some(self.function.clone()),
            sender: None,
            environment: None,
            ses: true,
        }
    }
}

pub fn cognito(op: &str, body: Value) -> Value {
    raw(
        shared().moto,
        "cognito-idp",
        REGION,
        Some(&format!("AWSCognitoIdentityProviderService.{op}")),
        "POST",
        "/",
        &body.to_string(),
    )
}

pub fn build(spec: Spec) -> Setup {
    let moto = shared().moto;
    let function_name = format!("otp-{}", spec.name);
    raw(moto, "lambda", REGION, None, "POST", "/2015-03-31/functions", &json!({
        "FunctionName": function_name, "Runtime": "provided.al2023", "Role": ROLE, "Handler": "bootstrap",
        "Code": {"ZipFile": EMPTY_ZIP}, "Timeout": 5, "MemorySize": 128, "Architectures": ["arm64"],
        "Environment": {"Variables": spec.env}
    }).to_string());
    let pool = cognito("CreateUserPool", spec.pool)["UserPool"].clone();
    let pool_id = pool["Id"].as_str().unwrap().to_owned();
    let pool_arn = pool["Arn"].as_str().unwrap().to_owned();
    let mut clients = Vec::new();
    for (name, settings) in spec.clients {
        let mut body = settings.as_object().unwrap().clone();
        body.insert("UserPoolId".into(), json!(pool_id));
        body.insert("ClientName".into(), json!(name));
        let c = cognito("CreateUserPoolClient", Value::Object(body));
        clients.push((
            name,
            c["UserPoolClient"]["ClientId"].as_str().unwrap().to_owned(),
        ));
    }
    if spec.hosted_ui {
        cognito(
            "CreateUserPoolDomain",
            json!({"UserPoolId": pool_id, "Domain": format!("{}-login", spec.name)}),
        );
    }
    if let Some(mut p) = spec.permission {
        p["StatementId"] = json!(format!("cognito-{}", spec.name));
        if p.get("SourceAccount").is_some() {
            p["SourceArn"] = json!(pool_arn);
        }
        raw(
            moto,
            "lambda",
            REGION,
            None,
            "POST",
            &format!("/2015-03-31/functions/{function_name}/policy"),
            &p.to_string(),
        );
    }
    if spec.identity {
        raw(
            moto,
            "ses",
            REGION,
            None,
            "POST",
            "/v2/email/identities",
            &json!({"EmailIdentity": spec.domain}).to_string(),
        );
    }
    Setup {
        pool_id,
        function: FunctionArn::parse(&spec.function).unwrap(),
        function_name,
        sender_domain: spec.domain,
        clients,
    }
}
