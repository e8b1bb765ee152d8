#!/usr/bin/env python3
"""The template in existing-pool mode, in the local emulator: a user pool and an app client made by
the API first (as a team that already runs Cognito has them, with a few settings that void this
product's guarantees), then infra/template.yaml deployed with `ExistingUserPoolId` set to that pool.

    existing_pool_stack.py up       start the emulator, make the pool and its client, deploy the
                                    template for that pool, write outputs.json
    existing_pool_stack.py down     stop the emulator, remove its state
    existing_pool_stack.py status   print outputs.json if the stack is up; exit 1 if it is not

Nothing here wires the pool: that is `otp-admin attach`, run by the tests (tests/stack_existing)
with the stack's own `AttachCommand` output. Its own stack (.local/stack-existing, port 4569, and
4583 for the page's origin, which it does not serve) unless STACK_DIR, STACK_PORT or STACK_WEB_PORT
say otherwise. The emulator, its start-up adjustment, the packaging and the deploy are
scripts/stack.py's, with the same local parameters (docs/local-stack.md) and `ExistingUserPoolId`.

The pool as made here, each setting a trap `otp-admin check` must find or a setting `attach` must
keep:
- MFA `OPTIONAL` (a TOTP factor on offer): Cognito's own step would follow the password;
- no `UserAttributeUpdateSettings`: an email change takes effect before it is verified;
- `custom:authChallenge` already in the schema (an earlier trial), and one app client made as the
  console makes them: every attribute readable and writable, that one among them, the password flows
  `ALLOW_USER_PASSWORD_AUTH` and `ALLOW_USER_SRP_AUTH` on, `PreventUserExistenceErrors` unset (LEGACY);
- settings of its own to keep: a CustomMessage trigger (a small Python function), an email
  configuration with a reply-to address, verification messages, a password policy, tags, admin-only
  account recovery, deletion protection.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Defaults of this stack, set before scripts/stack.py reads them at import.
os.environ.setdefault("STACK_DIR", str(ROOT / ".local" / "stack-existing"))
os.environ.setdefault("STACK_PORT", "4569")
os.environ.setdefault("STACK_WEB_PORT", "4583")
sys.path.insert(0, str(ROOT / "scripts"))

import stack as base  # noqa: E402  (scripts/stack.py, with the settings above)

STACK_NAME = "otp-existing-local"
ATTRIBUTE = "custom:authChallenge"
CUSTOM_MESSAGE = "acme-custom-message"
# The console's "all attributes" for a pool with email as the username, plus the custom one.
STANDARD = ["address", "birthdate", "email", "family_name", "gender", "given_name", "locale", "middle_name", "name",
            "nickname", "phone_number", "picture", "preferred_username", "profile", "updated_at", "website", "zoneinfo"]


def log(msg: str) -> None:
    print(f"existing-pool-stack: {msg}", flush=True)


def custom_message_function() -> str:
    """A CustomMessage trigger of the pool's own (it rewrites nothing); returns its ARN."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    fn = base.client("lambda").create_function(
        FunctionName=CUSTOM_MESSAGE, Runtime="python3.12", Handler="index.handler",
        Role="arn:aws:iam::000000000000:role/acme-custom-message", Code={"ZipFile": code.getvalue()})
    return fn["FunctionArn"]


def make_pool() -> dict[str, str]:
    """The pool and its client, by the API, not by the template."""
    idp = base.client("cognito-idp")
    custom_message = custom_message_function()
    pool = idp.create_user_pool(
        PoolName="acme-users",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        MfaConfiguration="OPTIONAL",
        Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireUppercase": True, "RequireLowercase": True,
                                     "RequireNumbers": True, "RequireSymbols": False, "TemporaryPasswordValidityDays": 3}},
        Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "authChallenge", "AttributeDataType": "String", "Mutable": True,
                 "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}}],
        LambdaConfig={"CustomMessage": custom_message},
        EmailConfiguration={"EmailSendingAccount": "COGNITO_DEFAULT", "ReplyToEmailAddress": "help@acme.example.test"},
        VerificationMessageTemplate={"DefaultEmailOption": "CONFIRM_WITH_CODE", "EmailSubject": "Your Acme verification code",
                                     "EmailMessage": "Your Acme verification code is {####}."},
        EmailVerificationSubject="Your Acme verification code",
        EmailVerificationMessage="Your Acme verification code is {####}.",
        AccountRecoverySetting={"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
        UserPoolTags={"team": "identity", "cost-centre": "4711"},
        DeletionProtection="ACTIVE",
    )["UserPool"]
    attributes = STANDARD + [ATTRIBUTE]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="acme-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=attributes + ["email_verified", "phone_number_verified"],
        WriteAttributes=attributes,
        RefreshTokenValidity=30,
    )["UserPoolClient"]
    return {"UserPoolId": pool["Id"], "UserPoolClientId": client["ClientId"], "CustomMessageArn": custom_message}


def up(_args) -> None:
    base.start_emulator()
    started = time.monotonic()
    pool = make_pool()
    log(f"pool {pool['UserPoolId']} and client {pool['UserPoolClientId']} made by the API; "
        f"deploying infra/template.yaml with ExistingUserPoolId as stack {STACK_NAME}")
    out = base.deploy({"ExistingUserPoolId": pool["UserPoolId"]}, stack_name=STACK_NAME)
    outputs = {
        "Endpoint": base.ENDPOINT,
        "Region": base.REGION,
        **pool,
        "FunctionArn": out["FunctionArn"],
        "FunctionName": out["FunctionName"],
        "StackUserPoolId": out["UserPoolId"],
        "CheckCommand": out["CheckCommand"],
        "AttachCommand": out["AttachCommand"],
        "StackOutputs": sorted(k for k in out if k != "FunctionName"),
        "StackName": STACK_NAME,
        "ChallengeStore": base.parameters()["ChallengeStore"],
        "ResendCooldownSeconds": base.RESEND_COOLDOWN,
        "Mailbox": f"{base.ENDPOINT}/_ministack/ses/messages",
        # The tests run the stack's commands with this binary (cargo's target directory, asked of cargo).
        "OtpAdmin": str(base.target_dir() / "release" / "otp-admin"),
    }
    base.write_outputs(outputs, started)


def main() -> None:
    base.stack_cli(__doc__, up)


if __name__ == "__main__":
    main()
