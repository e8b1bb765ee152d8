"""Real clients against infra/template.yaml deployed into the emulator (scripts/stack.py up):
boto3 for passwordless sign-in and sign-up, pycognito's AWSSRP for the mfa flow. Codes are read
from the emulator's mailbox. Each test is one user's story; where the emulator differs from
Cognito the test says so (docs/local-stack.md).

These are the plain API calls of docs/deploying.md ("How a client signs in"), the same cases as
examples/web/test/amplify.test.mjs makes through Amplify: a break in both is the function's, in
Amplify's alone is Amplify's.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError
from conftest import PASSWORD, code_in, make_user, wait_until
from pycognito.aws_srp import AWSSRP

# The token every error of the function starts its message with; Cognito (and the emulator) wrap
# the message, so clients search for it.
TOKEN = re.compile(r"\bOTP_[A-Z_]+\b")
TOO_MANY_ATTEMPTS = "OTP_TOO_MANY_ATTEMPTS: Too many wrong codes. Please wait a minute, then sign in again for a new code."


def start_passwordless(stack, idp, email: str) -> dict:
    return idp.initiate_auth(
        AuthFlow="CUSTOM_AUTH", ClientId=stack["UserPoolClientId"], AuthParameters={"USERNAME": email}
    )


def answer(stack, idp, challenge: dict, email: str, code: str, metadata: dict | None = None) -> dict:
    return idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"],
        ChallengeName="CUSTOM_CHALLENGE",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": challenge["ChallengeParameters"].get("USERNAME", email), "ANSWER": code},
        ClientMetadata=metadata or {},
    )


def resend(stack, idp, challenge: dict, email: str) -> dict:
    """The resend of docs/deploying.md: any ANSWER (not checked, not counted) with action=resend."""
    return answer(stack, idp, challenge, email, "resend", {"action": "resend"})


def public(challenge: dict) -> dict:
    """A CUSTOM_CHALLENGE round's public parameters, each checked for its shape."""
    assert challenge["ChallengeName"] == "CUSTOM_CHALLENGE" and "AuthenticationResult" not in challenge
    p = challenge["ChallengeParameters"]
    assert p["delivery"] == "EMAIL" and p["codeLength"] == "6"
    for k in ("sentAt", "expiresAt", "attemptsLeft", "resendAfter"):
        assert re.fullmatch(r"[0-9]+", p.get(k, "")), f"{k} is a whole number of seconds or attempts: {p.get(k)!r}"
    return p


def token_of(e: ClientError) -> str | None:
    found = TOKEN.search(e.response["Error"].get("Message", ""))
    return found.group(0) if found else None


def wrong(code: str) -> str:
    """A code of the same length that is not `code`."""
    return "".join(str((int(c) + 1) % 10) for c in code)


def claims(token: str) -> dict:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def error_code(e: ClientError) -> str:
    return e.response["Error"]["Code"]


def test_passwordless_a_wrong_answer_then_the_right_one(stack, idp, mailbox, user, max_attempts, cooldown):
    first = start_passwordless(stack, idp, user)
    params = public(first)
    assert params["destination"] == f"{user[0]}***@e***.test"
    assert params["attemptsLeft"] == str(max_attempts), "a fresh code in a fresh sign-in: MAX_ATTEMPTS"
    assert params["resendAfter"] == str(int(params["sentAt"]) + cooldown), "Resend from sentAt + the cooldown"
    assert len(mailbox.to(user)) == 1
    code = mailbox.code(user)
    assert code not in json.dumps(first), "the code must exist only in the email"

    again = answer(stack, idp, first, user, wrong(code))
    retry = public(again)
    assert retry["attemptsLeft"] == str(max_attempts - 1), "one attempt fewer"
    # The same code, still: no second email for a typo.
    for k in ("sentAt", "expiresAt", "resendAfter"):
        assert retry[k] == params[k], k
    assert len(mailbox.to(user)) == 1

    done = answer(stack, idp, again, user, code)
    tokens = done["AuthenticationResult"]
    assert claims(tokens["IdToken"])["email"] == user


def test_max_attempts_wrong_answers_end_the_sign_in_with_the_token_and_lock_the_code(stack, idp, mailbox, user, max_attempts):
    challenge = start_passwordless(stack, idp, user)
    code = mailbox.code(user)
    for left in range(max_attempts - 1, 0, -1):
        challenge = answer(stack, idp, challenge, user, wrong(code))
        assert public(challenge)["attemptsLeft"] == str(left)
    with pytest.raises(ClientError) as refused:
        answer(stack, idp, challenge, user, wrong(code))
    # The function's own error, which a screen can tell from Cognito's wrong password.
    assert token_of(refused.value) == "OTP_TOO_MANY_ATTEMPTS", str(refused.value)
    assert error_code(refused.value) != "NotAuthorizedException"
    # The sign-in is over: the right code gets no tokens in it.
    with pytest.raises(ClientError):
        answer(stack, idp, challenge, user, code)
    # A new sign-in within the cooldown gets the lockout brake, not the exhausted code again.
    with pytest.raises(ClientError) as locked:
        start_passwordless(stack, idp, user)
    assert token_of(locked.value) == "OTP_TOO_MANY_ATTEMPTS", str(locked.value)
    assert len(mailbox.to(user)) == 1, "no email for a locked code"


def test_resend_keeps_the_code_in_the_cooldown_then_mails_a_new_one(stack, idp, mailbox, user, max_attempts, cooldown):
    challenge = start_passwordless(stack, idp, user)
    first = public(challenge)
    first_code = mailbox.code(user)

    kept = resend(stack, idp, challenge, user)
    assert time.time() < int(first["resendAfter"]), "still inside the cooldown"
    for k in ("sentAt", "expiresAt", "resendAfter", "attemptsLeft"):
        assert public(kept)[k] == first[k], f"inside the cooldown the code stays, not counted: {k}"
    assert len(mailbox.to(user)) == 1, "a resend within the cooldown sends nothing"

    wait_until(first["resendAfter"])
    resent = resend(stack, idp, kept, user)
    params = public(resent)
    assert len(mailbox.to(user)) == 2, "a resend from resendAfter on mails a new code"
    new_code = mailbox.code(user)
    assert new_code != first_code
    assert int(params["sentAt"]) >= int(first["resendAfter"]), "sentAt moved to the new email"
    assert params["resendAfter"] == str(int(params["sentAt"]) + cooldown)
    assert int(params["expiresAt"]) > int(first["expiresAt"])
    assert params["attemptsLeft"] == str(max_attempts), "neither resend counted as an attempt"

    # The replaced code no longer works; the new one does.
    after_old = answer(stack, idp, resent, user, first_code)
    assert public(after_old)["attemptsLeft"] == str(max_attempts - 1)
    done = answer(stack, idp, after_old, user, new_code)
    assert "AuthenticationResult" in done


def test_a_new_sign_in_after_the_cooldown_reuses_the_mailed_code_and_sends_nothing(stack, idp, mailbox, user, max_attempts):
    first = start_passwordless(stack, idp, user)
    params = public(first)
    issued = time.time()
    sent_at, expires_at = int(params["sentAt"]), int(params["expiresAt"])
    assert abs(sent_at - issued) <= 5, "sentAt is when the code was mailed (Unix seconds)"
    assert expires_at > sent_at
    assert len(mailbox.to(user)) == 1
    code = mailbox.code(user)

    # A new sign-in once the resend cooldown is over, the code still valid: the same code, no email.
    wait_until(params["resendAfter"])
    second = start_passwordless(stack, idp, user)
    reused = public(second)
    assert reused["sentAt"] == params["sentAt"], "sentAt stays the first email's"
    assert reused["expiresAt"] == params["expiresAt"]
    assert reused["attemptsLeft"] == str(max_attempts), "a fresh sign-in, a code with no wrong answer"
    assert int(reused["resendAfter"]) <= time.time(), "resendAfter is past: Resend would mail a new code at once"
    assert len(mailbox.to(user)) == 1, "a new sign-in while the mailed code is valid sends nothing"

    # The first email's code signs in the new session.
    done = answer(stack, idp, second, user, code)
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user


def link_in(message: dict) -> str | None:
    """The one-click link of an email: its HTML part's one `href` (`&amp;` undone), or None."""
    hrefs = re.findall(r'<a\s[^>]*href="([^"]*)"', message["BodyHtml"])
    assert len(hrefs) <= 1, f"expected at most one link, found {len(hrefs)}"
    return html.unescape(hrefs[0]) if hrefs else None


def test_a_passwordless_email_links_to_the_page_and_an_mfa_email_has_no_link(stack, idp, mailbox, user):
    challenge = start_passwordless(stack, idp, user)
    params = challenge["ChallengeParameters"]
    mail = mailbox.to(user)[-1]
    assert mail["Subject"] == "Your Acme Local sign-in code", "APP_NAME names the app (scripts/stack.py)"
    code = code_in(mail)
    link = link_in(mail)
    assert link, "a passwordless email carries the one-click link"
    base, _, fragment = link.partition("#")
    assert base == stack["WebUrl"], "it opens the page (SignInLinkUrl)"
    values = dict(urllib.parse.parse_qsl(fragment, strict_parsing=True))
    username = challenge["ChallengeParameters"].get("USERNAME", user)
    assert values == {"username": username, "code": code, "expiresAt": params["expiresAt"]}
    assert link.startswith(f"{stack['WebUrl']}#username={urllib.parse.quote(username, safe='')}&code=")
    assert link in mail["BodyText"].splitlines(), "the text part holds the same URL on its own line"
    assert "&amp;code=" in mail["BodyHtml"], "the HTML escapes the link's ampersands"
    # And the link's code is the sign-in's.
    assert "AuthenticationResult" in answer(stack, idp, challenge, user, values["code"])

    # Password first (mfa): a link would sign in without the password, so its email has none.
    other = make_user(stack, idp)
    srp, start = srp_start(stack, idp, other, PASSWORD)
    idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"],
        ChallengeName="PASSWORD_VERIFIER",
        Session=start.get("Session"),
        ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": other}),
    )
    mfa = mailbox.to(other)
    assert len(mfa) == 1, "the password step mailed a code"
    assert code_in(mfa[0])
    assert link_in(mfa[0]) is None, "no link in an mfa email's HTML"
    assert "#username=" not in mfa[0]["BodyText"] and stack["WebUrl"] not in mfa[0]["BodyText"], "nor in its text"


def test_sign_up_through_pre_sign_up_then_the_first_code_verifies_the_email(stack, idp, mailbox):
    email = f"new-{secrets.token_hex(6)}@example.test"
    idp.sign_up(
        ClientId=stack["UserPoolClientId"],
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    made = idp.admin_get_user(UserPoolId=stack["UserPoolId"], Username=email)
    attrs = {a["Name"]: a["Value"] for a in made["UserAttributes"]}
    assert made["UserStatus"] == "CONFIRMED", "PreSignUp auto-confirms (SIGNUP_AUTO_CONFIRM=true)"
    assert attrs.get("email_verified", "false") == "false", "nothing has proven the address yet"
    assert mailbox.to(email) == [], "sign-up itself sends no code"

    challenge = start_passwordless(stack, idp, email)
    done = answer(stack, idp, challenge, email, mailbox.code(email))
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == email
    after = idp.admin_get_user(UserPoolId=stack["UserPoolId"], Username=email)
    assert {a["Name"]: a["Value"] for a in after["UserAttributes"]}["email_verified"] == "true"


def srp_start(stack, idp, email: str, password: str):
    srp = AWSSRP(username=email, password=password, pool_id=stack["UserPoolId"], client_id=stack["UserPoolClientId"], client=idp)
    start = idp.initiate_auth(
        AuthFlow="CUSTOM_AUTH",
        ClientId=stack["UserPoolClientId"],
        AuthParameters={"USERNAME": email, "CHALLENGE_NAME": "SRP_A", **srp.get_auth_params()},
    )
    assert start["ChallengeName"] == "PASSWORD_VERIFIER"
    return srp, start


def test_mfa_the_right_password_then_the_code(stack, idp, mailbox, user):
    srp, start = srp_start(stack, idp, user, PASSWORD)
    assert mailbox.to(user) == [], "no code before the password is proven"
    challenge = idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"],
        ChallengeName="PASSWORD_VERIFIER",
        Session=start.get("Session"),
        ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": user}),
    )
    assert challenge["ChallengeName"] == "CUSTOM_CHALLENGE"
    assert "AuthenticationResult" not in challenge, "the password alone never signs in"
    code = mailbox.code(user)
    # With the emulator's round cap raised (docs/local-stack.md), a typo still leaves a retry.
    again = answer(stack, idp, challenge, user, wrong(code))
    assert again["ChallengeName"] == "CUSTOM_CHALLENGE"
    done = answer(stack, idp, again, user, code)
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user


def test_mfa_a_wrong_password_sends_nothing(stack, idp, mailbox, user):
    srp, start = srp_start(stack, idp, user, "Not-The-Password-1")
    with pytest.raises(ClientError) as refused:
        idp.respond_to_auth_challenge(
            ClientId=stack["UserPoolClientId"],
            ChallengeName="PASSWORD_VERIFIER",
            Session=start.get("Session"),
            ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": user}),
        )
    # Cognito's own refusal: the function's errors carry a token, this one does not.
    assert error_code(refused.value) == "NotAuthorizedException"
    assert token_of(refused.value) is None
    assert mailbox.to(user) == []


def test_the_function_log_holds_no_code_address_or_username(stack, idp, logs, mailbox, user):
    challenge = start_passwordless(stack, idp, user)
    code = mailbox.code(user)
    answer(stack, idp, answer(stack, idp, challenge, user, wrong(code)), user, code)
    group = f"/aws/lambda/{stack['FunctionName']}"
    deadline = time.time() + 10
    lines: list[str] = []
    while time.time() < deadline:
        lines = [e["message"] for e in logs.filter_log_events(logGroupName=group).get("events", [])]
        if any("answer_accepted" in line or "AnswerAccepted" in line for line in lines):
            break
        time.sleep(0.3)
    assert lines, f"the function wrote nothing to {group}"
    assert any("challenge_issued" in line for line in lines), "the log should record the issue"
    text = "\n".join(lines)
    for secret in (code, wrong(code), user, user.split("@")[0]):
        assert secret not in text, "a code, an answer, an address or a username reached the log"


# Where the emulator is not Cognito. Each test pins one documented difference, so a new emulator
# version that changes it fails here and docs/local-stack.md gets updated.


def test_emulator_difference_unknown_user_is_refused_before_the_triggers(stack, idp):
    """Cognito (PreventUserExistenceErrors=ENABLED) runs the triggers with userNotFound=true and
    the function answers with a decoy challenge; the emulator refuses at once, and by name."""
    with pytest.raises(ClientError) as refused:
        start_passwordless(stack, idp, f"nobody-{secrets.token_hex(4)}@example.test")
    assert error_code(refused.value) == "UserNotFoundException"


def test_emulator_difference_trigger_errors_are_wrapped_as_invalid_lambda_response(stack, idp, mailbox, user, max_attempts):
    """Cognito: UserLambdaValidationException "CreateAuthChallenge failed with error <message>."
    The emulator: InvalidLambdaResponseException "CreateAuthChallenge returned error: {...}" with
    the function's message inside. Either way the message holds the token and its text."""
    challenge = start_passwordless(stack, idp, user)
    code = mailbox.code(user)
    for _ in range(max_attempts - 1):
        challenge = answer(stack, idp, challenge, user, wrong(code))
    with pytest.raises(ClientError) as ended:
        answer(stack, idp, challenge, user, wrong(code))
    with pytest.raises(ClientError) as locked:
        start_passwordless(stack, idp, user)
    for refused in (ended.value, locked.value):
        assert error_code(refused) == "InvalidLambdaResponseException"
        message = refused.response["Error"]["Message"]
        assert message.startswith("CreateAuthChallenge returned error: {"), message
        assert f"'errorMessage': '{TOO_MANY_ATTEMPTS}'" in message, message


def test_the_state_lives_in_the_store_the_stack_chose(stack, idp, mailbox, user):
    """ChallengeStore=attribute keeps the hashed state in custom:authChallenge; dynamodb in the
    template's table, under a keyed hash, with nothing of the user's in clear."""
    import boto3

    challenge = start_passwordless(stack, idp, user)
    code = mailbox.code(user)
    attrs = {a["Name"]: a["Value"] for a in idp.admin_get_user(UserPoolId=stack["UserPoolId"], Username=user)["UserAttributes"]}
    if stack["ChallengeStore"] == "attribute":
        assert attrs.get("custom:authChallenge"), "the attribute holds the state"
        assert code not in attrs["custom:authChallenge"]
    else:
        assert "custom:authChallenge" not in attrs, "with the table, nothing is written to the user"
        table = boto3.resource("dynamodb", endpoint_url=stack["Endpoint"], region_name=stack["Region"],
                               aws_access_key_id="test", aws_secret_access_key="test").Table(stack["ChallengeTableName"])
        items = table.scan()["Items"]
        assert any(i["pk"].startswith("u1#") for i in items)
        dump = json.dumps(items, default=str)
        assert code not in dump and user not in dump and user.split("@")[0] not in dump
    answer(stack, idp, challenge, user, code)
