// The example page (Amplify JS v6) in headless Chromium against the local stack: both flows, a
// wrong code with the attempts left, a reused code and a real resend, the expiry countdown, the
// lockout, what the page shows for each error the function can return and for each way a round can
// end, keyboard use, the email's one-click link (and someone else's link, which must not sign
// anybody in to its account), and a picture of the email. Codes come from the emulator's mailbox
// over HTTP.
// Run from examples/web after `npm run build` and scripts/stack.py up:
//   node --test test/browser.test.mjs
// Screenshots of each step go to $SCREENSHOTS (default .local/screenshots/ in the repository);
// the email's also to docs/img/email.png.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  PASSWORD, STACK_DIR, codeIn, freshEmail, latestCode, linkIn, mailFor, mailboxSize, signUp, stackOutputs,
  startPasswordless, wrongCodeFor,
} from './stack.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS || fileURLToPath(new URL('../../../.local/screenshots/', import.meta.url));
const WRONG_CODE = (left) => `That code isn't right. ${left === 1 ? '1 attempt' : `${left} attempts`} left.`;
const EXPIRED = 'This code has expired. Use Resend to get a new one.';
const ENDED = 'This sign-in has ended. Sign in again to get a new code.';
const GENERIC = 'We could not sign you in. Please try again in a minute.';
// What the page shows for each token the function's errors start with (the server's contract;
// docs/deploying.md, "Errors a sign-in screen shows").
const TOKEN_TEXTS = {
  OTP_TOO_MANY_ATTEMPTS: 'Too many wrong codes. Please wait a minute, then sign in again for a new code.',
  OTP_TOO_MANY_CODES: 'Too many codes were requested. Please wait a while before trying again.',
  OTP_EMAIL_NOT_SENT: 'We could not send your code. Please try again in a minute.',
  OTP_TRY_AGAIN: 'We could not complete your sign-in. Please try again in a minute.',
  OTP_TEMPORARY_PASSWORD: 'This account still has a temporary password. An administrator must set a permanent password before you can sign in.',
  OTP_PASSWORD_RESET_REQUIRED: "This account's password must be reset. An administrator must set a new password before you can sign in.",
  OTP_SIGNUP_NOT_ALLOWED: 'Sign-up is not available for this email address.',
  OTP_DOMAIN_NOT_ALLOWED: "Sign-in codes are not sent to this email address's domain.",
  OTP_NO_EMAIL: 'This account has no email address for sign-in codes.',
  OTP_INVALID_REQUEST: 'The sign-in request could not be processed. Please try again.',
};
const TOO_MANY = TOKEN_TEXTS.OTP_TOO_MANY_ATTEMPTS;
const LINK_REPLACED = 'This link was already used or replaced by a newer code. Enter the latest code from your email.';
const LINK_EXPIRED = 'This sign-in link has expired. Enter your email to get a new code.';
const LINK_WHO = 'Enter your email to continue signing in with this link.';
const ALREADY_SIGNED_IN = (email) => `You are already signed in as ${email}. Sign out first to use this sign-in link.`;
// The email's picture in the docs (README: the default email).
const DOCS_EMAIL = fileURLToPath(new URL('../../../docs/img/email.png', import.meta.url));
// The page server's access log (scripts/web_serve.py): method, path with query, status.
const REQUEST_LOG = `${STACK_DIR}/web-requests.log`;

let out;
let browser;
let context;
let page;
let pageErrors;
let extraContexts;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (set CHROMIUM to its path)`);
  out = await stackOutputs();
  const r = await fetch(out.WebUrl).catch((e) => ({ ok: false, status: e.message }));
  if (!r.ok) throw new Error(`the page is not served at ${out.WebUrl} (${r.status}): npm run build, then scripts/stack.py up`);
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    headless: true,
  });
});

after(async () => {
  await browser?.close();
});

// Script errors and console errors (a CSP violation is one) fail the test that caused them.
// Chromium also logs each HTTP error response ("Failed to load resource"); the API's refusals
// (400 for a wrong password or a lockout) are expected, so those lines are not counted.
function watchErrors(p) {
  p.on('pageerror', (e) => pageErrors.push(e.message));
  p.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  return p;
}

beforeEach(async () => {
  pageErrors = [];
  extraContexts = [];
  context = await browser.newContext({ viewport: { width: 800, height: 720 } });
  page = watchErrors(await context.newPage());
});

afterEach(async () => {
  await context?.close();
  for (const c of extraContexts) await c.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

/** A page in a new browser context: no cookies, storage or history shared with any other. */
async function freshPage(options = { viewport: { width: 800, height: 720 } }) {
  const c = await browser.newContext(options);
  extraContexts.push(c);
  return watchErrors(await c.newPage());
}

const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png` });
const text = (sel) => page.locator(sel).innerText();
const focusedId = () => page.evaluate(() => document.activeElement?.id);

async function open() {
  await page.goto(out.WebUrl);
  // Continue is enabled once config.json is loaded, and the email field then has focus.
  await page.locator('#start-submit:enabled').waitFor();
}

async function waitForCodeStep() {
  await page.locator('#code-form').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await focusedId(), 'code', 'focus moves to the code field');
}

// A new user, signed up, and the page at the code step of a passwordless sign-in (one email sent).
async function newUserAtCodeStep() {
  const email = freshEmail();
  await signUp(out, email);
  await open();
  await page.locator('#email').fill(email);
  await page.locator('#email').press('Enter');
  await waitForCodeStep();
  return email;
}

async function expectError(message) {
  await page.locator('#error', { hasText: message }).waitFor({ timeout: 10_000 });
}

async function expectSignedIn(email) {
  await page.locator('#done').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await text('h1'), 'Signed in');
  assert.equal(await text('#who'), email);
}

const SENT_NEW = /^We sent a 6-digit code to \S+\*\*\*@\S+ at \d\d:\d\d\.$/;
const SENT_REUSED = /^We sent a code to \S+\*\*\*@\S+ at \d\d:\d\d; it is still valid\. Didn't get it\? Use Resend\.$/;

test('passwordless: wrong code, a new sign-in reuses the mailed code, resend mails a new one, signed in (keyboard only)', async () => {
  const email = freshEmail();
  await signUp(out, email);
  await open();
  assert.equal(await focusedId(), 'email', 'the email field has focus at load');
  await shot('01-start');

  // Keyboard only: type the address, Enter submits the form.
  const lastChallenge = nextChallenge(page);
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');
  await waitForCodeStep();

  const input = page.locator('#code');
  assert.equal(await input.getAttribute('autocomplete'), 'one-time-code');
  assert.equal(await input.getAttribute('inputmode'), 'numeric');
  assert.equal(await input.getAttribute('maxlength'), '6');
  assert.equal(await input.getAttribute('pattern'), '[0-9]{6}');
  assert.equal(await page.locator('label[for="code"]').count(), 1, 'the code field has a label');
  const sentTo = await text('#sent-to');
  assert.match(sentTo, SENT_NEW, 'the masked destination and the time the code was sent');
  assert.ok(!sentTo.includes(email), 'the full address is not shown');
  assert.match(await text('#expiry'), /^Code valid for [45]:\d\d$/);
  assert.equal(await page.locator('#resend').isDisabled(), true, 'Resend waits for the cooldown');
  const [wait] = (await text('#resend')).match(/^Resend in (\d+) s$/)?.slice(1) ?? [];
  const params = await lastChallenge;
  const expected = Number(params.resendAfter) - Date.now() / 1000;
  assert.ok(Math.abs(Number(wait) - expected) <= 1.5, `the countdown runs to resendAfter (${wait} s shown, ${expected.toFixed(1)} s left)`);
  await shot('02-code');

  const first = await mailFor(out, email);
  assert.equal(first.length, 1, 'one email was sent');
  const code1 = codeIn(first[0]);

  // A wrong code, typed and submitted with Enter.
  await page.keyboard.type(wrongCodeFor(code1));
  await page.keyboard.press('Enter');
  await expectError(WRONG_CODE(2));
  assert.equal(await input.inputValue(), '', 'the field is cleared for another try');
  assert.equal(await focusedId(), 'code', 'focus is back on the code field');
  await shot('03-wrong-code');

  // Once the cooldown is over, start over and sign in again: the mailed code is still valid, so
  // the new sign-in reuses it and sends nothing, and the page says when it was sent.
  // (A second past the page's cooldown: the server's whole-second sentAt is then surely over the
  // cooldown behind, and the page's reuse threshold too.)
  await page.locator('#resend:enabled').waitFor({ timeout: (out.ResendCooldownSeconds + 5) * 1000 });
  await page.waitForTimeout(1000);
  await page.locator('#restart').focus();
  await page.keyboard.press('Enter');
  await page.locator('#start-form').waitFor({ state: 'visible' });
  assert.equal(await focusedId(), 'email', 'Start over puts focus on the email field');
  assert.equal(await page.locator('#email').inputValue(), email, 'the address is kept');
  await page.keyboard.press('Enter');
  await waitForCodeStep();
  assert.match(await text('#sent-to'), SENT_REUSED, 'the page says the code mailed before is still valid');
  assert.equal((await mailFor(out, email)).length, 1, 'the new sign-in sent no email');
  assert.equal(await page.locator('#resend').isDisabled(), false, "Resend is ready: the code's cooldown is over");
  await shot('04-reused');

  // Resend: a real resend, a new email with a new code.
  await page.locator('#resend').focus();
  await page.keyboard.press('Enter');
  await page.locator('#status', { hasText: 'A new code was sent to' }).waitFor({ timeout: 10_000 });
  const mails = await mailFor(out, email);
  assert.equal(mails.length, 2, 'the resend mailed a second email');
  const code2 = codeIn(mails[1]);
  assert.notEqual(code2, code1, 'the resent code is a new one');
  assert.match(await text('#sent-to'), SENT_NEW, 'the time is the new email\'s');
  assert.equal(await page.locator('#resend').isDisabled(), true, 'the cooldown restarts after a send');
  assert.equal(await focusedId(), 'code');
  await shot('05-resent');

  await page.keyboard.type(code2);
  await page.keyboard.press('Enter');
  await expectSignedIn(email);
  await shot('06-signed-in');
  // Web storage holds no token, only which account signed in here (for its links' one click).
  const stored = await page.evaluate(() => ({ local: { ...localStorage }, session: sessionStorage.length }));
  assert.deepEqual(Object.keys(stored.local), ['cognito-email-otp.accounts'], 'one entry in localStorage');
  const names = JSON.parse(stored.local['cognito-email-otp.accounts']);
  assert.equal(names.length, 2, 'two names of the account');
  assert.equal(names[0], email, 'the address typed, and the Cognito username');
  assert.equal(stored.session, 0, 'nothing in sessionStorage');
  assert.ok(![code1, code2].some((c) => page.url().includes(c)), 'no code in the URL');

  await page.locator('#sign-out').click();
  await page.locator('#start-form').waitFor({ state: 'visible' });
  assert.equal(await focusedId(), 'email', 'after sign-out focus is on the email field');
});

test('mfa: email and password, then the code, signed in', async () => {
  const email = freshEmail();
  await signUp(out, email);
  await open();
  await page.locator('#email').fill(email);
  await page.getByLabel('Password (only if your account uses a password and a code)').fill(PASSWORD);
  await shot('07-mfa-password');
  await page.locator('#start-submit').click();
  await waitForCodeStep();
  assert.equal((await mailFor(out, email)).length, 1, 'one email after the password step');
  await page.locator('#code').fill(await latestCode(out, email));
  await page.locator('#code-submit').click();
  await expectSignedIn(email);
  await shot('08-mfa-signed-in');
});

test('mfa: a wrong password stays on the first step and sends no code', async () => {
  const email = freshEmail();
  await signUp(out, email);
  await open();
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(`${PASSWORD}-wrong`);
  await page.locator('#password').press('Enter');
  await expectError('That email and password do not match.');
  assert.equal(await page.locator('#start-form').isVisible(), true);
  assert.equal(await page.locator('#password').inputValue(), '', 'the password field is cleared');
  assert.equal((await mailFor(out, email)).length, 0, 'no code was mailed');
  await shot('09-mfa-wrong-password');
});

test('expiry: when the countdown reaches 0 the page says the code has expired', async () => {
  // The page's clock, not the server's, is moved on: only the countdown is tested here.
  await page.clock.install();
  await newUserAtCodeStep();
  await page.clock.fastForward('05:01');
  await expectError(EXPIRED);
  assert.equal(await text('#expiry'), 'Code expired');
  await shot('10-expired');
});

test('too many wrong codes: the attempts left count down, then the lockout text, back to the first step; a new sign-in is locked for now', async () => {
  const email = await newUserAtCodeStep();
  const wrong = wrongCodeFor(await latestCode(out, email));
  for (const left of [2, 1]) {
    await page.locator('#code').fill(wrong);
    await page.locator('#code').press('Enter');
    await expectError(WRONG_CODE(left));
  }
  // The last wrong code: the function's OTP_TOO_MANY_ATTEMPTS, not Cognito's wrong-password text.
  const last = page.waitForResponse((r) => r.url().startsWith(out.Endpoint) && r.request().method() === 'POST');
  await page.locator('#code').fill(wrong);
  await page.locator('#code').press('Enter');
  assert.match(await (await last).text(), /OTP_TOO_MANY_ATTEMPTS/);
  await expectError(TOO_MANY);
  assert.equal(await page.locator('#start-form').isVisible(), true, 'back to the first step');
  assert.equal(await focusedId(), 'email');
  assert.equal(await page.locator('#email').inputValue(), email, 'the address is kept');
  await shot('11-too-many');

  // Signing in again at once meets the lockout brake: the same token, the same text.
  const again = page.waitForResponse((r) => r.url().startsWith(out.Endpoint) && r.request().method() === 'POST');
  await page.keyboard.press('Enter');
  const refused = await again;
  assert.equal(refused.request().headers()['x-amz-target'], 'AWSCognitoIdentityProviderService.InitiateAuth');
  assert.match(await refused.text(), /OTP_TOO_MANY_ATTEMPTS/);
  await expectError(TOO_MANY);
  assert.equal(await text('#error'), TOO_MANY, 'only the text is shown: no token, exception or trigger name');
  assert.equal((await mailFor(out, email)).length, 1, 'nothing more was mailed');
});

// ---- what the page shows for each error and each kind of round ----

const API_TARGET = 'AWSCognitoIdentityProviderService.';
/** Answers the page's next call to `action` with `reply` (a status and a JSON body) instead of the
 * emulator, with the CORS header the emulator's guard gives the page. Once. */
async function fakeNext(p, action, reply) {
  await p.route((url) => url.href.startsWith(out.Endpoint), async (route) => {
    const request = route.request();
    if (request.method() !== 'POST' || request.headers()['x-amz-target'] !== API_TARGET + action) return route.fallback();
    const { status, body } = typeof reply === 'function' ? await reply(route) : reply;
    await route.fulfill({
      status,
      contentType: 'application/x-amz-json-1.1',
      headers: { 'access-control-allow-origin': new URL(out.WebUrl).origin, ...(status >= 400 ? { 'x-amzn-errortype': body.__type } : {}) },
      body: JSON.stringify(body),
    });
  }, { times: 1 });
}

/** The ChallengeParameters of the next API answer `p` gets that has any. */
function nextChallenge(p) {
  return p.waitForResponse(async (r) => r.url().startsWith(out.Endpoint) && r.request().method() === 'POST'
    && r.ok() && Boolean((await r.json()).ChallengeParameters)).then(async (r) => (await r.json()).ChallengeParameters);
}

test('errors: each token is shown as its text, wrapped as on AWS or as in the emulator; an unknown token gets the generic text', async () => {
  const email = freshEmail(); // no call reaches the pool: every InitiateAuth below is answered here
  await open();
  const cases = Object.entries(TOKEN_TEXTS).flatMap(([token, textFor], i) => [
    // AWS: UserLambdaValidationException, "<Trigger> failed with error <message>."
    [`UserLambdaValidationException`, `CreateAuthChallenge failed with error ${token}: ${textFor}.`, textFor],
    // The emulator: InvalidLambdaResponseException, the function's error object in the message.
    [`InvalidLambdaResponseException`,
      `${i % 2 ? 'DefineAuthChallenge' : 'CreateAuthChallenge'} returned error: {'errorType': 'X', 'errorMessage': '${token}: ${textFor}'}`, textFor],
  ]);
  cases.push(['UserLambdaValidationException', 'CreateAuthChallenge failed with error OTP_SOMETHING_NEW: Whatever it says.', GENERIC]);
  for (const [type, message, shown] of cases) {
    await fakeNext(page, 'InitiateAuth', { status: 400, body: { __type: type, message } });
    await page.locator('#email').fill(email);
    await page.locator('#email').press('Enter');
    await page.locator('#error', { hasText: shown }).waitFor({ timeout: 5_000 });
    assert.equal(await text('#error'), shown, `${type}: ${message}`);
    assert.equal(await page.locator('#start-form').isVisible(), true, 'the sign-in ended: the first step');
    await page.locator('#start-submit:enabled').waitFor();
  }
  await shot('17-error-token');
});

test("rounds: a code that had expired (sentAt moved), a Resend far off (the send limit), and Cognito's end of the session", async () => {
  const email = await newUserAtCodeStep();
  const code = await latestCode(out, email);
  const at = Math.floor(Date.now() / 1000);

  // The answer's next round as the function gives it after an expired code: counted, and a new code
  // mailed (sentAt and expiresAt move). Faked here from the real wrong-code round, since a code
  // lives 5 minutes. Its resendAfter is the send limit's, half an hour off.
  await fakeNext(page, 'RespondToAuthChallenge', async (route) => {
    const real = await route.fetch();
    const body = await real.json();
    Object.assign(body.ChallengeParameters, {
      sentAt: String(at + 1), expiresAt: String(at + 301), resendAfter: String(at + 1801),
    });
    return { status: real.status(), body };
  });
  await page.locator('#code').fill(wrongCodeFor(code));
  await page.locator('#code').press('Enter');
  await expectError(`That code had expired, so we sent a new one to ${email[0]}***@e***.test. Enter the new code.`);
  assert.match(await text('#sent-to'), SENT_NEW, "the new code's time");
  assert.equal(await page.locator('#resend').isDisabled(), true);
  const hhmm = (s) => new Date(s * 1000).toTimeString().slice(0, 5);
  assert.ok([hhmm(at + 1800), hhmm(at + 1801), hhmm(at + 1802)].includes((await text('#resend')).replace('Resend at ', '')),
    `a far resendAfter is shown as a time: ${await text('#resend')}`);
  await shot('18-code-replaced');

  // Cognito ends a sign-in left open past the app client's AuthSessionValidity.
  await fakeNext(page, 'RespondToAuthChallenge', {
    status: 400, body: { __type: 'NotAuthorizedException', message: 'Invalid session for the user, session is expired.' },
  });
  await page.locator('#code').fill(code);
  await page.locator('#code').press('Enter');
  await expectError(ENDED);
  assert.equal(await page.locator('#start-form').isVisible(), true, 'the first step');
});

// ---- the one-click link in a passwordless email ----

/** The user pool API calls a page makes, by name (InitiateAuth, RespondToAuthChallenge, …). */
function apiCalls(p) {
  const calls = [];
  p.on('request', (r) => {
    if (r.url().startsWith(out.Endpoint) && r.method() === 'POST') {
      calls.push((r.headers()['x-amz-target'] ?? r.url()).replace(/^AWSCognitoIdentityProviderService\./, ''));
    }
  });
  return calls;
}

const requestLog = () => (existsSync(REQUEST_LOG) ? readFileSync(REQUEST_LOG, 'utf8') : '');

/** A new user's sign-in link: signed up, a passwordless sign-in started in Node and left
 * unanswered, and the link from its email. Sent to someone else, it is a login CSRF's bait. */
async function newUserLink() {
  const email = freshEmail();
  await signUp(out, email);
  const { ChallengeParameters: { sentAt } } = await startPasswordless(out, email);
  return { email, sentAt: Number(sentAt), link: linkIn((await mailFor(out, email)).at(-1)) };
}

/** `p` took a link for an account this browser has not signed in to: it asks for the address,
 * with nothing filled in from the link and no call to the pool yet. */
async function expectAddressAsked(p, calls) {
  await p.locator('#status', { hasText: LINK_WHO }).or(p.locator('#done:visible')).waitFor({ timeout: 10_000 });
  assert.equal(await p.locator('#done').isVisible(), false, 'not signed in to the account the link names');
  assert.equal(await p.locator('#start-form').isVisible(), true, 'the start form');
  assert.equal(await p.locator('#email').inputValue(), '', 'the email field is empty');
  assert.equal(await p.locator('#password').isVisible(), false, 'no password: links are passwordless');
  assert.equal(await p.evaluate(() => document.activeElement?.id), 'email');
  assert.equal(p.url(), out.WebUrl, 'the fragment is gone');
  assert.deepEqual(calls, [], 'no call to the user pool');
}

// Each of these signs up a new user rather than using the demo user: a user gets at most
// SendLimit (5) codes an hour, so runs repeated against one stack would meet that limit.

test("link sign-in: the owner's link asks a new browser for the address, then signs in sending nothing; in that browser the next link takes one click; no code reaches the server", async () => {
  // A passwordless sign-in through the page mails the code and its link.
  const email = await newUserAtCodeStep();
  const mail = (await mailFor(out, email)).at(-1);
  const link = linkIn(mail);
  const code = codeIn(mail);
  const url = new URL(link);
  assert.equal(`${url.origin}${url.pathname}`, out.WebUrl, 'the link opens the page');
  assert.equal(url.search, '', 'nothing of the sign-in in the query, which servers log');
  const fragment = new URLSearchParams(url.hash.slice(1));
  assert.equal(fragment.get('code'), code, "the link holds the email's code");
  assert.match(fragment.get('expiresAt'), /^\d+$/);
  assert.ok(fragment.get('username'), 'and the Cognito username');
  const mailCount = await mailboxSize(out);
  const logStart = requestLog().length;

  // Clicked in a browser that never signed in to this account: the page asks whose it is, and the
  // owner's address gets a sign-in that reuses the mailed code, answered with the link's.
  const first = await freshPage();
  const firstCalls = apiCalls(first);
  await first.goto(link);
  await expectAddressAsked(first, firstCalls);
  await first.screenshot({ path: `${SHOTS}/12-link-asks-address.png` });
  await first.locator('#email').fill(email);
  await first.locator('#email').press('Enter');
  await first.locator('#done').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await first.locator('#who').innerText(), email);
  assert.equal(await first.locator('h1').innerText(), 'Signed in');
  assert.equal(await mailboxSize(out), mailCount, 'the click sent no email');
  assert.deepEqual(firstCalls, ['InitiateAuth', 'RespondToAuthChallenge'], "a sign-in answered with the link's code");
  await first.screenshot({ path: `${SHOTS}/13-link-signed-in.png` });
  // The history entry was replaced, so a reload does not replay the link.
  await first.reload();
  await first.locator('#start-submit:enabled').waitFor();
  assert.equal(await first.locator('#start-form').isVisible(), true, 'a reload shows the start form');
  assert.equal(await first.locator('#error').innerText(), '');
  assert.equal(await first.locator('#status').innerText(), '');

  // The same link again: its code was used. The page does not answer with it (that would spend
  // an attempt); it asks for the latest code. This sign-in mails a new code, as any would.
  const second = await freshPage();
  const secondCalls = apiCalls(second);
  await second.goto(link);
  await expectAddressAsked(second, secondCalls);
  await second.locator('#email').fill(email);
  await second.locator('#email').press('Enter');
  await second.locator('#error', { hasText: LINK_REPLACED }).waitFor({ timeout: 10_000 });
  assert.equal(await second.locator('#code-form').isVisible(), true, 'the code step, to enter the latest code');
  assert.equal(await second.locator('#done').isVisible(), false, 'not signed in');
  assert.deepEqual(secondCalls, ['InitiateAuth'], 'the used code was not sent as an answer');
  assert.equal(await second.evaluate(() => document.activeElement?.id), 'code');
  assert.ok(!second.url().includes(code), 'no code in the address bar');
  await second.screenshot({ path: `${SHOTS}/14-link-used.png` });

  // That new code's link, opened in a new tab of the browser that signed in: one click.
  const next = linkIn((await mailFor(out, email)).at(-1));
  assert.notEqual(next, link, 'a new code, a new link');
  const mailCountNext = await mailboxSize(out);
  const tab = watchErrors(await first.context().newPage());
  const tabCalls = apiCalls(tab);
  await tab.goto(next);
  await tab.locator('#done').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await tab.locator('#who').innerText(), email);
  assert.deepEqual(tabCalls, ['InitiateAuth', 'RespondToAuthChallenge'], 'no address asked: one click');
  assert.equal(await mailboxSize(out), mailCountNext, 'the click sent no email');
  assert.equal(tab.url(), out.WebUrl, 'the fragment, code and all, is gone from the address bar');

  // What the page server saw: the page, never the fragment.
  const log = requestLog().slice(logStart);
  assert.match(log, /^GET \/ 200$/m, 'the access log records the page the link opened');
  assert.ok(![code, codeIn((await mailFor(out, email)).at(-1))].some((c) => log.includes(c)), 'no code reached the page server');
  assert.ok(!log.includes('username=') && !log.includes('expiresAt='), 'nor the rest of the fragment');
});

// Login CSRF: someone starts a passwordless sign-in for their own account and sends the link of
// its email to a victim. Both addresses are t-…@example.test, so both are masked t***@e***.test:
// the mask would not have told the victim whose account it is.
test("link sign-in: someone else's link asks a new browser for the address, and the victim's own address never gets into the sender's account", async () => {
  const sender = await newUserLink();
  const victim = freshEmail();
  await signUp(out, victim);
  // The page answers with a link's code only when the challenge has the link's expiresAt (whole
  // seconds). A victim's code mailed in the same second as the sender's would share it, and the
  // page would try the sender's code on the victim's account: a wrong code, no way in, but one
  // attempt spent. This test is about the usual case, so the victim's code comes a second later.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, (sender.sentAt + 1) * 1000 - Date.now())));

  const p = await freshPage();
  const calls = apiCalls(p);
  await p.goto(sender.link);
  await expectAddressAsked(p, calls);

  // The victim types their own address: a sign-in for the victim's account, whose challenge is
  // not the link's, so the sender's code is not even sent.
  await p.locator('#email').fill(victim);
  await p.locator('#email').press('Enter');
  await p.locator('#error', { hasText: LINK_REPLACED }).or(p.locator('#done:visible')).waitFor({ timeout: 10_000 });
  assert.equal(await p.locator('#done').isVisible(), false, 'not signed in by the link');
  assert.deepEqual(calls, ['InitiateAuth'], "the sender's code was not answered");
  assert.equal((await mailFor(out, victim)).length, 1, "a code went to the victim's own mailbox");
  // Typed in by hand, the sender's code is an ordinary wrong code for the victim's account.
  await p.locator('#code').fill(codeIn((await mailFor(out, sender.email)).at(-1)));
  await p.locator('#code').press('Enter');
  await p.locator('#error', { hasText: WRONG_CODE(2) }).waitFor({ timeout: 10_000 });
  assert.equal(await p.locator('#done').isVisible(), false, 'not signed in');
  // The victim's own code signs in to the victim's own account.
  await p.locator('#code').fill(await latestCode(out, victim));
  await p.locator('#code').press('Enter');
  await p.locator('#done').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await p.locator('#who').innerText(), victim);
});

test('link sign-in: a link opened in a signed-in tab (hashchange) or a new tab (load) leaves the session as it is', async () => {
  const sender = await newUserLink();
  const email = await newUserAtCodeStep();
  await page.locator('#code').fill(await latestCode(out, email));
  await page.locator('#code').press('Enter');
  await expectSignedIn(email);
  const calls = apiCalls(page);

  // In the signed-in tab: only the fragment changes (a hashchange), and the page says why it
  // does nothing with the link.
  await page.goto(sender.link);
  await page.locator('#error', { hasText: ALREADY_SIGNED_IN(email) }).or(page.locator('#who', { hasNotText: email }))
    .waitFor({ timeout: 10_000 });
  assert.equal(await text('#who'), email, 'still signed in to their own account');
  assert.equal(await text('#error'), ALREADY_SIGNED_IN(email));
  assert.equal(page.url(), out.WebUrl, 'the fragment is gone');
  await shot('15-link-while-signed-in');
  // The same, set by a script in the page rather than by a navigation.
  await page.evaluate((hash) => { location.hash = hash; }, new URL(sender.link).hash);
  await page.waitForFunction(() => location.hash === '');
  assert.equal(await text('#error'), ALREADY_SIGNED_IN(email));
  await expectSignedIn(email);
  assert.deepEqual(calls, [], 'no call to the user pool');

  // A new tab of the same browser loads the page anew, with no session in it: the sender's link
  // asks for the address there, and the first tab is still signed in to its own account.
  const tab = watchErrors(await context.newPage());
  const tabCalls = apiCalls(tab);
  await tab.goto(sender.link);
  await expectAddressAsked(tab, tabCalls);
  await expectSignedIn(email);
});

test('link sign-in: an expired link starts no sign-in and asks for the email', async () => {
  const { link } = await newUserLink();
  const expired = link.replace(/expiresAt=\d+/, `expiresAt=${Math.floor(Date.now() / 1000) - 60}`);
  assert.notEqual(expired, link);
  const mailCount = await mailboxSize(out);

  const p = await freshPage();
  const calls = [];
  p.on('request', (r) => { if (r.url().startsWith(out.Endpoint)) calls.push(`${r.method()} ${r.url()}`); });
  await p.goto(expired);
  await p.locator('#error', { hasText: LINK_EXPIRED }).waitFor({ timeout: 10_000 });
  assert.equal(await p.locator('#start-form').isVisible(), true, 'the start form');
  assert.equal(await p.locator('#email').inputValue(), '', 'the email field is empty: never filled from a link');
  assert.equal(await p.evaluate(() => document.activeElement?.id), 'email');
  assert.equal(p.url(), out.WebUrl, 'the fragment is gone');
  await p.screenshot({ path: `${SHOTS}/16-link-expired.png` });
  await p.waitForTimeout(1000); // time for a sign-in that should not happen
  assert.deepEqual(calls, [], 'no call to the user pool');
  assert.equal(await mailboxSize(out), mailCount, 'no email');
});

test('the email: a passwordless email, rendered (.local/screenshots/email.png, docs/img/email.png)', async () => {
  const email = freshEmail();
  await signUp(out, email);
  await startPasswordless(out, email);
  const mail = (await mailFor(out, email)).at(-1);
  const code = codeIn(mail);
  linkIn(mail); // a passwordless email, with its link
  assert.match(mail.Subject, /sign-in code/);
  assert.ok(!/<script|<img|src=|url\(/i.test(mail.BodyHtml), 'self-contained: no script, image or remote style');

  const p = await freshPage({ viewport: { width: 640, height: 700 } });
  const requests = [];
  p.on('request', (r) => requests.push(r.url()));
  await p.setContent(mail.BodyHtml, { waitUntil: 'load' });
  assert.deepEqual(requests.filter((u) => !u.startsWith('data:') && u !== 'about:blank'), [], 'it loads nothing');
  const box = await p.evaluate(() => ({
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  }));
  assert.ok(box.width <= 640 && box.height <= 700, `the email fits 640x700 (${box.width}x${box.height})`);
  assert.equal(await p.getByRole('link', { name: /Sign in/ }).isVisible(), true, 'the one-click button');
  assert.equal(await p.getByText(code, { exact: true }).isVisible(), true, 'the code');
  await p.screenshot({ path: `${SHOTS}/email.png` });
  // The docs' copy shows a fixed example code, so the committed picture changes only when the
  // email's look does, not with every run's random code.
  await p.setContent(mail.BodyHtml.replaceAll(code, '428613'), { waitUntil: 'load' });
  await p.screenshot({ path: DOCS_EMAIL });
});
