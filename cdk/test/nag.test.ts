/**
 * cdk-nag's AwsSolutions pack finds nothing in the construct with every option on; each finding
 * the construct acknowledges is one the pack would otherwise report, with its reason.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { Acknowledgment } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';

import { EmailOtp } from '../src';
import { EMAIL_FROM, s3Code } from './support';

/** Every option on: the table, AWS WAF, the dashboard, alarms with a topic, templates per locale. */
function build(patch?: (otp: () => EmailOtp) => EmailOtp): App {
  const app = new App();
  const stack = new Stack(app, 'Auth');
  const pool = new cognito.UserPool(stack, 'Users', {
    signInAliases: { email: true },
    accountRecovery: cognito.AccountRecovery.NONE,
    passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true },
  });
  // The pool is the app's; its plan is the app's choice, not the construct's.
  Validations.of(pool.node.defaultChild!).acknowledge({ id: 'AwsSolutions-COG8', reason: 'The test pool stays on the Lite plan; threat protection is billed per user.' });
  const make = () => new EmailOtp(stack, 'Otp', {
    userPool: pool, emailFrom: EMAIL_FROM, code: s3Code(stack), challengeStore: 'dynamodb', wafRequestsPer5Minutes: 1000,
    dashboard: true, metricsPoolIdDimension: true, alarmTopic: sns.Topic.fromTopicArn(stack, 'Pager', 'arn:aws:sns:eu-west-1:123456789012:pager'),
    sesTemplate: 'otp-{locale}', sesConfigurationSet: 'otp-events', codeTtl: Duration.minutes(5),
  });
  const otp = patch ? patch(make) : make();
  otp.addClient('Web');
  app.synth();
  return app;
}

const findings = (app: App) => new AwsSolutionsChecks().validateScope(app).violations
  .flatMap((v) => v.violatingResources.map((r) => `${r.constructPath} ${v.ruleName}`)).sort();

describe('cdk-nag (AwsSolutions)', () => {
  it('finds nothing, with every option on', () => {
    assert.deepEqual(findings(build()), []);
  });

  it('each acknowledgment the construct makes stands for a finding it would otherwise report, with a reason', () => {
    const recorded: string[] = [];
    const original = Validations.prototype.acknowledge;
    const app = build((make) => {
      Validations.prototype.acknowledge = function (this: Validations, ...rules: Acknowledgment[]) {
        const scope = (this as unknown as { scope: { node: { path: string } } }).scope;
        for (const r of rules) {
          assert.ok(r.reason.length >= 40, `${r.id}: a reason, not a token (${r.reason})`);
          recorded.push(`${scope.node.path} ${r.id}`);
        }
      };
      try {
        return make();
      } finally {
        Validations.prototype.acknowledge = original;
      }
    });
    assert.ok(recorded.length >= 5, recorded.join('\n'));
    assert.deepEqual(findings(app), recorded.sort());
  });
});
