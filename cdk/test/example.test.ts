/**
 * The example app (cdk/example/app.ts): with prebuilt code it synthesizes a template that needs no
 * `cdk bootstrap` (what scripts/cdk_stack.py deploys into the emulator); without, it uses the
 * default synthesizer and the zip `make build` writes, and says so when the zip is missing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { App } from 'aws-cdk-lib';

import { buildExample } from '../example/app';
import { withTargetDir } from './support';

const LOCAL = { codeBucket: 'cognito-email-otp-local', codeKey: 'bootstrap-0123.zip', architecture: 'x86_64', challengeStore: 'dynamodb' };

/** The files the stack uploads as assets (its template aside), from the assembly's asset manifest. */
function fileAssets(dir: string, stackName: string): string[] {
  const manifest = path.join(dir, `${stackName}.assets.json`);
  if (!fs.existsSync(manifest)) return [];
  const files = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { files?: Record<string, { source: { path: string } }> }).files ?? {};
  return Object.values(files).map((f) => f.source.path).filter((p) => !p.endsWith('.template.json'));
}

describe('the example app', () => {
  it('with prebuilt code: no bootstrap parameter, rule or asset; the code from S3; the outputs the tests read', () => {
    const app = new App({ context: LOCAL, outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'otp-example-')) });
    const stack = buildExample(app);
    const assembly = app.synth();
    const artifact = assembly.getStackByName(stack.stackName);
    const template = artifact.template as { Parameters?: unknown; Rules?: unknown; Resources: Record<string, { Type: string; Properties: any }>; Outputs: Record<string, unknown> };
    assert.equal(template.Parameters, undefined);
    assert.equal(template.Rules, undefined);
    assert.deepEqual(fileAssets(assembly.directory, stack.stackName), []);
    const types = Object.values(template.Resources).map((r) => r.Type).sort();
    assert.deepEqual(types, [
      'AWS::CloudWatch::Alarm', 'AWS::CloudWatch::Alarm', 'AWS::Cognito::UserPool', 'AWS::Cognito::UserPoolClient', 'AWS::DynamoDB::Table',
      'AWS::IAM::Policy', 'AWS::IAM::Role', 'AWS::Lambda::Function', 'AWS::Lambda::Permission', 'AWS::Lambda::Permission',
      'AWS::Lambda::Permission', 'AWS::Lambda::Permission', 'AWS::Logs::LogGroup', 'AWS::SecretsManager::Secret',
    ]);
    const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function')!.Properties;
    assert.deepEqual(fn.Code, { S3Bucket: LOCAL.codeBucket, S3Key: LOCAL.codeKey });
    assert.deepEqual(fn.Architectures, ['x86_64']);
    assert.equal(fn.Environment.Variables.AUTH_FLOW, 'both');
    assert.deepEqual(Object.keys(template.Outputs).sort(),
      ['ChallengeTableName', 'CodeHmacKeySecretArn', 'FunctionArn', 'FunctionName', 'UserPoolClientId', 'UserPoolId']);
  });

  it('for AWS, on a clone with no zip built: synthesis stops and names `make build`', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-target-'));
    withTargetDir(empty, () => {
      assert.throws(() => buildExample(new App()), /code: not given, and .*bootstrap\.zip \(the default, what `make build` writes\) is missing/);
    });
  });

  it('for AWS, after `make build`: the default synthesizer and the zip as an asset', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-target-'));
    fs.mkdirSync(path.join(dir, 'lambda', 'cognito-email-otp'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lambda', 'cognito-email-otp', 'bootstrap.zip'), Buffer.from('504b0506000000000000000000000000000000000000', 'hex'));
    withTargetDir(dir, () => {
      const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'otp-example-')) });
      const stack = buildExample(app);
      const assembly = app.synth();
      const artifact = assembly.getStackByName(stack.stackName);
      assert.ok((artifact.template as { Parameters: Record<string, unknown> }).Parameters.BootstrapVersion, 'the default synthesizer');
      assert.deepEqual(fileAssets(assembly.directory, stack.stackName).map((p) => path.extname(p)), ['.zip'], 'the zip is the one asset');
      const fn = Object.values((artifact.template as { Resources: Record<string, { Type: string; Properties: any }> }).Resources)
        .find((r) => r.Type === 'AWS::Lambda::Function')!.Properties;
      assert.deepEqual(fn.Architectures, ['arm64']);
    });
  });
});
