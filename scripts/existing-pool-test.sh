#!/usr/bin/env bash
# The template in existing-pool mode in the local emulator (make existing-pool-test, part of make
# test): a pool and an app client made by the API, infra/template.yaml deployed with
# ExistingUserPoolId (scripts/existing_pool_stack.py up), then tests/stack_existing runs the stack's
# CheckCommand and AttachCommand outputs with the release otp-admin and signs in with boto3 and
# pycognito's SRP. One store (attribute: the pool's own custom:authChallenge); its own stack
# (.local/stack-existing, ports 4569/4583), so the other stacks are left alone.
# Needs: the release binaries cognito-email-otp and otp-admin, and .local/venv (make tools).
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_DIR=${EXISTING_STACK_DIR:-$PWD/.local/stack-existing} STACK_PORT=${EXISTING_STACK_PORT:-4569} STACK_WEB_PORT=${EXISTING_STACK_WEB_PORT:-4583}
py=.local/venv/bin/python
trap '$py scripts/existing_pool_stack.py down >/dev/null 2>&1 || true' EXIT
echo "== existing pool: a pool and a client by the API, then infra/template.yaml with ExistingUserPoolId"
$py scripts/existing_pool_stack.py up | grep -E '^existing-pool-stack: '
echo "== existing pool: otp-admin check and attach (the stack's outputs), then boto3 and pycognito"
$py -m pytest -q -p no:cacheprovider tests/stack_existing
