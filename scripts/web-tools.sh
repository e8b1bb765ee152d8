#!/usr/bin/env bash
# scripts/web-tools.sh [--browser]: Node.js with npm for the sign-in page (and, with --browser,
# Chromium for its tests); then the page's npm packages.
#
# As root (CI), what is missing comes from the distribution's packages (Debian: nodejs, npm,
# chromium). Otherwise it stops with one line saying what to install. CHROMIUM names another
# Chromium binary. npm packages go into examples/web/node_modules, exactly as package-lock.json says.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-/usr/bin/chromium}
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${1:-}" = --browser ] && [ ! -x "$chromium" ]; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "web-tools: installing the distribution's ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "web-tools: the page's tests need ${missing[*]}; install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}), or set CHROMIUM to a Chromium binary" >&2
    exit 1
  fi
fi
if [ "${1:-}" = --browser ] && [ ! -x "$chromium" ]; then
  echo "web-tools: no Chromium at $chromium; set CHROMIUM to a Chromium binary" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "web-tools: Node.js $(node --version) is too old; the page's tests need 18 or newer" >&2
  exit 1
fi
web=examples/web
if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  echo "web-tools: npm ci in $web"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
fi
