import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  Annotations, ArnFormat, CfnResource, Duration, Fn, IResolvable, Names, RemovalPolicy, Stack, Token, Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct, IConstruct } from 'constructs';

import {
  CHALLENGE_ATTRIBUTE, CHALLENGE_ATTRIBUTE_MAX_LENGTH, CHALLENGE_ATTRIBUTE_NAME, challengeAttributeProblem,
  clientFindings, poolFindings,
} from './guards';
import { EmailOtpProps, EmailOtpError, Settings, resolveSettings } from './props';

/**
 * The options {@link EmailOtp.addClient} takes: everything about an app client that cannot undo
 * the guarantees. The auth flows, OAuth and PreventUserExistenceErrors are not options: the
 * client gets custom auth only, no OAuth, and existence errors prevented.
 */
export interface EmailOtpClientOptions {
  /** The client's name. @default - a generated name */
  readonly userPoolClientName?: string;
  /** Give the client a secret (server-side apps; every call then needs SECRET_HASH). @default false */
  readonly generateSecret?: boolean;
  /**
   * What the client may read; never `custom:authChallenge`.
   * @default - email and email_verified
   */
  readonly readAttributes?: cognito.ClientAttributes;
  /**
   * What the client may write; never `custom:authChallenge`. `email` stays writable so sign-up
   * can pass the address; the pool keeps a changed address pending until it is verified.
   * @default - email
   */
  readonly writeAttributes?: cognito.ClientAttributes;
  /**
   * How long a user has to answer each challenge, 3 to 15 minutes, and at least the code's
   * validity (`codeTtl`).
   * @default - 10 minutes, or the code's validity rounded up to whole minutes if longer (at most 15)
   */
  readonly authSessionValidity?: Duration;
  /** How long access tokens are valid. @default Duration.minutes(60) */
  readonly accessTokenValidity?: Duration;
  /** How long ID tokens are valid. @default Duration.minutes(60) */
  readonly idTokenValidity?: Duration;
  /** How long refresh tokens are valid. @default Duration.days(30) */
  readonly refreshTokenValidity?: Duration;
  /** Let refresh tokens be revoked. @default true */
  readonly enableTokenRevocation?: boolean;
}

const CLIENT_OPTIONS: ReadonlyArray<keyof EmailOtpClientOptions> = [
  'userPoolClientName', 'generateSecret', 'readAttributes', 'writeAttributes', 'authSessionValidity',
  'accessTokenValidity', 'idTokenValidity', 'refreshTokenValidity', 'enableTokenRevocation',
];

/** Where `make build` writes the deploy zip, relative to cargo's target directory. */
const BUILD_ZIP = path.join('lambda', 'cognito-email-otp', 'bootstrap.zip');

/**
 * Email one-time codes for a Cognito user pool: the `cognito-email-otp` function on the pool's
 * custom-auth triggers (Define, Create, Verify, and PreSignUp unless `preSignUp: false`), with the
 * stack infra/template.yaml builds around it: the code key generated in Secrets Manager and passed
 * by ARN, the log group with retention, least-privilege IAM (no managed policy), the optional
 * challenge table, alarms, dashboard and AWS WAF rate limit.
 *
 * It also settles the pool (adds `custom:authChallenge`, keeps a changed email pending until
 * verified, turns pool MFA off) and, at synth, refuses every app client of the pool in the app
 * that would let a sign-in skip the code or see the state: make clients with {@link addClient}.
 *
 * @example
 * const pool = new cognito.UserPool(stack, 'Users', { signInAliases: { email: true },
 *   accountRecovery: cognito.AccountRecovery.NONE });
 * const otp = new EmailOtp(stack, 'Otp', { userPool: pool, emailFrom: 'Acme <no-reply@acme.example>' });
 * otp.addClient('Web');
 */
export class EmailOtp extends Construct {
  /** The trigger function. */
  public readonly function: lambda.Function;
  /** The function's role: exactly the grants listed in docs/infra.md, no managed policy. */
  public readonly role: iam.Role;
  /** The code HMAC key, generated at deploy; only the function's role may read it. */
  public readonly codeKey: secretsmanager.Secret;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  /** The challenge table, with `challengeStore: 'dynamodb'`. */
  public readonly table?: dynamodb.Table;
  /** The alarms on DeliveryError and StoreError, unless `alarms: false`. */
  public readonly alarms: cloudwatch.Alarm[] = [];
  /** The dashboard, with `dashboard: true`. */
  public readonly dashboard?: cloudwatch.Dashboard;
  /** The AWS WAF web ACL, with `wafRequestsPer5Minutes`. */
  public readonly webAcl?: wafv2.CfnWebACL;
  /** The guarded pool. */
  public readonly userPool: cognito.UserPool;
  /** The props as checked, with their defaults. */
  public readonly settings: Settings;

  constructor(scope: Construct, id: string, props: EmailOtpProps) {
    super(scope, id);
    const settings = resolveSettings(this.node.path, props);
    this.settings = settings;
    const pool = ownedPool(this.node.path, props.userPool);
    this.userPool = pool;
    const cfnPool = pool.node.defaultChild as cognito.CfnUserPool;
    settlePool(this, cfnPool, settings);
    const code = props.code ?? defaultCode(this.node.path, settings);
    const stack = Stack.of(this);

    // The HMAC key: generated at deploy, never a literal or a prop. The function gets its ARN and
    // reads it at first use, so the key is in no environment variable and no output.
    this.codeKey = new secretsmanager.Secret(this, 'CodeHmacKey', {
      description: 'The code HMAC key for cognito-email-otp (keys the stored hash of every code); read by the function at first use.',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    acknowledge(this.codeKey, 'AwsSolutions-SMG4',
      'No rotation Lambda: rotating the code key is a redeploy, which only invalidates the codes outstanding at that moment (docs/deploying.md).');

    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: settings.logRetention });

    // The role holds exactly the grants of docs/infra.md. Lambda's managed
    // AWSLambdaBasicExecutionRole would allow logs:CreateLogGroup and every log group.
    const logGroupArn = stack.formatArn({
      service: 'logs', resource: 'log-group', resourceName: this.logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const sesArn = (resource: string, name: string) =>
      stack.formatArn({ service: 'ses', resource, resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    const sesResources = [sesArn('identity', settings.sesIdentity)];
    if (settings.sesConfigurationSet !== undefined) sesResources.push(sesArn('configuration-set', settings.sesConfigurationSet));
    // One template, or every otp-{locale} one: {locale} becomes a wildcard.
    if (settings.sesTemplate !== undefined) sesResources.push(sesArn('template', settings.sesTemplate.split('{locale}').join('*')));
    const policies: Record<string, iam.PolicyDocument> = {
      // Not logGroupArn: that attribute already ends in ":*" (issue 14). IAM checks CreateLogStream
      // and PutLogEvents against the log-stream ARN; the group's ARN is listed for a log-group
      // check of CreateLogStream. This group only.
      logs: new iam.PolicyDocument({
        statements: [new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroupArn, `${logGroupArn}:log-stream:*`],
        })],
      }),
      // Ref of the secret is its full ARN (with Secrets Manager's suffix): this one secret.
      'read-code-key': new iam.PolicyDocument({
        statements: [new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.codeKey.secretArn] })],
      }),
      'send-code-email': new iam.PolicyDocument({
        statements: [new iam.PolicyStatement({ actions: ['ses:SendEmail'], resources: sesResources })],
      }),
    };
    if (settings.challengeStore === 'dynamodb') {
      // Transient, hashed state: replacing or deleting the table only makes users in mid-sign-in
      // start again, so it goes with the stack.
      this.table = new dynamodb.Table(this, 'ChallengeTable', {
        partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        timeToLiveAttribute: 'ttl',
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: settings.challengeTablePointInTimeRecovery },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      if (!settings.challengeTablePointInTimeRecovery) {
        acknowledge(this.table, 'AwsSolutions-DDB3',
          'Point-in-time recovery is a prop, off by default: items hold only hashed, minutes-long state, and a restore would bring back spent codes\' counters (docs/stores.md).');
      }
      // The two calls the DynamoDB store makes (docs/infra.md), on this table alone; not
      // table.grant*, whose action groups include calls the function never makes.
      policies['challenge-table'] = new iam.PolicyDocument({
        statements: [new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], resources: [this.table.tableArn] })],
      });
    }
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'cognito-email-otp: logs, the code key, SES, and (a separate policy) the user pool',
      inlinePolicies: policies,
    });
    acknowledge(this.role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<${stack.getLogicalId(this.logGroup.node.defaultChild as logs.CfnLogGroup)}>:log-stream:*]`,
      'Log streams are created by Lambda with names it chooses; the grant is this function\'s own log group only (docs/infra.md).');
    if (settings.sesTemplate?.includes('{locale}')) {
      acknowledge(this.role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:template/${settings.sesTemplate.split('{locale}').join('*')}]`,
        'One SES template per locale (sesTemplate with {locale}): the wildcard stands for the locale in the configured name only.');
    }

    this.function = new lambda.Function(this, 'Function', {
      description: 'Email one-time codes for Cognito custom auth (Define, Create, Verify, PreSignUp).',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code,
      architecture: settings.architecture,
      memorySize: 128,
      // Cognito stops waiting at 5 s; the function budgets itself to 4 s.
      timeout: Duration.seconds(5),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: environment(this, settings),
    });

    // Everything that names the pool lives under the pool (in its stack): the Cognito grant, the
    // invoke permissions (CDK's addTrigger scopes them to the pool), the WAF association, and
    // pool-dimensioned alarms. The function and its role never wait for the pool, so there is no
    // pool -> function -> role -> pool cycle, and a pool in another stack (Amplify Gen 2's auth
    // stack beside backend.createStack) depends on this stack, never the reverse.
    const poolSide = new Construct(pool, `EmailOtp${Names.uniqueId(this)}`);
    const cognitoActions = ['cognito-idp:AdminUpdateUserAttributes'];
    // With the table, only the first correct code's email_verified is written to the pool.
    if (settings.challengeStore === 'attribute') cognitoActions.push('cognito-idp:AdminGetUser');
    new iam.Policy(poolSide, 'CognitoWrite', {
      roles: [this.role],
      statements: [new iam.PolicyStatement({ actions: cognitoActions, resources: [pool.userPoolArn] })],
    });

    addTrigger(this.node.path, pool, cognito.UserPoolOperation.DEFINE_AUTH_CHALLENGE, this.function);
    addTrigger(this.node.path, pool, cognito.UserPoolOperation.CREATE_AUTH_CHALLENGE, this.function);
    addTrigger(this.node.path, pool, cognito.UserPoolOperation.VERIFY_AUTH_CHALLENGE_RESPONSE, this.function);
    if (settings.preSignUp) addTrigger(this.node.path, pool, cognito.UserPoolOperation.PRE_SIGN_UP, this.function);

    const metricsScope = settings.metricsPoolIdDimension ? poolSide : this;
    const dimensions: Record<string, string> = { Flow: settings.authFlow };
    if (settings.metricsPoolIdDimension) dimensions.UserPoolId = pool.userPoolId;
    const metric = (metricName: string, statistic = 'Sum') => new cloudwatch.Metric({
      namespace: settings.metricsNamespace, metricName, dimensionsMap: dimensions, statistic, period: Duration.minutes(5),
    });
    if (settings.alarms) {
      const alarm = (alarmId: string, metricName: string, description: string) => {
        const a = new cloudwatch.Alarm(metricsScope, alarmId, {
          alarmDescription: description,
          metric: metric(metricName),
          threshold: settings.alarmErrorsPer5Minutes,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
        if (settings.alarmTopic !== undefined) {
          a.addAlarmAction(new cwActions.SnsAction(settings.alarmTopic));
          a.addOkAction(new cwActions.SnsAction(settings.alarmTopic));
        }
        this.alarms.push(a);
      };
      alarm('DeliveryErrorAlarm', 'DeliveryError', 'SES is not taking sign-in emails (throttling, rejection, outage). Users cannot get codes.');
      alarm('StoreErrorAlarm', 'StoreError', 'The challenge state cannot be written (Cognito UserUpdate throttling, DynamoDB, or an outage). Sign-ins fail.');
    }
    if (settings.dashboard) {
      this.dashboard = new cloudwatch.Dashboard(metricsScope, 'Dashboard', {
        widgets: [[
          new cloudwatch.GraphWidget({ title: 'Codes', width: 12, left: ['CodeSent', 'CodeReused', 'SendLimited', 'DecoyChallenge'].map((m) => metric(m)) }),
          new cloudwatch.GraphWidget({ title: 'Answers and sign-ins', width: 12, left: ['AnswerAccepted', 'AnswerRejected', 'SignInFailed'].map((m) => metric(m)) }),
        ], [
          new cloudwatch.GraphWidget({ title: 'Errors', width: 12, left: ['DeliveryError', 'StoreError'].map((m) => metric(m)) }),
          new cloudwatch.GraphWidget({ title: 'Duration (ms)', width: 12, left: ['p50', 'p99', 'Maximum'].map((s) => metric('Duration', s)) }),
        ]],
      });
    }

    if (settings.wafRequestsPer5Minutes > 0) {
      // One rate-based rule per source IP on the pool's endpoints (docs/infra.md, "AWS WAF").
      const metricName = Names.uniqueId(this).slice(-100);
      this.webAcl = new wafv2.CfnWebACL(this, 'UserPoolWebAcl', {
        description: 'Rate limit per source IP address for the cognito-email-otp user pool.',
        scope: 'REGIONAL',
        defaultAction: { allow: {} },
        rules: [{
          name: 'requests-per-ip',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: settings.wafRequestsPer5Minutes, evaluationWindowSec: 300 } },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${metricName}-requests-per-ip`, sampledRequestsEnabled: true },
        }],
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${metricName}-user-pool`, sampledRequestsEnabled: true },
      });
      new wafv2.CfnWebACLAssociation(poolSide, 'WebAclAssociation', {
        resourceArn: pool.userPoolArn,
        webAclArn: this.webAcl.attrArn,
      });
    }

    // At synth, after every construct of the app exists: the pool still guarded, and every app
    // client of it in the app unable to skip the code or see the state.
    this.node.addValidation({ validate: () => this.validateGuards() });
  }

  /**
   * An app client of the pool that keeps the guarantees: custom auth (and refresh) only, no
   * OAuth, existence errors prevented, `custom:authChallenge` neither readable nor writable, and
   * an AuthSessionValidity at least as long as a code is valid.
   */
  public addClient(id: string, options: EmailOtpClientOptions = {}): cognito.UserPoolClient {
    const problems: string[] = [];
    for (const key of Object.keys(options)) {
      if (!(CLIENT_OPTIONS as readonly string[]).includes(key) && (options as Record<string, unknown>)[key] !== undefined) {
        problems.push(`${key}: not an option of addClient (the flows, OAuth and existence errors are fixed so that the client keeps the guarantees)`);
      }
    }
    for (const prop of ['readAttributes', 'writeAttributes'] as const) {
      if (options[prop]?.attributes().includes(CHALLENGE_ATTRIBUTE)) {
        problems.push(`${prop}: lists ${CHALLENGE_ATTRIBUTE}, the code state; leave it out`);
      }
    }
    const ttl = this.settings.codeTtlSeconds;
    let session = options.authSessionValidity;
    if (session === undefined) {
      if (ttl > 15 * 60) {
        Annotations.of(this).addWarningV2('cognito-email-otp:sessionShorterThanCode',
          `addClient('${id}'): codeTtl is ${ttl} s, longer than the longest AuthSessionValidity (15 minutes); a user who reads the email after 15 minutes must start again (a new sign-in reuses the mailed code).`);
      }
      session = Duration.minutes(Math.min(15, Math.max(10, Math.ceil(ttl / 60))));
    } else if (!session.isUnresolved()) {
      const s = session.toSeconds();
      if (s < 180 || s > 900) problems.push(`authSessionValidity: ${session.toHumanString()} is not accepted; use 3 to 15 minutes`);
      else if (s < ttl) problems.push(`authSessionValidity: ${session.toHumanString()} ends a sign-in before its code expires (codeTtl ${ttl} s); use at least Duration.seconds(${ttl})`);
    }
    if (problems.length > 0) throw new EmailOtpError(`${this.node.path}.addClient('${id}')`, problems);
    return this.userPool.addClient(id, {
      userPoolClientName: options.userPoolClientName,
      generateSecret: options.generateSecret ?? false,
      // Custom auth only: the mfa flow's SRP steps run inside CUSTOM_AUTH; USER_SRP_AUTH or
      // USER_PASSWORD_AUTH would let a password alone sign in.
      authFlows: { custom: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      readAttributes: options.readAttributes ?? new cognito.ClientAttributes().withStandardAttributes({ email: true, emailVerified: true }),
      writeAttributes: options.writeAttributes ?? new cognito.ClientAttributes().withStandardAttributes({ email: true }),
      authSessionValidity: session,
      accessTokenValidity: options.accessTokenValidity,
      idTokenValidity: options.idTokenValidity,
      refreshTokenValidity: options.refreshTokenValidity,
      enableTokenRevocation: options.enableTokenRevocation,
    });
  }

  private validateGuards(): string[] {
    const errors: string[] = [];
    const cfnPool = this.userPool.node.defaultChild as cognito.CfnUserPool;
    errors.push(...poolFindings(renderedProperties(cfnPool), this.settings.authFlow));
    const clients = guardedClients(this.node.root, this.userPool);
    for (const client of clients) {
      const props = renderedProperties(client);
      const name = `${typeof props.ClientName === 'string' ? `"${props.ClientName}" ` : ''}(${client.node.path})`;
      const found = clientFindings(name, props, this.settings.codeTtlSeconds);
      errors.push(...found.errors);
      for (const w of found.warnings) Annotations.of(client).addWarningV2('cognito-email-otp:sessionShorterThanCode', w);
    }
    return errors;
  }
}

/** The pool, if it is one this app defines (the construct must be able to change it). */
function ownedPool(where: string, pool: unknown): cognito.UserPool {
  const candidate = pool as cognito.UserPool | undefined;
  const child = candidate?.node?.defaultChild;
  // Duck-typed, not instanceof: an app may load two copies of aws-cdk-lib (Amplify's and its own).
  if (candidate === undefined || typeof candidate.addTrigger !== 'function' || !CfnResource.isCfnResource(child) ||
      child.cfnResourceType !== 'AWS::Cognito::UserPool') {
    throw new EmailOtpError(where, [
      'userPool: must be a cognito.UserPool defined in this app (not UserPool.fromUserPoolId or another import): the construct sets its triggers, schema and MFA. For a pool outside this app, see docs/deploying.md ("Wiring an existing pool instead").',
    ]);
  }
  return candidate;
}

/**
 * Puts on the pool what the template's pool has: the challenge attribute, email changes held
 * until verified, pool MFA off. Refuses what it cannot put right.
 */
function settlePool(scope: Construct, cfn: cognito.CfnUserPool, settings: Settings): void {
  const problems: string[] = [];
  const mfa = cfn.mfaConfiguration;
  if (mfa === undefined || mfa === 'OFF') {
    // Explicit, as in the template: Cognito's default is OFF, but an explicit value survives a
    // later default change and tells the reader.
    cfn.mfaConfiguration = 'OFF';
  } else if (mfa === 'OPTIONAL') {
    cfn.mfaConfiguration = 'OFF';
    cfn.enabledMfas = undefined;
    Annotations.of(scope).addWarningV2('cognito-email-otp:mfaTurnedOff',
      'userPool: mfa was OPTIONAL; EmailOtp turned it OFF. A user with an MFA factor would get Cognito\'s own MFA step after the password, which the function\'s Define refuses. Set mfa: Mfa.OFF on the pool to silence this.');
  } else {
    problems.push(`userPool: MFA is ${Token.isUnresolved(mfa) ? 'set by a token' : JSON.stringify(mfa)} (Mfa.REQUIRED); EmailOtp will not turn off an MFA you required, and Cognito's own step would follow the password, which the function's Define refuses. Create the pool with mfa: Mfa.OFF: the emailed code is the second factor.`);
  }

  // cdk-nag's COG2 asks for Cognito MFA; here the emailed code is the second factor, and
  // Cognito's own MFA would break the custom flow.
  Validations.of(cfn).acknowledge({
    id: 'AwsSolutions-COG2',
    reason: 'MFA is the emailed one-time code of cognito-email-otp (custom auth); Cognito\'s own MFA step after the password would break the custom flow, so EmailOtp keeps pool MFA off.',
  });

  const schema = cfn.schema;
  if (schema !== undefined && !Array.isArray(schema)) {
    problems.push('userPool: its schema is a token; EmailOtp cannot add custom:authChallenge to it. Give the schema as a list.');
  } else {
    const entries = (schema ?? []) as Array<cognito.CfnUserPool.SchemaAttributeProperty | IResolvable>;
    const existing = entries.find((a) => (a as cognito.CfnUserPool.SchemaAttributeProperty).name === CHALLENGE_ATTRIBUTE_NAME) as
      cognito.CfnUserPool.SchemaAttributeProperty | undefined;
    if (existing === undefined) {
      // String, mutable, up to 2048: the template's attribute. Cognito cannot change a custom
      // attribute once the pool exists, and adds new ones in place.
      cfn.schema = [...entries, {
        name: CHALLENGE_ATTRIBUTE_NAME,
        attributeDataType: 'String',
        mutable: true,
        stringAttributeConstraints: { minLength: '0', maxLength: String(CHALLENGE_ATTRIBUTE_MAX_LENGTH) },
      }];
    } else {
      const c = existing.stringAttributeConstraints as cognito.CfnUserPool.StringAttributeConstraintsProperty | undefined;
      const problem = challengeAttributeProblem({
        AttributeDataType: existing.attributeDataType, Mutable: existing.mutable,
        StringAttributeConstraints: c === undefined ? undefined : { MaxLength: c.maxLength },
      });
      if (problem !== undefined) problems.push(`userPool: ${problem}`);
    }
  }

  // A changed email takes effect only once the new address is verified: until then sign-in and
  // its codes stay on the old address. The setting needs email in AutoVerifiedAttributes.
  const auto = cfn.autoVerifiedAttributes;
  if (auto !== undefined && !Array.isArray(auto)) {
    problems.push('userPool: autoVerifiedAttributes is a token; EmailOtp cannot add email to it. Give it as a list.');
  } else if (!(auto ?? []).includes('email')) {
    cfn.autoVerifiedAttributes = [...(auto ?? []), 'email'];
  }
  const update = cfn.userAttributeUpdateSettings as cognito.CfnUserPool.UserAttributeUpdateSettingsProperty | IResolvable | undefined;
  const held = (update as cognito.CfnUserPool.UserAttributeUpdateSettingsProperty | undefined)?.attributesRequireVerificationBeforeUpdate;
  if (update !== undefined && (Token.isUnresolved(update) || !Array.isArray(held))) {
    problems.push('userPool: userAttributeUpdateSettings is a token; EmailOtp cannot add email to it. Give it literally.');
  } else if (!(held ?? []).includes('email')) {
    cfn.userAttributeUpdateSettings = { attributesRequireVerificationBeforeUpdate: [...(held ?? []), 'email'] };
  }

  // The rest cannot be put right by the construct without overriding a choice: refuse it now
  // (and again at synth, should it change later).
  const mfaRefused = problems.some((p) => p.startsWith('userPool: MFA is'));
  for (const p of poolFindings(renderedProperties(cfn), settings.authFlow)) {
    if (mfaRefused && p.startsWith('userPool: MfaConfiguration')) continue;
    if (!problems.includes(p)) problems.push(p);
  }
  if (problems.length > 0) throw new EmailOtpError((scope as IConstruct).node.path, problems);
}

function addTrigger(where: string, pool: cognito.UserPool, op: cognito.UserPoolOperation, fn: lambda.IFunction): void {
  try {
    pool.addTrigger(op, fn);
  } catch (e) {
    const hint = op === cognito.UserPoolOperation.PRE_SIGN_UP ? " Set preSignUp: false to keep the pool's own PreSignUp trigger." : ' The custom-auth triggers must all be this function.';
    throw new EmailOtpError(where, [`userPool: already has a ${op.operationName} trigger (${(e as Error).message}).${hint}`]);
  }
}

/** The function's environment: the README's table, from the checked props. */
function environment(scope: EmailOtp, s: Settings): Record<string, string> {
  const env: Record<string, string> = {
    EMAIL_FROM: s.emailFrom,
    // The ARN, not the key: the function calls GetSecretValue at first use. A dynamic reference
    // here would put the key in plain text in the function configuration.
    CODE_HMAC_KEY_SECRET_ARN: scope.codeKey.secretArn,
    // The UUID at the end of the stack ID: unique per stack, stable across updates, not secret.
    // It keys the decoys for unknown users and the user references in logs (docs/infra.md).
    REFERENCE_KEY: Fn.select(2, Fn.split('/', Stack.of(scope).stackId)),
    AUTH_FLOW: s.authFlow,
    CODE_LENGTH: String(s.codeLength),
    CODE_TTL_SECONDS: String(s.codeTtlSeconds),
    MAX_ATTEMPTS: String(s.maxAttempts),
    RESEND_COOLDOWN_SECONDS: String(s.resendCooldownSeconds),
    SEND_LIMIT: String(s.sendLimit),
    SEND_WINDOW_SECONDS: String(s.sendWindowSeconds),
    CHALLENGE_ATTRIBUTE,
    CHALLENGE_STORE: s.challengeStore,
    EMAIL_DEFAULT_LOCALE: s.emailDefaultLocale,
    EMAIL_CODE_IN_SUBJECT: String(s.emailCodeInSubject),
    SIGNUP_AUTO_CONFIRM: String(s.signUpAutoConfirm),
    METRICS_NAMESPACE: s.metricsNamespace,
    METRICS_POOL_ID_DIMENSION: String(s.metricsPoolIdDimension),
  };
  const optional: Record<string, string | undefined> = {
    CHALLENGE_TABLE: scope.table?.tableName,
    APP_NAME: s.appName,
    EMAIL_SUBJECT: s.emailSubject,
    SIGN_IN_LINK_URL: s.signInLinkUrl,
    SES_TEMPLATE: s.sesTemplate,
    SES_TEMPLATE_LOCALES: s.sesTemplateLocales?.join(','),
    SES_CONFIGURATION_SET: s.sesConfigurationSet,
    SIGNUP_ALLOWED_DOMAINS: s.signUpAllowedDomains?.join(','),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) env[k] = v;
  return env;
}

/** The zip `make build` writes, or a synth error that says how to get one. */
function defaultCode(where: string, s: Settings): lambda.Code {
  const repo = path.resolve(__dirname, '..', '..', '..');
  const zip = path.join(cargoTargetDir(repo), BUILD_ZIP);
  if (s.architecture.name !== lambda.Architecture.ARM_64.name) {
    throw new EmailOtpError(where, [
      `code: architecture is ${s.architecture.name}, but the default code is the arm64 zip \`make build\` writes; pass code: lambda.Code.fromAsset('<a zip whose bootstrap is built for ${s.architecture.name}>')`,
    ]);
  }
  if (!fs.existsSync(zip)) {
    throw new EmailOtpError(where, [
      `code: not given, and ${zip} (the default, what \`make build\` writes) is missing. Run \`make build\` in ${repo} (a cargo target directory elsewhere: set CARGO_TARGET_DIR), or pass code: lambda.Code.fromAsset('path/to/bootstrap.zip')`,
    ]);
  }
  return lambda.Code.fromAsset(zip);
}

/**
 * Where cargo puts build output, as the Makefile and scripts/stack.py find it: CARGO_TARGET_DIR,
 * else `cargo metadata` in this repository (which follows a cargo config's build.target-dir, as
 * developers sharing one target directory set it), else the repository's own target directory
 * (no cargo here, or the library was installed outside the repository).
 */
function cargoTargetDir(repo: string): string {
  if (process.env.CARGO_TARGET_DIR) return path.resolve(repo, process.env.CARGO_TARGET_DIR);
  if (fs.existsSync(path.join(repo, 'Cargo.toml'))) {
    const run = spawnSync(process.env.CARGO ?? 'cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: repo, encoding: 'utf8' });
    if (run.status === 0) {
      try {
        return (JSON.parse(run.stdout) as { target_directory: string }).target_directory;
      } catch {
        // Not cargo's JSON: fall back below.
      }
    }
  }
  return path.join(repo, 'target');
}

/** The app clients of `pool` anywhere in the app (nested stacks and other stacks included). */
function guardedClients(root: IConstruct, pool: cognito.UserPool): CfnResource[] {
  const cfnPool = pool.node.defaultChild as cognito.CfnUserPool;
  const poolStack = Stack.of(cfnPool);
  const poolRef = JSON.stringify(poolStack.resolve(cfnPool.ref));
  return root.node.findAll().filter((c): c is CfnResource => {
    if (!CfnResource.isCfnResource(c) || c.cfnResourceType !== 'AWS::Cognito::UserPoolClient') return false;
    const id = (c as cognito.CfnUserPoolClient).userPoolId ?? renderedProperties(c).UserPoolId;
    if (id === pool.userPoolId || id === cfnPool.ref) return true;
    // A client in the pool's stack that names the pool some other way ({ Ref } by hand).
    return Stack.of(c) === poolStack && JSON.stringify(poolStack.resolve(id)) === poolRef;
  });
}

/**
 * A resource's CloudFormation properties as they will be synthesized, property overrides and
 * escape hatches included (`_toCloudFormation` is how CDK itself renders a resource).
 */
function renderedProperties(resource: CfnResource): Record<string, unknown> {
  const rendered = Stack.of(resource).resolve(resource._toCloudFormation()) as { Resources: Record<string, { Properties?: Record<string, unknown> }> };
  const only = Object.values(rendered.Resources)[0];
  return only?.Properties ?? {};
}

/**
 * Records a cdk-nag finding as acknowledged, with its reason, through aws-cdk-lib's own
 * Validations API (so the library needs no cdk-nag at run time).
 */
function acknowledge(construct: IConstruct, id: string, reason: string): void {
  const target = (construct.node.defaultChild ?? construct) as IConstruct;
  Validations.of(target).acknowledge({ id, reason });
}
