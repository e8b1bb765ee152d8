// The example page in headless Chromium against the local stack: both flows, a wrong code, a
// real resend, the expiry countdown, the lockout, keyboard use. Codes come from the emulator's
// mailbox over HTTP. Run from examples/web after `npm run build` and scripts/stack.py up:
//   node --test test/browser.test.mjs
// Screenshots of each step go to $SCREENSHOTS (default .local/screenshots/ in the repository).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  PASSWORD, codeIn, freshEmail, latestCode, mailFor, signUp, stackOutputs, userPool, wrongCodeFor,
} from './stack.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS || fileURLToPath(new URL('../../../.local/screenshots/', import.meta.url));
const WRONG_CODE = "That code isn't right. Check the email and try again.";
const EXPIRED = 'This code has expired. Use Resend to get a new one.';
const TOO_MANY = 'Too many wrong codes. Sign in again to get a new code.';

let out;
let pool;
let browser;
let context;
let page;
let pageErrors;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (set CHROMIUM to its path)`);
  out = await stackOutputs();
  const r = await fetch(out.WebUrl).catch((e) => ({ ok: false, status: e.message }));
  if (!r.ok) throw new Error(`the page is not served at ${out.WebUrl} (${r.status}): npm run build, then scripts/stack.py up`);
  pool = userPool(out);
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

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 800, height: 720 } });
  page = await context.newPage();
  // Script errors and console errors (a CSP violation is one) fail the test that caused them.
  // Chromium also logs each HTTP error response ("Failed to load resource"); the API's refusals
  // (400 for a wrong password or a lockout) are expected, so those lines are not counted.
  pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
});

afterEach(async () => {
  await context?.close();
  assert.deepEqual(pageErrors, [], 'no errors in the page');
});

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

async function expectError(message) {
  await page.locator('#error', { hasText: message }).waitFor({ timeout: 10_000 });
}

async function expectSignedIn(email) {
  await page.locator('#done').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await text('h1'), 'Signed in');
  assert.equal(await text('#who'), email);
}

test('passwordless: wrong code, resend after the cooldown, new code, signed in (keyboard only)', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  await open();
  assert.equal(await focusedId(), 'email', 'the email field has focus at load');
  await shot('01-start');

  // Keyboard only: type the address, Enter submits the form.
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
  assert.match(sentTo, /\*\*\*@/, 'the masked destination is shown');
  assert.ok(!sentTo.includes(email), 'the full address is not shown');
  assert.match(await text('#expiry'), /^Code valid for [45]:\d\d$/);
  assert.equal(await page.locator('#resend').isDisabled(), true, 'Resend waits for the cooldown');
  assert.match(await text('#resend'), /^Resend in \d+ s$/);
  await shot('02-code');

  const first = await mailFor(out, email);
  assert.equal(first.length, 1, 'one email was sent');
  const code1 = codeIn(first[0]);

  // A wrong code, typed and submitted with Enter.
  await page.keyboard.type(wrongCodeFor(code1));
  await page.keyboard.press('Enter');
  await expectError(WRONG_CODE);
  assert.equal(await input.inputValue(), '', 'the field is cleared for another try');
  assert.equal(await focusedId(), 'code', 'focus is back on the code field');
  await shot('03-wrong-code');

  // Resend once the page's cooldown is over; the server's started a moment earlier, so this is
  // a real resend: a new email with a new code.
  await page.locator('#resend:enabled').waitFor({ timeout: (out.ResendCooldownSeconds + 5) * 1000 });
  await page.locator('#resend').focus();
  await page.keyboard.press('Enter');
  await page.locator('#status', { hasText: 'A new code was sent to' }).waitFor({ timeout: 10_000 });
  const mails = await mailFor(out, email);
  assert.equal(mails.length, 2, 'the resend mailed a second email');
  const code2 = codeIn(mails[1]);
  assert.notEqual(code2, code1, 'the resent code is a new one');
  assert.equal(await page.locator('#resend').isDisabled(), true, 'the cooldown restarts after a send');
  assert.equal(await focusedId(), 'code');
  await shot('04-resent');

  await page.keyboard.type(code2);
  await page.keyboard.press('Enter');
  await expectSignedIn(email);
  await shot('05-signed-in');
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0, 'nothing in web storage');
  assert.ok(![code1, code2].some((c) => page.url().includes(c)), 'no code in the URL');

  await page.locator('#sign-out').click();
  await page.locator('#start-form').waitFor({ state: 'visible' });
  assert.equal(await focusedId(), 'email', 'after sign-out focus is on the email field');
});

test('mfa: email and password, then the code, signed in', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  await open();
  await page.locator('#email').fill(email);
  await page.getByLabel('Password (only if your account uses a password and a code)').fill(PASSWORD);
  await shot('06-mfa-password');
  await page.locator('#start-submit').click();
  await waitForCodeStep();
  assert.equal((await mailFor(out, email)).length, 1, 'one email after the password step');
  await page.locator('#code').fill(await latestCode(out, email));
  await page.locator('#code-submit').click();
  await expectSignedIn(email);
  await shot('07-mfa-signed-in');
});

test('mfa: a wrong password stays on the first step and sends no code', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  await open();
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(`${PASSWORD}-wrong`);
  await page.locator('#password').press('Enter');
  await expectError('That email and password do not match.');
  assert.equal(await page.locator('#start-form').isVisible(), true);
  assert.equal(await page.locator('#password').inputValue(), '', 'the password field is cleared');
  assert.equal((await mailFor(out, email)).length, 0, 'no code was mailed');
  await shot('08-mfa-wrong-password');
});

test('expiry: when the countdown reaches 0 the page says the code has expired', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  // The page's clock, not the server's, is moved on: only the countdown is tested here.
  await page.clock.install();
  await open();
  await page.locator('#email').fill(email);
  await page.locator('#email').press('Enter');
  await waitForCodeStep();
  await page.clock.fastForward('05:01');
  await expectError(EXPIRED);
  assert.equal(await text('#expiry'), 'Code expired');
  await shot('09-expired');
});

test('too many wrong codes: back to the first step, and a new sign-in is locked for now', async () => {
  const email = freshEmail();
  await signUp(pool, email);
  await open();
  await page.locator('#email').fill(email);
  await page.locator('#email').press('Enter');
  await waitForCodeStep();
  const wrong = wrongCodeFor(await latestCode(out, email));
  for (let i = 0; i < 2; i++) {
    await page.locator('#code').fill(wrong);
    await page.locator('#code').press('Enter');
    await expectError(WRONG_CODE);
  }
  await page.locator('#code').fill(wrong);
  await page.locator('#code').press('Enter');
  await expectError(TOO_MANY);
  assert.equal(await page.locator('#start-form').isVisible(), true, 'back to the first step');
  assert.equal(await focusedId(), 'email');
  assert.equal(await page.locator('#email').inputValue(), email, 'the address is kept');
  await shot('10-too-many');

  // Signing in again at once meets the lockout: the trigger's own text, found in the error.
  await page.keyboard.press('Enter');
  await expectError('Too many wrong codes. Please wait a minute, then sign in again for a new code.');
  assert.doesNotMatch(await text('#error'), /Exception|errorType|CreateAuthChallenge/, 'only the plain text is shown');
});
