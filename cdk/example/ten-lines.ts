import { App, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { EmailOtp } from 'cognito-email-otp-cdk';

const app = new App();
const stack = new Stack(app, 'Auth');
const userPool = new cognito.UserPool(stack, 'Users', {
  signInAliases: { email: true },
  accountRecovery: cognito.AccountRecovery.NONE, // recovery by the mailbox would skip the password
});
const otp = new EmailOtp(stack, 'Otp', { userPool, emailFrom: 'Acme <no-reply@acme.example>' });
otp.addClient('Web');
