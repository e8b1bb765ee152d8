#!/usr/bin/env bash
# make replay: every event in events/ through the function binary over the Lambda Runtime API,
# using cargo lambda's emulator on 127.0.0.1, with the local adapters (otp-local) so no AWS account
# is needed. Prints each response (or the error Cognito would show), checks it against
# events/expected.json (the response's recorded fields, or the error type and the user's text), and
# fails if any event answered otherwise.
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

mismatches=0
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
  # The function returns the whole event; show its `response` (or the error Cognito would show),
  # and hold it to what events/expected.json records for the event.
  if out=$(cargo lambda invoke otp-local --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$event" --output-format json 2>&1); then
    rc=0
  else
    rc=1
  fi
  OUT="$out" python3 - "$event" "$rc" <<'PY' || mismatches=$((mismatches + 1))
import json, os, re, sys
event, failed, out = sys.argv[1], sys.argv[2] == "1", os.environ["OUT"]
want = json.load(open("events/expected.json"))["events"][event.removeprefix("events/")]

def contains(actual, expected):
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    return actual == expected

if failed:
    # cargo lambda prints "Error: <errorType>  × <errorMessage>", the message wrapped with "│".
    text = " ".join(re.sub(r"\s*Was this behavior.*", "", out, flags=re.S).replace("│", " ").split())
    shown, ok = "ERROR " + text[:200], "error" in want and want["error"] in text
    ok = ok and want.get("message", "") in text
else:
    response = json.loads(out).get("response")
    shown, ok = json.dumps(response, sort_keys=True), "response" in want and contains(response, want["response"])
print(f"{event:<48} {shown}" + ("" if ok else f"\n  MISMATCH: expected {json.dumps(want)}"))
sys.exit(0 if ok else 1)
PY
done < <(find events -mindepth 2 -name '*.json' | sort)
echo
total=$(find events -mindepth 2 -name '*.json' | wc -l)
errors=$(python3 -c 'import json; print(sum("error" in v for v in json.load(open("events/expected.json"))["events"].values()))')
echo "replayed $total events ($errors of them answer with an error, as recorded); $mismatches differ from events/expected.json"
echo "mail: $dir/mailbox, attributes: $dir/users.json, emulator log: $dir/watch.log"
[ "$mismatches" -eq 0 ]
