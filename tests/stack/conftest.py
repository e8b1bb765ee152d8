"""Fixtures for the local-stack tests: the deployed stack's outputs, boto3 clients pointed at the
emulator, fresh users, and the emulator's mailbox.

The stack is started by `make stack-test` (scripts/stack.py up) before pytest runs; these tests
fail with one line if it is not up rather than skip.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "stack"))


@pytest.fixture(scope="session")
def stack() -> dict:
    path = STATE / "outputs.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: start the stack with `make up` (make stack-test does)", pytrace=False)
    return json.loads(path.read_text())


def _client(stack: dict, service: str):
    return boto3.client(
        service,
        endpoint_url=stack["Endpoint"],
        region_name=stack["Region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="session")
def idp(stack):
    return _client(stack, "cognito-idp")


@pytest.fixture(scope="session")
def logs(stack):
    return _client(stack, "logs")


@pytest.fixture(scope="session")
def function_env(stack) -> dict:
    """The deployed function's environment: the tests expect the limits the stack was deployed with
    (MAX_ATTEMPTS is the template's default, RESEND_COOLDOWN_SECONDS the local stack's 10)."""
    config = _client(stack, "lambda").get_function_configuration(FunctionName=stack["FunctionName"])
    return config["Environment"]["Variables"]


@pytest.fixture(scope="session")
def max_attempts(function_env) -> int:
    return int(function_env["MAX_ATTEMPTS"])


@pytest.fixture(scope="session")
def cooldown(function_env) -> int:
    return int(function_env["RESEND_COOLDOWN_SECONDS"])


class Mailbox:
    """The emulator's SES mailbox (GET /_ministack/ses/messages), read as a user reads theirs."""

    def __init__(self, url: str):
        self.url = url

    def to(self, address: str) -> list[dict]:
        with urllib.request.urlopen(self.url, timeout=5) as r:
            accounts = json.load(r).get("messages", {})
        every = [m for ms in accounts.values() for m in ms] if isinstance(accounts, dict) else list(accounts)
        mine = [m for m in every if address.lower() in (a.lower() for a in m.get("To", []))]
        return sorted(mine, key=lambda m: m.get("Timestamp", 0))

    def code(self, address: str) -> str:
        """The code in the newest email to `address`."""
        msgs = self.to(address)
        assert msgs, f"no email to {address}"
        return code_in(msgs[-1])


def code_in(message: dict) -> str:
    """The code in an email's text: the one line that is nothing but 6 to 10 digits (the
    one-click link of a passwordless email holds the code too, and digits of the username)."""
    found = re.findall(r"^[ \t]*([0-9]{6,10})[ \t]*$", message["BodyText"], re.MULTILINE)
    assert len(found) == 1, f"expected one code line in the email, found {found}"
    return found[0]


@pytest.fixture(scope="session")
def mailbox(stack) -> Mailbox:
    return Mailbox(stack["Mailbox"])


PASSWORD = "Tested-Password-7"


@pytest.fixture
def user(stack, idp) -> str:
    """A fresh confirmed user with a password, created by an administrator (no PreSignUp)."""
    return make_user(stack, idp)


def make_user(stack: dict, idp) -> str:
    """Creates a confirmed user with a verified email and PASSWORD; returns the address."""
    email = f"u-{secrets.token_hex(6)}@example.test"
    idp.admin_create_user(
        UserPoolId=stack["UserPoolId"],
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=stack["UserPoolId"], Username=email, Password=PASSWORD, Permanent=True)
    return email


def wait_until(unix_seconds: str | int) -> None:
    """Sleeps until a challenge's time (resendAfter): the emulator runs the function on this
    machine's clock, so that is the moment the function's own comparison turns."""
    left = int(unix_seconds) - time.time()
    if left > 0:
        time.sleep(left)
