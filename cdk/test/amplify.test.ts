/**
 * An Amplify Gen 2 backend's shape, without Amplify: the pool and its app client in the auth
 * nested stack, made the way @aws-amplify/auth-construct makes them for `loginWith: { email: true }`
 * (keepOriginal and autoVerify email, EMAIL_ONLY recovery, a client with SRP and custom auth,
 * existence errors prevented, CDK's default OAuth), and EmailOtp in the nested stack that
 * `backend.createStack` makes. Amplify's client is refused as it is, and passes with the
 * overrides cdk/README.md gives; the auth stack depends on the construct's, not the reverse.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { App, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cognito from 'aws-cdk-lib/aws-cognito';

import { AuthFlow, EmailOtp } from '../src';
import { EMAIL_FROM, refused, s3Code } from './support';

function backend(authFlow: AuthFlow, readmeOverrides: boolean) {
  const app = new App();
  const root = new Stack(app, 'amplify-app-sandbox');
  const auth = new NestedStack(root, 'auth');
  const userPool = new cognito.UserPool(auth, 'UserPool', {
    signInCaseSensitive: false,
    signInAliases: { email: true },
    keepOriginal: { email: true },
    autoVerify: { email: true },
    standardAttributes: { email: { required: true, mutable: true } },
    selfSignUpEnabled: true,
    accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
  });
  const client = new cognito.UserPoolClient(auth, 'UserPoolAppClient', {
    userPool, authFlows: { userSrp: true, custom: true }, preventUserExistenceErrors: true,
  });
  // backend.createStack('email-otp'), then the construct, as cdk/README.md shows it.
  const otpStack = new NestedStack(root, 'email-otp');
  new EmailOtp(otpStack, 'EmailOtp', { userPool, emailFrom: EMAIL_FROM, authFlow, code: s3Code(otpStack) });
  if (readmeOverrides) {
    // cdk/README.md, "Amplify Gen 2": the lines that make Amplify's client custom auth only.
    const cfnUserPoolClient = client.node.defaultChild as cognito.CfnUserPoolClient;
    cfnUserPoolClient.explicitAuthFlows = ['ALLOW_CUSTOM_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'];
    cfnUserPoolClient.allowedOAuthFlowsUserPoolClient = false;
    cfnUserPoolClient.allowedOAuthFlows = undefined;
    cfnUserPoolClient.allowedOAuthScopes = undefined;
    cfnUserPoolClient.callbackUrLs = undefined;
    cfnUserPoolClient.logoutUrLs = undefined;
    cfnUserPoolClient.readAttributes = ['email', 'email_verified'];
    cfnUserPoolClient.writeAttributes = ['email'];
    cfnUserPoolClient.authSessionValidity = 10;
  }
  return { app, auth, otpStack };
}

describe('an Amplify Gen 2 backend', () => {
  it("refuses Amplify's own app client as it comes: SRP, OAuth, every attribute", () => {
    refused(() => { backend('passwordless', false).app.synth(); },
      /UserPoolAppClient\/Resource\) allows ALLOW_USER_SRP_AUTH/, /allows the OAuth flows/, /sets no ReadAttributes/, /sets no WriteAttributes/);
  });

  it("passes with cdk/README.md's overrides; the auth stack takes the function from the construct's stack, never the reverse", () => {
    const { app, auth, otpStack } = backend('passwordless', true);
    app.synth();
    const authTemplate = Template.fromStack(auth).toJSON();
    assert.ok(Object.keys(authTemplate.Parameters ?? {}).some((p) => /emailotp/i.test(p)), 'the auth stack references the construct\'s stack');
    assert.equal(Template.fromStack(otpStack).toJSON().Parameters, undefined, 'the construct\'s stack takes nothing from auth');
  });

  it("with authFlow 'mfa', Amplify's default recovery by email is refused (defineAuth's accountRecovery: 'NONE' fixes it)", () => {
    refused(() => { backend('mfa', true); }, /userPool: account recovery by email/);
  });
});
