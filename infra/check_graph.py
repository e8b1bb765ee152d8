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
  web ACL must be one REGIONAL rate-based rule per source IP, blocking, associated with the pool.
Prints the transformed resource list on success. Transform and evaluation: infra/cfn_model.py.
"""
import json
import re
import sys

import cfn_model as m

BASE = {"EmailFrom": "x@acme.example", "SesIdentity": "x@acme.example"}
WAF_TYPES = ("AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation")


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
            (assoc.get("ResourceArn") == {"Fn::GetAtt": ["UserPool", "Arn"]}, "associated with the user pool"),
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
        (perm["Principal"] == "cognito-idp.amazonaws.com" and perm["SourceArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}, "invoke permission scoped to the pool"),
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

    # The dashboard body is JSON once substituted, with and without the pool dimension.
    body, variables = res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for dims in variables["Dims"]["Fn::If"][1:]:
        rendered = body.replace("${Dims}", dims["Fn::Sub"])
        for name, value in (("AWS::Region", "eu-west-1"), ("MetricsNamespace", "CognitoEmailOtp"),
                            ("AuthFlow", "mfa"), ("UserPool", "eu-west-1_Q7xk2PzRm")):
            rendered = rendered.replace("${" + name + "}", value)
        try:
            widgets = json.loads(rendered)["widgets"]
            if len(widgets) != 4:
                problems.append(f"dashboard: {len(widgets)} widgets, expected 4")
        except ValueError as e:
            problems.append(f"dashboard body is not JSON: {e}")

    if problems:
        print("\n".join(problems))
        return 1
    print(f"{len(res)} resources after the SAM transform, no cycle, {len(checks)} structural checks and the WAF checks passed:")
    for name in sorted(res):
        print(f"  {name:26} {res[name]['Type']:34} depends on {', '.join(sorted(graph[name])) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"))
