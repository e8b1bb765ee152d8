"""Real clients against the CDK construct's example app (cdk/example/app.ts), synthesized and
deployed into the emulator by scripts/cdk_stack.py: boto3 for passwordless sign-in and sign-up,
pycognito's AWSSRP for the mfa flow, codes read from the emulator's mailbox. First, what the
emulator holds is what the construct promises (the pool, the client, the function, its role).

Run by scripts/cdk-stack-test.sh, once per challenge store. The approach is tests/stack's
(test_clients.py), written again here so that neither suite depends on the other's files.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "stack-cdk"))
PASSWORD = "Tested-Password-7!"
MAX_ATTEMPTS = 3  # the construct's default


@pytest.fixture(scope="session")
def stack() -> dict:
    path = STATE / "outputs.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: start the stack with scripts/cdk_stack.py up (scripts/cdk-stack-test.sh does)", pytrace=False)
    out = json.loads(path.read_text())
    assert out["StackName"] == "otp-cdk-local", "this is the CDK example's stack, not infra/template.yaml's"
    return out


def client(stack: dict, service: str):
    return boto3.client(service, endpoint_url=stack["Endpoint"], region_name=stack["Region"],
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture(scope="session")
def idp(stack):
    return client(stack, "cognito-idp")


def mailbox(stack: dict, address: str) -> list[dict]:
    """Every message the emulator's SES took for `address`, oldest first."""
    with urllib.request.urlopen(stack["Mailbox"], timeout=5) as r:
        accounts = json.load(r).get("messages", {})
    every = [m for ms in accounts.values() for m in ms] if isinstance(accounts, dict) else list(accounts)
    return sorted((m for m in every if address.lower() in (a.lower() for a in m.get("To", []))), key=lambda m: m.get("Timestamp", 0))


def code_for(stack: dict, address: str) -> str:
    """The code in the newest email to `address`: the one line that is nothing but digits."""
    msgs = mailbox(stack, address)
    assert msgs, f"no email to {address}"
    found = re.findall(r"^[ \t]*([0-9]{6,10})[ \t]*$", msgs[-1]["BodyText"], re.MULTILINE)
    assert len(found) == 1, f"expected one code line, found {found}"
    return found[0]


@pytest.fixture
def user(stack, idp) -> str:
    """A confirmed user with a verified email and PASSWORD, created by an administrator."""
    email = f"cdk-{secrets.token_hex(6)}@example.test"
    idp.admin_create_user(UserPoolId=stack["UserPoolId"], Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=stack["UserPoolId"], Username=email, Password=PASSWORD, Permanent=True)
    return email


def start_passwordless(stack, idp, email: str) -> dict:
    return idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=stack["UserPoolClientId"], AuthParameters={"USERNAME": email})


def answer(stack, idp, challenge: dict, email: str, code: str) -> dict:
    return idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"], ChallengeName="CUSTOM_CHALLENGE", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": challenge["ChallengeParameters"].get("USERNAME", email), "ANSWER": code})


def srp_start(stack, idp, email: str, password: str):
    srp = AWSSRP(username=email, password=password, pool_id=stack["UserPoolId"], client_id=stack["UserPoolClientId"], client=idp)
    start = idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=stack["UserPoolClientId"],
                              AuthParameters={"USERNAME": email, "CHALLENGE_NAME": "SRP_A", **srp.get_auth_params()})
    assert start["ChallengeName"] == "PASSWORD_VERIFIER"
    return srp, start


def wrong(code: str) -> str:
    return "".join(str((int(c) + 1) % 10) for c in code)


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


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
    challenge = idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER", Session=start.get("Session"),
        ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": user}))
    assert challenge["ChallengeName"] == "CUSTOM_CHALLENGE"
    assert "AuthenticationResult" not in challenge, "the password alone never signs in"
    done = answer(stack, idp, challenge, user, code_for(stack, user))
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user


def test_mfa_a_wrong_password_sends_nothing(stack, idp, user):
    srp, start = srp_start(stack, idp, user, "Not-The-Password-1")
    with pytest.raises(ClientError) as refused:
        idp.respond_to_auth_challenge(
            ClientId=stack["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER", Session=start.get("Session"),
            ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": user}))
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
