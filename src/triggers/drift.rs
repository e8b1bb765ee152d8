//! The drift check: `otp-admin check`'s checks, run by the deployed function on a schedule.
//!
//! A pool that was right at deployment can be opened later by hand (a password flow enabled on a
//! client, the attribute made readable): nothing fails, so nobody notices. An EventBridge rule
//! invokes the function with the constant input `{"otpDriftCheck": {"userPoolId": "<pool id>"}}`;
//! the function gathers the pool, every app client, its own wiring and Cognito's permission to
//! invoke it through a [`PoolInspector`], runs [`crate::admin::check`] on them, and reports in EMF:
//! `DriftCriticalFindings` (the count, 0 when clean), one `DriftFinding` per critical finding (by
//! `Finding` id), or `DriftCheckFailed` when it could not check. The template alarms on
//! `DriftCriticalFindings` ≥ 1, and on `DriftCheckFailed` in two hours running (docs/infra.md).
//!
//! "This function" is the Lambda context's invoked function ARN without its qualifier (the ARN
//! `lambda:GetPolicy` is granted on). Its configuration is its own process's environment, so the
//! check never calls `GetFunctionConfiguration`; SES is not checked (`ses:GetAccount` cannot be
//! granted on less than `*`). The whole check runs inside [`TRIGGER_BUDGET`]; past it, the check
//! failed.
//!
//! A completed check answers `{"findings": N, "critical": M}`, critical findings or not: the alarm
//! reports them, and an error would only make EventBridge retry. A check that could not run is an
//! error ([`TriggerError::DriftCheckFailed`]).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tracing::{info, warn};

use super::{App, Budget, TRIGGER_BUDGET, TriggerError};
use crate::admin::arn::pool_region;
use crate::admin::{Finding, FunctionArn, Severity, check};
use crate::ports::{ChallengeStore, Clock, KeySource, Mailer, PoolInspector};

/// The one key of a drift event.
pub const EVENT_KEY: &str = "otpDriftCheck";

/// Whether `event` is meant for the drift check: an object with [`EVENT_KEY`]. Such an event is
/// then held to its exact shape ([`pool_to_check`]); any other goes to Cognito's routing as
/// before. (Cognito's events never carry this key.)
pub(super) fn is_drift_event(event: &Value) -> bool {
    event.as_object().is_some_and(|o| o.contains_key(EVENT_KEY))
}

/// The pool ID of an event that is exactly `{"otpDriftCheck": {"userPoolId": "<pool id>"}}`.
/// Anything else is refused: the rule's input is a constant, so a different shape is not ours.
/// The message never repeats the value given.
pub fn pool_to_check(event: &Value) -> Result<&str, TriggerError> {
    let bad = |why: &str| TriggerError::InvalidEvent(format!("drift check: {why}"));
    let outer = event
        .as_object()
        .ok_or_else(|| bad("the event is not a JSON object"))?;
    if outer.len() != 1 {
        return Err(bad("the event must hold otpDriftCheck and nothing else"));
    }
    let inner = outer
        .get(EVENT_KEY)
        .and_then(Value::as_object)
        .ok_or_else(|| bad("otpDriftCheck must be an object"))?;
    if inner.len() != 1 {
        return Err(bad("otpDriftCheck must hold userPoolId and nothing else"));
    }
    let pool_id = inner
        .get("userPoolId")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("userPoolId must be a string"))?;
    pool_region(pool_id).map_err(|_| bad("userPoolId is not a user pool ID (REGION_ID)"))?;
    Ok(pool_id)
}

/// This function, unqualified, from the invoked function ARN the runtime passes with every
/// invocation. Without one there is no account to build an ARN from, so the check fails rather
/// than guess.
fn this_function(invoked: Option<&str>) -> Result<FunctionArn, TriggerError> {
    let arn = invoked
        .filter(|a| !a.is_empty())
        .ok_or_else(|| TriggerError::DriftCheckFailed("no invoked function ARN".into()))?;
    FunctionArn::parse(arn)
        .map(|f| f.unqualified())
        .map_err(|_| {
            TriggerError::DriftCheckFailed("the invoked function ARN does not parse".into())
        })
}

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector> App<M, S, C, K, I> {
    /// Runs the drift check for the pool `event` names; see the module documentation.
    pub(super) async fn drift(
        &self,
        event: &Value,
        invoked: Option<&str>,
    ) -> Result<Value, TriggerError> {
        let started = Instant::now();
        let budget = Budget::starting_now(TRIGGER_BUDGET);
        let elapsed_ms = || (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let pool_id = match pool_to_check(event) {
            Ok(p) => p,
            // No metric: there is no valid pool to count it for. The log line says why.
            Err(e) => {
                warn!(
                    trigger = "drift",
                    outcome = e.outcome(),
                    error_type = e.error_type(),
                    error = %e,
                    duration_ms = elapsed_ms(),
                    "invocation"
                );
                return Err(e);
            }
        };
        let result = self.inspect(pool_id, invoked, &budget).await;
        let duration_ms = elapsed_ms();
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let findings = match result {
            Ok(f) => f,
            Err(e) => {
                self.metrics
                    .emit(&self.emf.drift_failed(pool_id, timestamp_ms));
                warn!(
                    trigger = "drift",
                    outcome = e.outcome(),
                    error_type = e.error_type(),
                    error = %e,
                    duration_ms,
                    pool = pool_id,
                    "invocation"
                );
                return Err(e);
            }
        };
        let critical: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .collect();
        for f in &findings {
            // Ids, severities and client ids only: they name settings, never a user.
            match f.severity {
                Severity::Critical => warn!(
                    trigger = "drift",
                    finding = f.id,
                    severity = f.severity.as_str(),
                    client = f.client_id.as_deref(),
                    pool = pool_id,
                    "drift finding"
                ),
                Severity::Warning => info!(
                    trigger = "drift",
                    finding = f.id,
                    severity = f.severity.as_str(),
                    client = f.client_id.as_deref(),
                    pool = pool_id,
                    "drift finding"
                ),
                Severity::Info => {}
            }
        }
        for f in &critical {
            self.metrics.emit(&self.emf.drift_finding(
                pool_id,
                f.id,
                f.client_id.as_deref(),
                timestamp_ms,
            ));
        }
        self.metrics
            .emit(&self.emf.drift_count(pool_id, critical.len(), timestamp_ms));
        info!(
            trigger = "drift",
            outcome = if critical.is_empty() {
                "clean"
            } else {
                "findings"
            },
            duration_ms,
            pool = pool_id,
            findings = findings.len(),
            critical = critical.len(),
            "invocation"
        );
        Ok(json!({ "findings": findings.len(), "critical": critical.len() }))
    }

    /// The findings for `pool_id`, gathered within `budget`.
    async fn inspect(
        &self,
        pool_id: &str,
        invoked: Option<&str>,
        budget: &Budget,
    ) -> Result<Vec<Finding>, TriggerError> {
        let function = this_function(invoked)?;
        let facts = budget
            .run(TRIGGER_BUDGET, self.inspector.inspect(pool_id, &function))
            .await
            .map_err(|_| {
                TriggerError::DriftCheckFailed("no answer within the invocation budget".into())
            })?
            .map_err(|e| TriggerError::DriftCheckFailed(e.to_string()))?;
        Ok(check(&facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invoked_arn_loses_its_qualifier_and_is_required() {
        let f = this_function(Some(
            "arn:aws:lambda:eu-west-1:123456789012:function:otp:live",
        ));
        assert_eq!(
            f.unwrap().as_str(),
            "arn:aws:lambda:eu-west-1:123456789012:function:otp"
        );
        assert!(this_function(None).is_err());
        assert!(this_function(Some("")).is_err());
        assert!(this_function(Some("otp")).is_err());
    }
}
