/**
 * The guarantees infra/template.yaml settles on the pool and its app clients, as checks over
 * CloudFormation properties (after resolution, so escape hatches and property overrides are
 * judged too). Each problem says what goes wrong and how to fix it.
 */
import type { AuthFlow } from './props';

/** The attribute the function keeps the code state in (the template's; the function's default). */
export const CHALLENGE_ATTRIBUTE = 'custom:authChallenge';
/** Its name in a pool's Schema, without the `custom:` prefix. */
export const CHALLENGE_ATTRIBUTE_NAME = 'authChallenge';
/** Cognito's longest custom String attribute, which the template's schema uses. */
export const CHALLENGE_ATTRIBUTE_MAX_LENGTH = 2048;

/** The only ExplicitAuthFlows that keep the emailed code in every sign-in. The mfa flow's SRP
 * steps run inside CUSTOM_AUTH; `CUSTOM_AUTH_FLOW_ONLY` is the legacy name of custom auth alone. */
const ALLOWED_FLOWS = new Set(['ALLOW_CUSTOM_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'CUSTOM_AUTH_FLOW_ONLY']);

/** Cognito's default AuthSessionValidity in minutes, when a client sets none. */
const DEFAULT_SESSION_MINUTES = 3;

const CLIENT_FIX = 'or make the client with otp.addClient()';

/** What a check found: errors stop synthesis, warnings are printed. */
export interface Findings {
  readonly errors: string[];
  readonly warnings: string[];
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * The problems of one app client of the guarded pool, from its resolved CloudFormation
 * properties. `name` names the client in each message.
 */
export function clientFindings(name: string, props: Record<string, unknown>, codeTtlSeconds: number): Findings {
  const errors: string[] = [];
  const warnings: string[] = [];
  const error = (problem: string, fix: string) => errors.push(`app client ${name} ${problem}. Fix: ${fix}, ${CLIENT_FIX}.`);

  const flows = props.ExplicitAuthFlows;
  if (flows === undefined) {
    error('sets no ExplicitAuthFlows, so Cognito allows ALLOW_USER_SRP_AUTH, ALLOW_CUSTOM_AUTH and ALLOW_REFRESH_TOKEN_AUTH: a password alone signs in and skips the emailed code',
      'authFlows: { custom: true } (ExplicitAuthFlows ALLOW_CUSTOM_AUTH and ALLOW_REFRESH_TOKEN_AUTH only)');
  } else if (!isStringList(flows)) {
    error(`has ExplicitAuthFlows that cannot be read at synth (${JSON.stringify(flows)})`, 'give a literal list');
  } else {
    const bad = flows.filter((f) => !ALLOWED_FLOWS.has(f));
    if (bad.length > 0) {
      error(`allows ${bad.join(', ')}: a password alone (or a flow that never runs the custom-auth triggers) signs in and skips the emailed code`,
        'authFlows: { custom: true } (ExplicitAuthFlows ALLOW_CUSTOM_AUTH and ALLOW_REFRESH_TOKEN_AUTH only; the mfa flow\'s SRP steps run inside CUSTOM_AUTH)');
    }
  }

  // OAuth flows sign users in through managed login (the hosted UI), where custom auth never
  // runs: a password there is enough. client_credentials signs no user in, so it alone is allowed.
  const oauthOn = props.AllowedOAuthFlowsUserPoolClient;
  const oauthFlows = props.AllowedOAuthFlows;
  if (oauthOn !== undefined && oauthOn !== false && oauthOn !== true) {
    error(`has AllowedOAuthFlowsUserPoolClient that cannot be read at synth (${JSON.stringify(oauthOn)})`, 'disableOAuth: true');
  } else if (oauthOn === true || (oauthFlows !== undefined && !(Array.isArray(oauthFlows) && oauthFlows.length === 0))) {
    const userFlows = isStringList(oauthFlows) ? oauthFlows.filter((f) => f !== 'client_credentials') : ['(unreadable)'];
    if (!isStringList(oauthFlows) || oauthFlows.length === 0 || userFlows.length > 0) {
      error(`allows the OAuth flows ${isStringList(oauthFlows) && oauthFlows.length > 0 ? userFlows.join(', ') : '(unlisted)'}: users sign in through managed login, where the custom-auth triggers never run, so a password alone gets tokens`,
        'disableOAuth: true (UserPoolClient enables OAuth unless told not to)');
    }
  }

  const attributeListError = (prop: 'ReadAttributes' | 'WriteAttributes') => {
    const v = props[prop];
    const what = prop === 'ReadAttributes'
      ? `can read ${CHALLENGE_ATTRIBUTE} (it would be in every ID token)`
      : `can write ${CHALLENGE_ATTRIBUTE} (users could set their own challenge state)`;
    const fix = prop === 'ReadAttributes'
      ? 'readAttributes: new ClientAttributes().withStandardAttributes({ email: true, emailVerified: true }) (any explicit list without it)'
      : 'writeAttributes: new ClientAttributes().withStandardAttributes({ email: true }) (any explicit list without it)';
    if (v === undefined) {
      error(`sets no ${prop}, so it ${what}`, fix);
    } else if (!isStringList(v)) {
      error(`has ${prop} that cannot be read at synth (${JSON.stringify(v)})`, fix);
    } else if (v.includes(CHALLENGE_ATTRIBUTE)) {
      error(`lists ${CHALLENGE_ATTRIBUTE} in ${prop}, so it ${what}`, fix);
    }
  };
  attributeListError('ReadAttributes');
  attributeListError('WriteAttributes');

  if (props.PreventUserExistenceErrors !== 'ENABLED') {
    error(`has PreventUserExistenceErrors ${props.PreventUserExistenceErrors === undefined ? 'unset (LEGACY)' : JSON.stringify(props.PreventUserExistenceErrors)}: sign-in tells an unknown address from a known one, and unknown users never get the decoy challenge`,
      'preventUserExistenceErrors: true');
  }

  const session = props.AuthSessionValidity;
  const minutes = session === undefined ? DEFAULT_SESSION_MINUTES : Number(session);
  if (Number.isFinite(minutes) && minutes * 60 < codeTtlSeconds) {
    warnings.push(`app client ${name}: its AuthSessionValidity (${minutes} minutes${session === undefined ? ', the default' : ''}) ends a sign-in before a code expires (codeTtl ${codeTtlSeconds} s); a user who reads the email late must start again. Set authSessionValidity to at least Duration.seconds(${codeTtlSeconds}) (3 to 15 minutes), ${CLIENT_FIX}.`);
  }
  return { errors, warnings };
}

/** The pool-level guarantees, from the pool's resolved CloudFormation properties. */
export function poolFindings(props: Record<string, unknown>, authFlow: AuthFlow): string[] {
  const problems: string[] = [];
  const mfa = props.MfaConfiguration;
  if (mfa !== undefined && mfa !== 'OFF') {
    problems.push(`userPool: MfaConfiguration is ${JSON.stringify(mfa)}; Cognito's own MFA step would follow the password and the function's Define refuses it. Keep mfa: Mfa.OFF (the emailed code is the second factor).`);
  }
  const schema = props.Schema;
  const entries = Array.isArray(schema) ? (schema as Record<string, unknown>[]) : [];
  const attr = entries.find((a) => a && a.Name === CHALLENGE_ATTRIBUTE_NAME);
  const attrProblem = challengeAttributeProblem(attr);
  if (attrProblem !== undefined) problems.push(`userPool: ${attrProblem}`);
  const email = entries.find((a) => a && a.Name === 'email');
  if (email !== undefined && email.Mutable === false) {
    problems.push('userPool: the email attribute is immutable, but the function writes the verified address with email_verified after the first correct code. Make it mutable (standardAttributes: { email: { mutable: true } }); a new pool is needed, since Cognito cannot change this on an existing one.');
  }
  const auto = props.AutoVerifiedAttributes;
  const update = (props.UserAttributeUpdateSettings as Record<string, unknown> | undefined)?.AttributesRequireVerificationBeforeUpdate;
  if (!(isStringList(auto) && auto.includes('email') && isStringList(update) && update.includes('email'))) {
    problems.push('userPool: a changed email must take effect only once the new address is verified (AutoVerifiedAttributes and UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate must list email), or a change would redirect sign-in codes. Keep autoVerify: { email: true } and keepOriginal: { email: true }.');
  }
  if (authFlow === 'mfa') {
    const mechanisms = (props.AccountRecoverySetting as Record<string, unknown> | undefined)?.RecoveryMechanisms;
    const byEmail = Array.isArray(mechanisms) && mechanisms.some((m) => (m as Record<string, unknown>)?.Name === 'verified_email');
    if (byEmail) {
      problems.push("userPool: account recovery by email (the UserPool default, PHONE_WITHOUT_MFA_AND_EMAIL, or an EMAIL_ one) lets whoever holds the mailbox reset the password, and the mailbox gets the code too: with authFlow 'mfa' that is both factors. Set accountRecovery: AccountRecovery.NONE (an administrator resets passwords) or PHONE_ONLY_WITHOUT_MFA.");
    }
  }
  return problems;
}

/** Why a pool's authChallenge schema entry cannot hold the state, or undefined when it can. */
export function challengeAttributeProblem(attr: Record<string, unknown> | undefined): string | undefined {
  if (attr === undefined) {
    return `the schema has no ${CHALLENGE_ATTRIBUTE}, where the function keeps the code state`;
  }
  const constraints = (attr.StringAttributeConstraints ?? {}) as Record<string, unknown>;
  const max = constraints.MaxLength === undefined ? CHALLENGE_ATTRIBUTE_MAX_LENGTH : Number(constraints.MaxLength);
  if (attr.AttributeDataType !== 'String' || attr.Mutable !== true || max < CHALLENGE_ATTRIBUTE_MAX_LENGTH) {
    return `${CHALLENGE_ATTRIBUTE} is ${JSON.stringify({ type: attr.AttributeDataType, mutable: attr.Mutable ?? false, maxLength: constraints.MaxLength })}; the function needs a mutable String of up to ${CHALLENGE_ATTRIBUTE_MAX_LENGTH} characters (new StringAttribute({ minLen: 0, maxLen: 2048, mutable: true })), and Cognito cannot change a custom attribute once the pool exists`;
  }
  return undefined;
}
