"""An offline model of what CloudFormation would deploy from infra/template.yaml, for the checkers.

`Stack(template_path, overrides)` transforms the template with the SAM translator (as check_graph.py
always did), then evaluates it the way CloudFormation documents it, from a fixed account, Region,
partition and stack name:

- parameters: defaults plus overrides, checked against AllowedValues, AllowedPattern, MinValue,
  MaxValue, MinLength and MaxLength, then the template's Rules (a failed assertion is an error);
- conditions: Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition;
- values: Ref (parameters, pseudo parameters, the resource types below), Fn::GetAtt (the attributes
  below), Fn::Sub (both forms), Fn::If, Fn::Join, Fn::Select, Fn::Split, AWS::NoValue.

Anything else (another intrinsic, a Ref or GetAtt of a type not listed, a policy variable) raises
Unsupported rather than being guessed. Nothing is called: no AWS API, no network.
"""
import copy
import logging
import os
import re

# The translator wants a Region for pseudo parameters; nothing is called.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from cfnlint.decode import cfn_yaml  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

# The translator warns about metrics it never publishes when its objects are collected; noise here.
logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"
STACK_NAME = "acme-auth"
STACK_UUID = "51af3dc0-da77-11e4-872e-1234567db123"
# What the Ref/GetAtt of these physical resources return, made up but in the documented formats.
USER_POOL_ID = f"{REGION}_AbCdEfGhI"
# A secret without a Name gets "<logical id>-<12 random>" from CloudFormation, then Secrets Manager
# appends "-" and 6 random characters to form the ARN (Ref returns that full ARN).
SECRET_NAME_SUFFIX = "Q1w2E3r4T5y6"
SECRET_ARN_SUFFIX = "AbCdEf"
# The random part of a generated DynamoDB table name.
TABLE_SUFFIX = "1A2B3C4D5E6F"


class Unsupported(Exception):
    """The template uses something this model does not evaluate: fail instead of guessing."""


class NoValue:
    def __repr__(self):
        return "AWS::NoValue"


NO_VALUE = NoValue()


class NoManagedPolicies:
    def load(self):
        return {}


def load(path):
    return cfn_yaml.load(path)


def sam_transform(template, parameter_values):
    """The SAM translator's output for these parameter values (no AWS call)."""
    template = copy.deepcopy(template)
    # `sam package` replaces the local zip path with its S3 upload; do the same.
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function" and not str(r["Properties"].get("CodeUri", "")).startswith("s3://"):
            r["Properties"]["CodeUri"] = "s3://example-bucket/bootstrap.zip"
    return transform(template, dict(parameter_values), NoManagedPolicies())


def glob_regex(pattern, cross):
    """IAM's wildcards: `*` any run of characters, `?` any one character, the rest literal.
    `cross` is the set of separators the wildcards may match (none within an ARN component)."""
    any_char = "." if cross else "[^:]"
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(any_char + "*")
        elif ch == "?":
            out.append(any_char)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def action_matches(pattern, action):
    """IAM action matching: service prefix and name case-insensitive, `*` and `?` wildcards."""
    return re.fullmatch(glob_regex(pattern, True), action, re.IGNORECASE | re.DOTALL) is not None


def resource_matches(pattern, arn):
    """IAM resource matching: case-sensitive, no prefix matching. `*` alone matches everything.
    An ARN has six colon-separated components; wildcards in partition, service, Region and account
    stay within their component, and in the resource component (which may itself contain `:` and
    `/`) they match any characters, `:` and `/` included."""
    if "${" in pattern:
        raise Unsupported(f"policy variable in resource {pattern!r} is not evaluated")
    if pattern == "*":
        return True
    p, a = pattern.split(":", 5), arn.split(":", 5)
    if len(p) != 6 or len(a) != 6 or p[0] != "arn":
        raise Unsupported(f"not an ARN: {pattern!r} / {arn!r}")
    for i in range(5):
        if re.fullmatch(glob_regex(p[i], False), a[i]) is None:
            return False
    return re.fullmatch(glob_regex(p[5], True), a[5], re.DOTALL) is not None


def as_list(v):
    return v if isinstance(v, list) else [v]


def evaluate(statements, action, arn):
    """IAM's identity-policy decision for one request: an explicit Deny wins, then any Allow,
    otherwise the implicit deny. Returns (decision, matching statement indexes)."""
    allows, denies = [], []
    for i, st in enumerate(statements):
        unknown = set(st) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"}
        if unknown:
            raise Unsupported(f"statement {i}: {sorted(unknown)} not evaluated (conditions are not modelled)")
        if ("Action" in st) == ("NotAction" in st) or ("Resource" in st) == ("NotResource" in st):
            raise Unsupported(f"statement {i}: needs exactly one of Action/NotAction and of Resource/NotResource")
        if st["Effect"] not in ("Allow", "Deny"):
            raise Unsupported(f"statement {i}: Effect {st['Effect']!r}")
        if "Action" in st:
            action_hit = any(action_matches(p, action) for p in as_list(st["Action"]))
        else:
            action_hit = not any(action_matches(p, action) for p in as_list(st["NotAction"]))
        if "Resource" in st:
            resource_hit = any(resource_matches(p, arn) for p in as_list(st["Resource"]))
        else:
            resource_hit = not any(resource_matches(p, arn) for p in as_list(st["NotResource"]))
        if action_hit and resource_hit:
            (allows if st["Effect"] == "Allow" else denies).append(i)
    if denies:
        return "denied", denies
    if allows:
        return "allowed", allows
    return "denied", []


class Stack:
    """One deployment of the template with these parameter values, evaluated offline."""

    def __init__(self, template, overrides=None, stack_name=STACK_NAME):
        self.source = template
        self.stack_name = stack_name
        self.params = self._parameters(overrides or {})
        self.cfn = sam_transform(template, self.params)
        self.pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{STACK_UUID}",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._conditions = {}
        self._check_rules()

    # Parameters and rules.

    def _parameters(self, overrides):
        declared = self.source.get("Parameters", {})
        unknown = set(overrides) - set(declared)
        if unknown:
            raise Unsupported(f"unknown parameters {sorted(unknown)}")
        values = {}
        for name, spec in declared.items():
            if name in overrides:
                value = str(overrides[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise Unsupported(f"parameter {name} has no default and no value")
            self._check_parameter(name, spec, value)
            values[name] = value
        return values

    @staticmethod
    def _check_parameter(name, spec, value):
        problems = []
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            problems.append(f"not one of {spec['AllowedValues']}")
        if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], value) is None:
            problems.append(f"does not match {spec['AllowedPattern']}")
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            problems.append(f"shorter than {spec['MinLength']}")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            problems.append(f"longer than {spec['MaxLength']}")
        if spec["Type"] == "Number":
            try:
                number = float(value)
            except ValueError:
                problems.append("not a number")
            else:
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    problems.append(f"below {spec['MinValue']}")
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    problems.append(f"above {spec['MaxValue']}")
        if problems:
            raise ValueError(f"parameter {name}={value!r}: {', '.join(problems)}")

    def _check_rules(self):
        for name, rule in self.source.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._rule_value(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self._rule_value(assertion["Assert"]):
                    raise ValueError(f"rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")

    def _rule_value(self, node):
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                if arg in self.params:
                    return self.params[arg]
                raise Unsupported(f"Ref {arg} in a rule")
            if fn == "Fn::Equals":
                a, b = (self._rule_value(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self._rule_value(arg[0])
            if fn == "Fn::And":
                return all(self._rule_value(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._rule_value(x) for x in arg)
            if fn == "Fn::Contains":
                values, value = arg
                return str(self._rule_value(value)) in [str(self._rule_value(v)) for v in values]
            raise Unsupported(f"{fn} in a rule")
        if isinstance(node, (str, int, float)):
            return node
        raise Unsupported(f"rule value {node!r}")

    # Conditions.

    def condition(self, name):
        if name not in self._conditions:
            definitions = self.cfn.get("Conditions", {})
            if name not in definitions:
                raise Unsupported(f"unknown condition {name}")
            self._conditions[name] = None  # cycle guard
            self._conditions[name] = self._condition_value(definitions[name])
        if self._conditions[name] is None:
            raise Unsupported(f"condition {name} refers to itself")
        return self._conditions[name]

    def _condition_value(self, node):
        if not (isinstance(node, dict) and len(node) == 1):
            raise Unsupported(f"condition {node!r}")
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self._condition_value(arg[0])
        if fn == "Fn::And":
            return all(self._condition_value(x) for x in arg)
        if fn == "Fn::Or":
            return any(self._condition_value(x) for x in arg)
        if fn == "Condition":
            return self.condition(arg)
        raise Unsupported(f"{fn} in a condition")

    # Resources.

    def resources(self):
        """The resources this deployment creates (resource-level Conditions applied)."""
        out = {}
        for name, r in self.cfn["Resources"].items():
            if "Condition" in r and not self.condition(r["Condition"]):
                continue
            out[name] = r
        return out

    def _resource(self, name):
        r = self.resources().get(name)
        if r is None:
            raise Unsupported(f"{name} is not a resource of this deployment")
        return r

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        r = self._resource(name)
        props, kind = r.get("Properties", {}), r["Type"]
        if kind == "AWS::Logs::LogGroup":
            return self._named(props, "LogGroupName", name)
        if kind == "AWS::SecretsManager::Secret":
            secret = self.resolve(props["Name"]) if "Name" in props else f"{name}-{SECRET_NAME_SUFFIX}"
            return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-{SECRET_ARN_SUFFIX}"
        if kind == "AWS::Cognito::UserPool":
            return USER_POOL_ID
        if kind == "AWS::IAM::Role":
            return self.resolve(props["RoleName"]) if "RoleName" in props else f"{self.stack_name}-{name}-ROLEID0000"
        if kind == "AWS::Lambda::Function":
            return self._named(props, "FunctionName", name)
        if kind == "AWS::Events::Rule":
            return self._named(props, "Name", name)
        if kind == "AWS::DynamoDB::Table":
            # Without TableName CloudFormation names it "<stack>-<logical id>-<random>".
            return self.resolve(props["TableName"]) if "TableName" in props else f"{self.stack_name}-{name}-{TABLE_SUFFIX}"
        raise Unsupported(f"Ref of {kind} ({name})")

    def _named(self, props, key, name):
        if key not in props:
            raise Unsupported(f"{name} has no {key}: its generated name is not modelled")
        return self.resolve(props[key])

    def get_att(self, name, attribute):
        r = self._resource(name)
        kind = r["Type"]
        if (kind, attribute) == ("AWS::Logs::LogGroup", "Arn"):
            # CloudFormation documents this attribute with the trailing ":*".
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{self.ref(name)}:*"
        if (kind, attribute) == ("AWS::Cognito::UserPool", "Arn"):
            return f"arn:{PARTITION}:cognito-idp:{REGION}:{ACCOUNT}:userpool/{self.ref(name)}"
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{self.ref(name)}"
        if (kind, attribute) == ("AWS::Lambda::Function", "Arn"):
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{self.ref(name)}"
        if (kind, attribute) == ("AWS::Events::Rule", "Arn"):
            return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{self.ref(name)}"
        if (kind, attribute) == ("AWS::DynamoDB::Table", "Arn"):
            return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{self.ref(name)}"
        raise Unsupported(f"Fn::GetAtt {name}.{attribute} ({kind})")

    # Values.

    def resolve(self, node):
        """The value CloudFormation would pass for this template node."""
        if isinstance(node, list):
            out = [self.resolve(x) for x in node]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Join":
                sep, items = arg
                return self._string(self.resolve(sep)).join(self._string(x) for x in self.resolve(items))
            if key == "Fn::Select":
                index, items = self.resolve(arg[0]), self.resolve(arg[1])
                return items[int(index)]
            if key == "Fn::Split":
                sep, text = arg
                return self._string(self.resolve(text)).split(self._string(self.resolve(sep)))
            if key.startswith("Fn::") or key == "Condition":
                raise Unsupported(f"{key} is not evaluated")
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not NO_VALUE:
                out[k] = value
        return out

    @staticmethod
    def _string(value):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise Unsupported(f"expected a string, got {value!r}")

    def _sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def one(match):
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"  # ${!Literal} stays literal
            if inner in values:
                return self._string(values[inner])
            if "." in inner and inner.split(".", 1)[0] in self.cfn["Resources"]:
                return self._string(self.get_att(*inner.split(".", 1)))
            return self._string(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", one, text)
