// The example sign-in page: email, optional password, then a one-time code from the email.
// It calls the user pool with amazon-cognito-identity-js, as a browser app would:
//   passwordless: InitiateAuth CUSTOM_AUTH (USERNAME only)          -> CUSTOM_CHALLENGE
//   mfa:          InitiateAuth CUSTOM_AUTH + SRP_A, PASSWORD_VERIFIER -> CUSTOM_CHALLENGE
//   then RespondToAuthChallenge with the code (or ClientMetadata action=resend) until tokens.
// A one-click link from a passwordless email (#username=…&code=…&expiresAt=…) runs the same
// passwordless sign-in and answers with the link's code, if that code is still the current one,
// for an account the user chose: one this browser signed in to before, or the address they type.
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
} from 'amazon-cognito-identity-js';

// The triggers' fixed error texts (docs/operations.md). Cognito wraps them differently (AWS:
// "CreateAuthChallenge failed with error <text>"; the emulator: "...'errorMessage': '<text>'"),
// so the page looks for the text itself and shows only that.
const TRIGGER_TEXTS = [
  'Too many codes were requested. Please wait a while before trying again.',
  'Too many wrong codes. Please wait a minute, then sign in again for a new code.',
  'We could not send your code. Please try again in a minute.',
  'We could not complete your sign-in. Please try again in a minute.',
  'This account has no email address for sign-in codes.',
  'The sign-in request could not be processed. Please try again.',
];

const MSG = {
  wrongCode: "That code isn't right. Check the email and try again.",
  expired: 'This code has expired. Use Resend to get a new one.',
  tooMany: 'Too many wrong codes. Sign in again to get a new code.',
  wrongPassword: 'That email and password do not match. Check them and try again.',
  network: 'Could not reach the sign-in service. Check your connection and try again.',
  noConfig: 'This page could not load its configuration (config.json).',
  linkExpired: 'This sign-in link has expired. Enter your email to get a new code.',
  linkReplaced: 'This link was already used or replaced by a newer code. Enter the latest code from your email.',
  linkBroken: 'This sign-in link is incomplete. Enter your email to get a new code.',
  linkWho: 'Enter your email to continue signing in with this link.',
  linkSignedIn: (email) => `You are already signed in as ${email}. Sign out first to use this sign-in link.`,
};

// A challenge whose code was sent longer ago than this reuses a code mailed before (a new
// sign-in while that code is valid sends no email), and the page says so.
const REUSED_AFTER_SECONDS = 10;

const $ = (id) => document.getElementById(id);
const el = {
  title: $('title'), status: $('status'), error: $('error'),
  startForm: $('start-form'), email: $('email'), passwordField: $('password-field'), password: $('password'),
  startSubmit: $('start-submit'),
  codeForm: $('code-form'), sentTo: $('sent-to'), code: $('code'), expiry: $('expiry'),
  codeSubmit: $('code-submit'), resend: $('resend'), restart: $('restart'),
  done: $('done'), who: $('who'), signOut: $('sign-out'),
};

// Tokens stay in this object only: identity-js would otherwise cache them in localStorage,
// and an example should not leave sessions behind in the browser. (localStorage keeps only
// which accounts signed in here, for links: see knownAccounts.)
const memory = new Map();
const storage = {
  setItem: (k, v) => memory.set(k, v),
  getItem: (k) => memory.get(k) ?? null,
  removeItem: (k) => memory.delete(k),
  clear: () => memory.clear(),
};

let config;      // from ./config.json
let pool;        // CognitoUserPool
let user;        // the CognitoUser of the sign-in in progress (it holds the Session)
let challenge;   // the current CUSTOM_CHALLENGE parameters
let cooldownEnd = 0; // ms: Resend stays disabled until then
let expiredShown = false; // the expired message is shown once per code
let busy = false;
let signedInAs;  // the email of this tab's session, while signed in
let linkToAnswer; // a link waiting for the user to type their address

// ---- the one-click link ----

// The link's fragment: #username=…&code=…&expiresAt=… (each value percent-encoded). A fragment
// never reaches a server; it is taken out of the address bar and the history entry at once, so
// the code is neither left on screen nor kept in the history, and no reload replays it.
function takeLink() {
  if (!location.hash) return undefined;
  const values = {};
  for (const part of location.hash.slice(1).split('&')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    try {
      values[part.slice(0, at)] = decodeURIComponent(part.slice(at + 1));
    } catch {
      // A malformed escape: the value is left out, and the link is not used.
    }
  }
  if (!('username' in values || 'code' in values || 'expiresAt' in values)) return undefined;
  history.replaceState(history.state, '', location.pathname + location.search);
  const complete = values.username && /^[0-9]{4,10}$/.test(values.code || '') && /^[0-9]+$/.test(values.expiresAt || '');
  return { username: values.username || '', code: values.code, expiresAt: values.expiresAt, broken: !complete };
}
const pendingLink = takeLink();

// The accounts this browser signed in to, by the names a link may carry for them: Cognito's
// username (the ID token's cognito:username, what AWS puts in links) and the name the sign-in was
// started with (what the local emulator puts there). Only these get a link's one-click sign-in.
// A link names the account of whoever asked for its code, so a page that signed in to any account
// a link names could be made, by a link the sender mailed to themselves, to sign a visitor in to
// the sender's account (login CSRF).
const KNOWN_ACCOUNTS = 'cognito-email-otp.accounts';
function knownAccounts() {
  try {
    const known = JSON.parse(localStorage.getItem(KNOWN_ACCOUNTS));
    return Array.isArray(known) ? known : [];
  } catch {
    return []; // storage off or unreadable: every link asks for the address
  }
}
function remember(names) {
  try {
    const others = knownAccounts().filter((u) => !names.includes(u));
    localStorage.setItem(KNOWN_ACCOUNTS, JSON.stringify([...new Set(names), ...others]));
  } catch {
    // Storage off: this browser's links keep asking for the address.
  }
}

// ---- small view helpers ----

function say(text) { el.status.textContent = text; }
function alertText(text) { el.error.textContent = text; }
function clearMessages() { say(''); alertText(''); }

// Steps: 'start' (email, password), 'code', 'done', and 'link' (a link being used: only the
// status line shows).
function show(step) {
  el.startForm.hidden = step !== 'start';
  el.codeForm.hidden = step !== 'code';
  el.done.hidden = step !== 'done';
  el.title.textContent = step === 'done' ? 'Signed in' : 'Sign in';
  // Signed in, the card already shows the email: the status line is for screen readers only.
  el.status.classList.toggle('sr-only', step === 'done');
}

function setBusy(on) {
  busy = on;
  el.startSubmit.disabled = on || !pool;
  el.codeSubmit.disabled = on;
  el.restart.disabled = on;
  tick(); // the Resend button depends on `busy` too
}

const mmss = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;

// Once a second: the code's remaining validity and the Resend cooldown. expiresAt is the
// server's clock; a client clock that is off by a few seconds shifts the countdown as much.
function tick() {
  if (!challenge) return;
  const left = Number(challenge.expiresAt) - Math.floor(Date.now() / 1000);
  if (left > 0) {
    el.expiry.textContent = `Code valid for ${mmss(left)}`;
  } else if (!expiredShown) {
    expiredShown = true;
    el.expiry.textContent = 'Code expired';
    alertText(MSG.expired);
  }
  const wait = Math.ceil((cooldownEnd - Date.now()) / 1000);
  el.resend.disabled = busy || wait > 0;
  el.resend.textContent = wait > 0 ? `Resend in ${wait} s` : 'Resend code';
}
setInterval(tick, 1000);

// ---- identity-js, promisified ----

// Every call ends in one callback; turn that into a promise of {challenge} or {session},
// rejecting with the error. Challenges this pool does not use (a new password, SMS or TOTP)
// are refused here rather than left to identity-js, which would throw calling a missing callback.
function call(start) {
  return new Promise((resolve, reject) => {
    const unsupported = () => reject(new Error('This account needs a sign-in step this page does not support.'));
    start({
      onSuccess: (session) => resolve({ session }),
      onFailure: reject,
      customChallenge: (params) => resolve({ challenge: params }),
      newPasswordRequired: unsupported, mfaRequired: unsupported, totpRequired: unsupported,
      selectMFAType: unsupported, mfaSetup: unsupported,
    });
  });
}

function triggerText(err) {
  const message = String(err && err.message);
  return TRIGGER_TEXTS.find((t) => message.includes(t));
}

// ---- the steps ----

function startOver(errorText) {
  user = undefined;
  challenge = undefined;
  linkToAnswer = undefined;
  el.passwordField.hidden = false;
  el.code.value = '';
  el.password.value = '';
  show('start');
  say('');
  alertText(errorText || '');
  el.email.focus();
}

const pad2 = (n) => String(n).padStart(2, '0');

// "We sent a 6-digit code to m***@e***.test at 10:42." (local time). A code sent well before
// this challenge came was mailed for an earlier sign-in and is still valid: no new email came,
// so the page says when to look for it, and that Resend is there if it never arrived.
function describeSent(params) {
  const length = Number(params.codeLength) || 6;
  const sentAt = Number(params.sentAt);
  if (!sentAt) return { text: `We sent a ${length}-digit code to ${params.destination}.`, sentAt: 0 };
  const when = new Date(sentAt * 1000);
  const hhmm = `${pad2(when.getHours())}:${pad2(when.getMinutes())}`;
  const reused = Date.now() / 1000 - sentAt > REUSED_AFTER_SECONDS;
  return {
    text: reused
      ? `We sent a code to ${params.destination} at ${hhmm}; it is still valid. Didn't get it? Use Resend.`
      : `We sent a ${length}-digit code to ${params.destination} at ${hhmm}.`,
    sentAt,
  };
}

// The Resend cooldown runs from when the code was sent (a second's margin for the server's whole
// seconds), so a reused code's is usually over already. At most a full cooldown from now; a client
// clock ahead of the server's may end it early, and the server then keeps the code and says so.
function startCooldown(sentAt) {
  const full = Date.now() + config.ResendCooldownSeconds * 1000;
  cooldownEnd = sentAt ? Math.min(full, (sentAt + config.ResendCooldownSeconds + 1) * 1000) : full;
}

function enterCodeStep(params) {
  challenge = params;
  expiredShown = false;
  const length = Number(params.codeLength) || 6;
  el.code.maxLength = length;
  el.code.pattern = `[0-9]{${length}}`;
  el.code.value = '';
  const sent = describeSent(params);
  el.sentTo.textContent = sent.text;
  startCooldown(sent.sentAt);
  show('code');
  tick();
  el.code.focus();
}

function signedIn(session) {
  // The ID token's payload, decoded and not verified: enough to greet the user. A server that
  // acts on the token must verify it (signature, issuer, audience, expiry).
  const claims = session.getIdToken().decodePayload();
  remember([user.getUsername(), claims['cognito:username']]);
  user = undefined;
  challenge = undefined;
  signedInAs = claims.email;
  el.who.textContent = claims.email;
  show('done');
  clearMessages();
  say(`Signed in as ${claims.email}.`);
  el.title.focus();
}

// An error anywhere: a trigger's own text, a wrong password (the password step), too many
// wrong codes (the code step), or the service's message. Everything but a network error ends
// the sign-in: the Cognito session does not survive a failed call.
function failed(err, step) {
  const text = triggerText(err);
  if (!text && err && err.message === 'Network error') {
    // The sign-in in progress survives a network error, except a link's: it has no form to retry.
    if (step === 'link') return startOver(MSG.network);
    alertText(MSG.network);
    return;
  }
  if (text) return startOver(text);
  const code = err && err.code;
  if (step === 'password' && (code === 'NotAuthorizedException' || code === 'UserNotFoundException')) {
    return startOver(MSG.wrongPassword);
  }
  if (code === 'NotAuthorizedException') return startOver(MSG.tooMany);
  startOver(`Sign-in failed: ${(err && err.message) || err}`);
}

// Runs one call to the pool with the page busy; any error goes to failed() as that step's.
async function guarded(step, work) {
  setBusy(true);
  try {
    await work();
  } catch (err) {
    say('');
    failed(err, step);
  } finally {
    setBusy(false);
  }
}

async function onStart(event) {
  event.preventDefault();
  if (busy) return;
  const email = el.email.value.trim();
  const password = el.password.value;
  if (!el.email.checkValidity() || !email) {
    alertText('Enter your email address.');
    el.email.focus();
    return;
  }
  if (linkToAnswer) return linkSignIn(email, linkToAnswer);
  clearMessages();
  say(password ? 'Checking your password…' : 'Sending your code…');
  user = new CognitoUser({ Username: email, Pool: pool, Storage: storage });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  await guarded(password ? 'password' : 'start', async () => {
    // With a password: SRP first (the password is never sent), then the code. Without: the code.
    const details = new AuthenticationDetails({ Username: email, Password: password || undefined });
    const result = await call((cb) => (password ? user.authenticateUser(details, cb) : user.initiateAuth(details, cb)));
    el.password.value = '';
    if (result.session) return signedIn(result.session);
    say('');
    enterCodeStep(result.challenge);
  });
}

async function onCode(event) {
  event.preventDefault();
  if (busy || !user) return;
  el.code.value = el.code.value.replace(/\s+/g, ''); // spaces from a paste
  const code = el.code.value;
  if (!el.code.checkValidity() || !code) {
    alertText(`Enter the ${el.code.maxLength}-digit code from the email.`);
    el.code.focus();
    return;
  }
  clearMessages();
  say('Checking the code…');
  await guarded('code', async () => {
    const before = challenge.expiresAt;
    const expired = Number(before) <= Date.now() / 1000;
    const result = await call((cb) => user.sendCustomChallengeAnswer(code, cb));
    if (result.session) return signedIn(result.session);
    // Refused, and Cognito asked again. A new expiresAt means the old code had expired and a
    // new one was mailed; otherwise the code was wrong and the same one is still valid.
    challenge = result.challenge;
    el.code.value = '';
    say('');
    if (challenge.expiresAt !== before) {
      alertText('This code has expired. We sent a new code; check your email.');
      el.sentTo.textContent = describeSent(challenge).text;
      cooldownEnd = Date.now() + config.ResendCooldownSeconds * 1000;
      expiredShown = false;
    } else {
      alertText(expired ? MSG.expired : MSG.wrongCode);
      expiredShown = expired;
    }
    tick();
    el.code.focus();
  });
}

async function onResend() {
  if (busy || !user) return;
  clearMessages();
  say('Requesting a new code…');
  await guarded('code', async () => {
    const before = challenge.expiresAt;
    // ClientMetadata action=resend: the answer is neither checked nor counted.
    const result = await call((cb) => user.sendCustomChallengeAnswer('resend', cb, { action: 'resend' }));
    if (result.session) return signedIn(result.session); // not expected; handled anyway
    challenge = result.challenge;
    if (challenge.expiresAt !== before) {
      expiredShown = false;
      el.sentTo.textContent = describeSent(challenge).text;
    }
    // The cooldown restarts either way: without a new email we cannot know how much of the
    // server's cooldown is left, and waiting a little too long is harmless.
    cooldownEnd = Date.now() + config.ResendCooldownSeconds * 1000;
    say(challenge.expiresAt !== before
      ? `A new code was sent to ${challenge.destination}.`
      : 'Your current code is still valid, so no new email was sent. Check your inbox.');
    tick();
    el.code.focus();
  });
}

// A link opened in this tab, at load or later. It never replaces this tab's session, and signs in
// with one click only to an account this browser signed in to before. For any other it asks for
// the address (never taken from the link) and tries the link's code on that account's sign-in:
// the owner gets in, as the new sign-in reuses the mailed code, while the code of someone else's
// link is not that account's and signs in nobody.
function useLink(link) {
  if (signedInAs) return alertText(MSG.linkSignedIn(signedInAs));
  if (link.broken) return startOver(MSG.linkBroken); // a link cut short, say by a line break
  if (Number(link.expiresAt) <= Date.now() / 1000) return startOver(MSG.linkExpired);
  if (knownAccounts().includes(link.username)) return linkSignIn(link.username, link);
  startOver();
  linkToAnswer = link;
  el.passwordField.hidden = true; // links come in passwordless sign-ins only
  say(MSG.linkWho);
}

// A passwordless sign-in for `username`, answered with the link's code only if the challenge is
// for that code (the same expiresAt). Otherwise the code was used or replaced by a resend (or is
// another account's), and the function issued or reused another one: answering with the link's
// code would only spend one of the sign-in's attempts, so the code step asks for the latest.
async function linkSignIn(username, link) {
  linkToAnswer = undefined;
  clearMessages();
  show('link');
  say('Signing you in…');
  user = new CognitoUser({ Username: username, Pool: pool, Storage: storage });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  await guarded('link', async () => {
    const details = new AuthenticationDetails({ Username: username });
    const started = await call((cb) => user.initiateAuth(details, cb));
    if (started.session) return signedIn(started.session);
    if (started.challenge.expiresAt !== String(link.expiresAt)) {
      say('');
      enterCodeStep(started.challenge);
      alertText(MSG.linkReplaced);
      return;
    }
    challenge = started.challenge;
    const result = await call((cb) => user.sendCustomChallengeAnswer(link.code, cb));
    if (result.session) return signedIn(result.session);
    // Refused although it was the current code's link (an edited link, or another account's
    // code that happened to share the expiresAt): the code step, as above.
    say('');
    enterCodeStep(result.challenge);
    alertText(MSG.linkReplaced);
  });
}

function onSignOut() {
  memory.clear();
  signedInAs = undefined;
  el.email.value = '';
  startOver();
  say('Signed out.');
}

el.startForm.addEventListener('submit', onStart);
el.codeForm.addEventListener('submit', onCode);
el.resend.addEventListener('click', onResend);
el.restart.addEventListener('click', () => startOver());
el.signOut.addEventListener('click', onSignOut);
// A link opened in a tab that already shows the page changes only the fragment.
window.addEventListener('hashchange', () => {
  const link = takeLink();
  if (link && pool && !busy) useLink(link);
});

// The pool and client come from the local stack's config.json (served by scripts/web_serve.py).
fetch('./config.json', { cache: 'no-store' })
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
  .then((c) => {
    config = c;
    pool = new CognitoUserPool({ UserPoolId: c.UserPoolId, ClientId: c.UserPoolClientId, endpoint: c.Endpoint, Storage: storage });
  })
  .then(() => {
    setBusy(false);
    if (pendingLink) return useLink(pendingLink);
    el.email.focus();
  }, () => alertText(MSG.noConfig));
