#!/usr/bin/env python3
"""Writes events/: realistic Cognito trigger events for every trigger and flow step.

Field names, nulls and omissions follow what Cognito really sends (shared reference, section 2 and
the example events): responses arrive with nulls, clientMetadata is absent on InitiateAuth-driven
calls, SRP session entries carry challengeMetadata null, unknown users have empty attributes.

Verify and Create events that carry a stored state hold a real `v1.` state for the code 482913,
made with the replay-only key below (never use it anywhere else). `cargo test` replays every
event through the dispatcher and checks events/expected.json, so this script and the Rust encoding
cannot drift apart unnoticed. Re-run it after changing the state encoding: python3 scripts/gen_events.py
"""
import base64, hashlib, hmac, json, os, struct

REPLAY_KEY = b"replay-only-key-never-use-in-production-0000"
POOL, REGION, CLIENT = "eu-west-1_Q7xk2PzRm", "eu-west-1", "3n4b5v6c7x8z9a0s1d2f3g4h5j"
USER = "5c2e9a14-7b31-4f0e-9d6a-1f8b3c0e7a52"
CODE = "482913"
EMAIL = "maria.rossi@example.org"
ISSUED = 1767225600          # 2026-01-01T00:00:00Z
FAR = 4102444800             # 2100-01-01: states that stay valid whenever the events are replayed
NONCE = bytes.fromhex("a1b2c3d4e5f60718293a4b5c")
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events")


def destination_tag(address):
    """The keyed tag of the address a code went to (CodeHasher::destination_tag)."""
    return hmac.new(REPLAY_KEY, b"destination\x00" + address.lower().encode(), hashlib.sha256).digest()[:8]


def state(expires, attempts=0, sends=(ISSUED,), active=True):
    out = b""
    if active:
        dest = destination_tag(EMAIL)
        mac = hmac.new(REPLAY_KEY, digestmod=hashlib.sha256)
        for part in [b"cognito-email-otp/code/v1", POOL.encode(), USER.encode(), NONCE,
                     struct.pack(">I", ISSUED), struct.pack(">I", expires), dest, CODE.encode()]:
            mac.update(struct.pack(">I", len(part)) + part)
        # flags: active (bit 0) with its destination tag (bit 2)
        out += b"\x05" + NONCE + mac.digest() + struct.pack(">IIB", ISSUED, expires, attempts) + dest
    else:
        out += b"\x00"
    out += bytes([len(sends)]) + b"".join(struct.pack(">I", t) for t in sends)
    return "v1." + base64.urlsafe_b64encode(out).decode().rstrip("=")


def attrs(challenge=None, verified="true", status="CONFIRMED"):
    a = {"sub": USER, "email": "maria.rossi@example.org", "email_verified": verified,
         "cognito:user_status": status, "cognito:email_alias": "maria.rossi@example.org"}
    if challenge:
        a["custom:authChallenge"] = challenge
    return a


def event(source, request, response, user=USER):
    return {"version": "1", "triggerSource": source, "region": REGION, "userPoolId": POOL, "userName": user,
            "callerContext": {"awsSdkVersion": "aws-sdk-js-3.700.0", "clientId": CLIENT},
            "request": request, "response": response}


SRP = [{"challengeName": "SRP_A", "challengeResult": True, "challengeMetadata": None}]
PV = [{"challengeName": "PASSWORD_VERIFIER", "challengeResult": True, "challengeMetadata": None}]
# The round Cognito would record if it asked an invited user for a new password after the password
# step and then called Define (one of two undocumented outcomes; docs/deploying.md, "Inviting users").
NEW_PASSWORD = [{"challengeName": "NEW_PASSWORD_REQUIRED", "challengeResult": True, "challengeMetadata": None}]
def custom(ok, label="EMAIL_OTP"):
    return {"challengeName": "CUSTOM_CHALLENGE", "challengeResult": ok, "challengeMetadata": label}

DEF_RESP = {"challengeName": None, "issueTokens": None, "failAuthentication": None}
CRE_RESP = {"publicChallengeParameters": None, "privateChallengeParameters": None, "challengeMetadata": None}
VER_RESP = {"answerCorrect": None}
SIGNUP_RESP = {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False}

def define(session, meta=None, a=None, not_found=False, user=USER):
    r = {"userAttributes": attrs() if a is None else a, "session": session, "userNotFound": not_found}
    if meta is not None:
        r["clientMetadata"] = meta
    return event("DefineAuthChallenge_Authentication", r, DEF_RESP, user)

def create(session, meta=None, a=None, not_found=False, user=USER):
    r = {"userAttributes": attrs() if a is None else a, "challengeName": "CUSTOM_CHALLENGE", "session": session,
         "userNotFound": not_found}
    if meta is not None:
        r["clientMetadata"] = meta
    return event("CreateAuthChallenge_Authentication", r, CRE_RESP, user)

def verify(answer, challenge, meta=None, not_found=False, a=None, user=USER, nonce=NONCE.hex()):
    r = {"userAttributes": (attrs(challenge) if a is None else a), "privateChallengeParameters": {"nonce": nonce},
         "challengeAnswer": answer, "clientMetadata": meta if meta is not None else {}, "userNotFound": not_found}
    return event("VerifyAuthChallengeResponse_Authentication", r, VER_RESP, user)

def signup(email, source="PreSignUp_SignUp"):
    return event(source, {"userAttributes": {"email": email}, "validationData": None,
                          "clientMetadata": {"signupSource": "web"}}, SIGNUP_RESP, user=USER)

ACTIVE = state(FAR)
UNKNOWN = "nobody@example.org"
# An administrator created the user with a temporary password (or asked for a reset), and the
# user never signed in: the address is not verified yet.
INVITED = attrs(verified="false", status="FORCE_CHANGE_PASSWORD")
RESET = attrs(status="RESET_REQUIRED")
TEMPORARY_MESSAGE = ("OTP_TEMPORARY_PASSWORD: This account still has a temporary password. An administrator must set a permanent "
                     "password before you can sign in.")
LOCKED_MESSAGE = "OTP_TOO_MANY_ATTEMPTS: Too many wrong codes. Please wait a minute, then sign in again for a new code."
COOLDOWN = 30                # RESEND_COOLDOWN_SECONDS's default
RESET_MESSAGE = ("OTP_PASSWORD_RESET_REQUIRED: This account's password must be reset. An administrator must set a new password before "
                 "you can sign in.")
files = {
    # DefineAuthChallenge, every step of both flows
    "define/passwordless-start.json": (define([]), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    "define/mfa-srp-a.json": (define(SRP), {"response": {"challengeName": "PASSWORD_VERIFIER", "issueTokens": False, "failAuthentication": False}}),
    "define/mfa-after-password.json": (define(SRP + PV, meta={}), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    "define/mfa-after-wrong-answer.json": (define(SRP + PV + [custom(False)], meta={}), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    "define/mfa-after-right-answer.json": (define(SRP + PV + [custom(False), custom(True)], meta={}), {"response": {"challengeName": None, "issueTokens": True, "failAuthentication": False}}),
    "define/mfa-wrong-password.json": (define(SRP + [dict(PV[0], challengeResult=False)], meta={}), {"response": {"challengeName": None, "issueTokens": False, "failAuthentication": True}}),
    "define/passwordless-after-right-answer.json": (define([custom(True)], meta={}), {"response": {"challengeName": None, "issueTokens": True, "failAuthentication": False}}),
    # The third wrong answer: one more round, which Create refuses with a message (see below).
    "define/passwordless-third-wrong-answer.json": (define([custom(False)] * 3, meta={}), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    "define/passwordless-answer-past-the-end.json": (define([custom(False)] * 3 + [custom(True)], meta={}), {"response": {"challengeName": None, "issueTokens": False, "failAuthentication": True}}),
    "define/resend.json": (define([custom(False)], meta={"action": "resend"}), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    "define/unknown-user.json": (define([], a={}, not_found=True, user=UNKNOWN), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    # Users without a permanent password: a password-first sign-in is refused before the password
    # step, with a message; a code-only one goes ahead; a NEW_PASSWORD_REQUIRED round never signs in.
    "define/mfa-srp-a-temporary-password.json": (define(SRP, a=INVITED), {"error": "TemporaryPassword", "message": TEMPORARY_MESSAGE}),
    "define/mfa-srp-a-reset-required.json": (define(SRP, a=RESET), {"error": "PasswordResetRequired", "message": RESET_MESSAGE}),
    "define/mfa-after-new-password.json": (define(SRP + PV + NEW_PASSWORD, meta={}), {"response": {"challengeName": None, "issueTokens": False, "failAuthentication": True}}),
    "define/passwordless-start-temporary-password.json": (define([], a=INVITED), {"response": {"challengeName": "CUSTOM_CHALLENGE", "issueTokens": False, "failAuthentication": False}}),
    # CreateAuthChallenge
    "create/passwordless-first-round.json": (create([]), {"response": {"challengeMetadata": "EMAIL_OTP", "publicChallengeParameters": {"delivery": "EMAIL", "destination": "m***@e***.org", "codeLength": "6", "attemptsLeft": "3"}}, "emails": 1}),  # resendAfter is now + the cooldown: make replay runs on the real clock
    "create/mfa-first-round.json": (create(SRP + PV, meta={}), {"response": {"challengeMetadata": "EMAIL_OTP", "publicChallengeParameters": {"delivery": "EMAIL", "destination": "m***@e***.org", "codeLength": "6"}}, "emails": 1}),
    "create/retry-after-wrong-answer.json": (create([custom(False)], meta={}, a=attrs(ACTIVE)), {"response": {"challengeMetadata": "EMAIL_OTP", "privateChallengeParameters": {"nonce": NONCE.hex()}, "publicChallengeParameters": {"expiresAt": str(FAR), "attemptsLeft": "2", "resendAfter": str(ISSUED + COOLDOWN)}}, "emails": 0}),
    "create/after-third-wrong-answer.json": (create([custom(False)] * 3, meta={}, a=attrs(ACTIVE)), {"error": "TooManyAttempts", "message": LOCKED_MESSAGE, "emails": 0}),
    "create/resend.json": (create([custom(False)], meta={"action": "resend"}, a=attrs(ACTIVE)), {"response": {"challengeMetadata": "EMAIL_OTP_RESENT", "publicChallengeParameters": {"delivery": "EMAIL"}}, "emails": 1}),
    "create/unknown-user.json": (create([], a={}, not_found=True, user=UNKNOWN), {"response": {"publicChallengeParameters": {"delivery": "EMAIL", "destination": "n***@e***.org", "codeLength": "6", "attemptsLeft": "3"}}, "emails": 0}),
    # VerifyAuthChallengeResponse
    "verify/right-answer.json": (verify(CODE, ACTIVE, meta={}), {"response": {"answerCorrect": True}}),
    "verify/wrong-answer.json": (verify("482914", ACTIVE, meta={}), {"response": {"answerCorrect": False}}),
    "verify/malformed-answer.json": (verify("48291a", ACTIVE, meta={}), {"response": {"answerCorrect": False}}),
    "verify/resend.json": (verify("", ACTIVE, meta={"action": "resend"}), {"response": {"answerCorrect": False}}),
    "verify/expired-code.json": (verify(CODE, state(ISSUED + 300), meta={}), {"response": {"answerCorrect": False}}),
    "verify/exhausted-code.json": (verify(CODE, state(FAR, attempts=3), meta={}), {"response": {"answerCorrect": False}}),
    "verify/unknown-user.json": (verify(CODE, None, a={}, not_found=True, user=UNKNOWN), {"response": {"answerCorrect": False}}),
    # PreSignUp (replayed with SIGNUP_ALLOWED_DOMAINS=example.org)
    "pre-sign-up/allowed.json": (signup("maria.rossi@example.org"), {"response": {"autoConfirmUser": True, "autoVerifyEmail": False, "autoVerifyPhone": False}}),
    "pre-sign-up/refused-domain.json": (signup("someone@elsewhere.test"), {"error": "SignUpNotAllowed"}),
    "pre-sign-up/admin-create-user.json": (signup("maria.rossi@example.org", "PreSignUp_AdminCreateUser"), {"response": SIGNUP_RESP}),
    # Not ours
    "other/unsupported-trigger.json": (dict(event("PostAuthentication_Authentication", {"userAttributes": attrs(), "newDeviceUsed": False}, {})), {"error": "UnsupportedTrigger"}),
}

for name, (ev, _) in files.items():
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(ev, f, indent=2)
        f.write("\n")
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump({"now": ISSUED + 600, "replay_key": REPLAY_KEY.decode(), "events": {k: v for k, (_, v) in files.items()}}, f, indent=2)
    f.write("\n")
users = {f"{POOL}/{USER}": attrs(ACTIVE)}
with open(os.path.join(HERE, "local-users.json"), "w") as f:
    json.dump(users, f, indent=2)
    f.write("\n")
print(f"wrote {len(files)} events to {os.path.normpath(HERE)}")
