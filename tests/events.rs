//! Every file in events/ goes through the dispatcher and gives the response events/expected.json
//! records, with the replay configuration (`AUTH_FLOW=both`, `SIGNUP_ALLOWED_DOMAINS=example.org`,
//! the replay-only key). This also proves scripts/gen_events.py encodes state exactly as Rust does:
//! the right-answer event is accepted only if the digest matches.

mod support;

use std::path::Path;

use cognito_email_otp::adapters::local::LocalUserStore;
use serde_json::Value;
use support::{TestClock, local_app};

/// `actual` contains everything in `expected` (objects compared key by key, the rest exactly).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        _ => actual == expected,
    }
}

fn all_event_files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_event_files(&path, out);
        } else if path.parent() != Some(Path::new("events")) {
            out.push(
                path.strip_prefix("events")
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// Stores the event's `userAttributes` as the user's current attributes: Cognito read them from
/// the pool just before the invocation, and the function reads the state afresh from the store.
fn seed_store_from(event: &Value, users_file: &Path) {
    let (Some(pool), Some(user), Some(attrs)) = (
        event["userPoolId"].as_str(),
        event["userName"].as_str(),
        event["request"]["userAttributes"].as_object(),
    ) else {
        return;
    };
    if event["request"]["userNotFound"] == true {
        return;
    }
    let attrs = attrs
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    LocalUserStore::new(users_file, "custom:authChallenge".into())
        .put_user(pool, user, attrs)
        .unwrap();
}

#[tokio::test]
async fn every_event_file_gives_its_expected_response() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string("events/expected.json").unwrap()).unwrap();
    let now = expected["now"].as_u64().unwrap() as u32;
    let key = expected["replay_key"].as_str().unwrap();
    let cases = expected["events"].as_object().unwrap();

    // Every event file has an expectation, and every expectation a file.
    let mut files = Vec::new();
    all_event_files(Path::new("events"), &mut files);
    files.sort();
    let mut listed: Vec<String> = cases.keys().cloned().collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "events/ and events/expected.json disagree; run scripts/gen_events.py"
    );

    for (name, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy("events/local-users.json", dir.path().join("users.json")).unwrap();
        let clock = TestClock::at(now);
        let config = support::config(&[
            ("CODE_HMAC_KEY", key),
            ("AUTH_FLOW", "both"),
            ("SIGNUP_ALLOWED_DOMAINS", "example.org"),
        ]);
        let app = local_app(dir.path(), config, &clock);
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(Path::new("events").join(name)).unwrap())
                .unwrap();
        seed_store_from(&event, &dir.path().join("users.json"));
        let result = app.handle(event.clone()).await;
        match (want.get("error").and_then(Value::as_str), result) {
            (Some(kind), Err(e)) => {
                assert_eq!(e.error_type(), kind, "{name}");
                // Where the user is told what to do, the exact text Cognito shows them.
                if let Some(text) = want.get("message").and_then(Value::as_str) {
                    assert_eq!(e.user_message(), text, "{name}");
                }
            }
            (Some(kind), Ok(v)) => panic!("{name}: expected error {kind}, got {v}"),
            (None, Err(e)) => panic!("{name}: {e}"),
            (None, Ok(out)) => {
                assert!(
                    contains(&out, &serde_json::json!({ "response": want["response"] })),
                    "{name}: got {}",
                    out["response"]
                );
                // The whole event comes back: everything but `response` is untouched, except that
                // Verify does not echo the answer.
                let (mut a, mut b) = (out.clone(), event.clone());
                a.as_object_mut().unwrap().remove("response");
                b.as_object_mut().unwrap().remove("response");
                if b["request"].get("challengeAnswer").is_some() {
                    b["request"]["challengeAnswer"] = Value::String(String::new());
                }
                assert_eq!(a, b, "{name}");
            }
        }
        let emails = app.mailer().messages().unwrap().len() as u64;
        assert_eq!(
            emails,
            want.get("emails").and_then(Value::as_u64).unwrap_or(0),
            "{name}: emails sent"
        );
    }
}

#[tokio::test]
async fn unknown_fields_and_nulls_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_767_225_600);
    let app = local_app(
        dir.path(),
        support::config(&[("AUTH_FLOW", "passwordless")]),
        &clock,
    );
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string("events/define/passwordless-start.json").unwrap(),
    )
    .unwrap();
    event["futureTopLevelField"] = serde_json::json!({"nested": [1, 2, 3]});
    event["request"]["futureRequestField"] = Value::Null;
    event["request"]["clientMetadata"] = Value::Null;
    let out = app.handle(event).await.unwrap();
    assert_eq!(out["futureTopLevelField"]["nested"][2], 3);
    assert_eq!(out["request"]["futureRequestField"], Value::Null);
    assert_eq!(out["response"]["challengeName"], "CUSTOM_CHALLENGE");
}
