#!/usr/bin/env bash
# make replay: every event in events/ through the function binary over the Lambda Runtime API,
# using cargo lambda's emulator on 127.0.0.1, with the local adapters (otp-local) so no AWS account
# is needed. Prints each response (or the error Cognito would show).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${REPLAY_PORT:-9321}"
dir=.local/replay
rm -rf "$dir" && mkdir -p "$dir"
cp events/local-users.json "$dir/users.json"
key=$(python3 -c 'import json; print(json.load(open("events/expected.json"))["replay_key"])')

cargo build --release --bin otp-local --quiet
cargo lambda watch --release --bin otp-local --invoke-address 127.0.0.1 --invoke-port "$port" --timeout 5 \
  --ignore-changes \
  --env-var "EMAIL_FROM=Acme <no-reply@acme.example>" \
  --env-var "CODE_HMAC_KEY=$key" \
  --env-var AUTH_FLOW=both \
  --env-var SIGNUP_ALLOWED_DOMAINS=example.org \
  --env-var "LOCAL_MAILBOX_DIR=$PWD/$dir/mailbox" \
  --env-var "LOCAL_USERS_FILE=$PWD/$dir/users.json" \
  >"$dir/watch.log" 2>&1 &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true; wait $watch_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

failures=0
while IFS= read -r event; do
  # Each event is replayed against the user as its own userAttributes show them (Cognito read them
  # just before the call, and the function reads the state afresh from the store): the events are
  # independent snapshots, so one event's write must not become the next one's state.
  python3 - "$event" "$dir/users.json" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
users = json.load(open(sys.argv[2]))
req = event.get("request") or {}
attrs = req.get("userAttributes") or {}
if attrs and not req.get("userNotFound"):
    users[f'{event["userPoolId"]}/{event["userName"]}'] = attrs
    json.dump(users, open(sys.argv[2], "w"), indent=2)
PY
  # The function returns the whole event; show its `response` (or the error Cognito would show).
  if out=$(cargo lambda invoke otp-local --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$event" --output-format json 2>&1); then
    printf '%-48s %s\n' "$event" "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("response"), sort_keys=True))')"
  else
    failures=$((failures + 1))
    printf '%-48s ERROR %s\n' "$event" "$(printf '%s' "$out" | tr '\n' ' ' | sed 's/ *Was this behavior.*//' | cut -c1-200)"
  fi
done < <(find events -mindepth 2 -name '*.json' | sort)
echo
echo "replayed $(find events -mindepth 2 -name '*.json' | wc -l) events; $failures answered with an error (expected: 2, the refused sign-up and the unsupported trigger)"
echo "mail: $dir/mailbox, attributes: $dir/users.json, emulator log: $dir/watch.log"
