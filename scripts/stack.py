#!/usr/bin/env python3
"""The whole stack on one machine: ministack on 127.0.0.1, `infra/template.yaml` deployed into it
through its CloudFormation, and the sign-in page of `examples/web/` served beside it.

    stack.py up       start the emulator, deploy the template, serve the page, write outputs.json
    stack.py down     stop the page server and the emulator, remove the emulator's state
    stack.py status   print outputs.json if the stack is up; exit 1 if it is not
    stack.py signin EMAIL [--password P]
                      one sign-in from the command line (boto3), reading the code from the mailbox

`make up` and `make down` call this from the project's own environment (.local/venv). Everything
it starts listens on 127.0.0.1 only and answers browsers only from the sign-in page
(scripts/loopback_guard.py), and its state lives under .local/stack/. The deployed
template is infra/template.yaml with one line changed, as `sam package` changes it: CodeUri
points at the zip uploaded to the emulator's S3. Every other difference is a parameter
(docs/local-stack.md lists them, and where the emulator differs from Cognito).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# STACK_DIR, STACK_PORT and STACK_WEB_PORT let a second stack run beside the first (tests in parallel).
STATE = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "stack")).resolve()
OUTPUTS = STATE / "outputs.json"
TEMPLATE = ROOT / "infra" / "template.yaml"
WEB_DIST = ROOT / "examples" / "web" / "dist"

PORT = int(os.environ.get("STACK_PORT", "4566"))
WEB_PORT = int(os.environ.get("STACK_WEB_PORT", "4580"))
ENDPOINT = f"http://127.0.0.1:{PORT}"
REGION = "us-east-1"
STACK_NAME = "otp-local"
BUCKET = "cognito-email-otp-local"
# The sender. `.test` is reserved (RFC 2606): nothing here can ever reach a real mailbox.
SES_IDENTITY = "otp.example.test"
EMAIL_FROM = f"Local sign-in <no-reply@{SES_IDENTITY}>"
# The one line of infra/template.yaml that `sam package` would rewrite: the function's CodeUri.
CODE_URI_LINE = re.compile(r"^      CodeUri: .*\n", re.MULTILINE)
# ministack ends a CUSTOM_AUTH sign-in after this many answered rounds, SRP rounds included; AWS
# has no such cap. Raised at start-up so the function's own MAX_ATTEMPTS is what ends a sign-in.
EMULATOR_ROUNDS = 20
# The emulator's services this stack uses; the others are not started.
SERVICES = "cloudformation,s3,lambda,cognito-idp,ses,sesv2,secretsmanager,iam,sts,logs,dynamodb,cloudwatch,wafv2,events"
# A demo user for trying the page, created by `up`.
RESEND_COOLDOWN = 10
DEMO_EMAIL = "demo@example.test"
DEMO_PASSWORD = "Correct-Horse-42"


def parameters() -> dict[str, str]:
    """The template parameters for the local stack: what must differ locally, and nothing else."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    return {
        "EmailFrom": EMAIL_FROM,
        "SesIdentity": SES_IDENTITY,
        # Both flows, so the page and the tests can use either (an SRP_A start is mfa).
        "AuthFlow": "both",
        # The page's sign-up goes through PreSignUp.
        "EnablePreSignUp": "true",
        # Built for this machine: the emulator runs bootstrap as a local process.
        "Architecture": arch,
        # `AWS::WAFv2::WebACLAssociation` is not a resource type the emulator knows.
        "WafRequestsPer5Minutes": "0",
        # Nothing would read the alarms.
        "CreateAlarms": "false",
        "ChallengeStore": os.environ.get("CHALLENGE_STORE", "attribute"),
        # The template's least, so a resend sends a new code after 10 s rather than 30 (the page
        # and the tests show a real resend without a long wait).
        "ResendCooldownSeconds": str(RESEND_COOLDOWN),
        # With `both`, recovery by the mailbox would bypass mfa's password; the template's Rule
        # only forces this for `mfa`, and the local stack follows the stricter choice.
        "AccountRecovery": "admin_only",
        # The email names the app and links to the page served here (passwordless sign-ins).
        "AppName": "Acme Local",
        "SignInLinkUrl": f"http://127.0.0.1:{WEB_PORT}/",
    }


def env_for_emulator() -> dict[str, str]:
    """ministack's settings. AWS_ENDPOINT_URL is inherited by the function's process, which is
    how the deployed function reaches the emulator without a line of the template changing."""
    env = dict(os.environ)
    env.update(
        BIND_HOST="127.0.0.1",
        GATEWAY_PORT=str(PORT),
        TMPDIR=str(STATE / "tmp"),
        STATE_DIR=str(STATE / "state"),
        SERVICES=SERVICES,
        IOT_MTLS_ENABLED="0",
        SFTP_ENABLED="0",
        LAMBDA_EXECUTOR="local",
        AWS_ENDPOINT_URL=ENDPOINT,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    return env


def client(service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def log(msg: str) -> None:
    print(f"stack: {msg}", flush=True)


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"stack: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_ministack/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def pid_of(name: str) -> int | None:
    try:
        pid = int((STATE / f"{name}.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def stop(name: str) -> None:
    pid = pid_of(name)
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if pid_of(name) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    (STATE / f"{name}.pid").unlink(missing_ok=True)


def spawn(name: str, args: list[str], env: dict[str, str]) -> None:
    """Starts a detached child (its own process group, so `down` stops its children too)."""
    out = open(STATE / f"{name}.log", "w")
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    (STATE / f"{name}.pid").write_text(str(proc.pid))


def serve_emulator() -> None:
    """Runs ministack in this process, with its documented adjustment (EMULATOR_ROUNDS) and behind
    the loopback guard: ministack grants `Access-Control-Allow-Origin: *` and answers any `Host`,
    so any web page open in this machine's browser could read the code key and the mailbox. The
    guard answers browsers only from the sign-in page's origin (scripts/loopback_guard.py)."""
    import ministack.app
    import ministack.services.cognito as cognito

    from loopback_guard import guard_asgi, loopback_hosts, page_origins

    cognito._MAX_CHALLENGE_ATTEMPTS = EMULATOR_ROUNDS
    # main() serves the module's `app`, looked up when it starts serving.
    ministack.app.app = guard_asgi(ministack.app.app, loopback_hosts(PORT), page_origins(WEB_PORT))
    sys.argv = ["ministack"]
    ministack.app.main()


def target_dir() -> Path:
    """Where cargo puts build output: ./target unless CARGO_TARGET_DIR or a cargo config's
    `build.target-dir` moves it (many developers share one target directory). Asked of cargo
    itself, so every way of moving it is followed."""
    cargo = os.environ.get("CARGO", "cargo")
    try:
        out = subprocess.run([cargo, "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"`{cargo} metadata` failed, so the build output cannot be found: {getattr(e, 'stderr', '') or e}")
    return Path(json.loads(out)["target_directory"])


def package() -> str:
    """Zips the release binary as `bootstrap` (as `cargo lambda build` would), uploads it, and
    returns its S3 URI. The key carries the content hash, so a changed binary is a changed
    CodeUri."""
    binary = target_dir() / "release" / "cognito-email-otp"
    if not binary.is_file():
        fail(f"{binary} is missing; run `make up` (it builds it) or `cargo build --release`")
    zpath = STATE / "bootstrap.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, binary.read_bytes())
    digest = hashlib.sha256(zpath.read_bytes()).hexdigest()[:16]
    key = f"bootstrap-{digest}.zip"
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(zpath), BUCKET, key)
    return f"s3://{BUCKET}/{key}"


def packaged_template(code_uri: str) -> str:
    text = TEMPLATE.read_text()
    if len(CODE_URI_LINE.findall(text)) != 1:
        fail("infra/template.yaml no longer has exactly one `CodeUri:` line (the function's); update scripts/stack.py")
    return CODE_URI_LINE.sub(f"      CodeUri: {code_uri}\n", text)


def deploy(extra: dict[str, str] | None = None, stack_name: str = STACK_NAME) -> dict[str, str]:
    """Deploys the template with the local parameters, and `extra` (ExistingUserPoolId for a pool
    made beside it: scripts/existing_pool_stack.py)."""
    # SES refuses an unverified sender, here as on AWS; the emulator verifies at once.
    client("sesv2").create_email_identity(EmailIdentity=SES_IDENTITY)
    body = packaged_template(package())
    (STATE / "template.packaged.yaml").write_text(body)
    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters() | (extra or {})).items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    outputs = created_stack(cfn, stack_name)
    if "UserPoolClientId" in outputs:  # an existing pool's stack makes no client
        work_around_number_parameter(outputs)
    return outputs


def created_stack(cfn, stack_name: str) -> dict[str, str]:
    """Waits for `stack_name` to be created (its failed resources named if it is not), checks that
    its function got its code, and returns its outputs with the function's name."""
    deadline = time.monotonic() + 120
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
            failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events if "FAILED" in e["ResourceStatus"]]
            fail(f"stack {stack_name} ended {status}: " + "; ".join(failed))
        time.sleep(0.5)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    fn = client("lambda").get_function(FunctionName=outputs["FunctionArn"])["Configuration"]
    if not fn.get("CodeSize"):
        fail("the function was created without code (the emulator did not find the zip in S3)")
    work_around_secret_ref(fn)
    return outputs | {"FunctionName": fn["FunctionName"]}


def work_around_number_parameter(outputs: dict[str, str]) -> None:
    """The emulator keeps a Number parameter as a string, so the client's AuthSessionValidity
    (from the AuthSessionValidityMinutes parameter) is stored as '3', and every InitiateAuth then
    fails inside the emulator. Sending the client's own configuration back with the integer
    repairs it; on AWS the value is already a number and this call would change nothing."""
    idp = client("cognito-idp")
    c = idp.describe_user_pool_client(UserPoolId=outputs["UserPoolId"], ClientId=outputs["UserPoolClientId"])["UserPoolClient"]
    keep = ["ClientName", "ExplicitAuthFlows", "PreventUserExistenceErrors", "ReadAttributes", "WriteAttributes",
            "RefreshTokenValidity", "AccessTokenValidity", "IdTokenValidity", "TokenValidityUnits", "EnableTokenRevocation"]
    update = {k: c[k] for k in keep if k in c}
    for k in ("RefreshTokenValidity", "AccessTokenValidity", "IdTokenValidity"):
        if k in update:
            update[k] = int(update[k])
    update["AuthSessionValidity"] = int(float(c.get("AuthSessionValidity", 3)))
    idp.update_user_pool_client(UserPoolId=outputs["UserPoolId"], ClientId=outputs["UserPoolClientId"], **update)


def work_around_secret_ref(fn: dict) -> None:
    """The emulator's `Ref` of a secret is its name; on AWS it is the ARN, which the function's
    configuration insists on (CODE_HMAC_KEY_SECRET_ARN). Put back what AWS would have put there."""
    env = fn["Environment"]["Variables"]
    arn = client("secretsmanager").describe_secret(SecretId=env["CODE_HMAC_KEY_SECRET_ARN"])["ARN"]
    client("lambda").update_function_configuration(
        FunctionName=fn["FunctionName"], Environment={"Variables": env | {"CODE_HMAC_KEY_SECRET_ARN": arn}}
    )


def create_demo_user(pool: str) -> None:
    idp = client("cognito-idp")
    idp.admin_create_user(
        UserPoolId=pool,
        Username=DEMO_EMAIL,
        UserAttributes=[{"Name": "email", "Value": DEMO_EMAIL}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool, Username=DEMO_EMAIL, Password=DEMO_PASSWORD, Permanent=True)


def start_emulator() -> None:
    """A fresh emulator for this STACK_DIR and STACK_PORT: one left running is stopped first (its
    state goes with it); another process on the port stops us."""
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "tmp").mkdir(exist_ok=True)
    if pid_of("emulator") or healthy():
        log("already running: restarting it with a fresh state")
        down(None)
    if healthy():
        fail(f"127.0.0.1:{PORT} is taken by another process; set STACK_PORT to another port")
    spawn("emulator", [sys.executable, __file__, "serve-emulator"], env_for_emulator())
    deadline = time.monotonic() + 60
    while not healthy():
        if pid_of("emulator") is None or time.monotonic() > deadline:
            fail(f"the emulator did not start; see {STATE / 'emulator.log'}")
        time.sleep(0.2)


def up(_args) -> None:
    start_emulator()
    log(f"emulator on {ENDPOINT}; deploying infra/template.yaml as stack {STACK_NAME}")
    started = time.monotonic()
    out = deploy()
    create_demo_user(out["UserPoolId"])
    outputs = {
        "Endpoint": ENDPOINT,
        "Region": REGION,
        "UserPoolId": out["UserPoolId"],
        "UserPoolClientId": out["UserPoolClientId"],
        "FunctionName": out["FunctionName"],
        "StackName": STACK_NAME,
        "ChallengeStore": parameters()["ChallengeStore"],
        "ChallengeTableName": out.get("ChallengeTableName", ""),
        "ResendCooldownSeconds": RESEND_COOLDOWN,
        "Mailbox": f"{ENDPOINT}/_ministack/ses/messages",
        "WebUrl": f"http://127.0.0.1:{WEB_PORT}/",
        "DemoUser": DEMO_EMAIL,
        "DemoPassword": DEMO_PASSWORD,
    }
    OUTPUTS.write_text(json.dumps(outputs, indent=2) + "\n")
    if (WEB_DIST / "index.html").is_file():
        spawn("web", [sys.executable, str(ROOT / "scripts" / "web_serve.py")], dict(os.environ))
    else:
        log("examples/web/dist is not built (make up builds it); the page is not served")
    log(f"deployed in {time.monotonic() - started:.1f} s; outputs in {OUTPUTS}:")
    print(json.dumps(outputs, indent=2))
    print(
        "\nTry it:\n"
        f"  open {outputs['WebUrl']}   (sign in as {DEMO_EMAIL}; add the password {DEMO_PASSWORD} for mfa; the email is at {outputs['WebUrl']}mailbox)\n"
        f"  .local/venv/bin/python scripts/stack.py signin {DEMO_EMAIL}\n"
        "Stop it: make down"
    )


def write_outputs(outputs: dict[str, str], started: float) -> None:
    """What a stack script's `up` ends with: outputs.json written, the time it took, the outputs."""
    OUTPUTS.write_text(json.dumps(outputs, indent=2) + "\n")
    log(f"deployed in {time.monotonic() - started:.1f} s; outputs in {OUTPUTS}")
    print(json.dumps(outputs, indent=2))


def stack_cli(doc: str, up_command) -> None:
    """The command line of a script that deploys its own stack with this module: up, down, status."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up").set_defaults(run=up_command)
    sub.add_parser("down").set_defaults(run=down)
    sub.add_parser("status").set_defaults(run=status)
    args = parser.parse_args()
    args.run(args)


def down(_args) -> None:
    stop("web")
    stop("emulator")
    for leftover in ("state",):
        path = STATE / leftover
        if path.is_dir():
            subprocess.run(["rm", "-rf", str(path)], check=False)
    OUTPUTS.unlink(missing_ok=True)
    log("stopped")


def status(_args) -> None:
    if not (OUTPUTS.is_file() and healthy()):
        fail("not running (make up)")
    print(OUTPUTS.read_text(), end="")


def mailbox(url: str, to: str) -> list[dict]:
    """Every message the emulator's SES took for `to`, oldest first (its mailbox is keyed by account)."""
    with urllib.request.urlopen(url, timeout=5) as r:
        accounts = json.load(r).get("messages", {})
    every = [m for msgs in accounts.values() for m in msgs] if isinstance(accounts, dict) else list(accounts)
    return sorted((m for m in every if to.lower() in (a.lower() for a in m.get("To", []))), key=lambda m: m.get("Timestamp", 0))


def code_in(message: dict) -> str:
    """The code in a message's text body: the one line that is nothing but 6 to 10 digits (a
    passwordless email's one-click link holds the code too)."""
    import re

    found = re.findall(r"^[ \t]*([0-9]{6,10})[ \t]*$", message.get("BodyText", ""), re.MULTILINE)
    if len(found) != 1:
        fail(f"expected one code line in the email, found {len(found)}")
    return found[0]


def latest_code(url: str, to: str) -> str:
    """The code in the newest message to `to`. Create sends before InitiateAuth answers, so it is
    there already; a new sign-in while the mailed code is valid reuses it and sends nothing."""
    msgs = mailbox(url, to)
    if not msgs:
        fail(f"no email to {to} in the mailbox")
    return code_in(msgs[-1])


def signin(args) -> None:
    """A sign-in as a client would make it: InitiateAuth, the email, RespondToAuthChallenge."""
    out = json.loads(OUTPUTS.read_text())
    idp = client("cognito-idp")
    if args.password:
        from pycognito.aws_srp import AWSSRP

        srp = AWSSRP(username=args.email, password=args.password, pool_id=out["UserPoolId"],
                     client_id=out["UserPoolClientId"], client=idp)
        start = idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=out["UserPoolClientId"],
                                  AuthParameters={"USERNAME": args.email, "CHALLENGE_NAME": "SRP_A", **srp.get_auth_params()})
        resp = idp.respond_to_auth_challenge(ClientId=out["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                             Session=start.get("Session"),
                                             ChallengeResponses=srp.process_challenge(start["ChallengeParameters"], {"USERNAME": args.email}))
    else:
        resp = idp.initiate_auth(AuthFlow="CUSTOM_AUTH", ClientId=out["UserPoolClientId"], AuthParameters={"USERNAME": args.email})
    print("challenge:", json.dumps(resp["ChallengeParameters"]))
    code = latest_code(out["Mailbox"], args.email)
    print(f"code from the local mailbox: {code}")
    done = idp.respond_to_auth_challenge(ClientId=out["UserPoolClientId"], ChallengeName="CUSTOM_CHALLENGE", Session=resp["Session"],
                                         ChallengeResponses={"USERNAME": resp["ChallengeParameters"].get("USERNAME", args.email), "ANSWER": code})
    tokens = done.get("AuthenticationResult")
    if not tokens:
        fail(f"no tokens: {json.dumps({k: v for k, v in done.items() if k != 'ResponseMetadata'})}")
    print(f"signed in: IdToken of {len(tokens['IdToken'])} characters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up").set_defaults(run=up)
    sub.add_parser("down").set_defaults(run=down)
    sub.add_parser("status").set_defaults(run=status)
    sub.add_parser("serve-emulator").set_defaults(run=lambda _a: serve_emulator())
    s = sub.add_parser("signin")
    s.add_argument("email")
    s.add_argument("--password")
    s.set_defaults(run=signin)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
