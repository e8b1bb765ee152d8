/**
 * The example app: a user pool that owns its triggers, EmailOtp on it, and one app client made by
 * `otp.addClient`. Synthesize it with `npm run synth:example` (or `npx aws-cdk synth` with
 * cdk.json), deploy it with `npx aws-cdk deploy` after `make build` and `cdk bootstrap`.
 *
 * Context (`-c key=value`, or CDK_CONTEXT_JSON), all optional:
 * - `emailFrom`, `sesIdentity`: the sender (default `Acme <no-reply@acme.example>`);
 * - `challengeStore`: `attribute` (default) or `dynamodb`;
 * - `stackName` (default `EmailOtpExample`);
 * - `codeBucket` and `codeKey`: the zip already in S3. Then the stack uses a synthesizer that
 *   needs no `cdk bootstrap` (no assets, no bootstrap version check): this is how
 *   scripts/cdk_stack.py deploys it into the local emulator, with `architecture` (`x86_64` for a
 *   binary built on this machine), `resendCooldownSeconds`, `appName` and `signInLinkUrl`.
 *
 * The local emulator has no AWS::WAFv2::WebACLAssociation, so the example leaves
 * wafRequestsPer5Minutes at 0 (cdk/README.md, "The local emulator").
 */
import { App, BootstraplessSynthesizer, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';

import { ChallengeStore, EmailOtp } from '../src';

/** Builds the example stack in `app`, from the app's context. */
export function buildExample(app: App): Stack {
  const ctx = (key: string): string | undefined => {
    const v: unknown = app.node.tryGetContext(key);
    return v === undefined || v === null || v === '' ? undefined : String(v);
  };
  const codeBucket = ctx('codeBucket');
  const codeKey = ctx('codeKey');
  if ((codeBucket === undefined) !== (codeKey === undefined)) {
    throw new Error('example: give both codeBucket and codeKey, or neither');
  }
  const prebuilt = codeBucket !== undefined;
  const stack = new Stack(app, ctx('stackName') ?? 'EmailOtpExample', {
    description: 'cognito-email-otp example: a user pool with email one-time codes (cdk/example/app.ts)',
    // Prebuilt code in S3: nothing to upload, so nothing needs `cdk bootstrap`.
    synthesizer: prebuilt ? new BootstraplessSynthesizer() : undefined,
    analyticsReporting: prebuilt ? false : undefined,
  });

  const userPool = new cognito.UserPool(stack, 'Users', {
    signInAliases: { email: true },
    signInCaseSensitive: false,
    selfSignUpEnabled: true,
    standardAttributes: { email: { required: true, mutable: true } },
    passwordPolicy: { minLength: 12, requireLowercase: true, requireUppercase: true, requireDigits: true, requireSymbols: true },
    // With email as a factor, recovery through the same mailbox would hand over the account.
    accountRecovery: cognito.AccountRecovery.NONE,
    deletionProtection: !prebuilt,
    removalPolicy: prebuilt ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  Validations.of(userPool.node.defaultChild!).acknowledge({
    id: 'AwsSolutions-COG8',
    reason: 'The Plus feature plan (threat protection) is billed per user; this example keeps the Lite plan, and the function itself limits codes, attempts and sends per user.',
  });

  const architecture = ctx('architecture');
  const resendCooldownSeconds = ctx('resendCooldownSeconds');
  const otp = new EmailOtp(stack, 'Otp', {
    userPool,
    emailFrom: ctx('emailFrom') ?? 'Acme <no-reply@acme.example>',
    sesIdentity: ctx('sesIdentity'),
    authFlow: 'both',
    challengeStore: (ctx('challengeStore') ?? 'attribute') as ChallengeStore,
    code: prebuilt ? lambda.Code.fromBucket(s3.Bucket.fromBucketName(stack, 'CodeBucket', codeBucket), codeKey!) : undefined,
    architecture: architecture === 'x86_64' ? lambda.Architecture.X86_64 : undefined,
    resendCooldown: resendCooldownSeconds === undefined ? undefined : Duration.seconds(Number(resendCooldownSeconds)),
    appName: ctx('appName'),
    signInLinkUrl: ctx('signInLinkUrl'),
  });
  const client = otp.addClient('Web', { userPoolClientName: 'web' });

  new CfnOutput(stack, 'UserPoolId', { value: userPool.userPoolId });
  new CfnOutput(stack, 'UserPoolClientId', { value: client.userPoolClientId });
  new CfnOutput(stack, 'FunctionArn', { value: otp.function.functionArn });
  new CfnOutput(stack, 'FunctionName', { value: otp.function.functionName });
  new CfnOutput(stack, 'CodeHmacKeySecretArn', { value: otp.codeKey.secretArn });
  if (otp.table !== undefined) new CfnOutput(stack, 'ChallengeTableName', { value: otp.table.tableName });
  return stack;
}

if (require.main === module) {
  const app = new App();
  buildExample(app);
  app.synth();
}
