/**
 * Each prop reaches the function's environment or the resource it configures, with the
 * template's defaults; each bad value stops synthesis with a message naming the prop.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { CfnParameter, Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';

import { EmailOtp, EmailOtpProps } from '../src';
import { EMAIL_FROM, emailOtp, functionEnv, newStack, only, refused, template, userPool, withTargetDir } from './support';

describe('defaults: the stack infra/template.yaml builds, for this pool', () => {
  const stack = newStack();
  emailOtp(stack);
  const t = template(stack);

  it('the function: provided.al2023, arm64, 128 MB, 5 s, bootstrap, JSON logs to its own group', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023', Architectures: ['arm64'], MemorySize: 128, Timeout: 5, Handler: 'bootstrap',
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: Match.stringLikeRegexp('^OtpLogGroup') } },
    });
  });

  it('the environment: the README defaults, the key by its secret ARN, REFERENCE_KEY the stack UUID', () => {
    const env = functionEnv(t);
    assert.deepEqual(env, {
      EMAIL_FROM, AUTH_FLOW: 'mfa', CODE_LENGTH: '6', CODE_TTL_SECONDS: '300', MAX_ATTEMPTS: '3',
      RESEND_COOLDOWN_SECONDS: '30', SEND_LIMIT: '5', SEND_WINDOW_SECONDS: '3600',
      CHALLENGE_ATTRIBUTE: 'custom:authChallenge', CHALLENGE_STORE: 'attribute', EMAIL_DEFAULT_LOCALE: 'en',
      EMAIL_CODE_IN_SUBJECT: 'false', SIGNUP_AUTO_CONFIRM: 'true', METRICS_NAMESPACE: 'CognitoEmailOtp',
      METRICS_POOL_ID_DIMENSION: 'false',
      CODE_HMAC_KEY_SECRET_ARN: { Ref: Object.keys(t.findResources('AWS::SecretsManager::Secret'))[0] },
      REFERENCE_KEY: { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] },
    });
    assert.ok(!JSON.stringify(t.toJSON()).includes('resolve:secretsmanager'), 'the key is never put in by value');
  });

  it('the key is generated in Secrets Manager: 64 letters and digits', () => {
    assert.deepEqual(only(t, 'AWS::SecretsManager::Secret').GenerateSecretString, { PasswordLength: 64, ExcludePunctuation: true });
  });

  it('the log group keeps 30 days', () => {
    assert.equal(only(t, 'AWS::Logs::LogGroup').RetentionInDays, 30);
  });

  it('the role has no managed policy and no policy but the listed ones', () => {
    const role = only(t, 'AWS::IAM::Role');
    assert.equal(role.ManagedPolicyArns, undefined);
    assert.deepEqual(role.Policies.map((p: { PolicyName: string }) => p.PolicyName), ['logs', 'read-code-key', 'send-code-email']);
    const policy = only(t, 'AWS::IAM::Policy');
    assert.deepEqual(policy.PolicyDocument.Statement, [{
      Effect: 'Allow',
      Action: ['cognito-idp:AdminUpdateUserAttributes', 'cognito-idp:AdminGetUser'],
      Resource: { 'Fn::GetAtt': [Object.keys(t.findResources('AWS::Cognito::UserPool'))[0], 'Arn'] },
    }]);
  });

  it('the triggers: Define, Create, Verify and PreSignUp, each invocable by this pool only', () => {
    const pool = Object.keys(t.findResources('AWS::Cognito::UserPool'))[0]!;
    const fn = Object.keys(t.findResources('AWS::Lambda::Function'))[0]!;
    const arn = { 'Fn::GetAtt': [fn, 'Arn'] };
    t.hasResourceProperties('AWS::Cognito::UserPool', {
      LambdaConfig: { DefineAuthChallenge: arn, CreateAuthChallenge: arn, VerifyAuthChallengeResponse: arn, PreSignUp: arn },
    });
    const perms = Object.values(t.findResources('AWS::Lambda::Permission')).map((p) => p.Properties);
    assert.equal(perms.length, 4);
    for (const p of perms) {
      assert.deepEqual(p, { Action: 'lambda:InvokeFunction', FunctionName: arn, Principal: 'cognito-idp.amazonaws.com', SourceArn: { 'Fn::GetAtt': [pool, 'Arn'] } });
    }
  });

  it('two alarms, no table, no dashboard, no AWS WAF', () => {
    t.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'CognitoEmailOtp', MetricName: 'DeliveryError', Dimensions: [{ Name: 'Flow', Value: 'mfa' }],
      Statistic: 'Sum', Period: 300, EvaluationPeriods: 1, Threshold: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'StoreError' });
    for (const type of ['AWS::DynamoDB::Table', 'AWS::CloudWatch::Dashboard', 'AWS::WAFv2::WebACL', 'AWS::WAFv2::WebACLAssociation']) {
      t.resourceCountIs(type, 0);
    }
  });
});

describe('each prop', () => {
  const envWith = (props: Partial<EmailOtpProps>) => {
    const stack = newStack();
    emailOtp(stack, props);
    return functionEnv(template(stack));
  };

  it('reaches the function as its variable', () => {
    const cases: Array<[Partial<EmailOtpProps>, Record<string, string>]> = [
      [{ authFlow: 'passwordless' }, { AUTH_FLOW: 'passwordless' }],
      [{ authFlow: 'both' }, { AUTH_FLOW: 'both' }],
      [{ codeLength: 8 }, { CODE_LENGTH: '8' }],
      [{ codeTtl: Duration.minutes(10) }, { CODE_TTL_SECONDS: '600' }],
      [{ maxAttempts: 5 }, { MAX_ATTEMPTS: '5' }],
      [{ resendCooldown: Duration.seconds(10) }, { RESEND_COOLDOWN_SECONDS: '10' }],
      [{ sendLimit: 100 }, { SEND_LIMIT: '100' }],
      [{ sendWindow: Duration.days(1) }, { SEND_WINDOW_SECONDS: '86400' }],
      [{ signUpAutoConfirm: false }, { SIGNUP_AUTO_CONFIRM: 'false' }],
      [{ signUpAllowedDomains: [' Example.org', '@example.com'] }, { SIGNUP_ALLOWED_DOMAINS: 'example.org,example.com' }],
      [{ appName: ' Acme ' }, { APP_NAME: 'Acme' }],
      [{ emailDefaultLocale: 'pt_br' }, { EMAIL_DEFAULT_LOCALE: 'pt-BR' }],
      [{ emailSubject: 'Your code' }, { EMAIL_SUBJECT: 'Your code' }],
      [{ emailCodeInSubject: true }, { EMAIL_CODE_IN_SUBJECT: 'true' }],
      [{ authFlow: 'both', signInLinkUrl: 'https://app.example/sign-in' }, { SIGN_IN_LINK_URL: 'https://app.example/sign-in' }],
      [{ sesTemplate: 'otp-{locale}', sesTemplateLocales: ['en', 'it'] }, { SES_TEMPLATE: 'otp-{locale}', SES_TEMPLATE_LOCALES: 'en,it' }],
      [{ sesConfigurationSet: 'otp-events' }, { SES_CONFIGURATION_SET: 'otp-events' }],
      [{ metricsNamespace: 'Acme/SignIn' }, { METRICS_NAMESPACE: 'Acme/SignIn' }],
      [{ metricsPoolIdDimension: true }, { METRICS_POOL_ID_DIMENSION: 'true' }],
    ];
    for (const [props, vars] of cases) {
      const env = envWith(props);
      for (const [k, v] of Object.entries(vars)) assert.equal(env[k], v, `${JSON.stringify(props)} -> ${k}`);
    }
  });

  it("challengeStore 'dynamodb': the table, its two calls, and no AdminGetUser on the pool", () => {
    const stack = newStack();
    emailOtp(stack, { challengeStore: 'dynamodb' });
    const t = template(stack);
    const table = Object.keys(t.findResources('AWS::DynamoDB::Table'))[0]!;
    t.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST', TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        SSESpecification: { SSEEnabled: true }, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
      },
    });
    const env = functionEnv(t);
    assert.equal(env.CHALLENGE_STORE, 'dynamodb');
    assert.deepEqual(env.CHALLENGE_TABLE, { Ref: table });
    const role = only(t, 'AWS::IAM::Role');
    const tablePolicy = role.Policies.find((p: { PolicyName: string }) => p.PolicyName === 'challenge-table');
    assert.deepEqual(tablePolicy.PolicyDocument.Statement, [{ Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': [table, 'Arn'] } }]);
    assert.deepEqual(only(t, 'AWS::IAM::Policy').PolicyDocument.Statement[0].Action, 'cognito-idp:AdminUpdateUserAttributes');

    const pitr = newStack();
    emailOtp(pitr, { challengeStore: 'dynamodb', challengeTablePointInTimeRecovery: true });
    template(pitr).hasResourceProperties('AWS::DynamoDB::Table', { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
  });

  it('preSignUp: false leaves PreSignUp alone', () => {
    const stack = newStack();
    emailOtp(stack, { preSignUp: false });
    const t = template(stack);
    const config = only(t, 'AWS::Cognito::UserPool').LambdaConfig;
    assert.deepEqual(Object.keys(config).sort(), ['CreateAuthChallenge', 'DefineAuthChallenge', 'VerifyAuthChallengeResponse']);
    t.resourceCountIs('AWS::Lambda::Permission', 3);
  });

  it('SES: the sender\'s domain by default, or sesIdentity; the configuration set and templates only when set', () => {
    const sesResources = (props: Partial<EmailOtpProps>) => {
      const s = newStack();
      emailOtp(s, props);
      const role = only(template(s), 'AWS::IAM::Role');
      const statement = role.Policies.find((p: { PolicyName: string }) => p.PolicyName === 'send-code-email').PolicyDocument.Statement[0];
      assert.equal(statement.Action, 'ses:SendEmail');
      return [statement.Resource].flat().map((r: { 'Fn::Join': [string, unknown[]] }) => (r['Fn::Join'][1].at(-1) as string));
    };
    assert.deepEqual(sesResources({}), [':identity/acme.example']);
    assert.deepEqual(sesResources({ sesIdentity: 'no-reply@acme.example' }), [':identity/no-reply@acme.example']);
    assert.deepEqual(sesResources({ emailFrom: 'no-reply@mail.acme.example', sesIdentity: 'acme.example' }), [':identity/acme.example']);
    assert.deepEqual(sesResources({ sesConfigurationSet: 'otp-events', sesTemplate: 'otp-{locale}' }),
      [':identity/acme.example', ':configuration-set/otp-events', ':template/otp-*']);
  });

  it('operations: retention, alarm threshold and topic, pool dimension, dashboard, AWS WAF, architecture', () => {
    const stack = newStack();
    const topic = new sns.Topic(stack, 'Pager');
    const otp = emailOtp(stack, {
      logRetention: logs.RetentionDays.ONE_WEEK, alarmTopic: topic, alarmErrorsPer5Minutes: 7, metricsPoolIdDimension: true,
      dashboard: true, wafRequestsPer5Minutes: 1000, architecture: lambda.Architecture.X86_64,
    });
    const t = template(stack);
    const pool = Object.keys(t.findResources('AWS::Cognito::UserPool'))[0]!;
    assert.equal(only(t, 'AWS::Logs::LogGroup').RetentionInDays, 7);
    t.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StoreError', Threshold: 7, AlarmActions: [{ Ref: Match.stringLikeRegexp('^Pager') }], OKActions: [{ Ref: Match.stringLikeRegexp('^Pager') }],
      Dimensions: [{ Name: 'Flow', Value: 'mfa' }, { Name: 'UserPoolId', Value: { Ref: pool } }],
    });
    const body = JSON.stringify(only(t, 'AWS::CloudWatch::Dashboard').DashboardBody);
    for (const m of ['CodeSent', 'AnswerRejected', 'DeliveryError', 'Duration', 'p99']) assert.ok(body.includes(m), m);
    const acl = only(t, 'AWS::WAFv2::WebACL');
    assert.equal(acl.Scope, 'REGIONAL');
    assert.deepEqual(acl.DefaultAction, { Allow: {} });
    assert.equal(acl.Rules.length, 1);
    assert.deepEqual(acl.Rules[0].Action, { Block: {} });
    assert.deepEqual(acl.Rules[0].Statement, { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 1000, EvaluationWindowSec: 300 } });
    assert.deepEqual(only(t, 'AWS::WAFv2::WebACLAssociation'), {
      ResourceArn: { 'Fn::GetAtt': [pool, 'Arn'] }, WebACLArn: { 'Fn::GetAtt': [Object.keys(t.findResources('AWS::WAFv2::WebACL'))[0], 'Arn'] },
    });
    assert.deepEqual(only(t, 'AWS::Lambda::Function').Architectures, ['x86_64']);
    assert.equal(otp.alarms.length, 2);

    const quiet = newStack();
    emailOtp(quiet, { alarms: false });
    template(quiet).resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });

  it('code: the given code is used as given', () => {
    const stack = newStack();
    emailOtp(stack);
    assert.deepEqual(only(template(stack), 'AWS::Lambda::Function').Code, { S3Bucket: 'code-bucket', S3Key: 'bootstrap.zip' });
  });
});

describe('the default code: the zip `make build` writes', () => {
  it('missing: synthesis stops, naming `make build` and the code prop', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-target-'));
    withTargetDir(empty, () => refused(() => {
      const stack = newStack();
      new EmailOtp(stack, 'Otp', { userPool: userPool(stack), emailFrom: EMAIL_FROM });
    }, /code: not given/, /make build/, new RegExp(path.join(empty, 'lambda/cognito-email-otp/bootstrap.zip').replace(/[/.]/g, '\\$&'))));
  });

  it('present: it becomes the function\'s asset; with architecture x86_64 it is refused (it is arm64)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-target-'));
    fs.mkdirSync(path.join(dir, 'lambda', 'cognito-email-otp'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lambda', 'cognito-email-otp', 'bootstrap.zip'), 'PK\u0005\u0006' + '\0'.repeat(18));
    withTargetDir(dir, () => {
      const stack = newStack();
      new EmailOtp(stack, 'Otp', { userPool: userPool(stack), emailFrom: EMAIL_FROM });
      const code = only(template(stack), 'AWS::Lambda::Function').Code;
      assert.match(JSON.stringify(code.S3Key), /\.zip/);
      refused(() => {
        const s = newStack();
        new EmailOtp(s, 'Otp', { userPool: userPool(s), emailFrom: EMAIL_FROM, architecture: lambda.Architecture.X86_64 });
      }, /code: architecture is x86_64/, /arm64 zip/);
    });
  });
});

describe('bad props stop synthesis, naming the prop and what it accepts', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['emailFrom missing', { emailFrom: undefined }, /emailFrom: is required/],
    ['emailFrom not an address', { emailFrom: 'Acme <no-reply>' }, /emailFrom: "Acme <no-reply>" is not an email address/],
    ['emailFrom two @', { emailFrom: 'a@b@acme.example' }, /emailFrom: .* is not an email address/],
    ['sesIdentity not covering the sender', { sesIdentity: 'other.example' }, /sesIdentity: "other.example" does not cover emailFrom's address "no-reply@acme.example"/],
    ['sesIdentity another address', { sesIdentity: 'x@acme.example' }, /sesIdentity: "x@acme.example" does not cover/],
    ['sesIdentity with a wildcard', { sesIdentity: '*.example' }, /sesIdentity: "\*\.example" is not accepted/],
    ['authFlow', { authFlow: 'MFA' }, /authFlow: "MFA" is not accepted; use 'mfa', 'passwordless', 'both'/],
    ['codeLength low', { codeLength: 5 }, /codeLength: 5 is not accepted; use a whole number from 6 to 10 \(default 6\)/],
    ['codeLength fraction', { codeLength: 6.5 }, /codeLength: 6.5 is not accepted/],
    ['codeTtl short', { codeTtl: Duration.seconds(29) }, /codeTtl: 29 seconds is not accepted; use 30 to 3600 seconds/],
    ['codeTtl long', { codeTtl: Duration.hours(2) }, /codeTtl: 2 hours is not accepted/],
    ['codeTtl not whole seconds', { codeTtl: Duration.millis(30500) }, /codeTtl: .* is not a whole number of seconds/],
    ['codeTtl a number', { codeTtl: 300 }, /codeTtl: 300 is not accepted; use a Duration/],
    ['maxAttempts', { maxAttempts: 11 }, /maxAttempts: 11 is not accepted; use a whole number from 1 to 10/],
    ['resendCooldown', { resendCooldown: Duration.seconds(9) }, /resendCooldown: 9 seconds is not accepted; use 10 to 600 seconds/],
    ['sendLimit', { sendLimit: 0 }, /sendLimit: 0 is not accepted; use a whole number from 1 to 100/],
    ['sendWindow', { sendWindow: Duration.days(2) }, /sendWindow: 2 days is not accepted; use 60 to 86400 seconds/],
    ['challengeStore', { challengeStore: 'table' }, /challengeStore: "table" is not accepted; use 'attribute', 'dynamodb'/],
    ['point-in-time recovery without the table', { challengeTablePointInTimeRecovery: true }, /challengeTablePointInTimeRecovery: applies to the challenge table only/],
    ['preSignUp not a boolean', { preSignUp: 'yes' }, /preSignUp: "yes" is not accepted; use true or false/],
    ['signUpAutoConfirm without PreSignUp', { preSignUp: false, signUpAutoConfirm: false }, /signUpAutoConfirm: is read by the PreSignUp trigger only/],
    ['signUpAllowedDomains not domains', { signUpAllowedDomains: ['localhost'] }, /signUpAllowedDomains: \["localhost"\] is not accepted/],
    ['signUpAllowedDomains empty', { signUpAllowedDomains: [] }, /signUpAllowedDomains: \[\] is not accepted/],
    ['appName two lines', { appName: 'Acme\nBcc: x@example.org' }, /appName: .* is not accepted; use one line of at most 64 characters/],
    ['appName long', { appName: 'x'.repeat(65) }, /appName: .* is not accepted/],
    ['emailDefaultLocale not offered', { emailDefaultLocale: 'it' }, /emailDefaultLocale: "it" is not accepted; use one of the locales on offer: en, de, fr, es, pt-BR, ja/],
    ['emailDefaultLocale needed', { sesTemplate: 'otp-{locale}', sesTemplateLocales: ['de', 'fr'] }, /emailDefaultLocale: is required when sesTemplateLocales does not list en/],
    ['emailSubject too long', { emailSubject: 'é'.repeat(101) }, /emailSubject: .* at most 200 bytes/],
    ['emailCodeInSubject', { emailCodeInSubject: 'true' }, /emailCodeInSubject: "true" is not accepted; use true or false/],
    ['signInLinkUrl with mfa', { signInLinkUrl: 'https://app.example/' }, /signInLinkUrl: is set, but authFlow is 'mfa'/],
    ['signInLinkUrl http', { authFlow: 'both', signInLinkUrl: 'http://app.example/' }, /signInLinkUrl: "http:\/\/app.example\/" is not accepted; use the https:\/\//],
    ['signInLinkUrl fragment', { authFlow: 'both', signInLinkUrl: 'https://app.example/#x' }, /signInLinkUrl: .* without a # fragment/],
    ['sesTemplate name', { sesTemplate: 'otp {locale}' }, /sesTemplate: "otp \{locale\}" is not accepted/],
    ['sesTemplateLocales without sesTemplate', { sesTemplateLocales: ['en'] }, /sesTemplateLocales: is set without sesTemplate/],
    ['sesTemplateLocales bad tag', { sesTemplate: 'otp-{locale}', sesTemplateLocales: ['en', ''] }, /sesTemplateLocales: \["en",""\] is not accepted/],
    ['sesConfigurationSet', { sesConfigurationSet: 'a b' }, /sesConfigurationSet: "a b" is not accepted/],
    ['metricsNamespace AWS/', { metricsNamespace: 'AWS/Lambda' }, /metricsNamespace: "AWS\/Lambda" is not accepted/],
    ['logRetention infinite', { logRetention: logs.RetentionDays.INFINITE }, /logRetention: 9999 is not accepted; use a finite logs.RetentionDays/],
    ['alarmTopic without alarms', { alarms: false, alarmTopic: {} }, /alarmTopic: is set, but alarms is false/],
    ['alarmErrorsPer5Minutes', { alarmErrorsPer5Minutes: 0 }, /alarmErrorsPer5Minutes: 0 is not accepted/],
    ['wafRequestsPer5Minutes below 10', { wafRequestsPer5Minutes: 9 }, /wafRequestsPer5Minutes: 9 is not accepted; use a whole number from 10 to 2000000000/],
    ['wafRequestsPer5Minutes above the limit', { wafRequestsPer5Minutes: 2_000_000_001 }, /wafRequestsPer5Minutes: 2000000001 is not accepted/],
    ['architecture', { architecture: { name: 'sparc' } }, /architecture: "sparc" is not accepted/],
    ['a token where a literal is checked', { codeLength: Number.NaN }, /codeLength: NaN is not accepted/],
    ['an unknown prop', { codeTTL: Duration.minutes(5) }, /codeTTL: not a prop of EmailOtp/],
  ];
  for (const [what, props, pattern] of cases) {
    it(what, () => {
      refused(() => {
        const stack = newStack();
        emailOtp(stack, props as Partial<EmailOtpProps>);
      }, pattern, /^EmailOtp Auth\/Otp cannot be synthesized \(1 problem\):\n/);
    });
  }

  it('every problem at once, each on its own line', () => {
    const message = refused(() => {
      const stack = newStack();
      emailOtp(stack, { codeLength: 4, maxAttempts: 0 });
    }, /cannot be synthesized \(2 problems\)/);
    assert.match(message, /\n {2}- codeLength: 4 .*\n {2}- maxAttempts: 0 /);
  });

  it('a token for a number is refused (it could not be checked)', () => {
    const stack = newStack();
    const param = new CfnParameter(stack, 'Len', { type: 'Number' });
    refused(() => { emailOtp(stack, { codeLength: param.valueAsNumber }); }, /codeLength: is a token/);
  });
});
