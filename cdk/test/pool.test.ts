/**
 * The pool: what the construct settles on a plain UserPool, what it refuses, and that it never
 * makes the pool -> function -> role -> pool cycle, with the pool in the same stack or another.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { App, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as lambda from 'aws-cdk-lib/aws-lambda';

import { EmailOtp } from '../src';
import { EMAIL_FROM, emailOtp, newStack, only, refused, s3Code, template, userPool, warnings } from './support';

const CHALLENGE = {
  Name: 'authChallenge', AttributeDataType: 'String', Mutable: true,
  StringAttributeConstraints: { MinLength: '0', MaxLength: '2048' },
};

describe('a plain UserPool', () => {
  it('gets custom:authChallenge, email changes held until verified, and MFA off', () => {
    const stack = newStack();
    const pool = new cognito.UserPool(stack, 'Plain', { accountRecovery: cognito.AccountRecovery.NONE });
    emailOtp(stack, {}, pool);
    const p = only(template(stack), 'AWS::Cognito::UserPool');
    assert.deepEqual(p.Schema, [CHALLENGE]);
    assert.deepEqual(p.AutoVerifiedAttributes, ['email']);
    assert.deepEqual(p.UserAttributeUpdateSettings, { AttributesRequireVerificationBeforeUpdate: ['email'] });
    assert.equal(p.MfaConfiguration, 'OFF');
  });

  it("keeps the pool's own schema and verified attributes, and adds to them", () => {
    const stack = newStack();
    const pool = userPool(stack, {
      signInAliases: { email: true, phone: true },
      autoVerify: { phone: true },
      standardAttributes: { email: { required: true, mutable: true } },
      customAttributes: { tenant: new cognito.StringAttribute({ mutable: false }) },
    });
    emailOtp(stack, {}, pool);
    const p = only(template(stack), 'AWS::Cognito::UserPool');
    assert.deepEqual(p.Schema.map((a: { Name: string }) => a.Name), ['email', 'tenant', 'authChallenge']);
    assert.deepEqual(p.AutoVerifiedAttributes, ['phone_number', 'email']);
  });

  it('one that already has the attribute right keeps it, once', () => {
    const stack = newStack();
    const pool = userPool(stack, { customAttributes: { authChallenge: new cognito.StringAttribute({ minLen: 0, maxLen: 2048, mutable: true }) } });
    emailOtp(stack, {}, pool);
    assert.deepEqual(only(template(stack), 'AWS::Cognito::UserPool').Schema, [CHALLENGE]);
  });

  it('MFA OPTIONAL is turned off, with a warning that says why', () => {
    const stack = newStack();
    const pool = userPool(stack, { mfa: cognito.Mfa.OPTIONAL, mfaSecondFactor: { otp: true, sms: false } });
    emailOtp(stack, {}, pool);
    const p = only(template(stack), 'AWS::Cognito::UserPool');
    assert.equal(p.MfaConfiguration, 'OFF');
    assert.equal(p.EnabledMfas, undefined);
    assert.ok(warnings(stack).some((w) => /mfa was OPTIONAL; EmailOtp turned it OFF/.test(w)));
  });
});

describe('a pool the construct refuses, saying why and what to do', () => {
  it('MFA REQUIRED: it will not turn off a factor you required', () => {
    refused(() => {
      const stack = newStack();
      emailOtp(stack, {}, userPool(stack, { mfa: cognito.Mfa.REQUIRED, mfaSecondFactor: { otp: true, sms: false } }));
    }, /userPool: MFA is "ON" \(Mfa.REQUIRED\); EmailOtp will not turn off an MFA you required/, /mfa: Mfa.OFF/);
  });

  for (const [what, attr, pattern] of [
    ['too short', new cognito.StringAttribute({ maxLen: 100, mutable: true }), /"maxLength":"100"/],
    ['immutable', new cognito.StringAttribute({ maxLen: 2048 }), /"mutable":false/],
    ['a number', new cognito.NumberAttribute({ mutable: true }), /"type":"Number"/],
  ] as const) {
    it(`custom:authChallenge already declared, ${what}`, () => {
      refused(() => {
        const stack = newStack();
        emailOtp(stack, {}, userPool(stack, { customAttributes: { authChallenge: attr } }));
      }, /userPool: custom:authChallenge is /, pattern, /a mutable String of up to 2048/);
    });
  }

  it('an immutable email (the function writes the verified address)', () => {
    refused(() => {
      const stack = newStack();
      emailOtp(stack, {}, userPool(stack, { standardAttributes: { email: { required: true, mutable: false } } }));
    }, /userPool: the email attribute is immutable/);
  });

  for (const recovery of ['PHONE_WITHOUT_MFA_AND_EMAIL', 'EMAIL_ONLY', 'EMAIL_AND_PHONE_WITHOUT_MFA'] as const) {
    it(`account recovery ${recovery} with authFlow mfa (the mailbox would be both factors)`, () => {
      refused(() => {
        const stack = newStack();
        emailOtp(stack, {}, userPool(stack, { accountRecovery: cognito.AccountRecovery[recovery] }));
      }, /userPool: account recovery by email/, /AccountRecovery.NONE/);
    });
  }

  it('the UserPool default recovery with mfa (a pool written without accountRecovery)', () => {
    refused(() => {
      const stack = newStack();
      emailOtp(stack, {}, new cognito.UserPool(stack, 'Plain'));
    }, /userPool: account recovery by email \(the UserPool default, PHONE_WITHOUT_MFA_AND_EMAIL/);
  });

  it('recovery by email is accepted where the mailbox alone signs in anyway (passwordless, both), and phone-only with mfa', () => {
    for (const [authFlow, recovery] of [['passwordless', 'EMAIL_ONLY'], ['both', 'EMAIL_ONLY'], ['mfa', 'PHONE_ONLY_WITHOUT_MFA']] as const) {
      const stack = newStack();
      emailOtp(stack, { authFlow }, userPool(stack, { accountRecovery: cognito.AccountRecovery[recovery] }));
      template(stack);
    }
  });

  it('a pool that already has a custom-auth trigger', () => {
    refused(() => {
      const stack = newStack();
      const other = new lambda.Function(stack, 'Other', { runtime: lambda.Runtime.PROVIDED_AL2023, handler: 'x', code: s3Code(stack) });
      emailOtp(stack, {}, userPool(stack, { lambdaTriggers: { defineAuthChallenge: other } }));
    }, /userPool: already has a defineAuthChallenge trigger/, /must all be this function/);
  });

  it("a pool with its own PreSignUp: refused, unless preSignUp: false (then it keeps its own)", () => {
    const build = (preSignUp: boolean) => {
      const stack = newStack();
      const other = new lambda.Function(stack, 'Other', { runtime: lambda.Runtime.PROVIDED_AL2023, handler: 'x', code: s3Code(stack) });
      emailOtp(stack, { preSignUp }, userPool(stack, { lambdaTriggers: { preSignUp: other } }));
      return stack;
    };
    refused(() => build(true), /userPool: already has a preSignUp trigger/, /Set preSignUp: false/);
    const t = template(build(false));
    const other = Object.keys(t.findResources('AWS::Lambda::Function')).find((n) => n.startsWith('Other'))!;
    assert.deepEqual(only(t, 'AWS::Cognito::UserPool').LambdaConfig.PreSignUp, { 'Fn::GetAtt': [other, 'Arn'] });
  });

  it('an imported pool (its triggers and schema are not this app\'s)', () => {
    refused(() => {
      const stack = newStack();
      const imported = cognito.UserPool.fromUserPoolId(stack, 'Imported', 'eu-west-1_AbCdEfGhI');
      new EmailOtp(stack, 'Otp', { userPool: imported as cognito.UserPool, emailFrom: EMAIL_FROM, code: s3Code(stack) });
    }, /userPool: must be a cognito.UserPool defined in this app/);
  });

  it('a pool changed after the construct (escape hatch or override) is refused at synth', () => {
    const cases: Array<[string, (cfn: cognito.CfnUserPool) => void, RegExp]> = [
      ['MFA turned on through the L1', (cfn) => { cfn.mfaConfiguration = 'ON'; }, /MfaConfiguration is "ON"/],
      ['MFA through a property override', (cfn) => cfn.addPropertyOverride('MfaConfiguration', 'OPTIONAL'), /MfaConfiguration is "OPTIONAL"/],
      ['the attribute removed', (cfn) => cfn.addPropertyDeletionOverride('Schema'), /the schema has no custom:authChallenge/],
      ['email changes no longer held', (cfn) => cfn.addPropertyDeletionOverride('UserAttributeUpdateSettings'), /a changed email must take effect only once the new address is verified/],
      ['recovery by email added', (cfn) => { cfn.accountRecoverySetting = { recoveryMechanisms: [{ name: 'verified_email', priority: 1 }] }; }, /account recovery by email/],
    ];
    for (const [what, change, pattern] of cases) {
      refused(() => {
        const stack = newStack();
        const pool = userPool(stack);
        emailOtp(stack, {}, pool);
        change(pool.node.defaultChild as cognito.CfnUserPool);
        return stack;
      }, pattern, /Validation failed/);
      void what;
    }
  });
});

describe('the dependency graph', () => {
  /** Logical IDs a template node refers to. */
  const refs = (node: unknown): Set<string> => {
    const out = new Set<string>();
    const walk = (n: unknown) => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (n && typeof n === 'object') {
        for (const [k, v] of Object.entries(n)) {
          if (k === 'Ref' && typeof v === 'string') out.add(v);
          else if (k === 'Fn::GetAtt') out.add((v as string[])[0]!);
          else walk(v);
        }
      }
    };
    walk(node);
    return out;
  };

  it('the function, its role and its log group never depend on the pool (no pool -> function -> role -> pool cycle)', () => {
    const stack = newStack();
    emailOtp(stack, { challengeStore: 'dynamodb', wafRequestsPer5Minutes: 100, dashboard: true, metricsPoolIdDimension: true });
    const resources = template(stack).toJSON().Resources as Record<string, { Type: string; DependsOn?: string[]; Properties?: unknown }>;
    const deps = (id: string) => new Set([...refs(resources[id]!.Properties), ...(resources[id]!.DependsOn ?? [])].filter((d) => d in resources));
    const pool = Object.keys(resources).find((k) => resources[k]!.Type === 'AWS::Cognito::UserPool')!;
    const fn = Object.keys(resources).find((k) => resources[k]!.Type === 'AWS::Lambda::Function')!;
    const seen = new Set<string>();
    const todo = [fn];
    while (todo.length > 0) {
      for (const d of deps(todo.pop()!)) if (!seen.has(d)) { seen.add(d); todo.push(d); }
    }
    assert.ok(!seen.has(pool), `the function reaches the pool through ${[...seen].join(', ')}`);
    assert.ok(deps(pool).has(fn), 'the pool names the function as its trigger');
  });

  it('a pool in another nested stack, as Amplify Gen 2 puts it (backend.createStack): it depends on the construct\'s stack, never the reverse', () => {
    const app = new App();
    const root = new Stack(app, 'Backend');
    const auth = new NestedStack(root, 'auth');
    const custom = new NestedStack(root, 'otp');
    const pool = userPool(auth as unknown as Stack);
    const otp = new EmailOtp(custom, 'Otp', { userPool: pool, emailFrom: EMAIL_FROM, code: s3Code(custom as unknown as Stack), metricsPoolIdDimension: true, wafRequestsPer5Minutes: 100 });
    otp.addClient('Web');
    const authTemplate = Template.fromStack(auth).toJSON();
    const otpTemplate = Template.fromStack(custom).toJSON();
    const types = (t: { [key: string]: any }) => Object.values(t.Resources as Record<string, { Type: string }>).map((r) => r.Type).sort();
    // Everything that names the pool lives beside it; the construct's stack knows nothing of it.
    assert.deepEqual(types(authTemplate), [
      'AWS::CloudWatch::Alarm', 'AWS::CloudWatch::Alarm', 'AWS::Cognito::UserPool', 'AWS::Cognito::UserPoolClient', 'AWS::IAM::Policy',
      'AWS::Lambda::Permission', 'AWS::Lambda::Permission', 'AWS::Lambda::Permission', 'AWS::Lambda::Permission', 'AWS::WAFv2::WebACLAssociation',
    ]);
    assert.deepEqual(types(otpTemplate), ['AWS::IAM::Role', 'AWS::Lambda::Function', 'AWS::Logs::LogGroup', 'AWS::SecretsManager::Secret', 'AWS::WAFv2::WebACL']);
    assert.equal(otpTemplate.Parameters, undefined, 'the construct\'s stack takes nothing from the auth stack');
    assert.ok(Object.keys(authTemplate.Parameters ?? {}).length > 0, 'the auth stack takes the function from it');
  });

  it('a pool in another top-level stack: the pool\'s stack depends on the construct\'s', () => {
    const app = new App();
    const poolStack = new Stack(app, 'Pool');
    const otpStack = new Stack(app, 'Otp');
    emailOtp(otpStack, {}, userPool(poolStack));
    const assembly = app.synth();
    const stacks = (name: string) => assembly.getStackByName(name).dependencies.map((d) => d.id).filter((id) => !id.endsWith('.assets'));
    assert.deepEqual(stacks('Pool'), ['Otp']);
    assert.deepEqual(stacks('Otp'), []);
  });
});

describe('a pool that already refers to another stack', () => {
  it('is settled without resolving those references early (they are assigned only at synth)', () => {
    const app = new App();
    const triggers = new Stack(app, 'Triggers');
    const tokenFn = new lambda.Function(triggers, 'PreToken', { runtime: lambda.Runtime.PROVIDED_AL2023, handler: 'x', code: s3Code(triggers) });
    const auth = new Stack(app, 'Auth');
    const pool = userPool(auth, { lambdaTriggers: { preTokenGeneration: tokenFn } });
    emailOtp(auth, {}, pool);
    const p = only(template(auth), 'AWS::Cognito::UserPool');
    assert.deepEqual(Object.keys(p.LambdaConfig).sort(), ['CreateAuthChallenge', 'DefineAuthChallenge', 'PreSignUp', 'PreTokenGeneration', 'VerifyAuthChallengeResponse']);
  });
});
