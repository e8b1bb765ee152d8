#!/usr/bin/env bash
# scripts/cdk-tools.sh: Node.js (20 or newer) with npm for the CDK construct in cdk/, then its npm
# packages, exactly as cdk/package-lock.json says (npm ci, which also compiles it).
#
# As root (CI), a missing Node.js or npm comes from the distribution's packages; otherwise it stops
# with one line saying what to install. aws-cdk-lib 2.276 needs Node.js 20: a distribution that
# ships 18 (Debian 12, Ubuntu 24.04) needs a newer one from its backports or NodeSource.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "cdk-tools: installing the distribution's ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "cdk-tools: the CDK construct's tests need ${missing[*]} (Node.js 20 or newer); install them (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "cdk-tools: Node.js $(node --version) is too old; aws-cdk-lib needs 20 or newer (install a newer nodejs, e.g. from NodeSource)" >&2
  exit 1
fi
if [ ! -f cdk/node_modules/.package-lock.json ] || [ cdk/package-lock.json -nt cdk/node_modules/.package-lock.json ] || [ ! -f cdk/dist/src/index.js ]; then
  echo "cdk-tools: npm ci in cdk"
  (cd cdk && npm ci --no-audit --no-fund --loglevel=error)
fi
