// amazon-cognito-identity-js in Node, called as the browser page calls it, against the deployed
// local stack. Run from examples/web: node --test test/identity.test.mjs (STACK_DIR picks the stack).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AuthenticationDetails, CognitoUser } from 'amazon-cognito-identity-js';
import {
  PASSWORD, codeIn, freshEmail, latestCode, mailFor, signUp, stackOutputs, userPool, wrongCodeFor,
} from './stack.mjs';

let out;
let pool;

before(async () => {
  out = await stackOutputs();
  pool = userPool(out);
});

// One identity-js call as a promise: {challenge} on CUSTOM_CHALLENGE, {session} on tokens,
// rejected on onFailure. Any other callback (an unexpected challenge) rejects too.
function call(start) {
  return new Promise((resolve, reject) => start({
    onSuccess: (session) => resolve({ session }),
    onFailure: reject,
    customChallenge: (challenge) => resolve({ challenge }),
    newPasswordRequired: () => reject(new Error('unexpected NEW_PASSWORD_REQUIRED')),
    mfaRequired: () => reject(new Error('unexpected SMS_MFA')),
    totpRequired: () => reject(new Error('unexpected SOFTWARE_TOKEN_MFA')),
  }));
}

function cognitoUser(email) {
  const user = new CognitoUser({ Username: email, Pool: pool });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  return user;
}

const passwordless = (user, email) =>
  call((cb) => user.initiateAuth(new AuthenticationDetails({ Username: email }), cb));
const withPassword = (user, email, password) =>
  call((cb) => user.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), cb));
const answer = (user, code) => call((cb) => user.sendCustomChallengeAnswer(code, cb));

function assertChallenge(result, email) {
  assert.ok(result.challenge, `a CUSTOM_CHALLENGE, got ${Object.keys(result)}`);
  const p = result.challenge;
  assert.equal(p.codeLength, '6');
  assert.equal(p.delivery, 'EMAIL');
  assert.match(p.destination, /\*\*\*/, 'the destination is masked');
  assert.ok(!p.destination.includes(email.split('@')[0]), 'the destination does not show the address');
  const left = Number(p.expiresAt) - Date.now() / 1000;
  assert.ok(left > 60 && left <= 3600, `expiresAt is in the future (${left.toFixed(0)} s)`);
  // sentAt: when the code was mailed, in whole seconds (a page says "we sent a code at 10:42").
  assert.match(p.sentAt, /^[0-9]+$/);
  const ago = Date.now() / 1000 - Number(p.sentAt);
  assert.ok(ago > -5 && ago < 3600, `sentAt is in the past (${ago.toFixed(0)} s ago)`);
  assert.ok(Number(p.expiresAt) > Number(p.sentAt), 'the code expires after it was sent');
  return p;
}

async function assertTokens(result, email) {
  assert.ok(result.session, `tokens, got ${Object.keys(result)}`);
  const claims = result.session.getIdToken().decodePayload();
  assert.equal(claims.email, email);
  assert.equal(claims.token_use, 'id');
  assert.equal(claims.aud, out.UserPoolClientId);
  assert.ok(result.session.getAccessToken().getJwtToken().split('.').length === 3, 'an access token');
  return claims;
}

test('passwordless: a wrong code is asked again with the same expiresAt, then the mailed code signs in', async () => {
  const email = freshEmail();
  const signedUp = await signUp(pool, email);
  assert.equal(signedUp.userConfirmed, true, 'PreSignUp confirms the user');

  const user = cognitoUser(email);
  const first = assertChallenge(await passwordless(user, email), email);
  const mails = await mailFor(out, email);
  assert.equal(mails.length, 1, 'one email was sent');
  const code = codeIn(mails[0]);

  const retry = assertChallenge(await answer(user, wrongCodeFor(code)), email);
  assert.equal(retry.expiresAt, first.expiresAt, 'the same code stays valid after a wrong answer');
  assert.equal(retry.sentAt, first.sentAt, 'and was sent when it was');
  assert.equal((await mailFor(out, email)).length, 1, 'a wrong answer sends no email');

  const claims = await assertTokens(await answer(user, code), email);
  assert.equal(claims.email_verified, true, 'the first correct code verifies the email');
});

test('mfa: the right password, then the code, signs in', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  const user = cognitoUser(email);
  assertChallenge(await withPassword(user, email, PASSWORD), email);
  assert.equal((await mailFor(out, email)).length, 1, 'the password step led to one email');
  await assertTokens(await answer(user, await latestCode(out, email)), email);
});

test('mfa: a wrong password fails with NotAuthorizedException and sends no email', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  const before = (await mailFor(out, email)).length;
  await assert.rejects(withPassword(cognitoUser(email), email, `${PASSWORD}-wrong`), (err) => {
    assert.equal(err.code, 'NotAuthorizedException');
    return true;
  });
  assert.equal((await mailFor(out, email)).length, before, 'no code was mailed');

  // The same address, right password: mail does arrive, so the count above can tell.
  const user = cognitoUser(email);
  assertChallenge(await withPassword(user, email, PASSWORD), email);
  assert.equal((await mailFor(out, email)).length, before + 1, 'the right password mails a code');
});

test('passwordless: three wrong codes end the sign-in, and the real code is then refused', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  const user = cognitoUser(email);
  assertChallenge(await passwordless(user, email), email);
  const code = await latestCode(out, email);
  const wrong = wrongCodeFor(code);

  assertChallenge(await answer(user, wrong), email);
  assertChallenge(await answer(user, wrong), email);
  await assert.rejects(answer(user, wrong), (err) => {
    assert.equal(err.code, 'NotAuthorizedException');
    return true;
  });
  // The session is over: the right code in it gets no tokens (AWS and the emulator word the
  // refusal differently, so only the refusal itself is asserted).
  await assert.rejects(answer(user, code), (err) => {
    assert.ok(err.code, `a service error, got ${err}`);
    return true;
  });
  // And a new sign-in is refused for now with the trigger's fixed text (CodeLocked).
  await assert.rejects(passwordless(cognitoUser(email), email), (err) => {
    assert.match(err.message, /Too many wrong codes\. Please wait a minute, then sign in again for a new code\./);
    return true;
  });
});
