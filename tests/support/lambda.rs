//! The shipped binary, run the way Lambda runs it.
//!
//! [`RuntimeApi`] is a small implementation of the Lambda Runtime API on 127.0.0.1: the process
//! long-polls `GET /2018-06-01/runtime/invocation/next`, answers with `POST …/{id}/response` or
//! `…/{id}/error`, and reports a failed start with `POST …/runtime/init/error`. [`Lambda`] starts
//! the release binary (`CARGO_BIN_EXE_cognito-email-otp`) against it with a clean environment,
//! either once for many invocations (a warm execution environment) or afresh for every
//! invocation (a cold start each time, so nothing can be kept in memory). It records every answer
//! with its duration and keeps everything the processes wrote to stdout and stderr.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cognito_email_otp::simulator::Invoker;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

/// The invoked function ARN of a [`RuntimeApi`] started without one.
pub const DEFAULT_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:cognito-email-otp";

/// How long the harness waits for any one answer before calling it lost.
pub const HARNESS_TIMEOUT: Duration = Duration::from_secs(15);

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `POST …/response`, parsed.
    Response(Value),
    /// `POST …/error`: the error type and message.
    Error { error_type: String, message: String },
    /// `POST …/runtime/init/error`.
    InitError { error_type: String, message: String },
}

struct Job {
    body: Vec<u8>,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Pending {
    replies: HashMap<String, oneshot::Sender<Reply>>,
    init_error: Option<oneshot::Sender<Reply>>,
}

/// A Lambda Runtime API server for one execution environment.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    /// The `Lambda-Runtime-Invoked-Function-Arn` every invocation carries.
    pub function_arn: String,
    jobs: mpsc::UnboundedSender<Job>,
    pending: Arc<Mutex<Pending>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Listens on a free loopback port, for the function [`DEFAULT_ARN`].
    pub async fn start() -> Self {
        Self::start_as(DEFAULT_ARN.into()).await
    }

    /// Listens on a free loopback port; every invocation says `function_arn` was invoked.
    pub async fn start_as(function_arn: String) -> Self {
        let arn = function_arn.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (jobs, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(AsyncMutex::new(rx));
        let pending = Arc::new(Mutex::new(Pending::default()));
        let p = pending.clone();
        let task = tokio::spawn(async move {
            let ids = Arc::new(Mutex::new(0u64));
            while let Ok((stream, _)) = listener.accept().await {
                // Small request/response exchanges on a kept-alive connection: without this,
                // Nagle's algorithm and delayed ACKs add about 40 ms to every warm invocation.
                let _ = stream.set_nodelay(true);
                let (rx, p, ids, arn) = (rx.clone(), p.clone(), ids.clone(), arn.clone());
                tokio::spawn(async move {
                    let _ = connection(stream, rx, p, ids, &arn).await;
                });
            }
        });
        Self {
            addr,
            function_arn,
            jobs,
            pending,
            task,
        }
    }

    /// Queues one invocation with `body` as the payload and waits for its answer (or for the
    /// process to report a failed start).
    pub async fn invoke_raw(&self, body: Vec<u8>) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        let (init_tx, init_rx) = oneshot::channel();
        self.pending.lock().unwrap().init_error = Some(init_tx);
        self.jobs.send(Job { body, reply: tx }).ok()?;
        let answer = async {
            tokio::select! {
                r = rx => r.ok(),
                r = init_rx => r.ok(),
            }
        };
        tokio::time::timeout(HARNESS_TIMEOUT, answer)
            .await
            .ok()
            .flatten()
    }
}

type Jobs = Arc<AsyncMutex<mpsc::UnboundedReceiver<Job>>>;

/// One keep-alive connection from the runtime client.
async fn connection(
    stream: TcpStream,
    jobs: Jobs,
    pending: Arc<Mutex<Pending>>,
    ids: Arc<Mutex<u64>>,
    function_arn: &str,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if read.read_line(&mut h).await? == 0 {
                return Ok(());
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if h.starts_with("transfer-encoding:") && h.contains("chunked") {
                chunked = true;
            }
        }
        let body = if chunked {
            read_chunked(&mut read).await?
        } else {
            let mut b = vec![0; length];
            read.read_exact(&mut b).await?;
            b
        };
        let base = "/2018-06-01/runtime";
        if method == "GET" && path == format!("{base}/invocation/next") {
            let Some(job) = jobs.lock().await.recv().await else {
                return Ok(());
            };
            let id = {
                let mut n = ids.lock().unwrap();
                *n += 1;
                format!("e2e-{:08}", *n)
            };
            pending
                .lock()
                .unwrap()
                .replies
                .insert(id.clone(), job.reply);
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 5000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: {function_arn}\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                 Content-Length: {}\r\n\r\n",
                job.body.len()
            );
            let mut answer = head.into_bytes();
            answer.extend_from_slice(&job.body);
            write.write_all(&answer).await?;
            continue;
        }
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let text = |k: &str| parsed[k].as_str().unwrap_or_default().to_owned();
        let reply_to = |id: &str, r: Reply| {
            if let Some(tx) = pending.lock().unwrap().replies.remove(id) {
                let _ = tx.send(r);
            }
        };
        let rest = path.strip_prefix(&format!("{base}/")).unwrap_or_default();
        let segments: Vec<&str> = rest.split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["invocation", id, "response"]) => reply_to(id, Reply::Response(parsed)),
            ("POST", ["invocation", id, "error"]) => reply_to(
                id,
                Reply::Error {
                    error_type: text("errorType"),
                    message: text("errorMessage"),
                },
            ),
            ("POST", ["init", "error"]) => {
                if let Some(tx) = pending.lock().unwrap().init_error.take() {
                    let _ = tx.send(Reply::InitError {
                        error_type: text("errorType"),
                        message: text("errorMessage"),
                    });
                }
            }
            _ => {
                write
                    .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    .await?;
                continue;
            }
        }
        write
            .write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n",
            )
            .await?;
    }
}

async fn read_chunked(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        read.read_line(&mut size).await?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; n + 2];
        read.read_exact(&mut chunk).await?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

/// One answer and how long it took, from queueing the event (including a cold start, when the
/// process is started for it) to the answer.
#[derive(Debug, Clone)]
pub struct Record {
    pub trigger: String,
    pub reply: Option<Reply>,
    pub took: Duration,
}

/// How processes are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One process serves every invocation (a warm execution environment).
    Warm,
    /// A new process for every invocation, stopped after it answers.
    FreshPerInvocation,
}

/// The release binary with its Runtime API, its environment and everything it wrote.
pub struct Lambda {
    program: PathBuf,
    env: Vec<(String, String)>,
    log_dir: tempfile::TempDir,
    warm: Option<(RuntimeApi, Child)>,
    spawned: Mutex<usize>,
    /// Every invocation, in order.
    pub records: Mutex<Vec<Record>>,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        if let Some((_, child)) = self.warm.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Lambda environment for a function whose AWS calls go to `aws_endpoint`, plus `config`.
pub fn lambda_env(aws_endpoint: &str, config: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("AWS_LAMBDA_FUNCTION_NAME", "cognito-email-otp"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", aws_endpoint),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("EMAIL_FROM", "Acme <no-reply@acme.example>"),
        ("CODE_HMAC_KEY", super::KEY),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in config {
        env.retain(|(existing, _)| existing != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

impl Lambda {
    /// Starts the binary with `env` (see [`lambda_env`]); in [`Mode::Warm`] the process starts now.
    ///
    /// `OTP_UNDER_TEST=/path/to/bootstrap` runs the suites against another build of the function
    /// instead (an older release, to show that a test fails where the property does not hold).
    pub async fn start(mode: Mode, env: Vec<(String, String)>) -> Self {
        let program = std::env::var_os("OTP_UNDER_TEST")
            .map(PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_cognito-email-otp").into());
        Self::start_program(program, mode, env).await
    }

    /// Like [`Lambda::start`], for another Lambda binary (the benchmark's floor).
    pub async fn start_program(program: PathBuf, mode: Mode, env: Vec<(String, String)>) -> Self {
        let mut lambda = Self {
            program,
            env,
            log_dir: tempfile::tempdir().unwrap(),
            warm: None,
            spawned: Mutex::new(0),
            records: Mutex::new(Vec::new()),
        };
        if mode == Mode::Warm {
            let api = RuntimeApi::start_as(lambda.function_arn()).await;
            let child = lambda.spawn(api.addr);
            lambda.warm = Some((api, child));
        }
        lambda
    }

    fn spawn(&self, api: SocketAddr) -> Child {
        let n = {
            let mut n = self.spawned.lock().unwrap();
            *n += 1;
            *n
        };
        let log = std::fs::File::create(self.log_dir.path().join(format!("{n:05}.log"))).unwrap();
        Command::new(&self.program)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the release binary starts")
    }

    /// The ARN Lambda would pass as invoked: the environment's `AWS_REGION` and
    /// `AWS_LAMBDA_FUNCTION_NAME` in the test account.
    pub fn function_arn(&self) -> String {
        let var = |k: &str| {
            self.env
                .iter()
                .find(|(n, _)| n == k)
                .map_or("", |(_, v)| v.as_str())
        };
        format!(
            "arn:aws:lambda:{}:123456789012:function:{}",
            var("AWS_REGION"),
            var("AWS_LAMBDA_FUNCTION_NAME")
        )
    }

    /// The warm process's ID.
    pub fn pid(&self) -> Option<u32> {
        self.warm.as_ref().map(|(_, child)| child.id())
    }

    /// Processes started so far.
    pub fn processes(&self) -> usize {
        *self.spawned.lock().unwrap()
    }

    /// Sends one payload (any bytes) and returns the answer, `None` if there was none in time.
    pub async fn invoke_raw(&self, body: Vec<u8>) -> Option<Reply> {
        let trigger = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["triggerSource"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let started = Instant::now();
        let reply = match &self.warm {
            Some((api, _)) => api.invoke_raw(body).await,
            None => {
                let api = RuntimeApi::start_as(self.function_arn()).await;
                let mut child = self.spawn(api.addr);
                let reply = api.invoke_raw(body).await;
                let _ = child.kill();
                let _ = child.wait();
                reply
            }
        };
        self.records.lock().unwrap().push(Record {
            trigger,
            reply: reply.clone(),
            took: started.elapsed(),
        });
        reply
    }

    /// Whether the warm process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.warm.as_mut() {
            Some((_, child)) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Everything every process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.log_dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// The per-invocation log lines (JSON objects whose message is `invocation`), in order.
    pub fn invocation_lines(&self) -> Vec<Value> {
        self.output()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == "invocation")
            .collect()
    }

    /// The slowest invocation so far.
    pub fn slowest(&self) -> Duration {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.took)
            .max()
            .unwrap_or_default()
    }

    /// Everything the function answered, as text (responses and error messages).
    pub fn answers_text(&self) -> String {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(|r| format!("{:?}\n", r.reply))
            .collect()
    }

    /// Forgets the recorded invocations (to time one phase alone).
    pub fn reset_records(&self) {
        self.records.lock().unwrap().clear();
    }
}

/// Cognito invokes the function synchronously: a response is the new event, an error ends the
/// sign-in with its message.
impl Invoker for &Lambda {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        match self.invoke_raw(event.to_string().into_bytes()).await {
            Some(Reply::Response(v)) => Ok(v),
            Some(Reply::Error { message, .. }) | Some(Reply::InitError { message, .. }) => {
                Err(message)
            }
            None => Err("(no answer: the function timed out)".into()),
        }
    }
}
