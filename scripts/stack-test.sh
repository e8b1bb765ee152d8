#!/usr/bin/env bash
# The local-stack tests (make stack-test, part of make test): for each challenge store, deploy
# infra/template.yaml into the emulator and sign in with real clients (boto3 and pycognito's SRP
# under pytest; Amplify JS v6 under Node, the same cases), then drive the sign-in page (Amplify v6)
# in headless Chromium. Runs its own stack (.local/stack-test, ports 4567/4581), so a `make up`
# stack is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_DIR=$PWD/.local/stack-test STACK_PORT=${STACK_TEST_PORT:-4567} STACK_WEB_PORT=${STACK_TEST_WEB_PORT:-4581}
export SCREENSHOTS=$PWD/.local/screenshots
py=.local/venv/bin/python
trap '$py scripts/stack.py down >/dev/null 2>&1 || true' EXIT
for store in attribute dynamodb; do
  echo "== stack ($store): deploy infra/template.yaml"
  CHALLENGE_STORE=$store $py scripts/stack.py up > /dev/null
  echo "== stack ($store): boto3 and pycognito"
  $py -m pytest -q -p no:cacheprovider tests/stack
  echo "== stack ($store): Amplify JS v6 (aws-amplify/auth) in Node"
  (cd examples/web && node --test --test-reporter=spec test/amplify.test.mjs)
done
echo "== stack: the sign-in page in headless Chromium (screenshots in .local/screenshots)"
(cd examples/web && node --test --test-reporter=spec test/browser.test.mjs)
