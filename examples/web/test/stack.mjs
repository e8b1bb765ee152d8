// What both test files need from the local stack (scripts/stack.py up): its outputs, its mailbox,
// and fresh users. STACK_DIR picks the stack; the default is the repository's .local/stack.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CognitoUserAttribute, CognitoUserPool } from 'amazon-cognito-identity-js';

const DEFAULT_DIR = fileURLToPath(new URL('../../../.local/stack', import.meta.url));
export const STACK_DIR = process.env.STACK_DIR || DEFAULT_DIR;
export const PASSWORD = 'Test-Password-2024';

/** outputs.json of a running stack, or one clear error. */
export async function stackOutputs() {
  const file = `${STACK_DIR}/outputs.json`;
  let out;
  try {
    out = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`no local stack: ${file} is missing (start it with scripts/stack.py up, or set STACK_DIR)`);
  }
  try {
    const r = await fetch(`${out.Endpoint}/_ministack/health`);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    throw new Error(`no local stack: ${out.Endpoint} does not answer (${e.message}); is the stack in ${STACK_DIR} up?`);
  }
  return out;
}

export function userPool(out) {
  return new CognitoUserPool({ UserPoolId: out.UserPoolId, ClientId: out.UserPoolClientId, endpoint: out.Endpoint });
}

export const freshEmail = () => `t-${randomBytes(6).toString('hex')}@example.test`;

/** Signs a user up as the browser would; PreSignUp confirms them. */
export async function signUp(pool, email, password = PASSWORD) {
  const attrs = [new CognitoUserAttribute({ Name: 'email', Value: email })];
  return new Promise((resolve, reject) =>
    pool.signUp(email, password, attrs, null, (err, res) => (err ? reject(err) : resolve(res))));
}

/** Every email the emulator's SES took for `to`, oldest first. */
export async function mailFor(out, to) {
  const r = await fetch(out.Mailbox);
  assert.equal(r.status, 200, 'the mailbox answers');
  const { messages } = await r.json();
  const all = Array.isArray(messages) ? messages : Object.values(messages ?? {}).flat();
  return all
    .filter((m) => (m.To ?? []).some((a) => a.toLowerCase() === to.toLowerCase()))
    .sort((a, b) => a.Timestamp - b.Timestamp);
}

/** How many emails the emulator's SES took, for anyone. */
export async function mailboxSize(out) {
  const r = await fetch(out.Mailbox);
  assert.equal(r.status, 200, 'the mailbox answers');
  const { messages } = await r.json();
  return (Array.isArray(messages) ? messages : Object.values(messages ?? {}).flat()).length;
}

/** The one-click link of a passwordless email: the HTML part's one link (its `&amp;` undone),
 * which the text part must hold too, on a line of its own. */
export function linkIn(message) {
  const hrefs = [...(message.BodyHtml ?? '').matchAll(/<a\s[^>]*href="([^"]*)"/g)].map((m) => m[1]);
  assert.equal(hrefs.length, 1, `the HTML part holds one link, found ${hrefs.length}`);
  const link = hrefs[0].replaceAll('&amp;', '&');
  assert.match(link, /#username=[^&]+&code=[0-9]+&expiresAt=[0-9]+$/, 'the link carries username, code and expiry in its fragment');
  assert.ok((message.BodyText ?? '').split('\n').includes(link), 'the text part holds the same URL on its own line');
  return link;
}

/** The code in an email's text: the one line that is nothing but 6 to 10 digits (a passwordless
 * email's one-click link holds the code too, and maybe digits of the username). */
export function codeIn(message) {
  const found = [...(message.BodyText ?? '').matchAll(/^[ \t]*([0-9]{6,10})[ \t]*$/gm)].map((m) => m[1]);
  assert.equal(found.length, 1, `the email holds exactly one code line, found ${found}`);
  return found[0];
}

/** The code of the newest email to `to`. */
export async function latestCode(out, to) {
  const mails = await mailFor(out, to);
  assert.ok(mails.length > 0, `an email to ${to} is in the mailbox`);
  return codeIn(mails.at(-1));
}

/** A code of the same length that is certainly not `code`. */
export const wrongCodeFor = (code) => code.slice(0, -1) + ((Number(code.at(-1)) + 1) % 10);
