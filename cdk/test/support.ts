/** Shared pieces of the tests: a stack, a pool as a user would write it, code that needs no zip. */
import * as assert from 'node:assert/strict';

import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';

import { EmailOtp, EmailOtpProps } from '../src';

export const EMAIL_FROM = 'Acme <no-reply@acme.example>';

/** A fresh app and stack. */
export function newStack(id = 'Auth'): Stack {
  return new Stack(new App(), id);
}

/** Code already in S3: no asset, so no zip is needed on a fresh clone. */
export function s3Code(stack: Stack): lambda.Code {
  const bucket = (stack.node.tryFindChild('CodeBucket') as s3.IBucket | undefined) ?? s3.Bucket.fromBucketName(stack, 'CodeBucket', 'code-bucket');
  return lambda.Code.fromBucket(bucket, 'bootstrap.zip');
}

/** A pool as the README's example writes it (email sign-in, no recovery by email). */
export function userPool(stack: Stack, props: cognito.UserPoolProps = {}, id = 'Users'): cognito.UserPool {
  return new cognito.UserPool(stack, id, {
    signInAliases: { email: true },
    accountRecovery: cognito.AccountRecovery.NONE,
    ...props,
  });
}

/** EmailOtp with what a working stack needs, plus `props`. */
export function emailOtp(stack: Stack, props: Partial<EmailOtpProps> = {}, pool?: cognito.UserPool): EmailOtp {
  return new EmailOtp(stack, 'Otp', {
    userPool: pool ?? userPool(stack),
    emailFrom: EMAIL_FROM,
    code: s3Code(stack),
    ...props,
  });
}

/** Synthesizes the app of `stack` (running every validation) and returns the stack's template. */
export function template(stack: Stack): Template {
  return Template.fromStack(stack);
}

/** The function's environment variables in `t`. */
export function functionEnv(t: Template): Record<string, unknown> {
  const fns = Object.values(t.findResources('AWS::Lambda::Function'));
  assert.equal(fns.length, 1, 'one function');
  return fns[0]!.Properties.Environment.Variables as Record<string, unknown>;
}

/** The single resource of `type` in `t`: its Properties. */
export function only(t: Template, type: string): Record<string, any> {
  const found = Object.values(t.findResources(type));
  assert.equal(found.length, 1, `one ${type}, found ${found.length}`);
  return found[0]!.Properties as Record<string, any>;
}

/**
 * Runs `build`, which must fail at construction or at synth (validation) with a message matching
 * every pattern; returns the message. Synth errors are collected by CDK into one error.
 */
export function refused(build: () => Stack | void, ...patterns: RegExp[]): string {
  let message: string | undefined;
  try {
    const stack = build();
    if (stack) Template.fromStack(stack);
  } catch (e) {
    message = (e as Error).message;
  }
  assert.ok(message !== undefined, `expected a refusal matching ${patterns.join(', ')}, but it synthesized`);
  for (const p of patterns) assert.match(message, p);
  return message;
}

/** The warnings annotated anywhere in the stack's construct tree (after synth). */
export function warnings(stack: Stack): string[] {
  Template.fromStack(stack);
  return stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
}

/** Runs `run` with CARGO_TARGET_DIR set to `dir` (where the default code is looked for), then puts it back. */
export function withTargetDir<T>(dir: string, run: () => T): T {
  const before = process.env.CARGO_TARGET_DIR;
  process.env.CARGO_TARGET_DIR = dir;
  try {
    return run();
  } finally {
    if (before === undefined) delete process.env.CARGO_TARGET_DIR;
    else process.env.CARGO_TARGET_DIR = before;
  }
}
