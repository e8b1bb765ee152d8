import { Duration, Token } from 'aws-cdk-lib';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';

/**
 * How users sign in (the function's `AUTH_FLOW`).
 *
 * - `mfa`: the password (SRP inside CUSTOM_AUTH), then an emailed code.
 * - `passwordless`: the emailed code alone.
 * - `both`: either; a user may skip the password.
 */
export type AuthFlow = 'mfa' | 'passwordless' | 'both';

/**
 * Where the code state is kept (the function's `CHALLENGE_STORE`).
 *
 * - `attribute`: the user's `custom:authChallenge`; nothing more to deploy.
 * - `dynamodb`: a table this construct creates; exact limits under any concurrency and no
 *   Cognito write quota (docs/stores.md).
 */
export type ChallengeStore = 'attribute' | 'dynamodb';

/**
 * The props of {@link EmailOtp}. They mirror the function's configuration (README's table) and
 * infra/template.yaml's parameters; `userPool`, `emailFrom` and `code` are all a working stack
 * needs. Every value is checked at synth: a bad one stops synthesis with a message naming the
 * prop and what it accepts, and nothing given is ignored.
 */
export interface EmailOtpProps {
  /**
   * The user pool whose custom-auth triggers this construct owns. It must be a `UserPool`
   * defined in this app (not an imported one): the construct sets its Define, Create, Verify
   * (and PreSignUp) triggers, adds the `authChallenge` custom attribute to its schema, holds email
   * changes until the new address is verified, and turns pool-level MFA off.
   */
  readonly userPool: cognito.UserPool;

  /**
   * `EMAIL_FROM`: the sender, `no-reply@acme.example` or `Acme <no-reply@acme.example>`. It must be
   * an SES-verified identity (`sesIdentity`).
   */
  readonly emailFrom: string;

  /**
   * The function's code: a zip whose `bootstrap` is the `cognito-email-otp` binary for
   * `architecture`.
   *
   * @default - the arm64 zip `make build` writes, `lambda/cognito-email-otp/bootstrap.zip` in
   * cargo's target directory (`$CARGO_TARGET_DIR`, else what `cargo metadata` says for this
   * repository, else its `target/`); synthesis stops naming `make build` when it is missing.
   */
  readonly code?: lambda.Code;

  /**
   * The verified SES identity that covers `emailFrom`: its domain (`acme.example`, which also
   * covers subdomains) or the address itself. The function may send only as this identity.
   *
   * @default - the domain of `emailFrom`'s address
   */
  readonly sesIdentity?: string;

  /**
   * `AUTH_FLOW`.
   *
   * @default 'mfa'
   */
  readonly authFlow?: AuthFlow;

  /**
   * `CODE_LENGTH`: digits per code, 6 to 10.
   *
   * @default 6
   */
  readonly codeLength?: number;

  /**
   * `CODE_TTL_SECONDS`: how long a code is valid, 30 seconds to 1 hour. Keep it at or below the
   * app clients' AuthSessionValidity (`addClient` does).
   *
   * @default Duration.minutes(5)
   */
  readonly codeTtl?: Duration;

  /**
   * `MAX_ATTEMPTS`: wrong answers per code and per session, 1 to 10.
   *
   * @default 3
   */
  readonly maxAttempts?: number;

  /**
   * `RESEND_COOLDOWN_SECONDS`: 10 seconds to 10 minutes. Within it a new sign-in or resend
   * reuses the code and sends nothing; at least 10 s so Cognito's retry of a Create reuses it.
   *
   * @default Duration.seconds(30)
   */
  readonly resendCooldown?: Duration;

  /**
   * `SEND_LIMIT`: at most this many codes per user per `sendWindow`, 1 to 100.
   *
   * @default 5
   */
  readonly sendLimit?: number;

  /**
   * `SEND_WINDOW_SECONDS`: 1 minute to 1 day.
   *
   * @default Duration.hours(1)
   */
  readonly sendWindow?: Duration;

  /**
   * `CHALLENGE_STORE`. With `dynamodb` the construct creates the table (partition key `pk`, TTL on
   * `ttl`, AWS-managed encryption, on-demand) and grants the function exactly the two calls it
   * makes on it.
   *
   * @default 'attribute'
   */
  readonly challengeStore?: ChallengeStore;

  /**
   * Point-in-time recovery of the challenge table (`challengeStore: 'dynamodb'` only). Off by
   * default: its items live minutes to hours, and restoring them would bring back spent codes'
   * counters.
   *
   * @default false
   */
  readonly challengeTablePointInTimeRecovery?: boolean;

  /**
   * Attach the function to the pool's PreSignUp trigger.
   *
   * @default true
   */
  readonly preSignUp?: boolean;

  /**
   * `SIGNUP_AUTO_CONFIRM`: PreSignUp confirms new users without a code (their email stays
   * unverified until the first correct sign-in code). Only with `preSignUp`.
   *
   * @default true
   */
  readonly signUpAutoConfirm?: boolean;

  /**
   * `SIGNUP_ALLOWED_DOMAINS`: sign-up from other email domains is refused, and no code is ever
   * mailed outside them.
   *
   * @default - every domain
   */
  readonly signUpAllowedDomains?: string[];

  /**
   * `APP_NAME`: one line, at most 64 characters, in the subject and body ("Your Acme sign-in code").
   *
   * @default - none
   */
  readonly appName?: string;

  /**
   * `EMAIL_DEFAULT_LOCALE`: the language for users whose `locale` matches none on offer: `en`,
   * `de`, `fr`, `es`, `pt-BR`, `ja`, or one of `sesTemplateLocales`.
   *
   * @default 'en'
   */
  readonly emailDefaultLocale?: string;

  /**
   * `EMAIL_SUBJECT`: one subject for every language, one line of at most 200 bytes.
   *
   * @default - the bundled, translated subjects
   */
  readonly emailSubject?: string;

  /**
   * `EMAIL_CODE_IN_SUBJECT`: put the code in the subject too (docs/email.md, the trade-off).
   *
   * @default false
   */
  readonly emailCodeInSubject?: boolean;

  /**
   * `SIGN_IN_LINK_URL`: the `https://` sign-in page a one-click link in passwordless emails opens.
   * Not with `authFlow: 'mfa'` (a link signs in without the password).
   *
   * @default - no link
   */
  readonly signInLinkUrl?: string;

  /**
   * `SES_TEMPLATE`: a stored SES template, or one per locale with `{locale}` in the name
   * (`otp-{locale}`). The function may send with these templates only.
   *
   * @default - the built-in text and HTML
   */
  readonly sesTemplate?: string;

  /**
   * `SES_TEMPLATE_LOCALES`: with `otp-{locale}`, the locales there is a template for.
   *
   * @default - the bundled six: en, de, fr, es, pt-BR, ja
   */
  readonly sesTemplateLocales?: string[];

  /**
   * `SES_CONFIGURATION_SET`: an SES configuration set to send with (the function may use this one
   * only). Set it to the sending identity's default configuration set if it has one.
   *
   * @default - none
   */
  readonly sesConfigurationSet?: string;

  /**
   * `METRICS_NAMESPACE`: the CloudWatch namespace of the function's EMF metrics (and of the alarms
   * and dashboard).
   *
   * @default 'CognitoEmailOtp'
   */
  readonly metricsNamespace?: string;

  /**
   * `METRICS_POOL_ID_DIMENSION`: add the user pool ID as a metric dimension (when several pools
   * share a namespace); the alarms and dashboard use it too.
   *
   * @default false
   */
  readonly metricsPoolIdDimension?: boolean;

  /**
   * Retention of the function's log group; a finite one.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * CloudWatch alarms on the `DeliveryError` and `StoreError` metrics.
   *
   * @default true
   */
  readonly alarms?: boolean;

  /**
   * The SNS topic the alarms notify (alarm and OK). Only with `alarms`.
   *
   * @default - alarms without notifications
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * An alarm fires when its errors in 5 minutes reach this many (at least 1).
   *
   * @default 3
   */
  readonly alarmErrorsPer5Minutes?: number;

  /**
   * A CloudWatch dashboard of codes sent, answers, failures, errors and duration.
   *
   * @default false
   */
  readonly dashboard?: boolean;

  /**
   * An AWS WAF web ACL on the pool that blocks a source IP address while it sends more than this
   * many requests in 5 minutes: 10 to 2,000,000,000, or 0 for none. AWS WAF is billed separately.
   *
   * @default 0 (no AWS WAF)
   */
  readonly wafRequestsPer5Minutes?: number;

  /**
   * The instruction set of `code`'s `bootstrap`. `make build` makes arm64 (Graviton's price).
   *
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;
}

/** Every prop's name, so that a misspelt or unknown one is refused rather than ignored. */
export const KNOWN_PROPS: ReadonlyArray<keyof EmailOtpProps> = [
  'userPool', 'emailFrom', 'code', 'sesIdentity', 'authFlow', 'codeLength', 'codeTtl', 'maxAttempts',
  'resendCooldown', 'sendLimit', 'sendWindow', 'challengeStore', 'challengeTablePointInTimeRecovery',
  'preSignUp', 'signUpAutoConfirm', 'signUpAllowedDomains', 'appName', 'emailDefaultLocale',
  'emailSubject', 'emailCodeInSubject', 'signInLinkUrl', 'sesTemplate', 'sesTemplateLocales',
  'sesConfigurationSet', 'metricsNamespace', 'metricsPoolIdDimension', 'logRetention', 'alarms',
  'alarmTopic', 'alarmErrorsPer5Minutes', 'dashboard', 'wafRequestsPer5Minutes', 'architecture',
];

/** The languages of the bundled emails (crates/otp-domain, message.rs). */
export const BUNDLED_LOCALES: readonly string[] = ['en', 'de', 'fr', 'es', 'pt-BR', 'ja'];

/** The log retentions infra/template.yaml accepts: every finite one. */
const FINITE_RETENTIONS = new Set<number>([
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
]);

/** The props, checked and with their defaults: what the construct builds from. */
export interface Settings {
  readonly emailFrom: string;
  /** The address part of `emailFrom`, or undefined when `emailFrom` is a token. */
  readonly senderAddress?: string;
  readonly sesIdentity: string;
  readonly authFlow: AuthFlow;
  readonly codeLength: number;
  readonly codeTtlSeconds: number;
  readonly maxAttempts: number;
  readonly resendCooldownSeconds: number;
  readonly sendLimit: number;
  readonly sendWindowSeconds: number;
  readonly challengeStore: ChallengeStore;
  readonly challengeTablePointInTimeRecovery: boolean;
  readonly preSignUp: boolean;
  readonly signUpAutoConfirm: boolean;
  readonly signUpAllowedDomains?: string[];
  readonly appName?: string;
  readonly emailDefaultLocale: string;
  readonly emailSubject?: string;
  readonly emailCodeInSubject: boolean;
  readonly signInLinkUrl?: string;
  readonly sesTemplate?: string;
  readonly sesTemplateLocales?: string[];
  readonly sesConfigurationSet?: string;
  readonly metricsNamespace: string;
  readonly metricsPoolIdDimension: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly alarms: boolean;
  readonly alarmTopic?: sns.ITopic;
  readonly alarmErrorsPer5Minutes: number;
  readonly dashboard: boolean;
  readonly wafRequestsPer5Minutes: number;
  readonly architecture: lambda.Architecture;
}

/**
 * Thrown when the props, the pool or the code cannot make a working, guarded stack; lists every
 * problem at once, each starting with the prop it is about.
 */
export class EmailOtpError extends Error {
  /** One line per problem, each starting with the prop's name. */
  public readonly problems: string[];

  constructor(path: string, problems: string[]) {
    super(`EmailOtp ${path} cannot be synthesized (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
      problems.map((p) => `  - ${p}`).join('\n'));
    this.name = 'EmailOtpError';
    this.problems = problems;
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** Checks the props the way the function checks its environment (src/config.rs), naming each prop. */
export function resolveSettings(path: string, props: EmailOtpProps): Settings {
  const problems: string[] = [];
  const fail = (prop: keyof EmailOtpProps, msg: string) => problems.push(`${prop}: ${msg}`);
  if (props === undefined || props === null || typeof props !== 'object') {
    throw new EmailOtpError(path, ['props: required; userPool, emailFrom and code are all a working stack needs']);
  }
  for (const key of Object.keys(props)) {
    if (!(KNOWN_PROPS as readonly string[]).includes(key) && (props as unknown as Record<string, unknown>)[key] !== undefined) {
      problems.push(`${key}: not a prop of EmailOtp (see cdk/README.md for the props)`);
    }
  }

  const literal = (prop: keyof EmailOtpProps, v: unknown): boolean => {
    if (Token.isUnresolved(v)) {
      fail(prop, 'is a token; give a literal value, so that it can be checked at synth');
      return false;
    }
    return true;
  };
  const int = (prop: keyof EmailOtpProps, def: number, lo: number, hi: number): number => {
    const v = props[prop] as unknown;
    if (v === undefined) return def;
    if (!literal(prop, v)) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      fail(prop, `${show(v)} is not accepted; use a whole number from ${lo} to ${hi} (default ${def})`);
      return def;
    }
    return v;
  };
  const seconds = (prop: keyof EmailOtpProps, def: number, lo: number, hi: number, unit: string): number => {
    const v = props[prop] as unknown;
    if (v === undefined) return def;
    if (typeof v !== 'object' || v === null || typeof (v as Duration).toSeconds !== 'function') {
      fail(prop, `${show(v)} is not accepted; use a Duration, e.g. Duration.${unit}`);
      return def;
    }
    const d = v as Duration;
    if (d.isUnresolved()) {
      fail(prop, 'is a token; give a literal Duration, so that it can be checked at synth');
      return def;
    }
    let s: number;
    try {
      s = d.toSeconds();
    } catch {
      fail(prop, `${d.toHumanString()} is not a whole number of seconds`);
      return def;
    }
    if (s < lo || s > hi) {
      fail(prop, `${d.toHumanString()} is not accepted; use ${lo} to ${hi} seconds (default ${def})`);
      return def;
    }
    return s;
  };
  const bool = (prop: keyof EmailOtpProps, def: boolean): boolean => {
    const v = props[prop] as unknown;
    if (v === undefined) return def;
    if (typeof v !== 'boolean') {
      fail(prop, `${show(v)} is not accepted; use true or false (default ${def})`);
      return def;
    }
    return v;
  };
  const str = (prop: keyof EmailOtpProps): string | undefined => {
    const v = props[prop] as unknown;
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      fail(prop, `${show(v)} is not accepted; use a string`);
      return undefined;
    }
    return v;
  };
  const oneOf = <T extends string>(prop: keyof EmailOtpProps, def: T, allowed: readonly T[]): T => {
    const v = props[prop] as unknown;
    if (v === undefined) return def;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      fail(prop, `${show(v)} is not accepted; use ${allowed.map((a) => `'${a}'`).join(', ')} (default '${def}')`);
      return def;
    }
    return v as T;
  };

  // The sender and the identity the function may send as.
  const emailFrom = str('emailFrom');
  let senderAddress: string | undefined;
  if (emailFrom === undefined) {
    fail('emailFrom', 'is required; set it to the SES-verified sender, e.g. "Acme <no-reply@acme.example>"');
  } else if (!Token.isUnresolved(emailFrom)) {
    senderAddress = parseSender(emailFrom);
    if (senderAddress === undefined) {
      fail('emailFrom', `${show(emailFrom)} is not an email address; use "no-reply@acme.example" or "Acme <no-reply@acme.example>"`);
    }
  }
  let sesIdentity = str('sesIdentity');
  if (sesIdentity !== undefined && !Token.isUnresolved(sesIdentity)) {
    if (!/^[^\s/*]+$/.test(sesIdentity)) {
      fail('sesIdentity', `${show(sesIdentity)} is not accepted; use the verified domain (acme.example) or address, without spaces, / or *`);
    } else if (senderAddress !== undefined && !identityCovers(sesIdentity, senderAddress)) {
      fail('sesIdentity', `${show(sesIdentity)} does not cover emailFrom's address ${show(senderAddress)}; the function may send only as this identity, so use that address or its domain`);
    }
  }
  if (sesIdentity === undefined) {
    if (senderAddress !== undefined) {
      sesIdentity = senderAddress.slice(senderAddress.lastIndexOf('@') + 1);
    } else if (emailFrom !== undefined && Token.isUnresolved(emailFrom)) {
      fail('sesIdentity', 'is required when emailFrom is a token (its domain cannot be read at synth)');
    }
  }

  const authFlow = oneOf<AuthFlow>('authFlow', 'mfa', ['mfa', 'passwordless', 'both']);
  const codeLength = int('codeLength', 6, 6, 10);
  const codeTtlSeconds = seconds('codeTtl', 300, 30, 3600, 'minutes(5)');
  const maxAttempts = int('maxAttempts', 3, 1, 10);
  const resendCooldownSeconds = seconds('resendCooldown', 30, 10, 600, 'seconds(30)');
  const sendLimit = int('sendLimit', 5, 1, 100);
  const sendWindowSeconds = seconds('sendWindow', 3600, 60, 86400, 'hours(1)');
  const challengeStore = oneOf<ChallengeStore>('challengeStore', 'attribute', ['attribute', 'dynamodb']);
  const challengeTablePointInTimeRecovery = bool('challengeTablePointInTimeRecovery', false);
  if (props.challengeTablePointInTimeRecovery !== undefined && challengeStore !== 'dynamodb') {
    fail('challengeTablePointInTimeRecovery', "applies to the challenge table only; set challengeStore: 'dynamodb' too, or leave it out");
  }

  const preSignUp = bool('preSignUp', true);
  const signUpAutoConfirm = bool('signUpAutoConfirm', true);
  if (props.signUpAutoConfirm !== undefined && !preSignUp) {
    fail('signUpAutoConfirm', 'is read by the PreSignUp trigger only; set preSignUp: true too, or leave it out');
  }
  let signUpAllowedDomains: string[] | undefined;
  if (props.signUpAllowedDomains !== undefined) {
    const raw = props.signUpAllowedDomains as unknown;
    const list = Array.isArray(raw) ? raw : [];
    const domains = list.map((d) => (typeof d === 'string' ? d.trim().replace(/^@/, '').toLowerCase() : ''));
    if (!Array.isArray(raw) || domains.length === 0 ||
        domains.some((d) => d === '' || !d.includes('.') || /[\s,]/.test(d) || Token.isUnresolved(d))) {
      fail('signUpAllowedDomains', `${JSON.stringify(raw)} is not accepted; use a non-empty list of domains, e.g. ['example.org', 'example.com']`);
    } else {
      signUpAllowedDomains = [...new Set(domains)];
    }
  }

  // The email.
  let appName = str('appName');
  if (appName !== undefined) {
    const trimmed = appName.trim();
    if (trimmed === '' || [...trimmed].length > 64 || hasControlOrLineBreak(trimmed)) {
      fail('appName', `${show(appName)} is not accepted; use one line of at most 64 characters`);
    }
    appName = trimmed;
  }
  let emailSubject = str('emailSubject');
  if (emailSubject !== undefined) {
    emailSubject = emailSubject.trim();
    if (emailSubject === '' || hasControl(emailSubject) || Buffer.byteLength(emailSubject, 'utf8') > 200) {
      fail('emailSubject', `${show(props.emailSubject)} is not accepted; use one line of at most 200 bytes (UTF-8)`);
    }
  }
  const emailCodeInSubject = bool('emailCodeInSubject', false);

  const sesTemplate = str('sesTemplate');
  let sesTemplateLocales: string[] | undefined;
  if (props.sesTemplateLocales !== undefined) {
    const raw = props.sesTemplateLocales as unknown;
    const parsed = Array.isArray(raw) ? raw.map((l) => (typeof l === 'string' ? parseLocale(l) : undefined)) : [];
    if (parsed.length === 0 || parsed.some((l) => l === undefined)) {
      fail('sesTemplateLocales', `${JSON.stringify(raw)} is not accepted; use a list of language tags, e.g. ['en', 'de', 'pt-BR']`);
    } else {
      sesTemplateLocales = [...new Set(parsed as string[])];
    }
    if (sesTemplate === undefined) {
      fail('sesTemplateLocales', 'is set without sesTemplate; set sesTemplate: \'name-{locale}\' too, or leave it out');
    }
  }
  const offered = sesTemplate !== undefined && sesTemplateLocales !== undefined ? sesTemplateLocales : [...BUNDLED_LOCALES];
  if (sesTemplate !== undefined && offered.some((l) => !/^[A-Za-z0-9_-]{1,64}$/.test(sesTemplate.split('{locale}').join(l)))) {
    fail('sesTemplate', `${show(sesTemplate)} is not accepted; use an SES template name (1 to 64 letters, digits, _ or -), optionally with {locale} in it, e.g. 'otp-{locale}'`);
  }
  let emailDefaultLocale = 'en';
  const localeProp = str('emailDefaultLocale');
  if (localeProp === undefined) {
    if (!offered.includes('en')) {
      fail('emailDefaultLocale', 'is required when sesTemplateLocales does not list en; set it to one of the listed locales');
    }
  } else {
    const l = parseLocale(localeProp);
    if (l === undefined || !offered.includes(l)) {
      fail('emailDefaultLocale', `${show(localeProp)} is not accepted; use one of the locales on offer: ${offered.join(', ')} (default en)`);
    } else {
      emailDefaultLocale = l;
    }
  }

  const signInLinkUrl = str('signInLinkUrl');
  if (signInLinkUrl !== undefined) {
    if (authFlow === 'mfa') {
      fail('signInLinkUrl', "is set, but authFlow is 'mfa': a link signs in without the password, so it is only sent for passwordless sign-ins (authFlow 'passwordless' or 'both'); leave it out");
    } else if (!validLinkBase(signInLinkUrl)) {
      fail('signInLinkUrl', `${show(signInLinkUrl)} is not accepted; use the https:// address of your sign-in page (http:// only on localhost or 127.0.0.1), without a # fragment`);
    }
  }
  const sesConfigurationSet = str('sesConfigurationSet');
  if (sesConfigurationSet !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(sesConfigurationSet)) {
    fail('sesConfigurationSet', `${show(sesConfigurationSet)} is not accepted; use an SES configuration set name (1 to 64 letters, digits, _ or -)`);
  }

  // Operations.
  const metricsNamespace = str('metricsNamespace') ?? 'CognitoEmailOtp';
  if (Buffer.byteLength(metricsNamespace) > 255 || !/^[A-Za-z0-9 ._/#:-]{1,255}$/.test(metricsNamespace) || metricsNamespace.startsWith('AWS/')) {
    fail('metricsNamespace', `${show(metricsNamespace)} is not accepted; use 1 to 255 letters, digits or . - _ / # : and space, and not the AWS/ prefix (default CognitoEmailOtp)`);
  }
  const metricsPoolIdDimension = bool('metricsPoolIdDimension', false);

  let logRetention = logs.RetentionDays.ONE_MONTH;
  if (props.logRetention !== undefined) {
    if (!FINITE_RETENTIONS.has(props.logRetention as number)) {
      fail('logRetention', `${show(props.logRetention)} is not accepted; use a finite logs.RetentionDays (ONE_DAY to TEN_YEARS; default ONE_MONTH)`);
    } else {
      logRetention = props.logRetention;
    }
  }
  const alarms = bool('alarms', true);
  if (props.alarmTopic !== undefined && !alarms) {
    fail('alarmTopic', 'is set, but alarms is false; set alarms: true, or leave alarmTopic out');
  }
  const alarmErrorsPer5Minutes = int('alarmErrorsPer5Minutes', 3, 1, Number.MAX_SAFE_INTEGER);
  if (props.alarmErrorsPer5Minutes !== undefined && !alarms) {
    fail('alarmErrorsPer5Minutes', 'is set, but alarms is false; set alarms: true, or leave it out');
  }
  const dashboard = bool('dashboard', false);
  let wafRequestsPer5Minutes = 0;
  if (props.wafRequestsPer5Minutes !== undefined && props.wafRequestsPer5Minutes !== 0) {
    wafRequestsPer5Minutes = int('wafRequestsPer5Minutes', 0, 10, 2_000_000_000);
  }

  let architecture = lambda.Architecture.ARM_64;
  if (props.architecture !== undefined) {
    const name = (props.architecture as { name?: unknown }).name;
    if (name === lambda.Architecture.ARM_64.name) architecture = lambda.Architecture.ARM_64;
    else if (name === lambda.Architecture.X86_64.name) architecture = lambda.Architecture.X86_64;
    else fail('architecture', `${show(name ?? props.architecture)} is not accepted; use lambda.Architecture.ARM_64 or X86_64`);
  }

  if (problems.length > 0) throw new EmailOtpError(path, problems);
  return {
    emailFrom: emailFrom!,
    senderAddress,
    sesIdentity: sesIdentity!,
    authFlow,
    codeLength,
    codeTtlSeconds,
    maxAttempts,
    resendCooldownSeconds,
    sendLimit,
    sendWindowSeconds,
    challengeStore,
    challengeTablePointInTimeRecovery,
    preSignUp,
    signUpAutoConfirm,
    signUpAllowedDomains,
    appName,
    emailDefaultLocale,
    emailSubject,
    emailCodeInSubject,
    signInLinkUrl,
    sesTemplate,
    sesTemplateLocales,
    sesConfigurationSet,
    metricsNamespace,
    metricsPoolIdDimension,
    logRetention,
    alarms,
    alarmTopic: props.alarmTopic,
    alarmErrorsPer5Minutes,
    dashboard,
    wafRequestsPer5Minutes,
    architecture,
  };
}

// The function's own parsers, in TypeScript (crates/otp-domain: email.rs, locale.rs, message.rs),
// so that synth refuses exactly what the function would refuse at start-up.

/** `addr` or `Display Name <addr>`; returns the address, or undefined. */
export function parseSender(s: string): string | undefined {
  s = s.trim();
  const open = s.indexOf('<');
  if (open < 0) return parseAddress(s);
  if (!s.endsWith('>')) return undefined;
  const display = s.slice(0, open).trim().replace(/^"+|"+$/g, '').trim();
  if (hasControl(display) || /[<>"]/.test(display)) return undefined;
  return parseAddress(s.slice(open + 1, -1));
}

function parseAddress(s: string): string | undefined {
  s = s.trim();
  if (s === '' || Buffer.byteLength(s) > 254 || /\s/u.test(s) || hasControl(s) || /[<>,;"]/.test(s)) return undefined;
  const at = s.indexOf('@');
  if (at <= 0) return undefined;
  const domain = s.slice(at + 1);
  if (domain.includes('@')) return undefined;
  const labels = domain.split('.');
  if (labels.length < 2 || labels.some((l) => l === '')) return undefined;
  return s;
}

/** Whether SES identity `identity` (a domain or an address) covers sending from `address`. */
function identityCovers(identity: string, address: string): boolean {
  const id = identity.toLowerCase();
  const addr = address.toLowerCase();
  if (id.includes('@')) return id === addr;
  const domain = addr.slice(addr.lastIndexOf('@') + 1);
  // A verified domain also covers its subdomains (SES: "Creating a domain identity").
  return domain === id || domain.endsWith(`.${id}`);
}

/** A BCP 47 tag in its canonical case (`pt_br` -> `pt-BR`), or undefined. */
export function parseLocale(tag: string): string | undefined {
  tag = tag.trim();
  if (tag.length > 35) return undefined;
  const parts: string[] = [];
  for (const [i, sub] of tag.split(/[-_]/).entries()) {
    const alpha = /^[A-Za-z]+$/.test(sub);
    if (sub === '' || sub.length > 8 || !/^[A-Za-z0-9]+$/.test(sub)) return undefined;
    if (i === 0 && !(alpha && sub.length >= 2 && sub.length <= 3)) return undefined;
    if (sub.length === 2 && i > 0 && alpha) parts.push(sub.toUpperCase());
    else if (sub.length === 4 && alpha) parts.push(sub[0]!.toUpperCase() + sub.slice(1).toLowerCase());
    else parts.push(sub.toLowerCase());
  }
  return parts.join('-');
}

function validLinkBase(url: string): boolean {
  url = url.trim();
  let rest: string;
  if (url.startsWith('https://')) rest = url.slice('https://'.length);
  else if (url.startsWith('http://') && isLoopback(url.slice('http://'.length))) rest = url.slice('http://'.length);
  else return false;
  const host = rest.split(/[/?]/)[0] ?? '';
  return url.length <= 1024 && host !== '' && !host.includes('@') &&
    /^[\x21-\x7e]+$/.test(url) && !/[#"'<>`\\{}|^]/.test(url);
}

function isLoopback(rest: string): boolean {
  const hostPort = rest.split(/[/?]/)[0] ?? '';
  const colon = hostPort.lastIndexOf(':');
  const host = colon >= 0 && /^[0-9]*$/.test(hostPort.slice(colon + 1)) ? hostPort.slice(0, colon) : hostPort;
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

function hasControl(s: string): boolean {
  return /\p{Cc}/u.test(s);
}

function hasControlOrLineBreak(s: string): boolean {
  return hasControl(s) || /[\u2028\u2029\u0085]/.test(s);
}
