//! `make bench`: the function as Lambda runs it, measured. Prints one table (and writes it as JSON
//! to `$BENCH_JSON` when set):
//!
//! - cold start, process start to the first response over the Lambda Runtime API on 127.0.0.1, for
//!   Define (no AWS call) and Create (a fresh read, an attribute write and an SES send to moto on
//!   loopback), median and p95 over `$BENCH_COLD_RUNS` (default 20) fresh processes each, next to a
//!   floor measured in the same run: `examples/floor.rs`, the smallest `lambda_runtime` function;
//! - warm round trips over the Runtime API, `$BENCH_WARM_RUNS` (default 1000) per trigger;
//! - the pure paths, quoted from criterion (`benches/decisions.rs`, run first by `make bench`);
//! - peak RSS after a full sign-in, and the sizes of the binary and the deploy zip.
//!
//! The harness is the end-to-end suite's (`tests/support/`): the same Runtime API server and moto.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cognito_email_otp::simulator::{CognitoSim, Step, code_from_email};
use cognito_email_otp::triggers::SETTLE;
use serde_json::{Map, Value, json};
use support::lambda::{Lambda, Mode, Reply, lambda_env};
use support::moto::{FaultServer, Moto};
use support::pool::{PoolDirectory, SENDER, add_user, attributes, set_up};

/// One row of the table.
struct Row {
    name: String,
    value: String,
    target: String,
    met: Option<bool>,
    json: Value,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median and p95 of `samples`.
fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.95))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event_file(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("events/{name}")).unwrap()).unwrap()
}

/// The example binary next to this benchmark's target directory (`make bench` builds it first).
fn floor_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().and_then(Path::parent).unwrap();
    let floor = release.join("examples").join("floor");
    assert!(
        floor.exists(),
        "{} is missing: run `cargo build --release --example floor` (make bench does)",
        floor.display()
    );
    floor
}

/// Cold starts: a fresh process per invocation, `runs` rounds. Each round runs every
/// `(program, event)` case once, in turn, so that drift in the machine's speed during the run
/// affects all cases alike and their ratios stay fair. Median and p95 per case.
async fn cold(
    cases: &[(PathBuf, &dyn Fn(usize) -> Value)],
    env: &[(String, String)],
    runs: usize,
) -> Vec<(Duration, Duration)> {
    let mut lambdas = Vec::new();
    for (program, _) in cases {
        lambdas.push(
            Lambda::start_program(program.clone(), Mode::FreshPerInvocation, env.to_vec()).await,
        );
    }
    for run in 0..runs {
        for (lambda, (_, event)) in lambdas.iter().zip(cases) {
            let reply = lambda.invoke_raw(event(run).to_string().into_bytes()).await;
            assert!(
                matches!(reply, Some(Reply::Response(_))),
                "cold invocation failed: {reply:?}\n{}",
                lambda.output()
            );
        }
    }
    lambdas
        .iter()
        .map(|l| stats(l.records.lock().unwrap().iter().map(|r| r.took).collect()))
        .collect()
}

/// Warm round trips through one process: the first (cold) one is dropped.
async fn warm(lambda: &Lambda, event: &Value, runs: usize) -> Vec<Duration> {
    lambda.reset_records();
    let body = event.to_string().into_bytes();
    for _ in 0..=runs {
        let reply = lambda.invoke_raw(body.clone()).await;
        assert!(matches!(reply, Some(Reply::Response(_))), "{reply:?}");
    }
    let records = lambda.records.lock().unwrap();
    records.iter().skip(1).map(|r| r.took).collect()
}

/// Peak resident set of a process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The median of a criterion benchmark from its saved estimates, in nanoseconds.
fn criterion_median_ns(target: &Path, name: &str) -> Option<f64> {
    let path = target
        .join("criterion")
        .join(name)
        .join("new/estimates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Size of `path` after `strip`, and of that stripped file deflated in a zip (what Lambda stores).
fn stripped_and_zipped(path: &Path) -> Option<(u64, u64)> {
    let dir = tempfile::tempdir().ok()?;
    let bootstrap = dir.path().join("bootstrap");
    std::fs::copy(path, &bootstrap).ok()?;
    Command::new("strip")
        .arg(&bootstrap)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    let zip = dir.path().join("bootstrap.zip");
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z: z.write(sys.argv[1], 'bootstrap')";
    Command::new("python3")
        .args(["-c", script])
        .arg(&bootstrap)
        .arg(&zip)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    Some((
        std::fs::metadata(&bootstrap).ok()?.len(),
        std::fs::metadata(&zip).ok()?.len(),
    ))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {} {}, {rustc}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cold_runs = env_usize("BENCH_COLD_RUNS", 20);
    let warm_runs = env_usize("BENCH_WARM_RUNS", 1000);
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |name: &str, value: String, target: String, met: Option<bool>, json: Value| {
        println!("  measured: {name}: {value}");
        rows.push(Row {
            name: name.into(),
            value,
            target,
            met,
            json,
        })
    };

    let moto = Moto::start();
    let (cognito, pool_id, username) = set_up(&moto.aws()).await;
    let with_user = |mut e: Value| {
        e["userPoolId"] = json!(pool_id);
        e["userName"] = json!(username);
        e
    };
    let base_env = [
        ("AUTH_FLOW", "both"),
        ("SEND_LIMIT", "100"),
        ("SEND_WINDOW_SECONDS", "60"),
        ("AWS_LAMBDA_LOG_FORMAT", "Text"),
    ];
    let issuing_env = lambda_env(&moto.endpoint, &base_env);

    // 1. Cold starts, floor first, all in this run. Every cold Create is a new sign-in of its own
    // user, so each issues, stores and mails a code (no cooldown to reuse within).
    let define = with_user(event_file("define/passwordless-start.json"));
    let create = with_user(event_file("create/passwordless-first-round.json"));
    let mut creates = Vec::new();
    for (prefix, n) in [
        ("cold", cold_runs),
        ("secret", cold_runs),
        ("table", cold_runs),
    ] {
        for i in 0..n {
            let name = format!("{prefix}-{i}");
            add_user(&cognito, &pool_id, &name, &format!("{name}@example.org")).await;
            let mut e = create.clone();
            e["userName"] = json!(name);
            e["request"]["userAttributes"] = json!(attributes(&cognito, &pool_id, &name).await);
            creates.push(e);
        }
    }
    let otp: PathBuf = env!("CARGO_BIN_EXE_cognito-email-otp").into();
    let sent_before = moto.sent_emails().len();
    let define_event = |_: usize| define.clone();
    let create_event = |run: usize| creates[run].clone();
    let measured = cold(
        &[
            (floor_binary(), &define_event),
            (otp.clone(), &define_event),
            (otp.clone(), &create_event),
        ],
        &issuing_env,
        cold_runs,
    )
    .await;
    let (floor, cold_define, cold_create) = (measured[0], measured[1], measured[2]);
    assert_eq!(
        moto.sent_emails().len(),
        sent_before + cold_runs,
        "every cold Create sent its email"
    );
    // The same, with the code key read from Secrets Manager at the first Create of each process
    // (CODE_HMAC_KEY_SECRET_ARN, as in Lambda): the difference is the cost of that one call.
    let arn = moto
        .create_secret(
            "bench-code-key",
            "bench-key-from-secrets-manager-0123456789",
        )
        .await;
    let mut secret_env = issuing_env.clone();
    secret_env.retain(|(k, _)| k != "CODE_HMAC_KEY");
    secret_env.push(("CODE_HMAC_KEY_SECRET_ARN".into(), arn));
    secret_env.push((
        "REFERENCE_KEY".into(),
        "bench-reference-key-0123456789abcdef".into(),
    ));
    let secret_create_event = |run: usize| creates[cold_runs + run].clone();
    let cold_secret_create = cold(
        &[(otp.clone(), &secret_create_event)],
        &secret_env,
        cold_runs,
    )
    .await[0];
    // The same with the DynamoDB store: one conditional write instead of read, write, settle and
    // read-back.
    moto.create_table("bench-cold").await;
    let mut table_env = issuing_env.clone();
    table_env.push(("CHALLENGE_STORE".into(), "dynamodb".into()));
    table_env.push(("CHALLENGE_TABLE".into(), "bench-cold".into()));
    let table_create_event = |run: usize| creates[2 * cold_runs + run].clone();
    let cold_table_create =
        cold(&[(otp.clone(), &table_create_event)], &table_env, cold_runs).await[0];

    // What the two loopback calls cost on their own (warm SDK clients, from this process): the
    // attribute write and the SES send, plus Create's fresh read.
    let sdk = moto.aws();
    let conf = sdk.sdk_config().await;
    let idp = aws_sdk_cognitoidentityprovider::Client::new(conf);
    let ses = aws_sdk_sesv2::Client::new(conf);
    let mut calls = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        idp.admin_get_user()
            .user_pool_id(&pool_id)
            .username(&username)
            .send()
            .await
            .unwrap();
        let read = t.elapsed();
        let t = Instant::now();
        idp.admin_update_user_attributes()
            .user_pool_id(&pool_id)
            .username(&username)
            .user_attributes(
                aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                    .name("custom:authChallenge")
                    .value("v1.AA")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let write = t.elapsed();
        let t = Instant::now();
        let content = aws_sdk_sesv2::types::EmailContent::builder()
            .simple(
                aws_sdk_sesv2::types::Message::builder()
                    .subject(
                        aws_sdk_sesv2::types::Content::builder()
                            .data("s")
                            .build()
                            .unwrap(),
                    )
                    .body(
                        aws_sdk_sesv2::types::Body::builder()
                            .text(
                                aws_sdk_sesv2::types::Content::builder()
                                    .data("b")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        ses.send_email()
            .from_email_address(SENDER)
            .destination(
                aws_sdk_sesv2::types::Destination::builder()
                    .to_addresses("bench@example.org")
                    .build(),
            )
            .content(content)
            .send()
            .await
            .unwrap();
        calls.push((read, write, t.elapsed()));
    }
    let median_of =
        |f: fn(&(Duration, Duration, Duration)) -> Duration| stats(calls.iter().map(f).collect()).0;
    let (read, write, send) = (median_of(|c| c.0), median_of(|c| c.1), median_of(|c| c.2));
    // Create's calls: the fresh read, the tagged write, the settle window, the read-back, the send.
    let loopback = read + write + SETTLE + read + send;

    row(
        "cold floor (lambda_runtime echo), median / p95",
        format!("{:.1} / {:.1} ms", ms(floor.0), ms(floor.1)),
        "-".into(),
        None,
        json!({"median_ms": ms(floor.0), "p95_ms": ms(floor.1), "runs": cold_runs}),
    );
    let define_ratio = ms(cold_define.0) / ms(floor.0);
    row(
        "cold Define, median / p95",
        format!(
            "{:.1} / {:.1} ms ({define_ratio:.2}x floor)",
            ms(cold_define.0),
            ms(cold_define.1)
        ),
        "within 1.5x floor".into(),
        Some(define_ratio <= 1.5),
        json!({"median_ms": ms(cold_define.0), "p95_ms": ms(cold_define.1), "ratio_to_floor": define_ratio, "runs": cold_runs}),
    );
    // The deploy profile (fat LTO, one codegen unit), when it has been built: `cargo build
    // --profile dist --bin cognito-email-otp --example floor` (make build does the arm64 one).
    let dist = target.join("dist");
    if dist.join("cognito-email-otp").exists() && dist.join("examples/floor").exists() {
        let measured = cold(
            &[
                (dist.join("examples/floor"), &define_event),
                (dist.join("cognito-email-otp"), &define_event),
            ],
            &issuing_env,
            cold_runs,
        )
        .await;
        let (dist_floor, dist_define) = (measured[0], measured[1]);
        let ratio = ms(dist_define.0) / ms(dist_floor.0);
        row(
            "cold Define, dist profile (x86_64), median / p95",
            format!(
                "{:.1} / {:.1} ms against a dist floor of {:.1} / {:.1} ms ({ratio:.2}x)",
                ms(dist_define.0),
                ms(dist_define.1),
                ms(dist_floor.0),
                ms(dist_floor.1)
            ),
            "within 1.5x floor".into(),
            Some(ratio <= 1.5),
            json!({"median_ms": ms(dist_define.0), "p95_ms": ms(dist_define.1), "floor_median_ms": ms(dist_floor.0), "ratio_to_floor": ratio}),
        );
    }
    let create_budget = floor.0 + loopback + Duration::from_millis(20);
    let create_ratio = ms(cold_create.0) / ms(floor.0);
    row(
        "cold Create (read, write, settle, read-back, send to moto), median / p95",
        format!(
            "{:.1} / {:.1} ms ({create_ratio:.2}x floor)",
            ms(cold_create.0),
            ms(cold_create.1)
        ),
        format!(
            "floor + calls ({:.1} read + {:.1} write + {} settle + {:.1} read + {:.1} send) + 20 ms = {:.1} ms",
            ms(read),
            ms(write),
            ms(SETTLE),
            ms(read),
            ms(send),
            ms(create_budget)
        ),
        Some(cold_create.0 <= create_budget),
        json!({"median_ms": ms(cold_create.0), "p95_ms": ms(cold_create.1), "ratio_to_floor": create_ratio,
               "loopback_read_ms": ms(read), "loopback_write_ms": ms(write), "loopback_send_ms": ms(send),
               "target_ms": ms(create_budget), "runs": cold_runs}),
    );

    let secret_cost = cold_secret_create.0.saturating_sub(cold_create.0);
    row(
        "cold Create with the key from Secrets Manager, median / p95",
        format!(
            "{:.1} / {:.1} ms (+{:.1} ms for GetSecretValue, once per process)",
            ms(cold_secret_create.0),
            ms(cold_secret_create.1),
            ms(secret_cost)
        ),
        "-".into(),
        None,
        json!({"median_ms": ms(cold_secret_create.0), "p95_ms": ms(cold_secret_create.1), "extra_ms": ms(secret_cost), "runs": cold_runs}),
    );
    row(
        "cold Create, DynamoDB store (one conditional write, send to moto), median / p95",
        format!(
            "{:.1} / {:.1} ms (no settle window: the condition answers in the same request)",
            ms(cold_table_create.0),
            ms(cold_table_create.1)
        ),
        "-".into(),
        None,
        json!({"median_ms": ms(cold_table_create.0), "p95_ms": ms(cold_table_create.1), "runs": cold_runs}),
    );
    // AWS calls per sign-in, counted by a proxy in front of moto: a passwordless sign-in of a
    // user with no state (Create issues and mails a code), answered right.
    let proxy = FaultServer::proxy(&moto);
    add_user(&cognito, &pool_id, "calls", "calls@example.org").await;
    let counting = Lambda::start(Mode::Warm, lambda_env(&proxy.endpoint, &base_env)).await;
    let sim = CognitoSim {
        invoker: &counting,
        directory: PoolDirectory {
            cognito: cognito.clone(),
            pool_id: pool_id.clone(),
        },
        pool_id: pool_id.clone(),
        client_id: "bench".into(),
    };
    let calls_now = || {
        (
            proxy.cognito_requests.load(Ordering::SeqCst),
            proxy.ses_requests.load(Ordering::SeqCst),
        )
    };
    let (mut s, _) = sim.initiate_auth("calls", false).await.unwrap();
    let (create_cognito, create_ses) = calls_now();
    let code =
        code_from_email(moto.sent_emails().last().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
    let verify_cognito = calls_now().0 - create_cognito;
    row(
        "AWS calls per sign-in, attribute store (counted)",
        format!(
            "Create {} ({create_cognito} Cognito + {create_ses} SES), Verify {verify_cognito} Cognito, Define 0",
            create_cognito + create_ses
        ),
        "-".into(),
        None,
        json!({"create_cognito": create_cognito, "create_ses": create_ses, "verify_cognito": verify_cognito}),
    );

    // The same with the DynamoDB store: a user with no state, then a second sign-in (its first
    // write, decided on "no live state", is refused and returns the state; the second issues).
    moto.create_table("bench-challenges").await;
    add_user(&cognito, &pool_id, "calls-table", "calls-table@example.org").await;
    let mut table_env = base_env.to_vec();
    table_env.extend([
        ("CHALLENGE_STORE", "dynamodb"),
        ("CHALLENGE_TABLE", "bench-challenges"),
    ]);
    let table_proxy = FaultServer::proxy(&moto);
    let counting = Lambda::start(Mode::Warm, lambda_env(&table_proxy.endpoint, &table_env)).await;
    let sim = CognitoSim {
        invoker: &counting,
        ..sim
    };
    let counts = || {
        (
            table_proxy.dynamo_requests.lock().unwrap().len(),
            table_proxy.cognito_requests.load(Ordering::SeqCst),
            table_proxy.ses_requests.load(Ordering::SeqCst),
        )
    };
    let (mut s, _) = sim.initiate_auth("calls-table", false).await.unwrap();
    let table_create = counts();
    let code =
        code_from_email(moto.sent_emails().last().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
    let after_verify = counts();
    let verify = (
        after_verify.0 - table_create.0,
        after_verify.1 - table_create.1,
    );
    sim.initiate_auth("calls-table", false).await.unwrap();
    let reuse = counts().0 - after_verify.0;
    row(
        "AWS calls per sign-in, DynamoDB store (counted)",
        format!(
            "Create {} ({} UpdateItem + {} SES, {} Cognito), Verify {} UpdateItem + {} Cognito (email_verified, once per user); a second sign-in (the first code spent): Create {reuse} UpdateItem + the send",
            table_create.0 + table_create.2,
            table_create.0,
            table_create.2,
            table_create.1,
            verify.0,
            verify.1
        ),
        "Create 1 write + the send, Verify 1 write".into(),
        Some(table_create.0 == 1 && table_create.1 == 0 && verify.0 == 1),
        json!({"create_dynamodb": table_create.0, "create_ses": table_create.2, "create_cognito": table_create.1, "verify_dynamodb": verify.0, "verify_cognito": verify.1, "second_create_dynamodb": reuse}),
    );

    // 2. Warm round trips over the Runtime API, one process per trigger mix.
    let reusing_env = {
        let mut e = base_env.to_vec();
        e.push(("RESEND_COOLDOWN_SECONDS", "600"));
        lambda_env(&moto.endpoint, &e)
    };
    let warm_lambda = Lambda::start(Mode::Warm, reusing_env).await;
    // A full sign-in first (its peak RSS is the memory figure), which leaves a live code to reuse.
    let sim = CognitoSim {
        invoker: &warm_lambda,
        directory: PoolDirectory {
            cognito: cognito.clone(),
            pool_id: pool_id.clone(),
        },
        pool_id: pool_id.clone(),
        client_id: "bench".into(),
    };
    let (mut s, _) = sim.initiate_auth(&username, false).await.unwrap();
    let body = moto.sent_emails().last().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_from_email(&body).unwrap();
    assert_eq!(
        sim.respond_custom(&mut s, &code, &[]).await,
        Ok(Step::Tokens)
    );
    let rss_kib = peak_rss_kib(warm_lambda.pid().unwrap());
    let (s, _) = sim.initiate_auth(&username, false).await.unwrap();
    let attrs = attributes(&cognito, &pool_id, &username).await;
    let mut create_reuse = create.clone();
    create_reuse["request"]["userAttributes"] = json!(attrs);
    // A malformed answer is refused after the fresh read, without a write: repeatable.
    let verify = sim.verify_event(&s, &attrs, false, &json!("not-a-code"), &Map::new());
    for (name, event, calls) in [
        ("warm Define round trip", &define, "no AWS call"),
        (
            "warm Create round trip (reuse)",
            &create_reuse,
            "one read from moto",
        ),
        (
            "warm Verify round trip (refused)",
            &verify,
            "one read from moto",
        ),
    ] {
        let (median, p95) = stats(warm(&warm_lambda, event, warm_runs).await);
        row(
            name,
            format!(
                "{:.3} / {:.3} ms median / p95 over {warm_runs} ({calls})",
                ms(median),
                ms(p95)
            ),
            "-".into(),
            None,
            json!({"median_ms": ms(median), "p95_ms": ms(p95), "runs": warm_runs}),
        );
    }

    // 3. The pure paths, from criterion.
    for (name, bench, target_us) in [
        ("Define decision", "define_decision", Some(50.0)),
        ("Define handler, in-process", "define_handler", Some(50.0)),
        ("Verify hash check (judge)", "verify_hash_check", Some(50.0)),
        ("code issue (CSPRNG + HMAC)", "code_issue", None),
        ("state encode", "state_encode", None),
        ("state decode", "state_decode", None),
    ] {
        match criterion_median_ns(&target, bench) {
            Some(ns) => row(
                name,
                format!("{:.2} µs (criterion median)", ns / 1e3),
                target_us.map_or("-".into(), |t| format!("under {t} µs")),
                target_us.map(|t| ns / 1e3 < t),
                json!({"median_ns": ns, "criterion": bench}),
            ),
            None => row(
                name,
                "not measured: run `cargo bench --bench decisions` first".into(),
                "-".into(),
                None,
                Value::Null,
            ),
        }
    }

    // 4. Memory and size.
    let floor_rss = {
        let floor_lambda =
            Lambda::start_program(floor_binary(), Mode::Warm, lambda_env(&moto.endpoint, &[]))
                .await;
        let _ = floor_lambda
            .invoke_raw(define.to_string().into_bytes())
            .await;
        peak_rss_kib(floor_lambda.pid().unwrap())
    };
    let rss_mib = rss_kib.map(|k| k as f64 / 1024.0);
    row(
        "peak RSS after a full sign-in",
        format!(
            "{:.1} MiB (floor {:.1} MiB)",
            rss_mib.unwrap_or(f64::NAN),
            floor_rss.map_or(f64::NAN, |k| k as f64 / 1024.0)
        ),
        "under 32 MB".into(),
        rss_mib.map(|m| m * 1024.0 * 1024.0 < 32e6),
        json!({"peak_rss_kib": rss_kib, "floor_peak_rss_kib": floor_rss}),
    );
    let binary = std::fs::metadata(&otp).map(|m| m.len()).unwrap_or(0);
    let (stripped, zipped) = stripped_and_zipped(&otp).unwrap_or((0, 0));
    row(
        &format!("release binary ({})", std::env::consts::ARCH),
        format!(
            "{:.1} MB; stripped {:.1} MB; zipped {:.1} MB",
            binary as f64 / 1e6,
            stripped as f64 / 1e6,
            zipped as f64 / 1e6
        ),
        "-".into(),
        None,
        json!({"bytes": binary, "stripped_bytes": stripped, "zipped_bytes": zipped}),
    );
    let deploy_zip = target.join("lambda/cognito-email-otp/bootstrap.zip");
    match std::fs::metadata(&deploy_zip) {
        Ok(m) => row(
            "deploy zip (make build: arm64, dist profile)",
            format!("{:.2} MB", m.len() as f64 / 1e6),
            "under 10 MB".into(),
            Some(m.len() < 10_000_000),
            json!({"bytes": m.len()}),
        ),
        Err(_) => row(
            "deploy zip (make build: arm64, dist profile)",
            "not built here: run `make build` first".into(),
            "under 10 MB".into(),
            None,
            Value::Null,
        ),
    }

    // The table.
    let machine = machine();
    println!("\nmachine: {machine}\n");
    println!("| measure | value | target | met |");
    println!("|---|---|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("| {} | {} | {} | {met} |", r.name, r.value, r.target);
    }
    if let Ok(path) = std::env::var("BENCH_JSON") {
        let doc = json!({
            "machine": machine,
            "cold_runs": cold_runs,
            "warm_runs": warm_runs,
            "results": rows.iter().map(|r| json!({
                "measure": r.name, "value": r.value, "target": r.target, "met": r.met, "data": r.json,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        println!("\nwritten to {path}");
    }
}
