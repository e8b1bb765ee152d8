"""What a web page open in this machine's browser can get from the local stack: nothing, unless it
is the sign-in page itself (scripts/loopback_guard.py, docs/local-stack.md#what-a-web-page-can-reach).

Requests are sent as a browser would send them, headers and all, with http.client: an `Origin` on
every cross-origin read and every POST, a preflight before a call with AWS's headers, and the page's
own name in `Host` after a DNS-rebinding site pointed its name at 127.0.0.1. No signature: a page
has no credentials, and the emulator asks for none.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

import boto3
import pytest
from conftest import make_user

EVIL = "https://evil.example"


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")

    @property
    def cors(self) -> str | None:
        return self.headers.get("Access-Control-Allow-Origin")


def send(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None) -> Answer:
    """One request with exactly these headers (`Host` too, when given)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, (u.path or "/") + (f"?{u.query}" if u.query else ""), body=body, headers=headers or {})
        r = conn.getresponse()
        return Answer(r.status, r.headers, r.read())
    finally:
        conn.close()


def aws_call(stack: dict, target: str, payload: dict, **headers: str) -> Answer:
    """An unsigned AWS JSON call, as a page's fetch sends it."""
    return send(stack["Endpoint"], "POST", {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": target,
        **headers,
    }, json.dumps(payload).encode())


def page_origin(stack: dict) -> str:
    u = urllib.parse.urlsplit(stack["WebUrl"])
    return f"{u.scheme}://{u.netloc}"


@pytest.fixture(scope="session")
def secret_id(stack) -> str:
    """The code key's secret, as the deployed function names it."""
    fn = boto3.client("lambda", endpoint_url=stack["Endpoint"], region_name=stack["Region"],
                      aws_access_key_id="test", aws_secret_access_key="test")
    return fn.get_function_configuration(FunctionName=stack["FunctionName"])["Environment"]["Variables"][
        "CODE_HMAC_KEY_SECRET_ARN"]


@pytest.fixture(scope="session")
def mailed(stack, idp) -> str:
    """A user with a code in the mailbox: what a page reading the mailbox would be after."""
    email = make_user(stack, idp)
    idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=stack["UserPoolClientId"], AuthParameters={"USERNAME": email})
    return email


def secret_value(stack: dict, secret_id: str) -> str:
    sm = boto3.client("secretsmanager", endpoint_url=stack["Endpoint"], region_name=stack["Region"],
                      aws_access_key_id="test", aws_secret_access_key="test")
    return sm.get_secret_value(SecretId=secret_id)["SecretString"]


def test_a_foreign_origin_gets_neither_the_code_key_nor_cors(stack, secret_id):
    key = secret_value(stack, secret_id)
    r = aws_call(stack, "secretsmanager.GetSecretValue", {"SecretId": secret_id}, Origin=EVIL)
    assert r.status == 403, f"answered {r.status}: {r.text[:200]}"
    assert key not in r.text
    assert r.cors is None


def test_a_foreign_origin_gets_no_users_attributes(stack, mailed):
    r = aws_call(stack, "AWSCognitoIdentityProviderService.AdminGetUser",
                 {"UserPoolId": stack["UserPoolId"], "Username": mailed}, Origin=EVIL)
    assert r.status == 403, f"answered {r.status}: {r.text[:200]}"
    assert mailed not in r.text
    assert r.cors is None


def test_a_foreign_origin_gets_nothing_from_the_mailbox(stack, mailed):
    r = send(stack["Mailbox"], headers={"Origin": EVIL})
    assert r.status == 403, f"answered {r.status}"
    assert mailed not in r.text
    assert r.cors is None


def test_a_preflight_from_a_foreign_origin_is_refused(stack):
    r = send(stack["Endpoint"], "OPTIONS", {
        "Origin": EVIL,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent",
    })
    assert r.status == 403, f"answered {r.status}"
    assert r.cors is None
    assert r.headers.get("Access-Control-Allow-Methods") is None


def test_a_request_the_browser_marks_cross_site_is_refused_without_an_origin(stack, mailed):
    # An <img src> or a no-cors GET carries no Origin: its answer is unreadable, but the query API's
    # GETs write, and the mailbox's codes need not leave the server at all.
    r = send(stack["Mailbox"], headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
    assert r.status == 403, f"answered {r.status}"
    assert mailed not in r.text


def test_the_pages_own_origin_gets_a_preflight_and_an_answer_for_itself_alone(stack, user):
    origin = page_origin(stack)
    pre = send(stack["Endpoint"], "OPTIONS", {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent",
    })
    assert 200 <= pre.status < 300, f"preflight answered {pre.status}"
    assert pre.cors == origin, "the page's origin, never *"
    r = aws_call(stack, "AWSCognitoIdentityProviderService.InitiateAuth", {
        "AuthFlow": "CUSTOM_AUTH", "ClientId": stack["UserPoolClientId"], "AuthParameters": {"USERNAME": user},
    }, Origin=origin)
    assert r.status == 200, f"answered {r.status}: {r.text[:200]}"
    assert json.loads(r.body)["ChallengeName"] == "CUSTOM_CHALLENGE"
    assert r.cors == origin
    assert "Origin" in r.headers.get_all("Vary", [])


def foreign_hosts(url: str) -> list[str]:
    """A rebinding site's name, with and without the port it rebinds to."""
    return ["evil.example", f"evil.example:{urllib.parse.urlsplit(url).port}"]


def test_a_foreign_host_is_refused_by_the_emulator(stack, mailed, secret_id):
    key = secret_value(stack, secret_id)
    for host in foreign_hosts(stack["Endpoint"]):
        mail = send(stack["Mailbox"], headers={"Host": host})
        assert mail.status == 421, f"Host {host}: the mailbox answered {mail.status}"
        assert mailed not in mail.text
        # Same-origin to the rebound page, so the browser sends its own name as the Origin.
        r = aws_call(stack, "secretsmanager.GetSecretValue", {"SecretId": secret_id}, Host=host,
                     Origin=f"http://{host}")
        assert r.status == 421, f"Host {host}: GetSecretValue answered {r.status}"
        assert key not in r.text


@pytest.mark.parametrize("path", ["/mailbox", "/config.json"])
def test_a_foreign_host_is_refused_by_the_page_server(stack, mailed, path):
    for host in foreign_hosts(stack["WebUrl"]):
        r = send(stack["WebUrl"].rstrip("/") + path, headers={"Host": host})
        assert r.status == 421, f"Host {host}: {path} answered {r.status}"
        assert mailed not in r.text and stack["UserPoolClientId"] not in r.text
        assert r.cors is None


def test_the_page_server_refuses_a_foreign_origin_and_grants_no_cors(stack, mailed):
    r = send(stack["WebUrl"].rstrip("/") + "/mailbox", headers={"Origin": EVIL})
    assert r.status == 403, f"answered {r.status}"
    assert mailed not in r.text
    assert r.cors is None
