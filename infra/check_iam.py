#!/usr/bin/env python3
"""Proves every IAM grant of the function's role against the calls the function makes.

For several parameter sets, the template is transformed with the SAM translator and evaluated
offline (infra/cfn_model.py: parameters, rules, conditions and intrinsics as CloudFormation
documents them, from a fixed account, Region and stack name). Every Allow statement that reaches
the function's role (its inline policies, and AWS::IAM::Policy / AWS::IAM::ManagedPolicy /
AWS::IAM::RolePolicy resources naming it) is then evaluated the way IAM does for each call:

- every call the function makes must be allowed (logs, SES, Cognito, Secrets Manager);
- calls it does not make, and the same calls on other resources, must be denied;
- every granted action and resource must serve at least one of those calls.

A self-test runs first: IAM matcher cases, the resolver refusing what it does not know, and the old
log grant (`${LogGroup.Arn}:log-stream:*`, issue 14) shown to deny PutLogEvents. One line is printed
per checked call; any mismatch makes the exit status 1. `--self-test` runs only the self-test.

`--synthesized MANIFEST` proves templates that were synthesized rather than written, such as the
CDK construct's (cdk/): MANIFEST is a JSON file `{"sets": [{"label", "template", "expect"}]}`, where
`template` is a CloudFormation template (JSON; a path relative to the manifest) and `expect` holds
the values of this template's parameters it was built with (SesIdentity, SesConfigurationSet,
SesTemplate, ChallengeStore, DriftCheck: "false" unless given). The same calls are checked against the same rules; the function is
the one whose environment holds CODE_HMAC_KEY_SECRET_ARN, and its log group, secret and table are
read from the template (an unnamed log group gets the name CloudFormation generates).
"""
import json
import os
import sys

import cfn_model as m
from cfn_model import ACCOUNT, REGION, PARTITION, STACK_NAME, Stack, Unsupported, evaluate

FUNCTION = "OtpFunction"
# The random part of a generated log group name (a log group without LogGroupName, as CDK makes).
LOG_GROUP_SUFFIX = "Zz9Yy8Xx7Ww6"
# The services the function calls. A grant in any other service is an error.
CALLED_SERVICES = {"logs", "ses", "cognito-idp", "secretsmanager", "dynamodb", "lambda"}

BASE = {"EmailFrom": "Acme <no-reply@acme.example>", "SesIdentity": "acme.example"}
# ExistingUserPoolId: a pool the stack does not create (ID in Cognito's format, this Region).
EXISTING_POOL_ID = f"{m.REGION}_ExIsTiNg7"
EXISTING = {**BASE, "ExistingUserPoolId": EXISTING_POOL_ID}
PARAMETER_SETS = [
    ("defaults, domain identity", BASE),
    ("address identity", {**BASE, "SesIdentity": "no-reply@acme.example"}),
    ("configuration set and template", {**BASE, "SesConfigurationSet": "otp-events", "SesTemplate": "otp-code"}),
    ("AWS WAF on", {**BASE, "WafRequestsPer5Minutes": "1000"}),
    ("DynamoDB store", {**BASE, "ChallengeStore": "dynamodb"}),
    ("drift check off", {**BASE, "DriftCheck": "false"}),
    ("existing pool", EXISTING),
    ("existing pool, DynamoDB store and AWS WAF", {**EXISTING, "ChallengeStore": "dynamodb", "WafRequestsPer5Minutes": "1000"}),
    ("existing pool, drift check off", {**EXISTING, "DriftCheck": "false"}),
]


def arn(service, resource):
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{resource}"


LOG_GROUP = f"/aws/lambda/{STACK_NAME}-email-otp"
STREAM = "2026/11/22/[$LATEST]0123456789abcdef"
GROUP_ARN = arn("logs", f"log-group:{LOG_GROUP}")
STREAM_ARN = arn("logs", f"log-group:{LOG_GROUP}:log-stream:{STREAM}")
POOL_ARN = arn("cognito-idp", f"userpool/{m.USER_POOL_ID}")
SECRET_NAME = f"CodeHmacKey-{m.SECRET_NAME_SUFFIX}"
SECRET_ARN = arn("secretsmanager", f"secret:{SECRET_NAME}-{m.SECRET_ARN_SUFFIX}")
TABLE_ARN = arn("dynamodb", f"table/{STACK_NAME}-ChallengeTable-{m.TABLE_SUFFIX}")
FUNCTION_ARN = arn("lambda", f"function:{STACK_NAME}-email-otp")


def default_names():
    """The names infra/template.yaml gives its function's resources, as the model deploys them."""
    return {"log_group": LOG_GROUP, "secret_name": SECRET_NAME, "secret_arn": SECRET_ARN, "table_arn": TABLE_ARN,
            "function_arn": FUNCTION_ARN}


def pool_arn_of(params):
    """The pool every Cognito grant must name: ExistingUserPoolId's, or the one the stack creates."""
    existing = params.get("ExistingUserPoolId", "")
    return arn("cognito-idp", f"userpool/{existing}") if existing else POOL_ARN


def expected_calls(params, names=None):
    """(action, ARN, expected decision, why) for one parameter set."""
    # This deployment's names (the module's constants for infra/template.yaml), under the same
    # names as those constants so that the calls below read the same for every template.
    names = names or default_names()
    LOG_GROUP, SECRET_NAME, SECRET_ARN, TABLE_ARN = names["log_group"], names["secret_name"], names["secret_arn"], names["table_arn"]
    POOL_ARN, FUNCTION_ARN = pool_arn_of(params), names["function_arn"]
    GROUP_ARN = arn("logs", f"log-group:{LOG_GROUP}")
    STREAM_ARN = arn("logs", f"log-group:{LOG_GROUP}:log-stream:{STREAM}")
    identity = params["SesIdentity"]
    config_set = params.get("SesConfigurationSet", "")
    template = params.get("SesTemplate", "")
    allow = [
        # The SAR lists log-stream as CreateLogStream's resource type (the stream being created);
        # the log group ARN covers a log-group check of the same call.
        ("logs:CreateLogStream", STREAM_ARN, "Lambda creates its log stream"),
        ("logs:CreateLogStream", GROUP_ARN, "same call, checked against the log group"),
        ("logs:PutLogEvents", STREAM_ARN, "Lambda writes the function's log lines"),
        ("ses:SendEmail", arn("ses", f"identity/{identity}"), "the code email, as SesIdentity"),
        ("secretsmanager:GetSecretValue", SECRET_ARN, "the code HMAC key, at first use"),
    ]
    table = params.get("ChallengeStore") == "dynamodb"
    if table:
        allow += [
            ("cognito-idp:AdminUpdateUserAttributes", POOL_ARN, "the first correct code's email_verified"),
            ("dynamodb:UpdateItem", TABLE_ARN, "every state change, one conditional write"),
            ("dynamodb:GetItem", TABLE_ARN, "Verify's read when Create left no state for the round"),
        ]
    else:
        allow += [
            ("cognito-idp:AdminGetUser", POOL_ARN, "Create/Verify read the state afresh and read writes back"),
            ("cognito-idp:AdminUpdateUserAttributes", POOL_ARN, "Create/Verify write the challenge state"),
        ]
    drift = params.get("DriftCheck", "true") == "true"
    drift_calls = [
        ("cognito-idp:DescribeUserPool", POOL_ARN, "the drift check reads the pool"),
        ("cognito-idp:ListUserPoolClients", POOL_ARN, "the drift check lists its app clients"),
        ("cognito-idp:DescribeUserPoolClient", POOL_ARN, "the drift check reads each app client"),
        ("lambda:GetPolicy", FUNCTION_ARN, "the drift check reads who may invoke the function"),
    ]
    if drift:
        allow += drift_calls
    if config_set:
        allow.append(("ses:SendEmail", arn("ses", f"configuration-set/{config_set}"), "SesConfigurationSet is set"))
    if template:
        allow.append(("ses:SendEmail", arn("ses", f"template/{template}"), "SesTemplate is set"))

    other_stream = f"log-stream:{STREAM}"
    deny = [
        ("logs:PutLogEvents", arn("logs", f"log-group:{LOG_GROUP}-evil:{other_stream}"), "a log group whose name extends ours"),
        ("logs:CreateLogStream", arn("logs", f"log-group:{LOG_GROUP}-evil:{other_stream}"), "a log group whose name extends ours"),
        ("logs:CreateLogStream", arn("logs", f"log-group:{LOG_GROUP}-evil"), "a log group whose name extends ours"),
        ("logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/other-function:{other_stream}"), "another function's log group"),
        ("logs:DeleteLogGroup", GROUP_ARN, "not a call the function makes"),
        ("logs:DeleteLogGroup", GROUP_ARN + ":*", "not a call the function makes"),
        ("logs:CreateLogGroup", GROUP_ARN, "the group is the stack's"),
        ("logs:GetLogEvents", STREAM_ARN, "the function does not read logs"),
        ("cognito-idp:AdminDeleteUser", POOL_ARN, "not a call the function makes"),
        ("cognito-idp:AdminSetUserPassword", POOL_ARN, "not a call the function makes"),
        ("cognito-idp:ListUsers", POOL_ARN, "not a call the function makes"),
        ("cognito-idp:AdminGetUser", arn("cognito-idp", f"userpool/{REGION}_ZyXwVuTsR"), "another pool"),
        ("cognito-idp:AdminUpdateUserAttributes", POOL_ARN + "2", "a pool ID extending ours"),
        ("cognito-idp:UpdateUserPool", POOL_ARN, "the drift check only reads: attach wires"),
        ("cognito-idp:UpdateUserPoolClient", POOL_ARN, "the drift check only reads"),
        ("cognito-idp:AddCustomAttributes", POOL_ARN, "the drift check only reads"),
        ("cognito-idp:DescribeUserPool", arn("cognito-idp", f"userpool/{REGION}_ZyXwVuTsR"), "another pool"),
        ("cognito-idp:ListUserPoolClients", arn("cognito-idp", f"userpool/{REGION}_ZyXwVuTsR"), "another pool"),
        ("cognito-idp:DescribeUserPoolClient", POOL_ARN + "2", "a pool ID extending ours"),
        ("lambda:GetPolicy", arn("lambda", "function:other-function"), "another function"),
        ("lambda:GetPolicy", FUNCTION_ARN + "2", "a function whose name extends ours"),
        ("lambda:GetPolicy", FUNCTION_ARN + ":live", "an alias or version of ours is not the function the drift check reads"),
        ("lambda:GetFunctionConfiguration", FUNCTION_ARN, "the drift check needs GetPolicy only"),
        ("lambda:AddPermission", FUNCTION_ARN, "the drift check only reads"),
        ("lambda:InvokeFunction", FUNCTION_ARN, "the function never invokes itself"),
        ("ses:SendEmail", arn("ses", "identity/evil.example"), "another domain"),
        ("ses:SendEmail", arn("ses", "identity/someone@evil.example"), "another address"),
        ("ses:SendEmail", arn("ses", f"identity/{identity}.evil.example"), "a name extending ours"),
        ("ses:SendRawEmail", arn("ses", f"identity/{identity}"), "only SendEmail is granted"),
        ("ses:SendBulkEmail", arn("ses", f"identity/{identity}"), "only SendEmail is granted"),
        ("ses:SendEmail", arn("ses", "configuration-set/other-events"), "another configuration set"),
        ("secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:{SECRET_NAME}-XyZ789"), "same name, another secret"),
        ("secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:{SECRET_NAME}-{m.SECRET_ARN_SUFFIX}2-Kk1Ll2"), "a secret whose ARN extends ours"),
        ("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:prod/db-password-Mm3Nn4"), "another secret"),
        ("secretsmanager:PutSecretValue", SECRET_ARN, "read only"),
        ("secretsmanager:DescribeSecret", SECRET_ARN, "GetSecretValue only"),
        ("dynamodb:GetItem", arn("dynamodb", "table/otp-state"), "another table"),
        ("dynamodb:PutItem", arn("dynamodb", "table/otp-state"), "another table"),
        ("dynamodb:UpdateItem", arn("dynamodb", "table/otp-state"), "another table"),
        ("dynamodb:UpdateItem", TABLE_ARN + "2", "a table whose name extends ours"),
        ("dynamodb:Query", arn("dynamodb", "table/otp-state"), "another table"),
        ("dynamodb:PutItem", TABLE_ARN, "UpdateItem and GetItem only"),
        ("dynamodb:DeleteItem", TABLE_ARN, "UpdateItem and GetItem only"),
        ("dynamodb:Scan", TABLE_ARN, "UpdateItem and GetItem only"),
        ("dynamodb:Query", TABLE_ARN, "UpdateItem and GetItem only"),
        ("iam:PassRole", f"arn:{PARTITION}:iam::{ACCOUNT}:role/{STACK_NAME}-FunctionRole-ROLEID0000", "no IAM grant"),
    ]
    if not drift:
        deny += [(a, r, "DriftCheck=false: no drift check") for a, r, _ in drift_calls]
    if params.get("ExistingUserPoolId"):
        # The pool the stack would have created (the model's ID) is not the pool given.
        deny += [(a, arn("cognito-idp", f"userpool/{m.USER_POOL_ID}"), "the stack creates no pool: only ExistingUserPoolId")
                 for a in ("cognito-idp:AdminGetUser", "cognito-idp:AdminUpdateUserAttributes", "cognito-idp:DescribeUserPool")]
    if table:
        deny.append(("cognito-idp:AdminGetUser", POOL_ARN, "the table store reads no user"))
    else:
        deny += [
            ("dynamodb:GetItem", TABLE_ARN, "no table with the attribute store"),
            ("dynamodb:UpdateItem", TABLE_ARN, "no table with the attribute store"),
        ]
    if "@" in identity:
        domain = identity.split("@", 1)[1]
        deny += [
            ("ses:SendEmail", arn("ses", f"identity/{domain}"), "the whole domain, when SesIdentity is one address"),
            ("ses:SendEmail", arn("ses", f"identity/other@{domain}"), "another address in the domain"),
        ]
    if not config_set:
        deny.append(("ses:SendEmail", arn("ses", "configuration-set/otp-events"), "no configuration set is configured"))
    if not template:
        deny.append(("ses:SendEmail", arn("ses", "template/otp-code"), "no template is configured"))
    else:
        deny.append(("ses:SendEmail", arn("ses", "template/other-template"), "another template"))
    return [(a, r, "allowed", why) for a, r, why in allow] + [(a, r, "denied", why) for a, r, why in deny]


def function_id(stack):
    """The function: OtpFunction in infra/template.yaml; in a synthesized template, the one
    function whose environment holds CODE_HMAC_KEY_SECRET_ARN."""
    resources = stack.resources()
    if FUNCTION in resources:
        return FUNCTION
    found = [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
             and "CODE_HMAC_KEY_SECRET_ARN" in r.get("Properties", {}).get("Environment", {}).get("Variables", {})]
    if len(found) != 1:
        raise Unsupported(f"expected one function with CODE_HMAC_KEY_SECRET_ARN, found {found}")
    return found[0]


def stack_names(stack):
    """The function's log group, secret and table in this deployment, read from the template."""
    fn = stack.resources()[function_id(stack)]["Properties"]
    env = fn.get("Environment", {}).get("Variables", {})
    logging = fn.get("LoggingConfig", {})
    log_group = stack.resolve(logging["LogGroup"]) if "LogGroup" in logging else f"/aws/lambda/{stack.resolve(fn['FunctionName'])}"
    secret_arn = stack.resolve(env["CODE_HMAC_KEY_SECRET_ARN"])
    prefix, suffix = arn("secretsmanager", "secret:"), f"-{m.SECRET_ARN_SUFFIX}"
    if not (secret_arn.startswith(prefix) and secret_arn.endswith(suffix)):
        raise Unsupported(f"CODE_HMAC_KEY_SECRET_ARN resolves to {secret_arn!r}, not a secret of this stack")
    table = stack.resolve(env.get("CHALLENGE_TABLE", ""))
    try:
        function_arn = stack.get_att(function_id(stack), "Arn")
    except Unsupported:
        # A generated function name (not modelled): only calls the role must deny name it.
        function_arn = FUNCTION_ARN
    return {
        "log_group": log_group,
        "secret_name": secret_arn[len(prefix):-len(suffix)],
        "secret_arn": secret_arn,
        # With the attribute store there is no table; the calls that must be denied name the one
        # the template would have made.
        "table_arn": arn("dynamodb", f"table/{table}") if table else TABLE_ARN,
        "function_arn": function_arn,
    }


class SynthesizedStack(Stack):
    """A synthesized template's deployment: also models the name CloudFormation gives a log group
    without LogGroupName (stack name, logical ID, random suffix)."""

    def ref(self, name):
        r = self.resources().get(name)
        if r is not None and r["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" not in r.get("Properties", {}):
            return f"{self.stack_name}-{name}-{LOG_GROUP_SUFFIX}"
        return super().ref(name)


def role_statements(stack):
    """Every statement attached to the function's role: (source, statement)."""
    resources = stack.resources()
    fn = resources[function_id(stack)]
    role_ref = fn["Properties"]["Role"]
    if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
        raise Unsupported(f"{function_id(stack)}.Role is {role_ref!r}, not a role of this stack")
    role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref["Fn::GetAtt"], list) else role_ref["Fn::GetAtt"].split(".")[0]
    role = resources[role_id]
    if role["Type"] != "AWS::IAM::Role":
        raise Unsupported(f"{role_id} is a {role['Type']}")
    props = role["Properties"]
    for key in ("ManagedPolicyArns", "PermissionsBoundary"):
        if key in props:
            raise Unsupported(f"{role_id}.{key} is not evaluated offline")
    role_name = stack.ref(role_id)
    out = []
    for policy in stack.resolve(props.get("Policies", [])):
        for st in m.as_list(policy["PolicyDocument"]["Statement"]):
            out.append((f"{role_id}/{policy['PolicyName']}", st))
    for name, r in resources.items():
        p = r.get("Properties", {})
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = role_name in stack.resolve(p.get("Roles", []))
        elif r["Type"] == "AWS::IAM::RolePolicy":
            attached = stack.resolve(p["RoleName"]) == role_name
        else:
            continue
        if attached:
            for st in m.as_list(stack.resolve(p["PolicyDocument"])["Statement"]):
                out.append((name, st))
    return out


def check_parameter_set(label, params):
    return check_stack(label, Stack(m.load(TEMPLATE), params), params)


def check_stack(label, stack, params):
    """Every call of `expected_calls(params)` against the statements of the function's role in
    this deployment, and every granted action and resource against those calls."""
    sourced = role_statements(stack)
    statements = [st for _, st in sourced]
    problems, lines = [], []
    # Nothing outside the services the function calls, and no wildcard service.
    for source, st in sourced:
        for pattern in m.as_list(st.get("Action", st.get("NotAction", []))):
            service = pattern.split(":", 1)[0].lower()
            if "NotAction" in st or service not in CALLED_SERVICES:
                problems.append(f"{source}: grants {pattern!r}, outside {sorted(CALLED_SERVICES)}")
    used_actions, used_resources = set(), set()
    calls = expected_calls(params, stack_names(stack))
    for action, resource, expected, why in calls:
        decision, hits = evaluate(statements, action, resource)
        ok = decision == expected
        lines.append(f"{'  ' if ok else '! '}{decision:7}  {action:38} {resource}")
        if not ok:
            problems.append(f"{action} on {resource}: {decision}, expected {expected} ({why})")
        if expected == "allowed":
            for i in hits:
                st = statements[i]
                used_actions |= {(i, p) for p in m.as_list(st["Action"]) if m.action_matches(p, action)}
                used_resources |= {(i, p) for p in m.as_list(st["Resource"]) if m.resource_matches(p, resource)}
    for i, st in enumerate(statements):
        if st.get("Effect") != "Allow":
            continue
        for p in m.as_list(st.get("Action", [])):
            if (i, p) not in used_actions:
                problems.append(f"{sourced[i][0]}: action {p} serves no call of the function")
        for p in m.as_list(st.get("Resource", [])):
            if (i, p) not in used_resources:
                problems.append(f"{sourced[i][0]}: resource {p} serves no call of the function")
    print(f"[{label}] {len(statements)} statements on the function's role, {len(calls)} calls:")
    print("\n".join(lines))
    return problems, len(calls)


def self_test():
    """The checker itself can fail: matcher cases, refusals, and the old broken log grant."""
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"self-test: {what}: got {got!r}, expected {want!r}")

    stream = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:log-stream:2026/11/22/[$LATEST]ab"
    expect("* crosses : and / in the resource", m.resource_matches("arn:aws:logs:*:*:*", stream), True)
    expect("* crosses / in an S3 key", m.resource_matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c"), True)
    expect("* stays within the Region component",
           m.resource_matches("arn:aws:logs:*:123456789012:log-group:x", "arn:aws:logs:eu-west-1:999999999999:log-group:x"), False)
    expect("? is one character", m.resource_matches("arn:aws:ses:eu-west-1:1:identity/a?c", "arn:aws:ses:eu-west-1:1:identity/abc"), True)
    expect("? is not two", m.resource_matches("arn:aws:ses:eu-west-1:1:identity/a?c", "arn:aws:ses:eu-west-1:1:identity/abbc"), False)
    expect("? is not zero", m.resource_matches("arn:aws:ses:eu-west-1:1:identity/a?c", "arn:aws:ses:eu-west-1:1:identity/ac"), False)
    expect("resources are case-sensitive",
           m.resource_matches("arn:aws:ses:eu-west-1:1:identity/Acme.example", "arn:aws:ses:eu-west-1:1:identity/acme.example"), False)
    expect("no prefix matching", m.resource_matches(GROUP_ARN, GROUP_ARN + "-evil"), False)
    expect("* alone matches anything", m.resource_matches("*", stream), True)
    expect("actions are case-insensitive", m.action_matches("logs:PutLogEvents", "LOGS:putlogevents"), True)
    expect("action *", m.action_matches("logs:Put*", "logs:PutLogEvents"), True)
    expect("action ?", m.action_matches("logs:Put?ogEvents", "logs:PutLogEvents"), True)
    expect("action * is not any action", m.action_matches("logs:Put*", "logs:CreateLogStream"), False)
    expect("no action prefix matching", m.action_matches("ses:SendEmail", "ses:SendEmailX"), False)

    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    deny_logs = {"Effect": "Deny", "Action": "logs:*", "Resource": "*"}
    expect("Deny wins over Allow", m.evaluate([allow_all, deny_logs], "logs:PutLogEvents", stream)[0], "denied")
    expect("NotAction", m.evaluate([{"Effect": "Allow", "NotAction": "logs:*", "Resource": "*"}], "logs:PutLogEvents", stream)[0], "denied")
    expect("NotResource", m.evaluate([{"Effect": "Allow", "Action": "*", "NotResource": GROUP_ARN}], "logs:X", GROUP_ARN)[0], "denied")
    expect("implicit deny", m.evaluate([], "logs:PutLogEvents", stream)[0], "denied")

    stack = Stack(m.load(TEMPLATE), BASE)
    for what, attempt in (
        ("Condition in a statement", lambda: m.evaluate([{**allow_all, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], "logs:X", stream)),
        ("policy variable", lambda: m.resource_matches("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/x/y")),
        ("Fn::ImportValue", lambda: stack.resolve({"Fn::ImportValue": "shared-key"})),
        ("Fn::GetAtt of an unmodelled attribute", lambda: stack.resolve({"Fn::GetAtt": ["UserPool", "ProviderName"]})),
        ("Ref of an unmodelled type", lambda: stack.resolve({"Ref": "UserPoolClient"})),
        ("unknown condition", lambda: stack.condition("NoSuchCondition")),
    ):
        try:
            attempt()
            problems.append(f"self-test: {what} was evaluated instead of refused")
        except Unsupported:
            pass

    # Issue 14: the old grant. LogGroup.Arn already ends in ":*", so the pattern matches nothing
    # the function uses.
    old = stack.resolve({"Fn::Sub": "${LogGroup.Arn}:log-stream:*"})
    expect("old grant as deployed", old, GROUP_ARN + ":*:log-stream:*")
    old_statement = [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": old}]
    print(f"[self-test] the old log grant, Resource {old}:")
    for action, resource in (("logs:PutLogEvents", STREAM_ARN), ("logs:CreateLogStream", STREAM_ARN), ("logs:CreateLogStream", GROUP_ARN)):
        decision = m.evaluate(old_statement, action, resource)[0]
        print(f"  {decision:7}  {action:38} {resource}")
        expect(f"old grant, {action} on {resource}", decision, "denied")
    print(f"[self-test] {'failed' if problems else 'passed'}: IAM matcher, refusals and the old grant")
    return problems


def check_synthesized(manifest_path):
    """`--synthesized`: each template of the manifest, with its expected values."""
    with open(manifest_path) as f:
        manifest = json.load(f)
    base = os.path.dirname(os.path.abspath(manifest_path))
    problems, total = [], 0
    if not manifest.get("sets"):
        return [f"{manifest_path}: no template sets"], 0
    for entry in manifest["sets"]:
        label = f"synthesized: {entry['label']}"
        # A synthesized stack has no drift check unless its manifest says so.
        expect = {"ChallengeStore": "attribute", "DriftCheck": "false", **entry["expect"]}
        try:
            stack = SynthesizedStack(m.load(os.path.join(base, entry["template"])), {})
            found, n = check_stack(label, stack, expect)
        except (Unsupported, ValueError, KeyError) as e:
            found, n = [f"cannot evaluate the template: {type(e).__name__}: {e}"], 0
        problems += [f"[{label}] {p}" for p in found]
        total += n
    return problems, total


def main(argv):
    only_self_test = "--self-test" in argv
    if "--synthesized" in argv:
        i = argv.index("--synthesized")
        if i + 1 >= len(argv):
            print("check_iam: --synthesized needs a manifest path")
            return 2
        manifest = argv[i + 1]
        problems = self_test()
        found, total = check_synthesized(manifest)
        problems += found
        if problems:
            print("\n".join(["", "check_iam: FAILED"] + problems))
            return 1
        print(f"check_iam: {total} calls in {len(json.load(open(manifest))['sets'])} synthesized templates, each allowed or denied as expected; "
              "every granted action and resource serves a call")
        return 0
    paths = [a for a in argv if not a.startswith("--")]
    global TEMPLATE
    TEMPLATE = paths[0] if paths else "infra/template.yaml"
    problems = self_test()
    total = 0
    if not only_self_test:
        for label, params in PARAMETER_SETS:
            try:
                found, n = check_parameter_set(label, params)
            except (Unsupported, ValueError) as e:
                found, n = [f"cannot evaluate the template: {e}"], 0
            problems += [f"[{label}] {p}" for p in found]
            total += n
    if problems:
        print("\n".join(["", "check_iam: FAILED"] + problems))
        return 1
    if not only_self_test:
        print(f"check_iam: {total} calls in {len(PARAMETER_SETS)} parameter sets, each allowed or denied as expected; "
              "every granted action and resource serves a call")
    return 0


TEMPLATE = "infra/template.yaml"

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
