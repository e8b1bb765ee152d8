"""An existing pool, the template in existing-pool mode, then `otp-admin`: the README's three
commands, in the local emulator.

scripts/existing_pool_stack.py made a pool and an app client by the API (MFA optional, email changes
not held, a console-style client with the password flows and every attribute, a CustomMessage
trigger, an email configuration and verification messages of its own) and deployed
infra/template.yaml with ExistingUserPoolId. These tests run the stack's own CheckCommand and
AttachCommand outputs with the real binary, in order: check finds each trap, attach's plan changes
nothing, attach --apply fixes and wires, a second attach has nothing to do, check is clean, and the
pool's own settings are still there; then real clients sign in with both flows (boto3 passwordless,
pycognito's SRP for mfa), codes read from the emulator's mailbox.

Run by scripts/existing-pool-test.sh (make existing-pool-test, part of make test). The tests share
one pool and run in file order; each states what it needs of the ones before.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from stack_clients import PASSWORD, answer, claims, client, code_for, mailbox, make_user, password_step, srp_start, start_passwordless

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "stack-existing"))
ATTRIBUTE = "custom:authChallenge"
# What check must find on the pool as made: every trap set, and nothing else (the template's
# invoke permission and the sender are right, so no function or SES finding).
TRAPS = {
    "pool-mfa-enabled": "critical",
    "pool-email-change-unverified": "critical",
    "triggers-missing": "critical",
    "client-password-auth": "critical",
    "client-reads-state": "critical",
    "client-writes-state": "critical",
    "client-user-existence-errors": "critical",
    "client-session-too-short": "warning",
}
SLOTS = ("DefineAuthChallenge", "CreateAuthChallenge", "VerifyAuthChallengeResponse", "PreSignUp")
# The pool's own settings, which attach must leave as they were.
KEPT = ("EmailConfiguration", "VerificationMessageTemplate", "EmailVerificationMessage", "EmailVerificationSubject",
        "Policies", "UserPoolTags", "AccountRecoverySetting", "DeletionProtection", "AdminCreateUserConfig",
        "AutoVerifiedAttributes", "UsernameAttributes", "SchemaAttributes")


@pytest.fixture(scope="module")
def stack() -> dict:
    path = STATE / "outputs.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: scripts/existing-pool-test.sh starts the stack", pytrace=False)
    out = json.loads(path.read_text())
    assert out["StackName"] == "otp-existing-local"
    return out


@pytest.fixture(scope="module")
def idp(stack):
    return client(stack, "cognito-idp")


@pytest.fixture(scope="module")
def before(stack, idp) -> dict:
    """The pool and its client as made, read before anything changes them (first used by the
    first test)."""
    return {"pool": idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"],
            "client": idp.describe_user_pool_client(UserPoolId=stack["UserPoolId"], ClientId=stack["UserPoolClientId"])["UserPoolClient"]}


def otp_admin(stack: dict, command: str, *extra: str) -> subprocess.CompletedProcess:
    """One of the stack's command outputs, run as printed, with the release binary as `otp-admin`
    and the SDK's standard variables pointing it at the emulator."""
    argv = shlex.split(command)
    assert argv[0] == "otp-admin", command
    env = dict(os.environ, AWS_ENDPOINT_URL=stack["Endpoint"], AWS_REGION=stack["Region"],
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    env.pop("AWS_PROFILE", None)
    return subprocess.run([stack["OtpAdmin"], *argv[1:], *extra], env=env, capture_output=True, text=True, timeout=60)


def findings(stack: dict) -> tuple[int, list[dict]]:
    run = otp_admin(stack, stack["CheckCommand"], "--json")
    assert run.returncode in (0, 1), f"check could not run (exit {run.returncode}): {run.stderr}"
    return run.returncode, json.loads(run.stdout)["findings"]


@pytest.fixture
def user(stack, idp) -> str:
    return make_user(stack, idp, "existing")


# 1. The stack: the function and its grants for that pool, no pool, no client.


def test_the_stack_makes_no_pool_and_no_client_and_names_that_pool(stack, before):
    resources = client(stack, "cloudformation").list_stack_resources(StackName=stack["StackName"])["StackResourceSummaries"]
    kinds = sorted(r["ResourceType"] for r in resources)
    assert not [k for k in kinds if k.startswith("AWS::Cognito::")], kinds
    assert "UserPoolClientId" not in stack["StackOutputs"] and stack["StackUserPoolId"] == stack["UserPoolId"]
    policy = json.loads(client(stack, "lambda").get_policy(FunctionName=stack["FunctionName"])["Policy"])
    by_service = {s["Principal"]["Service"]: s["Condition"] for s in policy["Statement"]}
    assert by_service["cognito-idp.amazonaws.com"]["ArnLike"]["AWS:SourceArn"] == before["pool"]["Arn"]
    rule = next(r for r in resources if r["ResourceType"] == "AWS::Events::Rule")["PhysicalResourceId"]
    target, = client(stack, "events").list_targets_by_rule(Rule=rule)["Targets"]
    assert (target["Arn"], json.loads(target["Input"])) == (stack["FunctionArn"], {"otpDriftCheck": {"userPoolId": stack["UserPoolId"]}})
    assert by_service["events.amazonaws.com"]["ArnLike"]["AWS:SourceArn"].endswith(f":rule/{rule}")
    names = {f"{stack['StackName']}-drift": "DriftCriticalFindings", f"{stack['StackName']}-drift-check-failed": "DriftCheckFailed"}
    alarms = client(stack, "cloudwatch").describe_alarms(AlarmNames=list(names))["MetricAlarms"]
    assert {a["AlarmName"]: (a["MetricName"], a["Dimensions"]) for a in alarms} == {
        name: (metric, [{"Name": "UserPoolId", "Value": stack["UserPoolId"]}]) for name, metric in names.items()}


# 2. otp-admin, as the stack's outputs print it.


def test_check_finds_each_trap_of_the_pool_and_its_client(stack, before):
    code, found = findings(stack)
    assert code == 1, "a critical finding is exit 1"
    assert {f["id"]: f["severity"] for f in found} == TRAPS
    for f in found:
        assert f["client_id"] == (stack["UserPoolClientId"] if f["id"].startswith("client-") else None), f


def test_attach_without_apply_prints_the_plan_and_changes_nothing(stack, idp, before):
    run = otp_admin(stack, stack["AttachCommand"], "--client-id", stack["UserPoolClientId"], "--turn-off-mfa")
    assert run.returncode == 0, run.stderr
    assert "MfaConfiguration OPTIONAL -> OFF" in run.stdout + run.stderr
    pool = idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"]
    assert pool["LambdaConfig"] == before["pool"]["LambdaConfig"] and pool["MfaConfiguration"] == "OPTIONAL"


def test_attach_apply_wires_the_function_and_fixes_the_client(stack, idp, before):
    run = otp_admin(stack, stack["AttachCommand"], "--client-id", stack["UserPoolClientId"], "--turn-off-mfa", "--apply")
    assert run.returncode == 0, run.stderr
    pool = idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"]
    assert {s: pool["LambdaConfig"].get(s) for s in SLOTS} == dict.fromkeys(SLOTS, stack["FunctionArn"])
    assert pool["MfaConfiguration"] == "OFF"
    assert pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"] == ["email"]
    c = idp.describe_user_pool_client(UserPoolId=stack["UserPoolId"], ClientId=stack["UserPoolClientId"])["UserPoolClient"]
    assert sorted(c["ExplicitAuthFlows"]) == ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert c["PreventUserExistenceErrors"] == "ENABLED"
    assert ATTRIBUTE not in c["ReadAttributes"] + c["WriteAttributes"]
    assert c["AuthSessionValidity"] * 60 >= 300, "covers the function's CODE_TTL_SECONDS"


def test_the_pools_own_settings_are_still_there(stack, idp, before):
    pool = idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"]
    assert {k: pool.get(k) for k in KEPT} == {k: before["pool"].get(k) for k in KEPT}
    assert pool["LambdaConfig"]["CustomMessage"] == stack["CustomMessageArn"], "the pool's other trigger stays"
    c = idp.describe_user_pool_client(UserPoolId=stack["UserPoolId"], ClientId=stack["UserPoolClientId"])["UserPoolClient"]
    was = before["client"]
    assert (c["ClientName"], c["RefreshTokenValidity"]) == (was["ClientName"], was["RefreshTokenValidity"])
    assert sorted(c["ReadAttributes"]) == sorted(a for a in was["ReadAttributes"] if a != ATTRIBUTE)
    assert sorted(c["WriteAttributes"]) == sorted(a for a in was["WriteAttributes"] if a != ATTRIBUTE)


def test_a_second_attach_has_nothing_to_do(stack, idp):
    was = idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"]
    run = otp_admin(stack, stack["AttachCommand"], "--client-id", stack["UserPoolClientId"], "--turn-off-mfa", "--apply")
    assert run.returncode == 0, run.stderr
    assert "Nothing to change" in run.stdout + run.stderr
    assert idp.describe_user_pool(UserPoolId=stack["UserPoolId"])["UserPool"] == was


def test_check_is_clean_after_attach(stack):
    assert findings(stack) == (0, [])


# 3. Real clients on the API-made client, both flows.


def test_passwordless_signs_in_with_the_emailed_code(stack, idp, user):
    start = start_passwordless(stack, idp, user)
    assert start["ChallengeName"] == "CUSTOM_CHALLENGE"
    code = code_for(stack, user)
    assert code not in json.dumps(start), "the code exists only in the email"
    done = answer(stack, idp, start, user, code)
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user


def test_mfa_the_password_then_the_code(stack, idp, user):
    srp, start = srp_start(stack, idp, user, PASSWORD)
    assert mailbox(stack, user) == [], "no code before the password is proven"
    challenge = password_step(stack, idp, user, srp, start)
    assert challenge["ChallengeName"] == "CUSTOM_CHALLENGE" and "AuthenticationResult" not in challenge
    done = answer(stack, idp, challenge, user, code_for(stack, user))
    assert claims(done["AuthenticationResult"]["IdToken"])["email"] == user
