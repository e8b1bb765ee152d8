#!/usr/bin/env bash
# The CDK construct's example app in the local emulator, for each challenge store: synthesize
# cdk/example/app.ts, deploy its template (scripts/cdk_stack.py up), then sign in with real
# clients (tests/stack_cdk: boto3, pycognito's SRP). Its own stack (.local/stack-cdk, port
# 4568/4582), so a `make up` or `make stack-test` stack is left alone.
# Needs: the release binary (cargo build --release --bin cognito-email-otp), .local/venv
# (make tools) and Node.js with npm (cdk/'s packages are installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_DIR=${CDK_STACK_DIR:-$PWD/.local/stack-cdk} STACK_PORT=${CDK_STACK_PORT:-4568} STACK_WEB_PORT=${CDK_STACK_WEB_PORT:-4582}
py=.local/venv/bin/python
if [ ! -f cdk/node_modules/.package-lock.json ] || [ cdk/package-lock.json -nt cdk/node_modules/.package-lock.json ]; then
  echo "== cdk: npm ci"
  (cd cdk && npm ci --no-audit --no-fund --loglevel=error)
fi
trap '$py scripts/cdk_stack.py down >/dev/null 2>&1 || true' EXIT
for store in attribute dynamodb; do
  echo "== cdk stack ($store): synthesize cdk/example/app.ts, deploy it"
  CHALLENGE_STORE=$store $py scripts/cdk_stack.py up | grep -E '^cdk-stack: (synthesized|deployed)'
  echo "== cdk stack ($store): boto3 and pycognito"
  $py -m pytest -q -p no:cacheprovider tests/stack_cdk
done
