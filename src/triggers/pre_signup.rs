//! PreSignUp_SignUp: auto-confirm (if configured) and the email-domain allow-list.
//!
//! Email is never auto-verified here: the user has not proven they own the address yet. Verify
//! marks it verified after their first correct code.

use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignupRequest as PreSignupRequest;
use serde_json::{Map, Value, json};

use super::{App, Outcome, TriggerError, request};
use crate::domain::email::EmailAddress;
use crate::ports::{ChallengeStore, Clock, KeySource, Mailer, PoolInspector};

impl<M: Mailer, S: ChallengeStore, C: Clock, K: KeySource, I: PoolInspector> App<M, S, C, K, I> {
    pub(super) fn pre_sign_up(
        &self,
        event: &mut Map<String, Value>,
    ) -> Result<Outcome, TriggerError> {
        let req: PreSignupRequest = request(event)?;
        if let Some(allowed) = &self.config.signup_allowed_domains {
            let domain = req
                .user_attributes
                .get("email")
                .and_then(|e| EmailAddress::parse(e))
                .map(|e| e.domain());
            if !domain.is_some_and(|d| allowed.contains(&d)) {
                return Err(TriggerError::SignUpNotAllowed);
            }
        }
        let auto_verify_phone = event
            .get("response")
            .and_then(|r| r.get("autoVerifyPhone"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let confirm = self.config.signup_auto_confirm;
        event.insert(
            "response".into(),
            json!({ "autoConfirmUser": confirm, "autoVerifyEmail": false, "autoVerifyPhone": auto_verify_phone }),
        );
        Ok(Outcome::new(
            if confirm {
                "signup_confirmed"
            } else {
                "signup_allowed"
            },
            None,
        ))
    }
}
