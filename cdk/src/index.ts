/**
 * cognito-email-otp for AWS CDK v2: `new EmailOtp(stack, 'Otp', { userPool, emailFrom })`.
 * The reference is cdk/README.md.
 */
export { EmailOtp, EmailOtpClientOptions } from './email-otp';
export { AuthFlow, ChallengeStore, EmailOtpProps, EmailOtpError, Settings } from './props';
export { CHALLENGE_ATTRIBUTE } from './guards';
