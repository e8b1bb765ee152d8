//! `otp-admin`: bring your own user pool.
//!
//! - `check`: finds every setting of the pool, its app clients, the function and the sender's SES
//!   identity that voids a guarantee of this product. Read-only. Exit 0 with no critical finding,
//!   1 with any, 2 when it could not check.
//! - `attach`: wires the function into the pool and sends back every other setting as it was read.
//!   Without `--apply` it changes nothing and prints the plan; with it, prints the plan, then
//!   applies it. Exit 0 when done (or nothing to do), 1 when it refuses, 2 when it could not.
//! - `detach`: removes this function's wiring, and nothing else. Same exits.
//!
//! AWS configuration is the SDK's standard one (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`).
//! The reference, with every finding id: `docs/admin.md`.

use std::process::ExitCode;

use cognito_email_otp::adapters::admin::{
    AdminAws, AttachRequest, CheckTarget, load_config, sender_address,
};
use cognito_email_otp::admin::arn::{check_client_id, pool_region};
use cognito_email_otp::admin::{AdminError, Finding, FunctionArn, Severity, check};

const USAGE: &str = "\
otp-admin: bring your own Cognito user pool to cognito-email-otp

usage:
  otp-admin check  --user-pool-id ID [--client-id ID]... [--function-arn ARN] [--from ADDRESS] [--json]
  otp-admin attach --user-pool-id ID --function-arn ARN [--client-id ID]... [--pre-sign-up]
                   [--replace] [--turn-off-mfa] [--admin-only-recovery] [--apply]
  otp-admin detach --user-pool-id ID --function-arn ARN [--apply]

check   reads the pool, its app clients (or the ones named), the function and the sender's SES
        identity, and lists every setting that voids a guarantee, with its fix. Changes nothing.
        Exit 0: no critical finding; 1: at least one; 2: could not check.
attach  wires the function into the pool's challenge slots (and PreSignUp with --pre-sign-up),
        adds the challenge attribute if missing, holds email changes until verified, lets Cognito
        invoke the function, and fixes the app clients named with --client-id. Every other setting
        is sent back exactly as read. Without --apply, prints the plan and changes nothing.
detach  removes this function from the pool's trigger slots and its invoke permission for the
        pool, nothing else. Without --apply, prints the plan and changes nothing.

AWS credentials, Region and endpoint come from the standard variables (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, ...). Finding ids and fixes: docs/admin.md.
";

/// The parsed command line.
#[derive(Debug, Default)]
struct Args {
    command: String,
    pool_id: Option<String>,
    client_ids: Vec<String>,
    function: Option<String>,
    from: Option<String>,
    json: bool,
    pre_sign_up: bool,
    replace: bool,
    turn_off_mfa: bool,
    admin_only_recovery: bool,
    apply: bool,
}

fn usage(msg: impl Into<String>) -> AdminError {
    AdminError::Usage(format!(
        "{}\n\nrun `otp-admin --help` for the usage",
        msg.into()
    ))
}

fn parse(argv: &[String]) -> Result<Args, AdminError> {
    let mut it = argv.iter();
    let command = it
        .next()
        .ok_or_else(|| usage("no command: use check, attach or detach"))?;
    let mut a = Args {
        command: command.clone(),
        ..Args::default()
    };
    let allowed: &[&str] = match command.as_str() {
        "check" => &[
            "--user-pool-id",
            "--client-id",
            "--function-arn",
            "--from",
            "--json",
        ],
        "attach" => &[
            "--user-pool-id",
            "--client-id",
            "--function-arn",
            "--pre-sign-up",
            "--replace",
            "--turn-off-mfa",
            "--admin-only-recovery",
            "--apply",
        ],
        "detach" => &["--user-pool-id", "--function-arn", "--apply"],
        other => {
            return Err(usage(format!(
                "unknown command {other:?}: use check, attach or detach"
            )));
        }
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if !allowed.contains(&flag) {
            return Err(usage(format!("{command} does not take {flag:?}")));
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .filter(|v| !v.is_empty() && !v.starts_with("--"))
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        let once = |slot: &Option<String>| {
            if slot.is_some() {
                Err(usage(format!("{flag} given twice")))
            } else {
                Ok(())
            }
        };
        match flag {
            "--user-pool-id" => {
                once(&a.pool_id)?;
                a.pool_id = Some(value()?);
            }
            "--function-arn" => {
                once(&a.function)?;
                a.function = Some(value()?);
            }
            "--from" => {
                once(&a.from)?;
                a.from = Some(value()?);
            }
            "--client-id" => a.client_ids.push(value()?),
            switch => {
                if inline.is_some() {
                    return Err(usage(format!("{switch} takes no value")));
                }
                match switch {
                    "--json" => a.json = true,
                    "--pre-sign-up" => a.pre_sign_up = true,
                    "--replace" => a.replace = true,
                    "--turn-off-mfa" => a.turn_off_mfa = true,
                    "--admin-only-recovery" => a.admin_only_recovery = true,
                    _ => a.apply = true,
                }
            }
        }
    }
    let pool = a
        .pool_id
        .as_deref()
        .ok_or_else(|| usage("--user-pool-id is required"))?;
    pool_region(pool)?;
    for c in &a.client_ids {
        check_client_id(c)?;
    }
    if command != "check" && a.function.is_none() {
        return Err(usage(format!("{command} needs --function-arn")));
    }
    if let Some(f) = &a.function {
        FunctionArn::parse(f)?;
    }
    if let Some(from) = &a.from {
        sender_address(from, "--from")?;
    }
    Ok(a)
}

fn print_findings(findings: &[Finding], header: &str) {
    println!("{header}");
    if findings.is_empty() {
        println!("No findings: nothing voids a guarantee.");
        return;
    }
    for f in findings {
        let whom = f
            .client_id
            .as_deref()
            .map(|c| format!("  (app client {c})"))
            .unwrap_or_default();
        println!();
        println!("{:<9} {}{whom}", f.severity.as_str(), f.id);
        println!("          {}", f.message);
        println!("          fix: {}", f.fix);
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    println!();
    println!(
        "{} critical, {} warning, {} info.",
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
}

async fn run(args: Args) -> Result<ExitCode, AdminError> {
    let aws = AdminAws::new(load_config().await);
    let pool_id = args.pool_id.clone().unwrap_or_default();
    let function = args
        .function
        .as_deref()
        .map(FunctionArn::parse)
        .transpose()?;
    match args.command.as_str() {
        "check" => {
            let target = CheckTarget {
                pool_id: pool_id.clone(),
                client_ids: args.client_ids.clone(),
                function,
                sender: args.from.clone(),
                environment: None,
                ses: true,
            };
            let facts = aws.gather(&target).await?;
            let findings = check(&facts);
            if args.json {
                println!("{}", serde_json::json!({ "findings": findings }));
            } else {
                let mut header = format!(
                    "otp-admin check: user pool {pool_id}, {} app client{}",
                    facts.clients.len(),
                    if facts.clients.len() == 1 { "" } else { "s" }
                );
                if let Some(f) = &facts.function {
                    header.push_str(&format!(", function {}", f.arn));
                }
                if let Some(s) = &facts.ses {
                    header.push_str(&format!(", sender {}", s.sender));
                }
                print_findings(&findings, &header);
            }
            let critical = findings.iter().any(|f| f.severity == Severity::Critical);
            Ok(ExitCode::from(u8::from(critical)))
        }
        command => {
            let function =
                function.ok_or_else(|| usage(format!("{command} needs --function-arn")))?;
            let plan = if command == "attach" {
                aws.plan_attach(&AttachRequest {
                    pool_id: pool_id.clone(),
                    function: function.clone(),
                    client_ids: args.client_ids.clone(),
                    pre_sign_up: args.pre_sign_up,
                    replace: args.replace,
                    turn_off_mfa: args.turn_off_mfa,
                    admin_only_recovery: args.admin_only_recovery,
                })
                .await?
            } else {
                aws.plan_detach(&pool_id, &function).await?
            };
            let steps = plan.steps();
            if steps.is_empty() {
                let state = if command == "attach" {
                    "wired to"
                } else {
                    "not wired to"
                };
                println!("Nothing to change: user pool {pool_id} is already {state} {function}.");
            } else {
                println!("otp-admin {command}: user pool {pool_id}, function {function}");
                println!(
                    "{}:",
                    if args.apply {
                        "Changes"
                    } else {
                        "Would change (nothing is changed without --apply)"
                    }
                );
                for (i, s) in steps.iter().enumerate() {
                    println!("  {}. {s}", i + 1);
                }
            }
            if !plan.pool.notes.is_empty() {
                println!("Notes:");
                for n in &plan.pool.notes {
                    println!("  - {n}");
                }
            }
            if !steps.is_empty() {
                if args.apply {
                    println!("Applying:");
                    aws.apply(&plan, |i| println!("  {i}. done")).await?;
                    println!("Done.");
                } else {
                    println!(
                        "Nothing was changed. Run the same command with --apply to make these changes."
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty()
        || argv
            .iter()
            .any(|a| a == "--help" || a == "-h" || a == "help")
    {
        print!("{USAGE}");
        return if argv.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let outcome = parse(&argv).and_then(|args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AdminError::Usage(format!("cannot start the async runtime: {e}")))?;
        runtime.block_on(run(args))
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("otp-admin: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    }
}
