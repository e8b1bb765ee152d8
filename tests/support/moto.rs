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
    /// Starts `moto_server` (or `$MOTO_SERVER`) on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} (pip install 'moto[server]'): {e}"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let moto = Self {
            child,
            endpoint: format!("http://{addr}"),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if matches!(http(addr, "GET", "/moto-api/data.json"), Ok((200, _))) {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto server did not start on {addr}");
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
}

/// A loopback HTTP server standing in for SES and Cognito at once, failing as told: either on
/// its own (healthy calls get a canned success) or as a proxy in front of moto (healthy calls are
/// forwarded). The faults can be switched while a function is running.
pub struct FaultServer {
    pub endpoint: String,
    faults: Arc<Mutex<(SesFault, CognitoFault)>>,
    pub ses_requests: Arc<AtomicUsize>,
    pub cognito_requests: Arc<AtomicUsize>,
    /// The bodies of the SES requests received.
    pub ses_bodies: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Shared {
    upstream: Option<SocketAddr>,
    faults: Arc<Mutex<(SesFault, CognitoFault)>>,
    ses_requests: Arc<AtomicUsize>,
    cognito_requests: Arc<AtomicUsize>,
    ses_bodies: Arc<Mutex<Vec<String>>>,
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
        *self.faults.lock().unwrap() = (ses, cognito);
    }

    fn launch(upstream: Option<SocketAddr>, ses: SesFault, cognito: CognitoFault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            upstream,
            faults: Arc::new(Mutex::new((ses, cognito))),
            ses_requests: Arc::new(AtomicUsize::new(0)),
            cognito_requests: Arc::new(AtomicUsize::new(0)),
            ses_bodies: Arc::new(Mutex::new(Vec::new())),
        };
        let server = Self {
            endpoint,
            faults: shared.faults.clone(),
            ses_requests: shared.ses_requests.clone(),
            cognito_requests: shared.cognito_requests.clone(),
            ses_bodies: shared.ses_bodies.clone(),
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
    let _ = client.write_all(&answer);
}

fn serve(mut s: TcpStream, shared: &Shared) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, raw_head, body)) = read_request(&mut s) else {
        return;
    };
    let (ses, cognito) = *shared.faults.lock().unwrap();
    let is_ses = head.starts_with("post /v2/email");
    let is_write = head.contains("adminupdateuserattributes");
    let throttled_cognito = (
        400,
        r#"{"__type":"TooManyRequestsException","message":"Rate exceeded"}"#,
        false,
    );
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
        }
    } else {
        shared.cognito_requests.fetch_add(1, Ordering::SeqCst);
        match cognito {
            CognitoFault::Ok => (200, "{}", false),
            CognitoFault::WritesThrottled if !is_write => (200, "{}", false),
            CognitoFault::Throttled | CognitoFault::WritesThrottled => throttled_cognito,
            CognitoFault::Stall => (0, "", true),
        }
    };
    if stall {
        // Accept the connection and never answer.
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    if let (200, Some(upstream)) = (status, shared.upstream) {
        forward(&mut s, upstream, &raw_head, &body);
        return;
    }
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
