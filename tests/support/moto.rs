//! moto server (from PyPI) on 127.0.0.1, one per test, stopped when the handle drops; plus a
//! small fault server that answers SES and Cognito requests the way a failing AWS would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sesv2::config::{Credentials, Region};
use cognito_email_otp::adapters::aws::AwsContext;
use serde_json::Value;

/// A running moto server.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    addr: SocketAddr,
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
#[derive(Debug, Clone, Copy)]
pub enum SesFault {
    Ok,
    Throttled,
    ServerError,
    Rejected,
    Stall,
}

/// How the fault server answers Cognito.
#[derive(Debug, Clone, Copy)]
pub enum CognitoFault {
    Ok,
    Throttled,
    Stall,
}

/// A loopback HTTP server standing in for SES and Cognito at once, failing as told.
pub struct FaultServer {
    pub endpoint: String,
    pub ses_requests: Arc<AtomicUsize>,
    pub cognito_requests: Arc<AtomicUsize>,
    /// The bodies of the SES requests received.
    pub ses_bodies: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultServer {
    pub fn start(ses: SesFault, cognito: CognitoFault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let ses_requests = Arc::new(AtomicUsize::new(0));
        let cognito_requests = Arc::new(AtomicUsize::new(0));
        let ses_bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (sr, cr, sb) = (
            ses_requests.clone(),
            cognito_requests.clone(),
            ses_bodies.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sr, cr, sb) = (sr.clone(), cr.clone(), sb.clone());
                std::thread::spawn(move || serve(stream, ses, cognito, &sr, &cr, &sb));
            }
        });
        Self {
            endpoint,
            ses_requests,
            cognito_requests,
            ses_bodies,
        }
    }
}

fn serve(
    mut s: TcpStream,
    ses: SesFault,
    cognito: CognitoFault,
    sr: &AtomicUsize,
    cr: &AtomicUsize,
    sb: &std::sync::Mutex<Vec<String>>,
) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    // Read one request: headers, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
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
    let is_ses = head.starts_with("post /v2/email");
    let (status, body, stall) = if is_ses {
        sr.fetch_add(1, Ordering::SeqCst);
        sb.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&buf[header_end..]).into_owned());
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
        cr.fetch_add(1, Ordering::SeqCst);
        match cognito {
            CognitoFault::Ok => (200, "{}", false),
            CognitoFault::Throttled => (
                400,
                r#"{"__type":"TooManyRequestsException","message":"Rate exceeded"}"#,
                false,
            ),
            CognitoFault::Stall => (0, "", true),
        }
    };
    if stall {
        // Accept the connection and never answer.
        std::thread::sleep(Duration::from_secs(30));
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
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nx-amzn-ErrorType: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
