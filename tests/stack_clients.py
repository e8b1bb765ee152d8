"""The real clients' side of a sign-in against a stack deployed in the local emulator, shared by
the suites that deploy their own stack (tests/stack_cdk, tests/stack_existing): boto3 clients
pointed at the emulator, users made by an administrator, the plain API calls of docs/deploying.md
("How a client signs in"), pycognito's SRP for mfa, and the codes read from the emulator's mailbox.

`stack` is a stack's outputs.json as its deploy script wrote it (`Endpoint`, `Region`,
`UserPoolId`, `UserPoolClientId`, `Mailbox`). The suites import it after putting tests/ on the
path (their conftest.py), so each suite keeps its own fixtures and stack.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import urllib.request

import boto3
from pycognito.aws_srp import AWSSRP

PASSWORD = "Tested-Password-7!"


def client(stack: dict, service: str):
    """A boto3 client for `service` in the emulator (any credentials do)."""
    return boto3.client(service, endpoint_url=stack["Endpoint"], region_name=stack["Region"],
                        aws_access_key_id="test", aws_secret_access_key="test")


def make_user(stack: dict, idp, prefix: str) -> str:
    """A confirmed user with a verified email and PASSWORD, created by an administrator."""
    email = f"{prefix}-{secrets.token_hex(6)}@example.test"
    idp.admin_create_user(UserPoolId=stack["UserPoolId"], Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=stack["UserPoolId"], Username=email, Password=PASSWORD, Permanent=True)
    return email


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


def start_passwordless(stack: dict, idp, email: str) -> dict:
    """InitiateAuth CUSTOM_AUTH with the username alone."""
    return idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=stack["UserPoolClientId"], AuthParameters={"USERNAME": email})


def answer(stack: dict, idp, challenge: dict, email: str, code: str) -> dict:
    """RespondToAuthChallenge CUSTOM_CHALLENGE with `code`, in the challenge's session."""
    return idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"], ChallengeName="CUSTOM_CHALLENGE", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": challenge["ChallengeParameters"].get("USERNAME", email), "ANSWER": code})


def srp_start(stack: dict, idp, email: str, password: str):
    """The mfa flow's first step: InitiateAuth CUSTOM_AUTH with SRP_A; PASSWORD_VERIFIER is next."""
    srp = AWSSRP(username=email, password=password, pool_id=stack["UserPoolId"], client_id=stack["UserPoolClientId"], client=idp)
    start = idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=stack["UserPoolClientId"],
                              AuthParameters={"USERNAME": email, "CHALLENGE_NAME": "SRP_A", **srp.get_auth_params()})
    assert start["ChallengeName"] == "PASSWORD_VERIFIER"
    return srp, start


def password_step(stack: dict, idp, email: str, srp, start: dict) -> dict:
    """The mfa flow's second step: PASSWORD_VERIFIER with pycognito's SRP proof."""
    return idp.respond_to_auth_challenge(
        ClientId=stack["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER", Session=start.get("Session"),
        ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": email}))


def wrong(code: str) -> str:
    """A code of the same length that is not `code`."""
    return "".join(str((int(c) + 1) % 10) for c in code)


def claims(token: str) -> dict:
    """A JWT's claims (unverified: the emulator signed it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
