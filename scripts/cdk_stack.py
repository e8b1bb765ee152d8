#!/usr/bin/env python3
"""The CDK construct's example app (cdk/example/app.ts), synthesized and deployed into the local
emulator, as `make up` deploys infra/template.yaml.

    cdk_stack.py up       start the emulator, synthesize the example app, deploy its template,
                          write outputs.json (the same keys as scripts/stack.py's)
    cdk_stack.py down     stop the emulator, remove its state
    cdk_stack.py status   print outputs.json if the stack is up; exit 1 if it is not

It runs beside the other stacks: state in .local/stack-cdk, the emulator on 127.0.0.1:4568 (and
4582 for the page's origin, which this stack does not serve), unless STACK_DIR, STACK_PORT or
STACK_WEB_PORT say otherwise. The emulator, its start-up adjustment and the packaging of the
release binary are scripts/stack.py's, imported unchanged. What differs from a deployment to AWS:

- the template is synthesized with the app's context `codeBucket`/`codeKey` (the zip uploaded to
  the emulator's S3), so the example uses a synthesizer that needs no `cdk bootstrap`;
- `architecture` is this machine's, `resendCooldownSeconds` 10, as `make up`'s parameters;
- the example leaves AWS WAF off (the emulator has no AWS::WAFv2::WebACLAssociation);
- after the deploy, the function's CODE_HMAC_KEY_SECRET_ARN is set to the secret's ARN (the
  emulator's Ref of a secret is its name), as scripts/stack.py does.

Needs `npm ci` in cdk/ (the script compiles the app with the project's own TypeScript) and the
release binary (`cargo build --release --bin cognito-email-otp`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Defaults of this stack, set before scripts/stack.py reads them at import.
os.environ.setdefault("STACK_DIR", str(ROOT / ".local" / "stack-cdk"))
os.environ.setdefault("STACK_PORT", "4568")
os.environ.setdefault("STACK_WEB_PORT", "4582")
sys.path.insert(0, str(ROOT / "scripts"))

import stack as base  # noqa: E402  (scripts/stack.py, with the settings above)

CDK = ROOT / "cdk"
STACK_NAME = "otp-cdk-local"
RESEND_COOLDOWN = base.RESEND_COOLDOWN


def log(msg: str) -> None:
    print(f"cdk-stack: {msg}", flush=True)


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"cdk-stack: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def synthesize(code_uri: str, store: str) -> tuple[dict, float]:
    """Compiles cdk/ and runs the example app with the local context; returns its template and
    how long synthesis took (seconds)."""
    if not (CDK / "node_modules" / "aws-cdk-lib").is_dir():
        fail("cdk/node_modules is missing; run `cd cdk && npm ci`")
    build = subprocess.run(["npm", "run", "--silent", "build"], cwd=CDK, capture_output=True, text=True)
    if build.returncode != 0:
        fail(f"cdk/ does not compile:\n{build.stdout}{build.stderr}")
    bucket, key = code_uri.removeprefix("s3://").split("/", 1)
    arch = base.parameters()["Architecture"]
    context = {
        "stackName": STACK_NAME,
        "codeBucket": bucket,
        "codeKey": key,
        "architecture": arch,
        "challengeStore": store,
        "emailFrom": base.EMAIL_FROM,
        "sesIdentity": base.SES_IDENTITY,
        "resendCooldownSeconds": str(RESEND_COOLDOWN),
        "appName": "Acme Local",
        "signInLinkUrl": f"http://127.0.0.1:{base.WEB_PORT}/",
    }
    out = base.STATE / "cdk.out"
    env = dict(os.environ, CDK_OUTDIR=str(out), CDK_CONTEXT_JSON=json.dumps(context))
    started = time.monotonic()
    run = subprocess.run(["node", "dist/example/app.js"], cwd=CDK, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if run.returncode != 0:
        fail(f"the example app did not synthesize:\n{run.stdout}{run.stderr}")
    return json.loads((out / f"{STACK_NAME}.template.json").read_text()), took


def deploy(store: str) -> dict[str, str]:
    base.client("sesv2").create_email_identity(EmailIdentity=base.SES_IDENTITY)
    template, took = synthesize(base.package(), store)
    log(f"synthesized the example app in {took:.1f} s ({len(template['Resources'])} resources)")
    cfn = base.client("cloudformation")
    cfn.create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    return base.created_stack(cfn, STACK_NAME)


def up(_args) -> None:
    state = base.STATE
    base.start_emulator()
    store = os.environ.get("CHALLENGE_STORE", "attribute")
    log(f"emulator on {base.ENDPOINT}; deploying the CDK example app as stack {STACK_NAME} ({store})")
    started = time.monotonic()
    out = deploy(store)
    base.create_demo_user(out["UserPoolId"])
    outputs = {
        "Endpoint": base.ENDPOINT,
        "Region": base.REGION,
        "UserPoolId": out["UserPoolId"],
        "UserPoolClientId": out["UserPoolClientId"],
        "FunctionName": out["FunctionName"],
        "StackName": STACK_NAME,
        "ChallengeStore": store,
        "ChallengeTableName": out.get("ChallengeTableName", ""),
        "ResendCooldownSeconds": RESEND_COOLDOWN,
        "Mailbox": f"{base.ENDPOINT}/_ministack/ses/messages",
        "DemoUser": base.DEMO_EMAIL,
        "DemoPassword": base.DEMO_PASSWORD,
        "Template": str(state / "cdk.out" / f"{STACK_NAME}.template.json"),
    }
    base.write_outputs(outputs, started)


def main() -> None:
    base.stack_cli(__doc__, up)


if __name__ == "__main__":
    main()
