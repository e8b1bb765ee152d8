/**
 * Every app client of the pool in the app is checked at synth: each way a client can void the
 * guarantees is refused, naming the client and the fix; addClient makes a client that passes.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { App, Duration, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';

import { EmailOtp } from '../src';
import { emailOtp, newStack, only, refused, template, userPool, warnings } from './support';

/** A client written the careful way by hand: what addClient makes. */
const GOOD: cognito.UserPoolClientOptions = {
  authFlows: { custom: true },
  disableOAuth: true,
  preventUserExistenceErrors: true,
  readAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true, emailVerified: true }),
  writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true }),
  authSessionValidity: Duration.minutes(10),
};

/** The stack with EmailOtp and one hand-written client `mobile`. */
function withClient(options: Partial<cognito.UserPoolClientOptions>, change?: (cfn: cognito.CfnUserPoolClient) => void): Stack {
  const stack = newStack();
  const pool = userPool(stack);
  emailOtp(stack, {}, pool);
  const client = pool.addClient('Mobile', { ...GOOD, userPoolClientName: 'mobile', ...options });
  change?.(client.node.defaultChild as cognito.CfnUserPoolClient);
  return stack;
}

const NAMED = /app client "mobile" \(Auth\/Users\/Mobile\/Resource\)/;

describe('a careful client passes', () => {
  it('written by hand', () => {
    template(withClient({}));
  });

  it('a client_credentials-only OAuth client (it signs no user in)', () => {
    template(withClient({ disableOAuth: false, generateSecret: true, oAuth: { flows: { clientCredentials: true }, scopes: [cognito.OAuthScope.custom('api/read')] } }));
  });
});

describe('refused at synth, naming the client and the fix', () => {
  const cases: Array<[string, Partial<cognito.UserPoolClientOptions>, RegExp, RegExp]> = [
    ['no authFlows: Cognito\'s default includes USER_SRP_AUTH', { authFlows: undefined },
      /sets no ExplicitAuthFlows, so Cognito allows ALLOW_USER_SRP_AUTH/, /authFlows: \{ custom: true \}/],
    ['USER_SRP_AUTH', { authFlows: { custom: true, userSrp: true } }, /allows ALLOW_USER_SRP_AUTH: a password alone/, /authFlows: \{ custom: true \}/],
    ['USER_PASSWORD_AUTH', { authFlows: { custom: true, userPassword: true } }, /allows ALLOW_USER_PASSWORD_AUTH/, /authFlows/],
    ['ADMIN_USER_PASSWORD_AUTH', { authFlows: { custom: true, adminUserPassword: true } }, /allows ALLOW_ADMIN_USER_PASSWORD_AUTH/, /authFlows/],
    ['USER_AUTH (choice-based sign-in)', { authFlows: { custom: true, user: true } }, /allows ALLOW_USER_AUTH/, /authFlows/],
    ['OAuth on, as UserPoolClient has it by default', { disableOAuth: undefined }, /allows the OAuth flows implicit, code: users sign in through managed login/, /disableOAuth: true/],
    ['the authorization-code flow', { disableOAuth: false, oAuth: { flows: { authorizationCodeGrant: true }, callbackUrls: ['https://app.example/'] } }, /allows the OAuth flows code:/, /disableOAuth: true/],
    ['the implicit flow', { disableOAuth: false, oAuth: { flows: { implicitCodeGrant: true }, callbackUrls: ['https://app.example/'] } }, /allows the OAuth flows implicit:/, /disableOAuth/],
    ['no readAttributes: every attribute readable', { readAttributes: undefined }, /sets no ReadAttributes, so it can read custom:authChallenge \(it would be in every ID token\)/, /readAttributes: new ClientAttributes\(\)/],
    ['custom:authChallenge readable', { readAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true }).withCustomAttributes('authChallenge') },
      /lists custom:authChallenge in ReadAttributes/, /readAttributes/],
    ['no writeAttributes: every attribute writable', { writeAttributes: undefined }, /sets no WriteAttributes, so it can write custom:authChallenge \(users could set their own challenge state\)/, /writeAttributes: new ClientAttributes\(\)/],
    ['custom:authChallenge writable', { writeAttributes: new cognito.ClientAttributes().withCustomAttributes('authChallenge') }, /lists custom:authChallenge in WriteAttributes/, /writeAttributes/],
    ['existence errors not prevented', { preventUserExistenceErrors: false }, /has PreventUserExistenceErrors "LEGACY": sign-in tells an unknown address from a known one/, /preventUserExistenceErrors: true/],
    ['existence errors left to the default', { preventUserExistenceErrors: undefined }, /has PreventUserExistenceErrors unset \(LEGACY\)/, /preventUserExistenceErrors: true/],
  ];
  for (const [what, options, problem, fix] of cases) {
    it(what, () => {
      const message = refused(() => withClient(options), /Validation failed/, NAMED, problem, fix, /or make the client with otp.addClient\(\)/);
      assert.equal(message.match(/app client "mobile"/g)?.length, 1, `one problem reported:\n${message}`);
    });
  }

  it('a bypass through a property override or the L1 is judged as synthesized', () => {
    refused(() => withClient({}, (cfn) => cfn.addPropertyOverride('ExplicitAuthFlows', ['ALLOW_CUSTOM_AUTH', 'ALLOW_USER_SRP_AUTH'])), NAMED, /allows ALLOW_USER_SRP_AUTH/);
    refused(() => withClient({}, (cfn) => { cfn.readAttributes = undefined; }), NAMED, /sets no ReadAttributes/);
    refused(() => withClient({}, (cfn) => cfn.addPropertyDeletionOverride('PreventUserExistenceErrors')), NAMED, /PreventUserExistenceErrors unset/);
  });

  it('a client written as a bare CfnUserPoolClient, and one in another stack of the app', () => {
    refused(() => {
      const stack = newStack();
      const pool = userPool(stack);
      emailOtp(stack, {}, pool);
      new cognito.CfnUserPoolClient(stack, 'Raw', { userPoolId: pool.userPoolId, explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH'] });
      return stack;
    }, /app client \(Auth\/Raw\) allows ALLOW_USER_PASSWORD_AUTH/, /app client \(Auth\/Raw\) sets no ReadAttributes/);

    const app = new App();
    const authStack = new Stack(app, 'Auth');
    const pool = userPool(authStack);
    emailOtp(authStack, {}, pool);
    const webStack = new Stack(app, 'Web');
    new cognito.UserPoolClient(webStack, 'SpaClient', { userPool: pool, ...GOOD, authFlows: { userSrp: true } });
    refused(() => { app.synth(); }, /app client \(Web\/SpaClient\/Resource\) allows ALLOW_USER_SRP_AUTH/);
  });

  it('every problem of every client at once', () => {
    const message = refused(() => {
      const stack = withClient({ authFlows: { userSrp: true } });
      (stack.node.findChild('Users') as cognito.UserPool).addClient('Careless');
      return stack;
    });
    assert.match(message, /app client "mobile" .* allows ALLOW_USER_SRP_AUTH/);
    for (const p of [/ExplicitAuthFlows/, /OAuth flows/, /ReadAttributes/, /WriteAttributes/, /PreventUserExistenceErrors/]) {
      assert.match(message, new RegExp(`app client \\(Auth/Users/Careless/Resource\\) [^\\n]*${p.source}`));
    }
  });

  it('clients of another pool in the app are not this construct\'s business', () => {
    const stack = newStack();
    emailOtp(stack, {}, userPool(stack));
    new cognito.UserPool(stack, 'Staff').addClient('Console', { authFlows: { userPassword: true } });
    template(stack);
  });
});

describe('addClient', () => {
  it('makes a client that keeps every guarantee, its session as long as the template\'s', () => {
    const stack = newStack();
    const otp = emailOtp(stack);
    otp.addClient('Web');
    const client = only(template(stack), 'AWS::Cognito::UserPoolClient');
    assert.deepEqual(client.ExplicitAuthFlows, ['ALLOW_CUSTOM_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH']);
    assert.equal(client.AllowedOAuthFlowsUserPoolClient, false);
    assert.equal(client.AllowedOAuthFlows, undefined);
    assert.equal(client.PreventUserExistenceErrors, 'ENABLED');
    assert.deepEqual(client.ReadAttributes, ['email', 'email_verified']);
    assert.deepEqual(client.WriteAttributes, ['email']);
    assert.equal(client.AuthSessionValidity, 10);
    assert.equal(client.GenerateSecret, false);
  });

  it('its AuthSessionValidity covers the code\'s validity', () => {
    for (const [ttl, minutes] of [[Duration.minutes(5), 10], [Duration.seconds(601), 11], [Duration.minutes(15), 15]] as const) {
      const stack = newStack();
      emailOtp(stack, { codeTtl: ttl }).addClient('Web');
      assert.equal(only(template(stack), 'AWS::Cognito::UserPoolClient').AuthSessionValidity, minutes, ttl.toHumanString());
    }
    const long = newStack();
    emailOtp(long, { codeTtl: Duration.minutes(30) }).addClient('Web');
    assert.equal(only(template(long), 'AWS::Cognito::UserPoolClient').AuthSessionValidity, 15);
    assert.ok(warnings(long).some((w) => /codeTtl is 1800 s, longer than the longest AuthSessionValidity/.test(w)));
  });

  it('refuses options that would void a guarantee, naming them', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ authSessionValidity: Duration.minutes(4) }, /authSessionValidity: 4 minutes ends a sign-in before its code expires \(codeTtl 300 s\)/],
      [{ authSessionValidity: Duration.minutes(20) }, /authSessionValidity: 20 minutes is not accepted; use 3 to 15 minutes/],
      [{ readAttributes: new cognito.ClientAttributes().withCustomAttributes('authChallenge') }, /readAttributes: lists custom:authChallenge/],
      [{ writeAttributes: new cognito.ClientAttributes().withCustomAttributes('authChallenge') }, /writeAttributes: lists custom:authChallenge/],
      [{ authFlows: { userSrp: true } }, /authFlows: not an option of addClient/],
      [{ oAuth: { flows: { implicitCodeGrant: true } } }, /oAuth: not an option of addClient/],
    ];
    for (const [options, pattern] of cases) {
      refused(() => {
        const stack = newStack();
        emailOtp(stack).addClient('Web', options);
      }, /EmailOtp Auth\/Otp.addClient\('Web'\) cannot be synthesized/, pattern);
    }
  });

  it('keeps the options it may: name, secret, attribute lists without the state, token validity', () => {
    const stack = newStack();
    emailOtp(stack).addClient('Server', {
      userPoolClientName: 'server', generateSecret: true, idTokenValidity: Duration.minutes(30),
      readAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true, locale: true }),
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true, locale: true }),
    });
    const client = only(template(stack), 'AWS::Cognito::UserPoolClient');
    assert.equal(client.ClientName, 'server');
    assert.equal(client.GenerateSecret, true);
    assert.equal(client.IdTokenValidity, 30);
    assert.deepEqual(client.ReadAttributes, ['email', 'locale']);
  });
});

describe('a warning, not a refusal', () => {
  it('a client whose sign-in ends before its code does (Cognito\'s default 3 minutes)', () => {
    const stack = withClient({ authSessionValidity: undefined });
    assert.ok(warnings(stack).some((w) => /app client "mobile" .*: its AuthSessionValidity \(3 minutes, the default\) ends a sign-in before a code expires/.test(w)));
    const ok = withClient({});
    assert.ok(!warnings(ok).some((w) => /AuthSessionValidity/.test(w)));
  });
});

void EmailOtp;
