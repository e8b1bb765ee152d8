// The example sign-in page: email, optional password, then a one-time code from the email.
// It signs in with Amplify JS v6 (aws-amplify/auth), as a browser app would:
//   passwordless: signIn CUSTOM_WITHOUT_SRP (InitiateAuth CUSTOM_AUTH, USERNAME only) -> CUSTOM_CHALLENGE
//   mfa:          signIn CUSTOM_WITH_SRP (InitiateAuth CUSTOM_AUTH + SRP_A, PASSWORD_VERIFIER) -> CUSTOM_CHALLENGE
//   then confirmSignIn with the code (or a resend through clientMetadata action=resend) until tokens.
// A one-click link from a passwordless email (#username=…&code=…&expiresAt=…) runs the same
// passwordless sign-in and answers with the link's code, if that code is still the current one,
// for an account the user chose: one this browser signed in to before, or the address they type.
import { Amplify } from 'aws-amplify';
import { confirmSignIn, fetchAuthSession, signIn, signOut } from 'aws-amplify/auth';
import { cognitoUserPoolsTokenProvider } from 'aws-amplify/auth/cognito';

// Every error the function returns starts with a stable token (docs/deploying.md, "Errors a
// sign-in screen shows"). Cognito wraps it (AWS: "CreateAuthChallenge failed with error <token>:
// <text>."; the emulator: "...'errorMessage': '<token>: <text>'..."), so the page finds the token
// and shows its own text for it.
const TOKEN = /\bOTP_[A-Z_]+\b/;
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

const MSG = {
  wrongCode: (left) => `That code isn't right. ${left === 1 ? '1 attempt' : `${left} attempts`} left.`,
  codeReplaced: (to) => `That code had expired, so we sent a new one to ${to}. Enter the new code.`,
  expired: 'This code has expired. Use Resend to get a new one.',
  wrongPassword: 'That email and password do not match. Check them and try again.',
  ended: 'This sign-in has ended. Sign in again to get a new code.',
  generic: 'We could not sign you in. Please try again in a minute.',
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
// Up to this long, the Resend button counts down in seconds; a longer wait (the send limit) is
// shown as the time it ends.
const COUNTDOWN_SECONDS = 120;

const $ = (id) => document.getElementById(id);
const el = {
  title: $('title'), status: $('status'), error: $('error'),
  startForm: $('start-form'), email: $('email'), passwordField: $('password-field'), password: $('password'),
  startSubmit: $('start-submit'),
  codeForm: $('code-form'), sentTo: $('sent-to'), code: $('code'), expiry: $('expiry'),
  codeSubmit: $('code-submit'), resend: $('resend'), restart: $('restart'),
  done: $('done'), who: $('who'), signOut: $('sign-out'),
};

// Tokens stay in this map only: Amplify would otherwise keep them in localStorage, and an example
// should not leave sessions behind in the browser. (localStorage keeps only which accounts signed
// in here, for links: see knownAccounts.)
const memory = new Map();
const inMemory = {
  setItem: async (k, v) => { memory.set(k, v); },
  getItem: async (k) => memory.get(k) ?? null,
  removeItem: async (k) => { memory.delete(k); },
  clear: async () => { memory.clear(); },
};

let ready = false; // Amplify is configured (config.json loaded)
let signingInAs; // the name the sign-in in progress was started with (Amplify holds its Session)
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
  el.startSubmit.disabled = on || !ready;
  el.codeSubmit.disabled = on;
  el.restart.disabled = on;
  tick(); // the Resend button depends on `busy` too
}

const pad2 = (n) => String(n).padStart(2, '0');
const mmss = (s) => `${Math.floor(s / 60)}:${pad2(s % 60)}`;
const hhmm = (unixSeconds) => {
  const when = new Date(unixSeconds * 1000);
  return `${pad2(when.getHours())}:${pad2(when.getMinutes())}`;
};

// Once a second: the code's remaining validity and the Resend countdown. Both times are the
// server's clock; a client clock that is off by a few seconds shifts them as much.
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
  el.resend.textContent = wait <= 0 ? 'Resend code'
    : wait <= COUNTDOWN_SECONDS ? `Resend in ${wait} s` : `Resend at ${hhmm(cooldownEnd / 1000)}`;
}
setInterval(tick, 1000);

// ---- Amplify's answers and errors ----

// What signIn and confirmSignIn resolve to: tokens, or the next CUSTOM_CHALLENGE with its public
// parameters. Any other step (a new password, SMS or TOTP, set up of MFA) is one this pool does
// not use, and the page does not offer it.
function outcome(result) {
  const step = result.nextStep.signInStep;
  if (step === 'DONE') return { done: true };
  if (step === 'CONFIRM_SIGN_IN_WITH_CUSTOM_CHALLENGE') return { challenge: result.nextStep.additionalInfo ?? {} };
  throw new Error('This account needs a sign-in step this page does not support.');
}

/** The stable token in an error's message (OTP_…), or undefined for an error of Cognito's own. */
function tokenIn(err) {
  return String(err?.message ?? '').match(TOKEN)?.[0];
}

// ---- the steps ----

function startOver(errorText) {
  signingInAs = undefined;
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

// "We sent a 6-digit code to m***@e***.test at 10:42." (local time). A code sent well before
// this challenge came was mailed for an earlier sign-in and is still valid: no new email came,
// so the page says when to look for it, and that Resend is there if it never arrived.
function describeSent(params) {
  const length = Number(params.codeLength) || 6;
  const sentAt = Number(params.sentAt);
  if (!sentAt) return `We sent a ${length}-digit code to ${params.destination}.`;
  const reused = Date.now() / 1000 - sentAt > REUSED_AFTER_SECONDS;
  return reused
    ? `We sent a code to ${params.destination} at ${hhmm(sentAt)}; it is still valid. Didn't get it? Use Resend.`
    : `We sent a ${length}-digit code to ${params.destination} at ${hhmm(sentAt)}.`;
}

// Resend mails a new code from resendAfter on (Unix seconds, the server's clock): sentAt plus the
// cooldown, or later once the send limit is reached. A client clock behind the server's would wait
// longer than the server asks, so the wait from now is at most resendAfter - sentAt; a clock ahead
// enables Resend early, and the server then keeps the code and the page says so.
function setCooldown(params) {
  const after = Number(params.resendAfter) * 1000;
  const span = after - Number(params.sentAt) * 1000;
  cooldownEnd = Number.isFinite(span) ? Math.min(after, Date.now() + Math.max(span, 0)) : 0;
}

// A new round of the same sign-in: the parameters, the countdowns, the code field.
function setChallenge(params) {
  challenge = params;
  expiredShown = false;
  setCooldown(params);
}

function enterCodeStep(params) {
  setChallenge(params);
  const length = Number(params.codeLength) || 6;
  el.code.maxLength = length;
  el.code.pattern = `[0-9]{${length}}`;
  el.code.value = '';
  el.sentTo.textContent = describeSent(params);
  show('code');
  tick();
  el.code.focus();
}

async function signedIn() {
  // The ID token's payload, decoded and not verified by Amplify: enough to greet the user. A
  // server that acts on the token must verify it (signature, issuer, audience, expiry).
  const { tokens } = await fetchAuthSession();
  const claims = tokens.idToken.payload;
  remember([signingInAs, claims['cognito:username']].filter(Boolean));
  signingInAs = undefined;
  challenge = undefined;
  signedInAs = claims.email;
  el.who.textContent = claims.email;
  show('done');
  clearMessages();
  say(`Signed in as ${claims.email}.`);
  el.title.focus();
}

// An error anywhere: the function's (a token in the message), a wrong password (the password
// step), the sign-in's end (Cognito's session expired), or anything else. Everything but a network
// error ends the sign-in: the Cognito session does not survive a failed call.
function failed(err, step) {
  const token = tokenIn(err);
  if (token) return startOver(TOKEN_TEXTS[token] ?? MSG.generic);
  if (err?.name === 'NetworkError') {
    // The sign-in in progress survives a network error, except a link's: it has no form to retry.
    if (step === 'link') return startOver(MSG.network);
    alertText(MSG.network);
    return;
  }
  // NotAuthorizedException: at the password step Cognito's "Incorrect username or password."; at
  // the code step the sign-in's session is over ("Invalid session for the user, session is
  // expired."; the emulator: "Session does not exist"). Too many wrong codes carry a token.
  if (step === 'password' && (err?.name === 'NotAuthorizedException' || err?.name === 'UserNotFoundException')) {
    return startOver(MSG.wrongPassword);
  }
  if (err?.name === 'NotAuthorizedException' || /Session does not exist/.test(err?.message)) return startOver(MSG.ended);
  startOver(`Sign-in failed: ${err?.message || err}`);
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
  signingInAs = email;
  await guarded(password ? 'password' : 'start', async () => {
    // With a password: SRP first (the password is never sent), then the code. Without: the code.
    const result = outcome(await signIn(password
      ? { username: email, password, options: { authFlowType: 'CUSTOM_WITH_SRP' } }
      : { username: email, options: { authFlowType: 'CUSTOM_WITHOUT_SRP' } }));
    el.password.value = '';
    if (result.done) return signedIn();
    say('');
    enterCodeStep(result.challenge);
  });
}

async function onCode(event) {
  event.preventDefault();
  if (busy || !challenge) return;
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
    const before = challenge;
    const result = outcome(await confirmSignIn({ challengeResponse: code }));
    if (result.done) return signedIn();
    // Refused, and Cognito asked again. A new sentAt means the code had expired (which counts as a
    // wrong answer) and a new one was mailed; otherwise the code was wrong and is still the one.
    setChallenge(result.challenge);
    el.code.value = '';
    say('');
    if (challenge.sentAt !== before.sentAt) {
      el.sentTo.textContent = describeSent(challenge);
      alertText(MSG.codeReplaced(challenge.destination));
    } else {
      alertText(MSG.wrongCode(Number(challenge.attemptsLeft)));
    }
    tick();
    el.code.focus();
  });
}

async function onResend() {
  if (busy || !challenge) return;
  clearMessages();
  say('Requesting a new code…');
  await guarded('code', async () => {
    const before = challenge;
    // clientMetadata action=resend: the answer is neither checked nor counted. Amplify refuses an
    // empty challengeResponse before sending anything, so the answer is the word "resend".
    const result = outcome(await confirmSignIn({ challengeResponse: 'resend', options: { clientMetadata: { action: 'resend' } } }));
    if (result.done) return signedIn(); // not expected; handled anyway
    setChallenge(result.challenge);
    const sent = challenge.sentAt !== before.sentAt;
    if (sent) el.sentTo.textContent = describeSent(challenge);
    say(sent
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
  signingInAs = username;
  await guarded('link', async () => {
    const started = outcome(await signIn({ username, options: { authFlowType: 'CUSTOM_WITHOUT_SRP' } }));
    if (started.done) return signedIn();
    if (started.challenge.expiresAt !== String(link.expiresAt)) {
      say('');
      enterCodeStep(started.challenge);
      alertText(MSG.linkReplaced);
      return;
    }
    challenge = started.challenge;
    const result = outcome(await confirmSignIn({ challengeResponse: link.code }));
    if (result.done) return signedIn();
    // Refused although it was the current code's link (an edited link, or another account's
    // code that happened to share the expiresAt): the code step, as above.
    say('');
    enterCodeStep(result.challenge);
    alertText(MSG.linkReplaced);
  });
}

async function onSignOut() {
  if (busy) return;
  setBusy(true);
  try {
    // Amplify revokes the refresh token at the pool, then forgets the tokens.
    await signOut();
  } catch {
    // Signed out here all the same: the tokens are dropped below.
  } finally {
    memory.clear();
    signedInAs = undefined;
    setBusy(false);
  }
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
  if (link && ready && !busy) useLink(link);
});

// The pool and client come from the local stack's config.json (served by scripts/web_serve.py);
// userPoolEndpoint points Amplify at the emulator (leave it out for Cognito itself).
fetch('./config.json', { cache: 'no-store' })
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
  .then((c) => {
    Amplify.configure({
      Auth: { Cognito: { userPoolId: c.UserPoolId, userPoolClientId: c.UserPoolClientId, userPoolEndpoint: c.Endpoint } },
    });
    cognitoUserPoolsTokenProvider.setKeyValueStorage(inMemory);
    ready = true;
  })
  .then(() => {
    setBusy(false);
    if (pendingLink) return useLink(pendingLink);
    el.email.focus();
  }, () => alertText(MSG.noConfig));
