#!/usr/bin/env bash
# scripts/venv.sh DIR REQUIREMENTS: a project-local virtualenv at DIR with REQUIREMENTS installed.
#
# Tools never go into the system Python: Debian 12 and Ubuntu 24.04 refuse that (PEP 668). It
# needs only the distribution's python3 and its venv module; where the module is missing (Debian's
# python3-venv package), it installs it when run as root and otherwise says what to install.
# Reinstalls only when REQUIREMENTS changed (a stamp holds its hash).
set -euo pipefail
dir=$1 req=$2
stamp="$dir/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
if [ ! -x "$dir/bin/pip" ]; then
  rm -rf "$dir"
  if ! python3 -m venv "$dir" >/dev/null 2>&1; then
    rm -rf "$dir"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "venv: installing the distribution's python3-venv"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$dir"
    else
      echo "venv: python3 cannot make a virtualenv; install your distribution's python3-venv (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
echo "venv: installing $req into $dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
