/**
 * cdk/README.md stays true: its ten-line example is example/ten-lines.ts and synthesizes as the
 * CDK CLI would run it; its props table lists every prop.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { KNOWN_PROPS } from '../src/props';

const CDK = path.resolve(__dirname, '..', '..');
const README = fs.readFileSync(path.join(CDK, 'README.md'), 'utf8');

/** Runs the compiled ten-line example as the CDK CLI runs an app (CDK_OUTDIR set: it synthesizes on exit). */
function runTenLines(targetDir: string) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-ten-'));
  const run = spawnSync(process.execPath, [path.join(CDK, 'dist', 'example', 'ten-lines.js')], {
    cwd: CDK, encoding: 'utf8', env: { ...process.env, CDK_OUTDIR: out, CARGO_TARGET_DIR: targetDir },
  });
  return { status: run.status, stderr: run.stderr, out };
}

describe('cdk/README.md', () => {
  it('the ten-line example is example/ten-lines.ts, word for word', () => {
    const section = README.slice(README.indexOf('## The ten-line example'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    assert.equal(block, fs.readFileSync(path.join(CDK, 'example', 'ten-lines.ts'), 'utf8'));
    assert.ok(block!.trim().split('\n').length <= 12);
    // The front door shows the same ten lines.
    const front = fs.readFileSync(path.join(CDK, '..', 'README.md'), 'utf8');
    const frontSection = front.slice(front.indexOf('### AWS CDK and Amplify Gen 2'));
    assert.equal(/```ts\n([\s\S]*?)```/.exec(frontSection)?.[1], block);
  });

  it('it synthesizes with the zip `make build` writes, and without it says to run `make build`', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-target-'));
    const missing = runTenLines(dir);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /code: not given, and .* is missing\. Run `make build`/);

    fs.mkdirSync(path.join(dir, 'lambda', 'cognito-email-otp'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lambda', 'cognito-email-otp', 'bootstrap.zip'), Buffer.from('504b0506000000000000000000000000000000000000', 'hex'));
    const built = runTenLines(dir);
    assert.equal(built.status, 0, built.stderr);
    const template = JSON.parse(fs.readFileSync(path.join(built.out, 'Auth.template.json'), 'utf8')) as { Resources: Record<string, { Type: string }> };
    const types = new Set(Object.values(template.Resources).map((r) => r.Type));
    for (const t of ['AWS::Lambda::Function', 'AWS::SecretsManager::Secret', 'AWS::Cognito::UserPoolClient', 'AWS::Logs::LogGroup']) assert.ok(types.has(t), t);
  });

  it('the props table lists every prop, and no other', () => {
    const table = README.slice(README.indexOf('## Props'), README.indexOf('## App clients'));
    const listed = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...listed].sort(), [...KNOWN_PROPS].sort());
  });
});
