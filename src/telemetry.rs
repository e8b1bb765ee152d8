//! Metrics in CloudWatch Embedded Metric Format (EMF): one JSON document per invocation, written
//! as a line on stdout. Lambda sends stdout to CloudWatch Logs, which extracts the metrics: no API
//! call, no extra dependency, nothing on the sign-in's critical path but one buffered write.
//!
//! Every document carries all nine counts (0 or 1) and `Duration`, so the alarms and dashboard
//! built on them always have data points, and declares exactly those metrics. The dimensions are
//! `Flow` and, with `METRICS_POOL_ID_DIMENSION=true`, `UserPoolId`. `Trigger` and `Outcome` are
//! plain properties: searchable in Logs Insights without multiplying the metrics billed. Nothing in
//! a document identifies a user.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value, json};

/// The count metrics, with the names dashboards and alarms are built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Create mailed a code (new or resent).
    CodeSent,
    /// Create reused the code already sent (cooldown or a retry round).
    CodeReused,
    /// Verify accepted an answer.
    AnswerAccepted,
    /// Verify refused an answer (wrong, expired, exhausted, malformed, superseded, contended).
    AnswerRejected,
    /// Define failed the sign-in (too many wrong answers, a failed password, a decoy run out, …).
    SignInFailed,
    /// Create refused: `SEND_LIMIT` codes already went out in the window.
    SendLimited,
    /// Create answered an unknown user with a decoy challenge.
    DecoyChallenge,
    /// SES did not take the email.
    DeliveryError,
    /// The challenge attribute could not be written or read back.
    StoreError,
}

impl Metric {
    /// Every count metric, in the order documents list them.
    pub const ALL: [Metric; 9] = [
        Metric::CodeSent,
        Metric::CodeReused,
        Metric::AnswerAccepted,
        Metric::AnswerRejected,
        Metric::SignInFailed,
        Metric::SendLimited,
        Metric::DecoyChallenge,
        Metric::DeliveryError,
        Metric::StoreError,
    ];

    /// The CloudWatch metric name.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::CodeSent => "CodeSent",
            Metric::CodeReused => "CodeReused",
            Metric::AnswerAccepted => "AnswerAccepted",
            Metric::AnswerRejected => "AnswerRejected",
            Metric::SignInFailed => "SignInFailed",
            Metric::SendLimited => "SendLimited",
            Metric::DecoyChallenge => "DecoyChallenge",
            Metric::DeliveryError => "DeliveryError",
            Metric::StoreError => "StoreError",
        }
    }
}

/// What one invocation reports.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The configured flow (`mfa`, `passwordless`, `both`).
    pub flow: &'a str,
    /// The event's pool, used only when the pool dimension is on.
    pub pool_id: Option<&'a str>,
    /// The trigger, shortened (a property, not a dimension).
    pub trigger: &'a str,
    /// The log line's outcome (a property).
    pub outcome: &'a str,
    /// The counts that are 1; every other count is 0.
    pub counted: Option<Metric>,
    /// Wall time of the invocation, in milliseconds.
    pub duration_ms: f64,
    /// When, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Builds the EMF documents for one configuration.
#[derive(Debug, Clone)]
pub struct Emf {
    namespace: String,
    pool_dimension: bool,
}

impl Emf {
    /// Documents in `namespace`, with the pool ID as a dimension when `pool_dimension`.
    pub fn new(namespace: impl Into<String>, pool_dimension: bool) -> Self {
        Self {
            namespace: namespace.into(),
            pool_dimension,
        }
    }

    /// The EMF document for one invocation.
    pub fn document(&self, s: &Sample<'_>) -> Value {
        let mut dimensions = vec!["Flow"];
        let mut root = Map::new();
        root.insert("Flow".into(), json!(s.flow));
        if let (true, Some(pool)) = (self.pool_dimension, s.pool_id) {
            dimensions.push("UserPoolId");
            root.insert("UserPoolId".into(), json!(pool));
        }
        let mut declared: Vec<Value> = Metric::ALL
            .iter()
            .map(|m| json!({ "Name": m.name(), "Unit": "Count" }))
            .collect();
        declared.push(json!({ "Name": "Duration", "Unit": "Milliseconds" }));
        for m in Metric::ALL {
            root.insert(m.name().into(), json!(u8::from(s.counted == Some(m))));
        }
        root.insert("Duration".into(), json!(s.duration_ms));
        root.insert("Trigger".into(), json!(s.trigger));
        root.insert("Outcome".into(), json!(s.outcome));
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": s.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions],
                    "Metrics": declared,
                }],
            }),
        );
        Value::Object(root)
    }
}

/// The drift check's metrics: one document per metric value, since each critical finding carries
/// its own `Finding` dimension value (see [`Emf::drift_count`]).
pub mod drift {
    /// The number of critical findings of a completed check (0 when clean), by `UserPoolId`.
    pub const CRITICAL_FINDINGS: &str = "DriftCriticalFindings";
    /// 1 per critical finding, by `UserPoolId` and `Finding` (the finding's id).
    pub const FINDING: &str = "DriftFinding";
    /// 1 when the check could not run (a failed or timed-out call, no permission, no pool).
    pub const CHECK_FAILED: &str = "DriftCheckFailed";
}

impl Emf {
    /// `DriftCriticalFindings` = `critical` for `pool_id`, dimensions `[["UserPoolId"]]`.
    pub fn drift_count(&self, pool_id: &str, critical: usize, timestamp_ms: u64) -> Value {
        self.single(
            drift::CRITICAL_FINDINGS,
            critical,
            &[("UserPoolId", pool_id)],
            Map::new(),
            timestamp_ms,
        )
    }

    /// `DriftFinding` = 1 for one critical finding `id`, dimensions `[["UserPoolId", "Finding"]]`;
    /// the client it concerns (if any) is a property, not a dimension.
    pub fn drift_finding(
        &self,
        pool_id: &str,
        id: &str,
        client_id: Option<&str>,
        timestamp_ms: u64,
    ) -> Value {
        let mut properties = Map::new();
        if let Some(c) = client_id {
            properties.insert("ClientId".into(), json!(c));
        }
        self.single(
            drift::FINDING,
            1,
            &[("UserPoolId", pool_id), ("Finding", id)],
            properties,
            timestamp_ms,
        )
    }

    /// `DriftCheckFailed` = 1 for `pool_id`, dimensions `[["UserPoolId"]]`.
    pub fn drift_failed(&self, pool_id: &str, timestamp_ms: u64) -> Value {
        self.single(
            drift::CHECK_FAILED,
            1,
            &[("UserPoolId", pool_id)],
            Map::new(),
            timestamp_ms,
        )
    }

    /// A document declaring exactly one count metric, in one dimension set.
    fn single(
        &self,
        metric: &str,
        value: usize,
        dimensions: &[(&str, &str)],
        mut root: Map<String, Value>,
        timestamp_ms: u64,
    ) -> Value {
        for (k, v) in dimensions {
            root.insert((*k).into(), json!(v));
        }
        root.insert(metric.into(), json!(value));
        root.insert("Trigger".into(), json!("drift"));
        let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [names],
                    "Metrics": [{ "Name": metric, "Unit": "Count" }],
                }],
            }),
        );
        Value::Object(root)
    }
}

/// Where documents go: stdout in Lambda, somewhere else in tests and the demo.
pub struct MetricsSink(Box<dyn Fn(&str) + Send + Sync>);

impl MetricsSink {
    /// One line per document on stdout, written in one call so it never interleaves with a log line.
    pub fn stdout() -> Self {
        Self(Box::new(|line| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }))
    }

    /// Drops every document (the demo, which shows log lines only).
    pub fn discard() -> Self {
        Self(Box::new(|_| {}))
    }

    /// Hands every line to `f`.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Box::new(f))
    }

    /// Writes one document.
    pub fn emit(&self, document: &Value) {
        (self.0)(&document.to_string());
    }
}

impl fmt::Debug for MetricsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsSink")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(counted: Option<Metric>) -> Sample<'static> {
        Sample {
            flow: "mfa",
            pool_id: Some("eu-west-1_Q7xk2PzRm"),
            trigger: "CreateAuthChallenge_Authentication",
            outcome: "challenge_issued",
            counted,
            duration_ms: 41.5,
            timestamp_ms: 1_767_225_600_000,
        }
    }

    #[test]
    fn a_document_declares_exactly_the_metrics_it_carries() {
        let doc = Emf::new("CognitoEmailOtp", false).document(&sample(Some(Metric::CodeSent)));
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CognitoEmailOtp");
        assert_eq!(directive["Dimensions"], json!([["Flow"]]));
        assert_eq!(doc["_aws"]["Timestamp"], 1_767_225_600_000u64);
        let declared: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        let carried: Vec<&str> = doc
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, _)| k.as_str())
            .collect();
        let (mut d, mut c) = (declared.clone(), carried);
        d.sort_unstable();
        c.sort_unstable();
        assert_eq!(d, c);
        assert_eq!(declared.len(), 10);
        assert_eq!(doc["CodeSent"], 1);
        assert_eq!(doc["StoreError"], 0);
        assert_eq!(doc["Duration"], 41.5);
        assert!(doc.get("UserPoolId").is_none(), "no pool unless asked");
    }

    #[test]
    fn the_pool_dimension_is_optional() {
        let emf = Emf::new("Acme/SignIn", true);
        let doc = emf.document(&sample(None));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Flow", "UserPoolId"]])
        );
        assert_eq!(doc["UserPoolId"], "eu-west-1_Q7xk2PzRm");
        // An event without a pool cannot carry the dimension, so it is not declared.
        let doc = emf.document(&Sample {
            pool_id: None,
            ..sample(None)
        });
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Flow"]])
        );
        assert!(Metric::ALL.iter().all(|m| doc[m.name()] == 0));
    }

    #[test]
    fn drift_documents_carry_one_metric_in_their_own_dimensions() {
        let emf = Emf::new("Acme/SignIn", false);
        let count = emf.drift_count("eu-west-1_Q7xk2PzRm", 2, 7);
        let directive = &count["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Acme/SignIn");
        assert_eq!(directive["Dimensions"], json!([["UserPoolId"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "DriftCriticalFindings", "Unit": "Count"}])
        );
        assert_eq!(
            (&count["DriftCriticalFindings"], &count["UserPoolId"]),
            (&json!(2), &json!("eu-west-1_Q7xk2PzRm"))
        );
        let finding = emf.drift_finding("eu-west-1_x", "client-password-auth", Some("abc"), 7);
        assert_eq!(
            finding["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["UserPoolId", "Finding"]])
        );
        assert_eq!(
            (
                &finding["DriftFinding"],
                &finding["Finding"],
                &finding["ClientId"]
            ),
            (&json!(1), &json!("client-password-auth"), &json!("abc"))
        );
        let failed = emf.drift_failed("eu-west-1_x", 7);
        assert_eq!(failed["DriftCheckFailed"], 1);
        assert_eq!(
            failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["UserPoolId"]])
        );
        assert!(failed.get("DriftCriticalFindings").is_none());
    }

    #[test]
    fn the_metric_names_are_the_documented_ones() {
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "CodeSent",
                "CodeReused",
                "AnswerAccepted",
                "AnswerRejected",
                "SignInFailed",
                "SendLimited",
                "DecoyChallenge",
                "DeliveryError",
                "StoreError"
            ]
        );
    }
}
