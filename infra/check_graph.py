#!/usr/bin/env python3
"""Transforms infra/template.yaml with the SAM translator (offline) and checks the resource graph.

Fails when:
- the transformed template has a dependency cycle (Ref, Fn::GetAtt, Fn::Sub, DependsOn);
- the function, its role or its inline policies depend on the user pool (the classic
  pool -> function -> role -> pool cycle, see the reference's section 8);
- an IAM statement uses a wildcard action;
- a required piece is missing or wrong (the app client's auth flows and attribute lists, the
  custom attribute, pool MFA off, email changes verified before they take effect, the invoke
  permission's scope, the function's runtime/timeout, the generated secret passed by its ARN and
  never by value, REFERENCE_KEY, the resend cooldown's minimum);
- the optional AWS WAF is wrong: its resources must exist only when WafRequestsPer5Minutes is not 0
  (both are transformed and their conditions evaluated), limits 1 to 9 must be rejected, and the
  web ACL must be one REGIONAL rate-based rule per source IP, blocking, associated with the pool;
- with ExistingUserPoolId the stack creates a Cognito resource, or its invoke permission, AWS WAF
  association, alarms or drift check name another pool than the one given, or its outputs lack the
  exact `otp-admin check` and `otp-admin attach` commands; a malformed pool ID is accepted;
- the drift check (DriftCheck) is wrong in either mode: its rule, permission, policy and alarm must
  exist exactly when it is on; the rule hourly, with one target, the function, and the constant
  input {"otpDriftCheck": {"userPoolId": POOL}}; the permission for events.amazonaws.com scoped to
  that rule; the policy on the function's role; the alarm on DriftCriticalFindings in the function's
  namespace for that pool, Maximum >= 1 over the schedule's hour, missing data not breaching (no
  alarm before the first check); the alarm on DriftCheckFailed, Sum >= 1 in two hours running;
  both notifying the alarm topic as the other alarms do.
Prints the transformed resource list on success. Transform and evaluation: infra/cfn_model.py.
"""
import json
import re
import sys

import cfn_model as m

BASE = {"EmailFrom": "x@acme.example", "SesIdentity": "x@acme.example"}
WAF_TYPES = ("AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation")
EXISTING_POOL_ID = f"{m.REGION}_ExIsTiNg7"
DRIFT = {"DriftCheckRule": "AWS::Events::Rule", "DriftCheckPermission": "AWS::Lambda::Permission",
         "DriftCheckPolicy": "AWS::IAM::Policy", "DriftAlarm": "AWS::CloudWatch::Alarm",
         "DriftCheckFailedAlarm": "AWS::CloudWatch::Alarm"}
TOPIC = f"arn:aws:sns:{m.REGION}:{m.ACCOUNT}:ops-alerts"


def pool_arn(pool_id):
    return f"arn:{m.PARTITION}:cognito-idp:{m.REGION}:{m.ACCOUNT}:userpool/{pool_id}"


def outputs(stack):
    """The stack's outputs as CloudFormation would show them (output Conditions applied)."""
    out = {}
    for name, o in stack.cfn.get("Outputs", {}).items():
        if "Condition" not in o or stack.condition(o["Condition"]):
            try:
                out[name] = stack.resolve(o["Value"])
            except m.Unsupported:
                out[name] = "(not modelled)"  # e.g. Ref of the app client: present, value unknown
    return out


def existing_pool_checks(template):
    """ExistingUserPoolId: no pool, no client; everything names the pool given; the outputs say
    how to check and wire it."""
    problems = []
    stack = m.Stack(template, {**BASE, "ExistingUserPoolId": EXISTING_POOL_ID, "WafRequestsPer5Minutes": "1000",
                               "MetricsPoolIdDimension": "true", "CreateDashboard": "true"})
    res = stack.resources()
    arn = pool_arn(EXISTING_POOL_ID)
    function_arn = stack.get_att("OtpFunction", "Arn")
    cognito = sorted(n for n, r in res.items() if r["Type"].startswith("AWS::Cognito::"))
    if cognito:
        problems.append(f"existing pool: the stack creates {cognito}")
    perm = stack.resolve(res["InvokePermission"]["Properties"])
    if (perm.get("Principal"), perm.get("SourceArn"), perm.get("SourceAccount"), perm.get("FunctionName")) != \
            ("cognito-idp.amazonaws.com", arn, m.ACCOUNT, function_arn):
        problems.append(f"existing pool: invoke permission {perm}, expected Cognito for {arn} in {m.ACCOUNT}")
    assoc = res.get("UserPoolWebAclAssociation", {}).get("Properties", {})
    if "ResourceArn" not in assoc or stack.resolve(assoc["ResourceArn"]) != arn:
        problems.append(f"existing pool: the AWS WAF association names {assoc.get('ResourceArn')!r}, expected {arn}")
    for alarm in ("DeliveryErrorAlarm", "StoreErrorAlarm"):
        dims = stack.resolve(res[alarm]["Properties"]["Dimensions"])
        if {"Name": "UserPoolId", "Value": EXISTING_POOL_ID} not in dims:
            problems.append(f"existing pool: {alarm} dimensions {dims}, expected UserPoolId {EXISTING_POOL_ID}")
    if f'"UserPoolId", "{EXISTING_POOL_ID}"' not in stack.resolve(res["Dashboard"]["Properties"]["DashboardBody"]):
        problems.append("existing pool: the dashboard does not name the pool")
    out = outputs(stack)
    want = {
        "UserPoolId": EXISTING_POOL_ID,
        "FunctionArn": function_arn,
        "CheckCommand": f"otp-admin check --user-pool-id {EXISTING_POOL_ID} --function-arn {function_arn}",
        "AttachCommand": f"otp-admin attach --user-pool-id {EXISTING_POOL_ID} --function-arn {function_arn} --pre-sign-up",
    }
    for key, value in want.items():
        if out.get(key) != value:
            problems.append(f"existing pool: output {key} is {out.get(key)!r}, expected {value!r}")
    if "UserPoolClientId" in out:
        problems.append("existing pool: a UserPoolClientId output, but the stack creates no client")
    no_pre = outputs(m.Stack(template, {**BASE, "ExistingUserPoolId": EXISTING_POOL_ID, "EnablePreSignUp": "false"}))
    if no_pre.get("AttachCommand") != want["AttachCommand"].removesuffix(" --pre-sign-up"):
        problems.append(f"existing pool, EnablePreSignUp=false: AttachCommand {no_pre.get('AttachCommand')!r}")
    created = outputs(m.Stack(template, BASE))
    if {"CheckCommand", "AttachCommand"} & set(created) or created.get("UserPoolId") != m.USER_POOL_ID:
        problems.append(f"created pool: outputs {sorted(created)} (the commands are for an existing pool)")
    for value in ("eu-west-1", "not a pool", "eu-west-1_Abc/x", "EU-WEST-1_abc"):
        try:
            m.Stack(template, {**BASE, "ExistingUserPoolId": value})
            problems.append(f"ExistingUserPoolId={value!r} accepted")
        except ValueError:
            pass
    return problems


def drift_checks(template):
    """The drift check's five resources, in both modes, on and off."""
    problems = []
    for label, extra, pool_id in (("created pool", {}, m.USER_POOL_ID),
                                  ("existing pool", {"ExistingUserPoolId": EXISTING_POOL_ID}, EXISTING_POOL_ID)):
        for drift, topic in (("true", TOPIC), ("default", ""), ("false", "")):
            params = {**BASE, **extra, "MetricsNamespace": "Acme/Otp", "AlarmTopicArn": topic}
            if drift != "default":
                params["DriftCheck"] = drift
            stack = m.Stack(template, params)
            res = stack.resources()
            got = {n: res[n]["Type"] for n in DRIFT if n in res}
            want = {} if drift == "false" else DRIFT
            if got != want:
                problems.append(f"drift check ({label}, DriftCheck={drift}): resources {sorted(got)}, expected {sorted(want)}")
                continue
            if drift == "false":
                continue
            where = f"drift check ({label})"
            function_arn = stack.get_att("OtpFunction", "Arn")
            rule = stack.resolve(res["DriftCheckRule"]["Properties"])
            targets = rule.get("Targets", [])
            try:
                payload = json.loads(targets[0]["Input"]) if len(targets) == 1 else None
            except (ValueError, KeyError):
                payload = None
            checks = [
                (rule.get("ScheduleExpression") == "rate(1 hour)" and rule.get("State") == "ENABLED", "rule: hourly, enabled"),
                (len(targets) == 1 and targets[0].get("Arn") == function_arn, "rule: one target, the function"),
                (payload == {"otpDriftCheck": {"userPoolId": pool_id}}, f"rule: input {{\"otpDriftCheck\": {{\"userPoolId\": \"{pool_id}\"}}}} and nothing else"),
            ]
            perm = stack.resolve(res["DriftCheckPermission"]["Properties"])
            checks.append(((perm.get("Principal"), perm.get("Action"), perm.get("FunctionName"), perm.get("SourceArn"))
                           == ("events.amazonaws.com", "lambda:InvokeFunction", function_arn, stack.get_att("DriftCheckRule", "Arn")),
                           "permission: events.amazonaws.com may invoke the function, scoped to the rule"))
            policy = stack.resolve(res["DriftCheckPolicy"]["Properties"])
            checks.append((policy.get("Roles") == [stack.ref("FunctionRole")], "policy: on the function's role"))
            alarm = stack.resolve(res["DriftAlarm"]["Properties"])
            checks += [
                ((alarm.get("Namespace"), alarm.get("MetricName"), alarm.get("Dimensions"))
                 == ("Acme/Otp", "DriftCriticalFindings", [{"Name": "UserPoolId", "Value": pool_id}]),
                 "alarm: DriftCriticalFindings in MetricsNamespace, dimension UserPoolId = the pool"),
                ((alarm.get("Statistic"), str(alarm.get("Threshold")), alarm.get("ComparisonOperator"))
                 == ("Maximum", "1", "GreaterThanOrEqualToThreshold"), "alarm: Maximum >= 1"),
                (alarm.get("TreatMissingData") == "notBreaching", "alarm: missing data is not breaching (nothing before the first check)"),
                ((str(alarm.get("Period")), str(alarm.get("EvaluationPeriods"))) == ("3600", "1"),
                 "alarm: one period of an hour, the schedule's rate"),
            ]
            failed = stack.resolve(res["DriftCheckFailedAlarm"]["Properties"])
            checks += [
                ((failed.get("Namespace"), failed.get("MetricName"), failed.get("Dimensions"))
                 == ("Acme/Otp", "DriftCheckFailed", [{"Name": "UserPoolId", "Value": pool_id}]),
                 "failed-check alarm: DriftCheckFailed in MetricsNamespace, dimension UserPoolId = the pool"),
                ((failed.get("Statistic"), str(failed.get("Threshold")), failed.get("ComparisonOperator"),
                  str(failed.get("Period")), str(failed.get("EvaluationPeriods")), str(failed.get("DatapointsToAlarm")),
                  failed.get("TreatMissingData"))
                 == ("Sum", "1", "GreaterThanOrEqualToThreshold", "3600", "2", "2", "notBreaching"),
                 "failed-check alarm: a failure in each of two hours running"),
            ]
            checks += [(a.get("AlarmActions") == a.get("OKActions") == ([topic] if topic else None),
                        f"{name}: notifies AlarmTopicArn when given, as the other alarms")
                       for name, a in (("alarm", alarm), ("failed-check alarm", failed))]
            problems += [f"{where}: missing: {what}" for ok, what in checks if not ok]
    return problems


def refs(node):
    """Every logical ID a node refers to."""
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::GetAtt":
                out.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                out.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(v, list):
                    out |= refs(v[1])
            else:
                out |= refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= refs(v)
    return out


def waf_checks(template):
    """The web ACL and its association exist only with WafRequestsPer5Minutes > 0, and are right."""
    problems = []
    off = m.Stack(template, {**BASE, "WafRequestsPer5Minutes": "0"})
    on = m.Stack(template, {**BASE, "WafRequestsPer5Minutes": "1000"})
    default = m.Stack(template, BASE)
    for label, stack, want in (("default", default, set()), ("0", off, set()),
                               ("1000", on, {"UserPoolWebAcl", "UserPoolWebAclAssociation"})):
        got = {n for n, r in stack.resources().items() if r["Type"] in WAF_TYPES}
        if got != want:
            problems.append(f"WAF with WafRequestsPer5Minutes={label}: resources {sorted(got)}, expected {sorted(want)}")
    for value, accepted in (("5", False), ("9", False), ("10", True), ("2000000000", True), ("2000000001", False)):
        try:
            m.Stack(template, {**BASE, "WafRequestsPer5Minutes": value})
            ok = accepted
        except ValueError:
            ok = not accepted
        if not ok:
            problems.append(f"WafRequestsPer5Minutes={value} {'rejected' if accepted else 'accepted'} (a rate-based rule takes 10 to 2000000000)")
    res = on.resources()
    if "UserPoolWebAcl" in res and "UserPoolWebAclAssociation" in res:
        acl = on.resolve(res["UserPoolWebAcl"]["Properties"])
        assoc = res["UserPoolWebAclAssociation"]["Properties"]
        rules = acl.get("Rules", [])
        rate = rules[0]["Statement"].get("RateBasedStatement", {}) if len(rules) == 1 else {}
        seen = lambda v: v.get("CloudWatchMetricsEnabled") is True and v.get("SampledRequestsEnabled") is True
        checks = [
            (acl.get("Scope") == "REGIONAL", "web ACL scope REGIONAL"),
            (acl.get("DefaultAction") == {"Allow": {}}, "web ACL default action Allow"),
            (len(rules) == 1 and rules[0].get("Action") == {"Block": {}}, "one rule, action Block"),
            (rate.get("AggregateKeyType") == "IP" and str(rate.get("Limit")) == "1000", "rate-based on the source IP, limit WafRequestsPer5Minutes"),
            (seen(acl.get("VisibilityConfig", {})) and len(rules) == 1 and seen(rules[0].get("VisibilityConfig", {})), "metrics and sampled requests on"),
            (on.resolve(assoc.get("ResourceArn")) == pool_arn(m.USER_POOL_ID), "associated with the user pool"),
            (assoc.get("WebACLArn") == {"Fn::GetAtt": ["UserPoolWebAcl", "Arn"]}, "association uses this web ACL"),
        ]
        problems += [f"WAF: missing: {what}" for ok, what in checks if not ok]
    return problems


def main(path):
    template = m.load(path)
    stack = m.Stack(template, BASE)
    res = stack.cfn["Resources"]
    graph = {}
    for name, r in res.items():
        deps = refs(r.get("Properties", {}))
        d = r.get("DependsOn", [])
        deps |= set([d] if isinstance(d, str) else d)
        graph[name] = {x for x in deps if x in res}
    problems = []

    # Cycle detection (iterative DFS with colours).
    colour = {n: 0 for n in graph}
    def visit(start):
        stack = [(start, iter(sorted(graph[start])))]
        colour[start] = 1
        path = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[nxt] == 1:
                problems.append("cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            elif colour[nxt] == 0:
                colour[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    for n in sorted(graph):
        if colour[n] == 0:
            visit(n)

    def closure(n):
        seen, todo = set(), [n]
        while todo:
            for d in graph[todo.pop()]:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen
    if "UserPool" in closure("OtpFunction"):
        problems.append("the function depends on the user pool (pool -> function -> ... -> pool)")

    for name, r in res.items():
        if r["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            docs = [p["PolicyDocument"] for p in r["Properties"].get("Policies", [])]
            if "PolicyDocument" in r["Properties"]:
                docs.append(r["Properties"]["PolicyDocument"])
            for doc in docs:
                for st in doc["Statement"]:
                    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                    if any("*" in a for a in actions):
                        problems.append(f"{name}: wildcard action {actions}")

    pool = res["UserPool"]["Properties"]
    client = res["UserPoolClient"]["Properties"]
    fn = res["OtpFunction"]["Properties"]
    env = fn["Environment"]["Variables"]
    perm = res["InvokePermission"]["Properties"]
    attr = [a for a in pool["Schema"] if a["Name"] == "authChallenge"]
    checks = [
        (attr and attr[0]["Mutable"] is True and attr[0]["AttributeDataType"] == "String"
         and attr[0]["StringAttributeConstraints"]["MaxLength"] == "2048", "custom:authChallenge String, mutable, 2048"),
        (pool["MfaConfiguration"] == "OFF", "pool MFA off"),
        (pool["UsernameAttributes"] == ["email"], "email as username"),
        (sorted(client["ExplicitAuthFlows"]) == ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], "client flows CUSTOM_AUTH + REFRESH only"),
        (client["PreventUserExistenceErrors"] == "ENABLED", "PreventUserExistenceErrors ENABLED"),
        ("custom:authChallenge" not in client["ReadAttributes"] + client["WriteAttributes"], "challenge attribute not readable or writable by clients"),
        (fn["Runtime"] == "provided.al2023" and fn["Architectures"] == [{"Ref": "Architecture"}] and template["Parameters"]["Architecture"]["Default"] == "arm64" and fn["Timeout"] <= 5, "provided.al2023, arm64 by default, timeout <= 5 s"),
        (perm["Principal"] == "cognito-idp.amazonaws.com" and stack.resolve(perm["SourceArn"]) == pool_arn(m.USER_POOL_ID), "invoke permission scoped to the pool"),
        ("GenerateSecretString" in res["CodeHmacKey"]["Properties"], "HMAC key generated at deploy"),
        (env.get("CODE_HMAC_KEY_SECRET_ARN") == {"Ref": "CodeHmacKey"} and "CODE_HMAC_KEY" not in env
         and "resolve:" not in json.dumps(fn), "HMAC key passed by its secret ARN, never by value (no dynamic reference)"),
        (env.get("REFERENCE_KEY") == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
         and re.fullmatch(r"[0-9a-f-]{36}", stack.resolve(env["REFERENCE_KEY"])) is not None, "REFERENCE_KEY is the stack ID's UUID"),
        (pool.get("AutoVerifiedAttributes") == ["email"]
         and pool.get("UserAttributeUpdateSettings") == {"AttributesRequireVerificationBeforeUpdate": ["email"]},
         "a changed email takes effect only once verified"),
        (int(template["Parameters"]["ResendCooldownSeconds"]["MinValue"]) >= 10, "resend cooldown at least 10 s (covers Cognito's retry)"),
        (all(t in pool["LambdaConfig"] for t in ("DefineAuthChallenge", "CreateAuthChallenge", "VerifyAuthChallengeResponse")), "three custom-auth slots wired"),
        (fn["Environment"]["Variables"].get("METRICS_NAMESPACE") == {"Ref": "MetricsNamespace"}, "metrics namespace passed to the function"),
        (all(res.get(a, {}).get("Properties", {}).get("MetricName") == m
             and res[a]["Properties"]["Namespace"] == {"Ref": "MetricsNamespace"}
             and res[a].get("Condition") == "AlarmsEnabled"
             for a, m in (("DeliveryErrorAlarm", "DeliveryError"), ("StoreErrorAlarm", "StoreError"))),
         "optional alarms on DeliveryError and StoreError in the function's namespace"),
        (res.get("Dashboard", {}).get("Condition") == "DashboardEnabled", "optional dashboard"),
    ]
    problems += [f"missing: {what}" for ok, what in checks if not ok]
    problems += waf_checks(template)
    problems += existing_pool_checks(template)
    problems += drift_checks(template)

    # The dashboard body is JSON once substituted, with and without the pool dimension, in both modes.
    for extra in ({}, {"ExistingUserPoolId": EXISTING_POOL_ID}):
        for dimension in ("true", "false"):
            dashboard = m.Stack(template, {**BASE, **extra, "CreateDashboard": "true", "MetricsPoolIdDimension": dimension})
            rendered = dashboard.resolve(dashboard.resources()["Dashboard"]["Properties"]["DashboardBody"])
            try:
                widgets = json.loads(rendered)["widgets"]
                if len(widgets) != 4:
                    problems.append(f"dashboard: {len(widgets)} widgets, expected 4")
            except ValueError as e:
                problems.append(f"dashboard body is not JSON: {e}")

    if problems:
        print("\n".join(problems))
        return 1
    print(f"{len(res)} resources after the SAM transform, no cycle, {len(checks)} structural checks, the WAF, existing-pool and drift-check checks passed:")
    for name in sorted(res):
        print(f"  {name:26} {res[name]['Type']:34} depends on {', '.join(sorted(graph[name])) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"))
