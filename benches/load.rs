//! `make load`: many concurrent sign-ins, for a bounded time, through several warm release-binary
//! processes against moto (Cognito, SES and DynamoDB over real HTTP), once per store. Prints
//! sign-ins per second, the p50/p99 of each trigger, and the invariants checked afterwards:
//! emails sent = codes issued, no user over `SEND_LIMIT`, no code accepted twice.
//!
//! moto is one Python process and is the bottleneck here (every trigger is preceded by the
//! simulator's AdminGetUser, as Cognito reads the user, and every email is fetched back): the
//! rates say how the function behaves under contention, not what AWS would sustain. The AWS quota
//! arithmetic is in docs/stores.md.
//!
//! `LOAD_SECONDS` (default 15) per store, `LOAD_PROCESSES` (4), `LOAD_CONCURRENCY` (8: twice the processes, so invocations queue for a free one),
//! `LOAD_USERS` (96).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cognito_email_otp::simulator::{CognitoSim, Invoker, Step, code_from_email};
use serde_json::Value;
use support::lambda::{Lambda, Mode};
use support::pool::{PoolDirectory, add_user};
use support::world::{Store, World};

const SEND_LIMIT: usize = 5;

/// The warm processes. Like a Lambda execution environment, each serves one invocation at a
/// time: an invocation takes a free one, or waits for the next in turn.
struct Fleet {
    lambdas: Vec<tokio::sync::Mutex<Lambda>>,
    next: AtomicUsize,
}

impl Invoker for &Fleet {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let free = self.lambdas.iter().find_map(|l| l.try_lock().ok());
        let lambda = match free {
            Some(l) => l,
            None => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.lambdas.len();
                self.lambdas[i].lock().await
            }
        };
        (&*lambda).invoke(event).await
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[derive(Default)]
struct Tally {
    signed_in: usize,
    refused: BTreeMap<String, usize>,
    accepted: Vec<(String, String)>,
}

async fn run(store: Store) -> bool {
    let seconds = env_or("LOAD_SECONDS", 15) as u64;
    let processes = env_or("LOAD_PROCESSES", 4);
    let concurrency = env_or("LOAD_CONCURRENCY", 8);
    let users = env_or("LOAD_USERS", 96);
    let w = World::with(store).await;
    let names: Vec<String> = (0..users).map(|i| format!("load-{i}")).collect();
    for n in &names {
        add_user(&w.cognito, &w.pool_id, n, &format!("{n}@example.org")).await;
    }
    let env = w.env(&[("AUTH_FLOW", "passwordless"), ("SEND_LIMIT", "5")]);
    let mut lambdas = Vec::new();
    for _ in 0..processes {
        lambdas.push(tokio::sync::Mutex::new(
            Lambda::start(Mode::Warm, env.clone()).await,
        ));
    }
    let fleet = Fleet {
        lambdas,
        next: AtomicUsize::new(0),
    };
    let sim = CognitoSim {
        invoker: &fleet,
        directory: PoolDirectory {
            cognito: w.cognito.clone(),
            pool_id: w.pool_id.clone(),
        },
        pool_id: w.pool_id.clone(),
        client_id: "load".into(),
    };
    let tally = Mutex::new(Tally::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let worker = |k: usize| {
        let (sim, tally, names, w) = (&sim, &tally, &names, &w);
        async move {
            let mut i = k;
            while Instant::now() < deadline {
                // Workers share users, so sign-ins of the same user overlap.
                i = (i * 7 + 3) % names.len();
                let user = &names[i];
                let (mut s, _) = match sim.initiate_auth(user, false).await {
                    Ok(x) => x,
                    Err(e) => {
                        let key = format!("{e:?}").chars().take(60).collect();
                        *tally.lock().unwrap().refused.entry(key).or_default() += 1;
                        continue;
                    }
                };
                let address = format!("{user}@example.org");
                let code = w
                    .moto
                    .sent_emails()
                    .iter()
                    .rev()
                    .find(|m| m["destinations"]["ToAddresses"][0] == address.as_str())
                    .and_then(|m| code_from_email(m["body"].as_str()?));
                let Some(code) = code else { continue };
                match sim.respond_custom(&mut s, &code, &[]).await {
                    Ok(Step::Tokens) => {
                        let mut t = tally.lock().unwrap();
                        t.signed_in += 1;
                        t.accepted.push((user.clone(), code));
                    }
                    other => {
                        let key = format!("{other:?}").chars().take(60).collect();
                        *tally.lock().unwrap().refused.entry(key).or_default() += 1;
                    }
                }
            }
        }
    };
    futures::future::join_all((0..concurrency).map(worker)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let tally = tally.into_inner().unwrap();

    // Per-trigger latencies, from every process's records.
    let mut by_trigger: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut issued = 0usize;
    for l in &fleet.lambdas {
        let l = l.lock().await;
        for r in l.records.lock().unwrap().iter() {
            by_trigger
                .entry(r.trigger.clone())
                .or_default()
                .push(r.took.as_secs_f64() * 1000.0);
        }
        issued += l
            .invocation_lines()
            .iter()
            .filter(|v| {
                matches!(
                    v["outcome"].as_str(),
                    Some("challenge_issued" | "challenge_resent")
                )
            })
            .count();
    }
    let emails = w.moto.sent_emails();
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for m in &emails {
        let to = m["destinations"]["ToAddresses"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *per_user.entry(to).or_default() += 1;
    }
    let most = per_user.values().copied().max().unwrap_or(0);
    let distinct: HashSet<&(String, String)> = tally.accepted.iter().collect();

    println!(
        "\n{store:?} store: {processes} warm processes, {concurrency} concurrent sign-ins over {users} users, {elapsed:.1} s"
    );
    println!(
        "  sign-ins completed: {} ({:.1}/s); refused or failed: {:?}",
        tally.signed_in,
        tally.signed_in as f64 / elapsed,
        tally.refused
    );
    println!("  | trigger | invocations | p50 ms | p99 ms |");
    println!("  |---|---|---|---|");
    for (trigger, mut ms) in by_trigger {
        ms.sort_by(f64::total_cmp);
        println!(
            "  | {trigger} | {} | {:.1} | {:.1} |",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
    }
    let checks = [
        (
            format!("emails sent = codes issued: {} = {issued}", emails.len()),
            emails.len() == issued,
        ),
        (
            format!("no user over SEND_LIMIT={SEND_LIMIT}: most emails to one user {most}"),
            most <= SEND_LIMIT,
        ),
        (
            format!(
                "no code accepted twice: {} acceptances, {} distinct (user, code)",
                tally.accepted.len(),
                distinct.len()
            ),
            distinct.len() == tally.accepted.len(),
        ),
    ];
    let mut ok = true;
    for (what, held) in checks {
        println!("  {} {what}", if held { "ok  " } else { "FAIL" });
        ok &= held;
    }
    ok
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut ok = true;
    for store in [Store::Attribute, Store::Table] {
        ok &= run(store).await;
    }
    println!(
        "\nmoto (one Python process) is the bottleneck of these rates; docs/stores.md gives the AWS quotas."
    );
    if !ok {
        eprintln!("load: an invariant failed");
        std::process::exit(1);
    }
}
