//! moto server (from PyPI) on 127.0.0.1, one per test, stopped when the handle drops; plus a
//! small fault server that answers SES and Cognito requests the way a failing AWS would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sesv2::config::{Credentials, Region};
use cognito_email_otp::adapters::aws::AwsContext;
use serde_json::Value;

/// A running moto server.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub addr: SocketAddr,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 request; returns status and body.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

impl Moto {
    /// Starts `moto_server` on a free loopback port and waits until it answers: `$MOTO_SERVER`,
    /// else the project's own `.local/venv` (where `make tools` installs it, so a plain
    /// `cargo test` finds it too), else the PATH.
    pub fn start() -> Self {
        let local = concat!(env!("CARGO_MANIFEST_DIR"), "/.local/venv/bin/moto_server");
        let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
            if std::path::Path::new(local).is_file() {
                local.into()
            } else {
                "moto_server".into()
            }
        });
        // A port from free_port() can be taken by another test's listener before moto binds it;
        // moto then exits at once. Such a start is retried on another port, twice at most.
        let mut exits = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("moto-{}-{port}.log", std::process::id()));
            let stderr = std::fs::File::create(&log).expect("a log file for moto");
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin} (make tools installs it): {e}"));
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let said = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: String = said.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
                    exits.push(format!("port {port}: {status}: {tail}"));
                    break;
                }
                if matches!(http(addr, "GET", "/moto-api/data.json"), Ok((200, _))) {
                    let _ = std::fs::remove_file(&log);
                    return Self {
                        child,
                        endpoint: format!("http://{addr}"),
                        addr,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "moto server did not answer on {addr} within 60 s (its log: {})",
                        log.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("moto server exited at start three times: {exits:?}");
    }

    /// The emails moto's SES has accepted, as moto records them (source, destinations, subject, body).
    pub fn sent_emails(&self) -> Vec<Value> {
        let (_, body) = http(self.addr, "GET", "/moto-api/data.json").expect("moto data");
        let data: Value = serde_json::from_str(&body).expect("moto data is JSON");
        data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Creates a Secrets Manager secret holding `value`; returns its full ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        aws_sdk_secretsmanager::Client::new(self.aws().sdk_config().await)
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned()
    }

    /// Creates a DynamoDB table with the String partition key `pk` and nothing else, as the
    /// function asks of it.
    pub async fn create_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb()
            .await
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
    }

    /// A DynamoDB client on this server.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(self.aws().sdk_config().await)
    }

    /// Every item of `table`.
    pub async fn items(
        &self,
        table: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.dynamodb()
            .await
            .scan()
            .table_name(table)
            .send()
            .await
            .unwrap()
            .items()
            .to_vec()
    }

    /// An SDK context pointed at this server.
    pub fn aws(&self) -> Arc<AwsContext> {
        aws_at(&self.endpoint)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK context for `endpoint`, with test credentials, keeping the production timeouts.
pub fn aws_at(endpoint: &str) -> Arc<AwsContext> {
    let endpoint = endpoint.to_owned();
    Arc::new(AwsContext::with_loader_hook(move |l| {
        l.endpoint_url(endpoint.clone())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
    }))
}

/// How the fault server answers SES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesFault {
    /// Healthy: forwarded upstream when there is one, else a canned success.
    Ok,
    /// HTTP 429 `TooManyRequestsException`.
    Throttled,
    /// HTTP 500.
    ServerError,
    /// HTTP 400 `MessageRejected` (an unverified sender).
    Rejected,
    /// Accepts the connection and never answers.
    Stall,
    /// Takes the mail (forwarded upstream, so it is delivered) and answers only after this many
    /// milliseconds: a send whose caller cannot tell that it went out.
    AnswersLate(u64),
}

/// How the fault server answers Cognito.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CognitoFault {
    /// Healthy: forwarded upstream when there is one, else a canned success.
    Ok,
    /// Every call: `TooManyRequestsException`.
    Throttled,
    /// Every call accepted and never answered.
    Stall,
    /// Only `AdminUpdateUserAttributes` fails (throttled); reads pass.
    WritesThrottled,
    /// Only `AdminGetUser` fails (throttled); writes pass.
    ReadsThrottled,
    /// Every other `AdminGetUser` is throttled (the first passes); writes pass.
    EveryOtherReadThrottled,
    /// `AdminGetUser` answers only after this many milliseconds; writes pass.
    ReadsDelayed(u64),
    /// Every call answers after a delay drawn uniformly from this range of milliseconds.
    Slow(u64, u64),
    /// The first `skip` writes from now pass, the next `count` are throttled, then all pass.
    WritesThrottledAfter { skip: usize, count: usize },
}

/// A loopback HTTP server standing in for SES and Cognito at once, failing as told: either on
/// its own (healthy calls get a canned success) or as a proxy in front of moto (healthy calls are
/// forwarded). The faults can be switched while a function is running.
pub struct FaultServer {
    pub endpoint: String,
    faults: Arc<Mutex<(SesFault, CognitoFault)>>,
    pub ses_requests: Arc<AtomicUsize>,
    pub cognito_requests: Arc<AtomicUsize>,
    /// Secrets Manager requests (always forwarded, never failed).
    pub secrets_requests: Arc<AtomicUsize>,
    /// DynamoDB requests, by operation (`GetItem`, `UpdateItem`, …), failed or not.
    pub dynamo_requests: Arc<Mutex<Vec<String>>>,
    /// Whether DynamoDB requests are throttled (`ProvisionedThroughputExceededException`).
    pub table_throttled: Arc<std::sync::atomic::AtomicBool>,
    /// The bodies of the SES requests received.
    pub ses_bodies: Arc<Mutex<Vec<String>>>,
    /// Reads and writes seen since the faults were last set (for the counted faults).
    seen: Arc<(AtomicUsize, AtomicUsize)>,
}

#[derive(Clone)]
struct Shared {
    /// Stand-alone mode: the attributes written, per username, so reads see earlier writes.
    users: Arc<Mutex<std::collections::HashMap<String, serde_json::Map<String, Value>>>>,
    upstream: Option<SocketAddr>,
    faults: Arc<Mutex<(SesFault, CognitoFault)>>,
    ses_requests: Arc<AtomicUsize>,
    cognito_requests: Arc<AtomicUsize>,
    secrets_requests: Arc<AtomicUsize>,
    dynamo_requests: Arc<Mutex<Vec<String>>>,
    table_throttled: Arc<std::sync::atomic::AtomicBool>,
    /// Held while a DynamoDB request is forwarded to moto (see `serve`).
    dynamo_serial: Arc<Mutex<()>>,
    ses_bodies: Arc<Mutex<Vec<String>>>,
    seen: Arc<(AtomicUsize, AtomicUsize)>,
}

impl FaultServer {
    /// A stand-alone server: healthy calls get a canned success.
    pub fn start(ses: SesFault, cognito: CognitoFault) -> Self {
        Self::launch(None, ses, cognito)
    }

    /// A proxy in front of `moto`, healthy until told otherwise.
    pub fn proxy(moto: &Moto) -> Self {
        Self::launch(Some(moto.addr), SesFault::Ok, CognitoFault::Ok)
    }

    /// Switches the faults for the requests that arrive from now on.
    pub fn set(&self, ses: SesFault, cognito: CognitoFault) {
        let mut f = self.faults.lock().unwrap();
        self.seen.0.store(0, Ordering::SeqCst);
        self.seen.1.store(0, Ordering::SeqCst);
        *f = (ses, cognito);
    }

    fn launch(upstream: Option<SocketAddr>, ses: SesFault, cognito: CognitoFault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            users: Arc::new(Mutex::new(std::collections::HashMap::new())),
            upstream,
            faults: Arc::new(Mutex::new((ses, cognito))),
            ses_requests: Arc::new(AtomicUsize::new(0)),
            cognito_requests: Arc::new(AtomicUsize::new(0)),
            secrets_requests: Arc::new(AtomicUsize::new(0)),
            dynamo_requests: Arc::new(Mutex::new(Vec::new())),
            table_throttled: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            dynamo_serial: Arc::new(Mutex::new(())),
            ses_bodies: Arc::new(Mutex::new(Vec::new())),
            seen: Arc::new((AtomicUsize::new(0), AtomicUsize::new(0))),
        };
        let server = Self {
            endpoint,
            faults: shared.faults.clone(),
            ses_requests: shared.ses_requests.clone(),
            cognito_requests: shared.cognito_requests.clone(),
            secrets_requests: shared.secrets_requests.clone(),
            dynamo_requests: shared.dynamo_requests.clone(),
            table_throttled: shared.table_throttled.clone(),
            ses_bodies: shared.ses_bodies.clone(),
            seen: shared.seen.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        server
    }
}

/// Reads one HTTP request: the head (lower-cased copy and raw bytes) and the body.
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < header_end + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf.split_off(header_end);
    Some((head, buf, body))
}

/// Sends the request upstream with `Connection: close` and relays the whole answer.
fn forward(client: &mut TcpStream, upstream: SocketAddr, raw_head: &[u8], body: &[u8]) {
    forward_then_wait(client, upstream, raw_head, body, Duration::ZERO);
}

/// Like [`forward`], holding the upstream answer back for `wait`: the read happened upstream
/// (its snapshot is taken), and the caller learns of it late.
fn forward_then_wait(
    client: &mut TcpStream,
    upstream: SocketAddr,
    raw_head: &[u8],
    body: &[u8],
    wait: Duration,
) {
    let head = String::from_utf8_lossy(raw_head);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = up.write_all(out.as_bytes());
    let _ = up.write_all(body);
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    std::thread::sleep(wait);
    let _ = client.write_all(&answer);
}

/// Stand-alone Cognito: a write stores the attributes; any other call answers with them, in
/// AdminGetUser's shape, so a read after a write sees it.
fn remember(shared: &Shared, is_write: bool, body: &[u8]) -> String {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let user = req["Username"].as_str().unwrap_or_default().to_owned();
    let mut users = shared.users.lock().unwrap();
    let attrs = users.entry(user.clone()).or_default();
    if is_write {
        for a in req["UserAttributes"].as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (a["Name"].as_str(), a.get("Value")) {
                attrs.insert(n.to_owned(), v.clone());
            }
        }
        return "{}".to_owned();
    }
    let list: Vec<Value> = attrs
        .iter()
        .map(|(n, v)| serde_json::json!({"Name": n, "Value": v}))
        .collect();
    serde_json::json!({"Username": user, "UserAttributes": list, "Enabled": true, "UserStatus": "CONFIRMED"})
        .to_string()
}

fn serve(mut s: TcpStream, shared: &Shared) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, raw_head, body)) = read_request(&mut s) else {
        return;
    };
    let (ses, cognito) = *shared.faults.lock().unwrap();
    let is_ses = head.starts_with("post /v2/email");
    if head.contains("x-amz-target: secretsmanager.") {
        shared.secrets_requests.fetch_add(1, Ordering::SeqCst);
        if let Some(upstream) = shared.upstream {
            forward(&mut s, upstream, &raw_head, &body);
        }
        return;
    }
    if let Some(i) = head.find("x-amz-target: dynamodb_20120810.") {
        let op = head[i + 32..]
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        shared.dynamo_requests.lock().unwrap().push(op);
        if shared.table_throttled.load(Ordering::SeqCst) {
            let answer = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;
            let _ = write!(
                s,
                "HTTP/1.1 400 X\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        } else if let Some(upstream) = shared.upstream {
            // DynamoDB applies a conditional write to an item atomically. moto's threaded server
            // checks the condition and writes without a lock, so two parallel writes can both
            // pass the same condition (seen in CI: 4 answers judged in a burst with
            // MAX_ATTEMPTS=3). The proxy forwards DynamoDB requests one at a time, which gives
            // moto the atomicity DynamoDB has.
            let _one_at_a_time = shared
                .dynamo_serial
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            forward(&mut s, upstream, &raw_head, &body);
        }
        return;
    }
    let is_write = head.contains("adminupdateuserattributes");
    let is_read = head.contains("admingetuser");
    // The index of this read or write among those since the faults were set.
    let nth = if is_write {
        shared.seen.1.fetch_add(1, Ordering::SeqCst)
    } else if is_read {
        shared.seen.0.fetch_add(1, Ordering::SeqCst)
    } else {
        0
    };
    let throttled_cognito = (
        400,
        r#"{"__type":"TooManyRequestsException","message":"Rate exceeded"}"#,
        false,
    );
    let remembered;
    let mut after = Duration::ZERO;
    let (status, answer, stall) = if is_ses {
        shared.ses_requests.fetch_add(1, Ordering::SeqCst);
        shared
            .ses_bodies
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        match ses {
            SesFault::Ok => (200, r#"{"MessageId":"fault-server-1"}"#, false),
            SesFault::Throttled => (
                429,
                r#"{"message":"Maximum sending rate exceeded."}"#,
                false,
            ),
            SesFault::ServerError => (500, r#"{"message":"Internal failure"}"#, false),
            SesFault::Rejected => (
                400,
                r#"{"message":"Email address is not verified."}"#,
                false,
            ),
            SesFault::Stall => (0, "", true),
            SesFault::AnswersLate(ms) => {
                after = Duration::from_millis(ms);
                (200, r#"{"MessageId":"fault-server-1"}"#, false)
            }
        }
    } else {
        shared.cognito_requests.fetch_add(1, Ordering::SeqCst);
        remembered = if shared.upstream.is_none() {
            remember(shared, is_write, &body)
        } else {
            "{}".to_owned()
        };
        let ok = (200, remembered.as_str(), false);
        match cognito {
            CognitoFault::Ok => ok,
            CognitoFault::WritesThrottled if !is_write => ok,
            CognitoFault::ReadsThrottled if !is_read => ok,
            CognitoFault::Throttled
            | CognitoFault::WritesThrottled
            | CognitoFault::ReadsThrottled => throttled_cognito,
            CognitoFault::EveryOtherReadThrottled if is_read && nth % 2 == 1 => throttled_cognito,
            CognitoFault::EveryOtherReadThrottled => ok,
            CognitoFault::ReadsDelayed(ms) => {
                if is_read {
                    after = Duration::from_millis(ms);
                }
                ok
            }
            CognitoFault::Slow(lo, hi) => {
                // Half the delay before the call reaches the service, half after it answered.
                let ms = cognito_email_otp::domain::random::jitter_millis(lo, hi);
                std::thread::sleep(Duration::from_millis(ms / 2));
                after = Duration::from_millis(ms - ms / 2);
                ok
            }
            CognitoFault::WritesThrottledAfter { skip, count }
                if is_write && nth >= skip && nth < skip + count =>
            {
                throttled_cognito
            }
            CognitoFault::WritesThrottledAfter { .. } => ok,
            CognitoFault::Stall => (0, "", true),
        }
    };
    if stall {
        // Accept the connection and never answer.
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    if let (200, Some(upstream)) = (status, shared.upstream) {
        forward_then_wait(&mut s, upstream, &raw_head, &body, after);
        return;
    }
    std::thread::sleep(after);
    let error_type = match (is_ses, status) {
        (true, 429) => "TooManyRequestsException",
        (true, 400) => "MessageRejected",
        (true, 500) => "InternalFailure",
        _ => "",
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nx-amzn-ErrorType: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
