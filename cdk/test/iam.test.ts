/**
 * The grants, proven by the IAM check `make validate` runs on infra/template.yaml
 * (infra/check_iam.py), run on the construct's synthesized templates: every call the function
 * makes is allowed, the same calls on other resources and the calls it does not make are denied,
 * and every granted action and resource serves a call. Then the check is shown to fail on a
 * synthesized template with one grant too many, and on one with a managed policy.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';

import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';

import { EmailOtp, EmailOtpProps } from '../src';
import { EMAIL_FROM, userPool } from './support';

const REPO = path.resolve(__dirname, '..', '..', '..');

/** A Python with cfn-lint and the SAM translator (what infra/cfn_model.py imports): the SAM CLI's
 * virtualenv from `make infra-tools`, or `make tools`' one; made like `make infra-tools` does when
 * neither exists (a fresh clone). CHECK_IAM_PYTHON names another. */
function python(): string {
  const candidates = [process.env.CHECK_IAM_PYTHON, '.local/tools/aws-sam-cli/bin/python', '.local/venv/bin/python']
    .filter((p): p is string => !!p).map((p) => path.resolve(REPO, p));
  const works = (p: string) => fs.existsSync(p) && spawnSync(p, ['-c', 'import cfnlint, samtranslator'], { stdio: 'ignore' }).status === 0;
  let found = candidates.find(works);
  if (found === undefined) {
    const made = spawnSync('bash', ['scripts/venv.sh', '.local/tools/aws-sam-cli', 'infra/requirements.txt'], { cwd: REPO, stdio: 'inherit' });
    assert.equal(made.status, 0, 'scripts/venv.sh could not install the SAM CLI (cfn-lint, the SAM translator) from PyPI');
    found = candidates.find(works);
  }
  assert.ok(found, `no Python with cfn-lint and the SAM translator among ${candidates.join(', ')}`);
  return found;
}

/** What the template would have been deployed with: the expectations check_iam.py needs. */
interface Expect { SesIdentity: string; SesConfigurationSet?: string; SesTemplate?: string; ChallengeStore?: string }

/** One template to check: its props (a function of its stack, for props that are constructs). */
interface TemplateSet {
  label: string;
  props: Partial<EmailOtpProps> | ((stack: Stack) => Partial<EmailOtpProps>);
  expect: Expect;
  change?: (otp: EmailOtp) => void;
}

/** Synthesizes each set with the default synthesizer (what real users deploy) into `dir`, and
 * writes the manifest check_iam.py --synthesized reads. */
function synthesize(dir: string, sets: TemplateSet[], zip: string): string {
  const manifest = { sets: [] as Array<{ label: string; template: string; expect: Expect }> };
  for (const [i, set] of sets.entries()) {
    const app = new App({ outdir: path.join(dir, `cdk.out.${i}`) });
    const stack = new Stack(app, 'Auth');
    const otp = new EmailOtp(stack, 'Otp', {
      userPool: userPool(stack), emailFrom: EMAIL_FROM, code: lambda.Code.fromAsset(zip),
      ...(typeof set.props === 'function' ? set.props(stack) : set.props),
    });
    otp.addClient('Web');
    set.change?.(otp);
    const template = app.synth().getStackByName('Auth').template;
    const file = `template.${i}.json`;
    fs.writeFileSync(path.join(dir, file), JSON.stringify(template, null, 1));
    manifest.sets.push({ label: set.label, template: file, expect: set.expect });
  }
  const file = path.join(dir, 'manifest.json');
  fs.writeFileSync(file, JSON.stringify(manifest, null, 1));
  return file;
}

function checkIam(py: string, manifest: string) {
  const run = spawnSync(py, ['infra/check_iam.py', '--synthesized', manifest], { cwd: REPO, encoding: 'utf8' });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

const DOMAIN: Expect = { SesIdentity: 'acme.example' };

describe('the IAM check of `make validate`, on synthesized templates', () => {
  let py: string;
  let dir: string;
  let zip: string;
  before(() => {
    py = python();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-iam-'));
    // An (empty) zip, so the function's code is an asset as with the default code.
    zip = path.join(dir, 'bootstrap.zip');
    fs.writeFileSync(zip, Buffer.from('504b0506000000000000000000000000000000000000', 'hex'));
  });

  it('proves every grant for the sets infra/check_iam.py uses on the template, and more', () => {
    const sets: TemplateSet[] = [
      { label: 'defaults, domain identity', props: {}, expect: DOMAIN },
      { label: 'address identity', props: { sesIdentity: 'no-reply@acme.example' }, expect: { SesIdentity: 'no-reply@acme.example' } },
      { label: 'configuration set and template', props: { sesConfigurationSet: 'otp-events', sesTemplate: 'otp-code' },
        expect: { ...DOMAIN, SesConfigurationSet: 'otp-events', SesTemplate: 'otp-code' } },
      { label: 'AWS WAF on', props: { wafRequestsPer5Minutes: 1000 }, expect: DOMAIN },
      { label: 'DynamoDB store', props: { challengeStore: 'dynamodb' }, expect: { ...DOMAIN, ChallengeStore: 'dynamodb' } },
      { label: 'passwordless, no PreSignUp, pool dimension, dashboard, alarm topic', props: (stack) => ({
        authFlow: 'passwordless', preSignUp: false, metricsPoolIdDimension: true, dashboard: true,
        alarmTopic: sns.Topic.fromTopicArn(stack, 'Pager', 'arn:aws:sns:eu-west-1:123456789012:pager'),
      }), expect: DOMAIN },
    ];
    const { status, out } = checkIam(py, synthesize(dir, sets, zip));
    assert.equal(status, 0, out);
    assert.match(out, /check_iam: \d+ calls in 6 synthesized templates, each allowed or denied as expected; every granted action and resource serves a call/);
    for (const s of sets) assert.ok(out.includes(`[synthesized: ${s.label}]`), s.label);
    // The function's own calls were among those allowed.
    assert.match(out, /allowed +logs:PutLogEvents +arn:aws:logs:eu-west-1:123456789012:log-group:acme-auth-OtpLogGroup[0-9A-F]{8}-\w+:log-stream:/);
    assert.match(out, /allowed +secretsmanager:GetSecretValue +arn:aws:secretsmanager:eu-west-1:123456789012:secret:OtpCodeHmacKey/);
    assert.match(out, /allowed +dynamodb:UpdateItem +arn:aws:dynamodb:eu-west-1:123456789012:table\/acme-auth-OtpChallengeTable/);
  });

  it('fails on a grant too many and on a managed policy such as AWSLambdaBasicExecutionRole (the check can fail on a synthesized template)', () => {
    const { status, out } = checkIam(py, synthesize(dir, [{
      label: 'one grant too many', props: {}, expect: DOMAIN,
      change: (otp) => otp.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ses:SendRawEmail'], resources: ['*'] })),
    }, {
      label: 'a managed policy', props: {}, expect: DOMAIN,
      change: (otp) => otp.role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')),
    }], zip));
    assert.equal(status, 1, out);
    assert.match(out, /\[synthesized: one grant too many\] ses:SendRawEmail on arn:aws:ses:eu-west-1:123456789012:identity\/acme.example: allowed, expected denied/);
    assert.match(out, /\[synthesized: one grant too many\] .*resource \* serves no call of the function/);
    assert.match(out, /\[synthesized: a managed policy\] cannot evaluate the template: .*ManagedPolicyArns is not evaluated offline/);
  });
});
