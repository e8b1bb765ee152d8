"""Real clients against the CDK construct's example app (cdk/example/app.ts), synthesized and
deployed into the emulator by scripts/cdk_stack.py: boto3 for passwordless sign-in and sign-up,
pycognito's AWSSRP for the mfa flow, codes read from the emulator's mailbox. First, what the
emulator holds is what the construct promises (the pool, the client, the function, its role).

Run by scripts/cdk-stack-test.sh, once per challenge store. The approach is tests/stack's
(test_clients.py); the client calls are tests/stack_clients.py's, shared with tests/stack_existing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from stack_clients import PASSWORD, answer, claims, client, code_for, mailbox, make_user, password_step, srp_start, start_passwordless, wrong

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "stack-cdk"))
MAX_ATTEMPTS = 3  # the construct's default


@pytest.fixture(scope="session")
def stack() -> dict:
    path = STATE / "outputs.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: start the stack with scripts/cdk_stack.py up (scripts/cdk-stack-test.sh does)", pytrace=False)
    out = json.loads(path.read_text())
    assert out["StackName"] == "otp-cdk-local", "this is the CDK example's stack, not infra/template.yaml's"
    return out


@pytest.fixture(scope="session")
def idp(stack):
    return client(stack, "cognito-idp")


@pytest.fixture
def user(stack, idp) -> str:
    """A confirmed user with a verified email and PASSWORD, created by an administrator."""
    return make_user(stack, idp, "cdk")


# What the construct promises, as the emulator holds it after the deploy.


def test_the_pool_is_settled_as_the_construct_promises(stack, idp):
    pool = idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"]
    assert pool["MfaConfiguration"] == "OFF"
    attr = next(a for a in pool["SchemaAttributes"] if a["Name"] == "custom:authChallenge")
    assert (attr["AttributeDataType"], attr["Mutable"], attr["StringAttributeConstraints"]["MaxLength"]) == ("String", True, "2048")
    assert "email" in pool["AutoVerifiedAttributes"]
    assert pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"] == ["email"]
    fn = client(stack, "lambda").get_function(FunctionName=stack["FunctionName"])["Configuration"]
    triggers = pool["LambdaConfig"]
    assert {k: triggers.get(k) for k in ("DefineAuthChallenge", "CreateAuthChallenge", "VerifyAuthChallengeResponse", "PreSignUp")} == \
        dict.fromkeys(("DefineAuthChallenge", "CreateAuthChallenge", "VerifyAuthChallengeResponse", "PreSignUp"), fn["FunctionArn"])


def test_the_client_made_by_add_client_keeps_the_guarantees(stack, idp):
    c = idp.describe_user_pool_client(UserPoolId=stack["UserPoolId"], ClientId=stack["UserPoolClientId"])["UserPoolClient"]
    assert sorted(c["ExplicitAuthFlows"]) == ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert c["PreventUserExistenceErrors"] == "ENABLED"
    assert "custom:authChallenge" not in c["ReadAttributes"] + c["WriteAttributes"]
    assert not c.get("AllowedOAuthFlows") and not c.get("AllowedOAuthFlowsUserPoolClient")
    assert c["AuthSessionValidity"] == 10


def test_the_function_its_role_and_its_log_group(stack):
    fn = client(stack, "lambda").get_function(FunctionName=stack["FunctionName"])["Configuration"]
    assert (fn["Runtime"], fn["Handler"], fn["MemorySize"], fn["Timeout"]) == ("provided.al2023", "bootstrap", 128, 5)
    env = fn["Environment"]["Variables"]
    assert "CODE_HMAC_KEY" not in env, "the key is never in the environment"
    assert env["CODE_HMAC_KEY_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert re.fullmatch(r"[0-9a-f-]{36}", env["REFERENCE_KEY"]), "REFERENCE_KEY is the stack ID's UUID"
    assert (env["AUTH_FLOW"], env["CHALLENGE_STORE"]) == ("both", stack["ChallengeStore"])
    iam = client(stack, "iam")
    role = fn["Role"].rsplit("/", 1)[-1]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [], "no managed policy"
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert {"logs", "read-code-key", "send-code-email"} <= set(names)
    assert ("challenge-table" in names) == (stack["ChallengeStore"] == "dynamodb")
    group = fn["LoggingConfig"]["LogGroup"]
    logs = client(stack, "logs")
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 30


# Real clients, both flows.


def test_passwordless_a_wrong_code_then_the_right_one(stack, idp, user):
    first = start_passwordless(stack, idp, user)
    assert first["ChallengeName"] == "CUSTOM_CHALLENGE"
    assert first["ChallengeParameters"]["destination"] == f"{user[0]}***@e***.test"
    code = code_for(stack, user)
    assert code not in json.dumps(first), "the code exists only in the email"
    again = answer(stack, idp, first, user, wrong(code))
    assert again["ChallengeName"] == "CUSTOM_CHALLENGE" and "AuthenticationResult" not in again
    assert len(mailbox(stack, user)) == 1, "no second email for a typo"
    done = answer(stack, idp, again, user, code)
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user


def test_mfa_the_password_then_the_code(stack, idp, user):
    srp, start = srp_start(stack, idp, user, PASSWORD)
    assert mailbox(stack, user) == [], "no code before the password is proven"
    challenge = password_step(stack, idp, user, srp, start)
    assert challenge["ChallengeName"] == "CUSTOM_CHALLENGE"
    assert "AuthenticationResult" not in challenge, "the password alone never signs in"
    done = answer(stack, idp, challenge, user, code_for(stack, user))
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user


def test_mfa_a_wrong_password_sends_nothing(stack, idp, user):
    srp, start = srp_start(stack, idp, user, "Not-The-Password-1")
    with pytest.raises(ClientError) as refused:
        password_step(stack, idp, user, srp, start)
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert mailbox(stack, user) == []


def test_max_attempts_wrong_codes_end_the_sign_in(stack, idp, user):
    """The construct's maxAttempts (3) reaches the function: the third wrong code ends the sign-in
    with the lockout's token (the full wording is pinned by tests/stack)."""
    challenge = start_passwordless(stack, idp, user)
    code = code_for(stack, user)
    for _ in range(MAX_ATTEMPTS - 1):
        challenge = answer(stack, idp, challenge, user, wrong(code))
        assert challenge["ChallengeName"] == "CUSTOM_CHALLENGE"
    with pytest.raises(ClientError) as ended:
        answer(stack, idp, challenge, user, wrong(code))
    assert "OTP_TOO_MANY_ATTEMPTS" in str(ended.value)


def test_sign_up_through_pre_sign_up_then_the_first_code_verifies_the_email(stack, idp):
    email = f"cdk-new-{secrets.token_hex(6)}@example.test"
    idp.sign_up(ClientId=stack["UserPoolClientId"], Username=email, Password=PASSWORD, UserAttributes=[{"Name": "email", "Value": email}])
    made = idp.admin_get_user(UserPoolId=stack["UserPoolId"], Username=email)
    assert made["UserStatus"] == "CONFIRMED", "PreSignUp auto-confirms"
    assert {a["Name"]: a["Value"] for a in made["UserAttributes"]}.get("email_verified", "false") == "false"
    challenge = start_passwordless(stack, idp, email)
    answer(stack, idp, challenge, email, code_for(stack, email))
    after = idp.admin_get_user(UserPoolId=stack["UserPoolId"], Username=email)
    assert {a["Name"]: a["Value"] for a in after["UserAttributes"]}["email_verified"] == "true"


def test_the_state_lives_in_the_store_the_construct_made(stack, idp, user):
    challenge = start_passwordless(stack, idp, user)
    code = code_for(stack, user)
    attrs = {a["Name"]: a["Value"] for a in idp.admin_get_user(UserPoolId=stack["UserPoolId"], Username=user)["UserAttributes"]}
    if stack["ChallengeStore"] == "attribute":
        assert attrs.get("custom:authChallenge") and code not in attrs["custom:authChallenge"]
    else:
        assert "custom:authChallenge" not in attrs, "with the table, nothing is written to the user"
        table = boto3.resource("dynamodb", endpoint_url=stack["Endpoint"], region_name=stack["Region"],
                               aws_access_key_id="test", aws_secret_access_key="test").Table(stack["ChallengeTableName"])
        dump = json.dumps(table.scan()["Items"], default=str)
        assert dump != "[]" and code not in dump and user not in dump
    answer(stack, idp, challenge, user, code)


def test_the_function_logs_to_the_constructs_log_group(stack, idp, user):
    answer(stack, idp, start_passwordless(stack, idp, user), user, code_for(stack, user))
    fn = client(stack, "lambda").get_function(FunctionName=stack["FunctionName"])["Configuration"]
    logs = client(stack, "logs")
    deadline = time.time() + 10
    lines: list[str] = []
    while time.time() < deadline and not lines:
        lines = [e["message"] for e in logs.filter_log_events(logGroupName=fn["LoggingConfig"]["LogGroup"]).get("events", [])]
        time.sleep(0.3)
    assert lines, "the function wrote nothing to the construct's log group"
    assert user not in "\n".join(lines)


# Where the emulator is not Cognito, pinned so that a new emulator version that changes it fails here.


def test_emulator_difference_explicit_auth_flows_are_not_enforced(stack, idp, user):
    """On AWS the client addClient makes (ALLOW_CUSTOM_AUTH and ALLOW_REFRESH_TOKEN_AUTH only)
    refuses USER_PASSWORD_AUTH; the emulator signs the password alone in. That guarantee is the
    synth check's (cdk/test/clients.test.ts refuses every client that allows a password flow),
    not something this stack can show. If this test fails, the emulator enforces the flows: assert
    the refusal here instead."""
    done = idp.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=stack["UserPoolClientId"],
                             AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    assert "AuthenticationResult" in done
    assert mailbox(stack, user) == [], "and no trigger ran"
