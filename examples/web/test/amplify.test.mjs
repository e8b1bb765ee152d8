// Amplify JS v6 (aws-amplify/auth) in Node against the deployed local stack, called exactly as
// docs/deploying.md ("How a client signs in") shows: signIn with CUSTOM_WITHOUT_SRP or
// CUSTOM_WITH_SRP, confirmSignIn with the code, and a resend through options.clientMetadata.
// tests/stack/test_clients.py makes the same sign-ins with the plain API (boto3), so a failure in
// one and not the other tells an Amplify change from a change in the function.
// Run from examples/web: node --test test/amplify.test.mjs (STACK_DIR picks the stack).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, before, test } from 'node:test';
import { Amplify } from 'aws-amplify';
import {
  confirmSignIn, fetchAuthSession, fetchUserAttributes, signIn, signOut, signUp,
} from 'aws-amplify/auth';
import {
  PASSWORD, codeIn, freshEmail, functionEnv, latestCode, mailFor, signUp as apiSignUp, stackOutputs, wrongCodeFor,
} from './stack.mjs';

const TOKEN = /\bOTP_[A-Z_]+\b/;

let out;
let maxAttempts; // MAX_ATTEMPTS of the deployed function (the template's default, 3)
let cooldown;    // RESEND_COOLDOWN_SECONDS (the local stack's 10)

before(async () => {
  out = await stackOutputs();
  const env = await functionEnv(out);
  maxAttempts = Number(env.MAX_ATTEMPTS);
  cooldown = Number(env.RESEND_COOLDOWN_SECONDS);
  assert.ok(maxAttempts >= 2 && cooldown >= 10, `the function's settings (${env.MAX_ATTEMPTS}, ${env.RESEND_COOLDOWN_SECONDS})`);
  Amplify.configure({
    Auth: { Cognito: { userPoolId: out.UserPoolId, userPoolClientId: out.UserPoolClientId, userPoolEndpoint: out.Endpoint } },
  });
});

// Amplify holds one signed-in user; each test signs in its own.
afterEach(() => signOut());

// The calls a sign-in screen makes, as docs/deploying.md writes them.
const passwordless = (username) => signIn({ username, options: { authFlowType: 'CUSTOM_WITHOUT_SRP' } });
const withPassword = (username, password) => signIn({ username, password, options: { authFlowType: 'CUSTOM_WITH_SRP' } });
const answer = (code) => confirmSignIn({ challengeResponse: code });
const resend = () => confirmSignIn({ challengeResponse: 'resend', options: { clientMetadata: { action: 'resend' } } });

const now = () => Date.now() / 1000;

/** The code step's public challenge parameters, each checked for its shape. */
function codeStep(result, email) {
  assert.equal(result.isSignedIn, false);
  assert.equal(result.nextStep.signInStep, 'CONFIRM_SIGN_IN_WITH_CUSTOM_CHALLENGE', `the code step, got ${JSON.stringify(result.nextStep)}`);
  const p = result.nextStep.additionalInfo;
  assert.equal(p.delivery, 'EMAIL');
  assert.equal(p.codeLength, '6');
  assert.match(p.destination, /^.\*\*\*@.\*\*\*\.test$/, 'the destination is masked');
  assert.ok(!p.destination.includes(email.split('@')[0]), 'the destination does not show the address');
  for (const k of ['sentAt', 'expiresAt', 'attemptsLeft', 'resendAfter']) assert.match(p[k] ?? '', /^[0-9]+$/, `${k} is a whole number`);
  const ago = now() - Number(p.sentAt);
  assert.ok(ago > -5 && ago < 3600, `sentAt is in the past (${ago.toFixed(0)} s ago)`);
  assert.ok(Number(p.expiresAt) > now() + 60, 'expiresAt is minutes ahead');
  assert.ok(Number(p.resendAfter) >= Number(p.sentAt) + cooldown, 'resendAfter is at least the cooldown after sentAt');
  return p;
}

/** Signed in: DONE, and the ID token names `email`. Returns the ID token's claims. */
async function signedIn(result, email) {
  assert.deepEqual(result, { isSignedIn: true, nextStep: { signInStep: 'DONE' } });
  const { tokens } = await fetchAuthSession();
  assert.equal(tokens.idToken.payload.email, email);
  assert.equal(tokens.idToken.payload.aud, out.UserPoolClientId);
  assert.equal(tokens.accessToken.toString().split('.').length, 3, 'an access token');
  return tokens.idToken.payload;
}

/** Rejects with the function's `token`, as Amplify surfaces it (the emulator's wrapping). */
async function rejectsWith(promise, token) {
  await assert.rejects(promise, (err) => {
    assert.match(err.name, /^(UserLambdaValidationException|InvalidLambdaResponseException)$/, `a trigger error, got ${err.name}: ${err.message}`);
    assert.equal(err.message.match(TOKEN)?.[0], token, err.message);
    return true;
  });
}

const newUser = async () => {
  const email = freshEmail();
  await apiSignUp(out, email);
  return email;
};

test('passwordless (CUSTOM_WITHOUT_SRP): a wrong code leaves one attempt fewer on the same code, then the mailed code signs in', async () => {
  const email = await newUser();
  const first = codeStep(await passwordless(email), email);
  assert.equal(first.attemptsLeft, String(maxAttempts), 'a fresh code in a fresh sign-in: MAX_ATTEMPTS');
  assert.equal(first.resendAfter, String(Number(first.sentAt) + cooldown), 'Resend from sentAt + RESEND_COOLDOWN_SECONDS');
  const mails = await mailFor(out, email);
  assert.equal(mails.length, 1, 'one email');
  const code = codeIn(mails[0]);

  const again = codeStep(await answer(wrongCodeFor(code)), email);
  assert.equal(again.attemptsLeft, String(maxAttempts - 1), 'one attempt fewer');
  for (const k of ['sentAt', 'expiresAt', 'resendAfter']) assert.equal(again[k], first[k], `the same code: ${k} unchanged`);
  assert.equal((await mailFor(out, email)).length, 1, 'a wrong code mails nothing');

  await signedIn(await answer(code), email);
});

test('mfa (CUSTOM_WITH_SRP): the password, then the code; a wrong password is NotAuthorizedException and mails nothing', async () => {
  const email = await newUser();
  await assert.rejects(withPassword(email, `${PASSWORD}-wrong`), (err) => {
    assert.equal(err.name, 'NotAuthorizedException', `${err.name}: ${err.message}`);
    assert.doesNotMatch(err.message, TOKEN, "Cognito's own refusal, not the function's");
    return true;
  });
  assert.equal((await mailFor(out, email)).length, 0, 'no code for a wrong password');

  const p = codeStep(await withPassword(email, PASSWORD), email);
  assert.equal(p.attemptsLeft, String(maxAttempts));
  assert.equal((await mailFor(out, email)).length, 1, 'the password step led to one email');
  await signedIn(await answer(await latestCode(out, email)), email);
});

test('resend (confirmSignIn, clientMetadata action=resend): the same code inside the cooldown, a new one from resendAfter on; a new sign-in reuses it', async () => {
  const email = await newUser();
  const first = codeStep(await passwordless(email), email);
  const code1 = await latestCode(out, email);

  // Amplify refuses an empty answer before sending anything, which is why the resend answers a word.
  await assert.rejects(confirmSignIn({ challengeResponse: '', options: { clientMetadata: { action: 'resend' } } }),
    (err) => err.name === 'EmptyChallengeResponse');

  const kept = codeStep(await resend(), email);
  assert.ok(now() < Number(first.resendAfter), 'still inside the cooldown');
  for (const k of ['sentAt', 'expiresAt', 'resendAfter', 'attemptsLeft']) {
    assert.equal(kept[k], first[k], `inside the cooldown the code stays: ${k} unchanged (not counted either)`);
  }
  assert.equal((await mailFor(out, email)).length, 1, 'no email inside the cooldown');

  // From resendAfter on (the server's clock is this machine's), a resend mails a new code.
  await sleep(Math.max(0, Number(kept.resendAfter) * 1000 - Date.now()));
  const resent = codeStep(await resend(), email);
  assert.ok(Number(resent.sentAt) >= Number(kept.resendAfter), 'sentAt moved: a new code was mailed');
  assert.equal(resent.resendAfter, String(Number(resent.sentAt) + cooldown), 'the next resend counts from the new sentAt');
  assert.equal(resent.attemptsLeft, String(maxAttempts), 'a resend is no attempt');
  const mails = await mailFor(out, email);
  assert.equal(mails.length, 2, 'the resend mailed a second email');
  const code2 = codeIn(mails[1]);
  assert.notEqual(code2, code1);

  // A new sign-in while that code is usable reuses it: nothing mailed, the same sentAt.
  const reused = codeStep(await passwordless(email), email);
  assert.equal(reused.sentAt, resent.sentAt, 'the new sign-in shows when the reused code was mailed');
  assert.equal(reused.expiresAt, resent.expiresAt);
  assert.equal(reused.attemptsLeft, String(maxAttempts));
  assert.equal((await mailFor(out, email)).length, 2, 'the new sign-in mailed nothing');

  // The replaced code is a wrong code now; the new one signs in.
  assert.equal(codeStep(await answer(code1), email).attemptsLeft, String(maxAttempts - 1));
  await signedIn(await answer(code2), email);
});

test('MAX_ATTEMPTS wrong codes: attemptsLeft counts down, then OTP_TOO_MANY_ATTEMPTS (not NotAuthorizedException), and a new sign-in gets it too', async () => {
  const email = await newUser();
  let p = codeStep(await passwordless(email), email);
  const code = await latestCode(out, email);
  const wrong = wrongCodeFor(code);
  for (let left = maxAttempts - 1; left >= 1; left--) {
    p = codeStep(await answer(wrong), email);
    assert.equal(p.attemptsLeft, String(left));
  }
  await rejectsWith(answer(wrong), 'OTP_TOO_MANY_ATTEMPTS');
  // The sign-in is over: the right code gets no tokens in it.
  await assert.rejects(answer(code));
  // A new sign-in inside the cooldown meets the lockout, and nothing is mailed.
  await rejectsWith(passwordless(email), 'OTP_TOO_MANY_ATTEMPTS');
  assert.equal((await mailFor(out, email)).length, 1, 'one email in all');
});

test("sign-up (signUp), then the first code sets email_verified", async () => {
  const email = freshEmail();
  const up = await signUp({ username: email, password: PASSWORD, options: { userAttributes: { email } } });
  assert.equal(up.isSignUpComplete, true, 'PreSignUp confirms the user');
  assert.equal(up.nextStep.signUpStep, 'DONE');
  assert.equal((await mailFor(out, email)).length, 0, 'sign-up itself mails no code');

  codeStep(await passwordless(email), email);
  const claims = await signedIn(await answer(await latestCode(out, email)), email);
  assert.equal(claims.email_verified, true, 'the ID token says the address is verified');
  assert.equal((await fetchUserAttributes()).email_verified, 'true', 'and so does the user (GetUser)');
});
