// What both test files need from the local stack (scripts/stack.py up): its outputs, its mailbox,
// the deployed function's settings, and fresh users. STACK_DIR picks the stack; the default is the
// repository's .local/stack. Set-up goes through the plain API (no client library), so a change in
// Amplify shows up in the tests of Amplify, not in their fixtures.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

/** One user pool API call, as any client sends it (the JSON protocol; the emulator checks no
 * signature, and these calls need none). A refusal throws an Error named by the service's code. */
export async function cognito(out, action, body) {
  const r = await fetch(out.Endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify(body),
  });
  const json = await r.json().catch(() => ({}));
  if (!r.ok) {
    const name = String(json.__type ?? `HTTP ${r.status}`).split('#').pop();
    throw Object.assign(new Error(`${name}: ${json.message ?? json.Message ?? ''}`), { name });
  }
  return json;
}

/** The deployed function's environment (MAX_ATTEMPTS, RESEND_COOLDOWN_SECONDS, …), from the
 * emulator's Lambda API: the tests expect what the stack was deployed with. */
export async function functionEnv(out) {
  const r = await fetch(`${out.Endpoint}/2015-03-31/functions/${encodeURIComponent(out.FunctionName)}/configuration`);
  assert.equal(r.status, 200, 'the function configuration answers');
  return (await r.json()).Environment?.Variables ?? {};
}

export const freshEmail = () => `t-${randomBytes(6).toString('hex')}@example.test`;

/** Signs a user up through the plain API (SignUp); PreSignUp confirms them. */
export async function signUp(out, email, password = PASSWORD) {
  return cognito(out, 'SignUp', {
    ClientId: out.UserPoolClientId, Username: email, Password: password,
    UserAttributes: [{ Name: 'email', Value: email }],
  });
}

/** A passwordless sign-in started through the plain API (InitiateAuth CUSTOM_AUTH), left
 * unanswered: it mails a code (and a one-click link) as any client's would. */
export async function startPasswordless(out, username) {
  const r = await cognito(out, 'InitiateAuth', {
    AuthFlow: 'CUSTOM_AUTH', ClientId: out.UserPoolClientId, AuthParameters: { USERNAME: username },
  });
  assert.equal(r.ChallengeName, 'CUSTOM_CHALLENGE', 'the sign-in asks for a code');
  return r;
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
