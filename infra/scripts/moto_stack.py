#!/usr/bin/env python3
"""Create in moto (or another AWS API emulator) the resources template.yaml gives the functions,
with the template's properties, and print the environment variables that point at them.

Which resources: every one that a function's environment names with `!Ref X` or `!GetAtt X.Attr`
(Globals.Function.Environment.Variables and each function's own), every `--resource` given, and
whatever those refer to in turn (a queue's RedrivePolicy names its dead-letter queue, which is
therefore created first). For template.yaml: Table, SecretsKey, ActivityQueue,
ActivityDeadLetterQueue, InboundQueue, InboundDeadLetterQueue, ImportQueue and ImportDeadLetterQueue.

How: each supported type (AWS::DynamoDB::Table, AWS::KMS::Key, AWS::SQS::Queue) has a table of
the properties it applies and of the few it deliberately leaves out (physical names: local names
are `<name>-<LogicalId>`). Any other property, any other resource type, and any intrinsic this
script cannot evaluate stops it with an error naming the resource and the property, so a change of
the template either changes the local stack or says why it cannot. Values may be literals,
`!Ref` to a parameter (its Default, or `--parameter NAME=VALUE`), pseudo parameters
(`AWS::StackName` is the `--name`), `!If` on the template's Conditions, `!Sub`, `!Join`, and
`!Ref`/`!GetAtt` to other resources it creates.

Idempotent: a re-run with the same `--name` reuses what exists (the table by name, the key by its
alias `alias/<name>-<LogicalId>`, the queues by name) and applies the template's settings to it
again (queue attributes, TTL, point-in-time recovery, key rotation, description, policy); a
property removed from the template keeps its old value on a reused resource. A table whose key
schema differs, or a key whose KeySpec/KeyUsage differs, is an error: it cannot be changed in
place (use another --name, or reset moto: POST /moto-api/reset).

It only talks to an emulator: the endpoint is `--endpoint` or AWS_ENDPOINT_URL, and without one
it refuses to run. Dummy credentials are used when none are set.

Output (stdout): `export NAME=value` lines (`--format json`: one JSON object), e.g.
SFBRIDGE_TABLE, SFBRIDGE_KMS_KEY_ID, SFBRIDGE_ACTIVITY_QUEUE_URL, SFBRIDGE_ACTIVITY_DLQ_URL,
SFBRIDGE_INBOUND_QUEUE_URL, SFBRIDGE_IMPORT_QUEUE_URL. What was created or reused goes to stderr.

usage: moto_stack.py [--template PATH] [--endpoint URL] [--name PREFIX] [--region REGION]
                     [--parameter NAME=VALUE]... [--resource LOGICAL_ID]... [--format shell|json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_template import load  # noqa: E402  (the template's YAML loader, with CloudFormation tags)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NAME = "sfbridge-local"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")

TABLE = "AWS::DynamoDB::Table"
KEY = "AWS::KMS::Key"
QUEUE = "AWS::SQS::Queue"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")

# Properties each type deliberately does not apply, with the reason printed on stderr.
NOT_APPLIED = {
    TABLE: {"TableName": "local names are <name>-<LogicalId>"},
    KEY: {"PendingWindowInDays": "only matters when the key is deleted"},
    QUEUE: {"QueueName": "local names are <name>-<LogicalId>"},
}
TABLE_PROPERTIES = {
    "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput", "OnDemandThroughput",
    "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "SSESpecification",
    "DeletionProtectionEnabled", "TimeToLiveSpecification", "PointInTimeRecoverySpecification",
    "TableClass", "Tags",
}
KEY_PROPERTIES = {
    "Description", "KeySpec", "KeyUsage", "EnableKeyRotation", "RotationPeriodInDays", "KeyPolicy",
    "Enabled", "MultiRegion", "Origin", "Tags", "BypassPolicyLockoutSafetyCheck",
}
# CloudFormation property -> SQS attribute (same name) and how to spell its value.
QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "number",
    "MessageRetentionPeriod": "number",
    "MaximumMessageSize": "number",
    "DelaySeconds": "number",
    "ReceiveMessageWaitTimeSeconds": "number",
    "KmsDataKeyReusePeriodSeconds": "number",
    "RedrivePolicy": "json",
    "RedriveAllowPolicy": "json",
    "SqsManagedSseEnabled": "bool",
    "FifoQueue": "bool",
    "ContentBasedDeduplication": "bool",
    "KmsMasterKeyId": "string",
    "DeduplicationScope": "string",
    "FifoThroughputLimit": "string",
}
QUEUE_PROPERTIES = set(QUEUE_ATTRIBUTES) | {"Tags"}
SUPPORTED = {TABLE: TABLE_PROPERTIES, KEY: KEY_PROPERTIES, QUEUE: QUEUE_PROPERTIES}

PSEUDO_PARTITION = "aws"
PSEUDO_URL_SUFFIX = "amazonaws.com"
NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


class StackError(Exception):
    """Something the template asks for that this script cannot (or must not) do."""


def log(message: str) -> None:
    print(message, file=sys.stderr)


# ---------------------------------------------------------------- the template


def function_variables(template: dict) -> dict[str, object]:
    """Every environment variable a function gets: Globals', then each function's own."""
    variables: dict[str, object] = {}
    globals_env = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables")
    if isinstance(globals_env, dict):
        variables.update(globals_env)
    for rid, res in template["Resources"].items():
        if res.get("Type") not in FUNCTION_TYPES:
            continue
        own = (((res.get("Properties") or {}).get("Environment")) or {}).get("Variables")
        if not isinstance(own, dict):
            continue
        for name, value in own.items():
            if name in variables and variables[name] != value and (reference(template, value) or reference(template, variables[name])):
                raise StackError(f"{rid} sets {name} to another resource than the other functions do; which one should the local stack use?")
            variables[name] = value
    return variables


def reference(template: dict, value) -> tuple[str, str | None] | None:
    """(logical id, attribute or None for Ref) when `value` is exactly `!Ref X` or `!GetAtt X.A` of
    a resource of the template."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    resources = template["Resources"]
    if isinstance(value.get("Ref"), str) and value["Ref"] in resources:
        return value["Ref"], None
    get_att = value.get("Fn::GetAtt")
    if isinstance(get_att, str):
        get_att = get_att.split(".", 1)
    if isinstance(get_att, list) and len(get_att) == 2 and get_att[0] in resources and isinstance(get_att[1], str):
        return get_att[0], get_att[1]
    return None


def resource_variables(template: dict) -> dict[str, tuple[str, str | None]]:
    """The function environment variables that name a resource of the template."""
    found = {}
    for name, value in function_variables(template).items():
        ref = reference(template, value)
        if ref is not None:
            found[name] = ref
    return found


# ---------------------------------------------------------------- the stack


class Stack:
    def __init__(self, template: dict, name: str, region: str, parameters: dict[str, str], clients):
        self.template = template
        self.resources = template["Resources"]
        self.name = name
        self.region = region
        self.parameters = parameters
        self.clients = clients
        self.attributes: dict[str, dict[str, str]] = {}  # logical id -> {"Ref": ..., "Arn": ...}
        self.in_progress: list[str] = []
        self._account_id: str | None = None

    # ------------------------------------------------ evaluation

    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self.clients("sts").get_caller_identity()["Account"]
        return self._account_id

    def parameter(self, name: str, where: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        param = (self.template.get("Parameters") or {}).get(name)
        if not isinstance(param, dict):
            raise StackError(f"{where}: !Ref {name} names neither a parameter nor a resource of the template")
        if "Default" not in param:
            raise StackError(f"{where}: parameter {name} has no Default; pass --parameter {name}=VALUE")
        return str(param["Default"])

    def pseudo(self, name: str, where: str) -> object:
        if name == "AWS::StackName":
            return self.name
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return self.account_id()
        if name == "AWS::Partition":
            return PSEUDO_PARTITION
        if name == "AWS::URLSuffix":
            return PSEUDO_URL_SUFFIX
        if name == "AWS::NoValue":
            return NO_VALUE
        raise StackError(f"{where}: pseudo parameter {name} has no local value")

    def ref(self, name: str, where: str) -> object:
        if name.startswith("AWS::"):
            return self.pseudo(name, where)
        if name in self.resources:
            return self.attribute(name, "Ref", where)
        return self.parameter(name, where)

    def condition(self, name: str, where: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise StackError(f"{where}: condition {name} is not in the template's Conditions")
        return self.truth(conditions[name], f"Conditions.{name}")

    def truth(self, value, where: str) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            (fn, args), = value.items()
            if fn == "Condition":
                return self.condition(args, where)
            if fn == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
                a, b = (self.resolve(arg, where) for arg in args)
                return str(a) == str(b)
            if fn == "Fn::Not" and isinstance(args, list) and len(args) == 1:
                return not self.truth(args[0], where)
            if fn == "Fn::And" and isinstance(args, list):
                return all(self.truth(a, where) for a in args)
            if fn == "Fn::Or" and isinstance(args, list):
                return any(self.truth(a, where) for a in args)
        raise StackError(f"{where}: cannot evaluate the condition {json.dumps(value)}")

    def resolve(self, value, where: str):
        """`value` with every intrinsic evaluated; NO_VALUE when it is `!Ref AWS::NoValue`."""
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, args), = value.items()
            if fn == "Ref":
                return self.ref(args, where)
            if fn == "Fn::GetAtt":
                target = args.split(".", 1) if isinstance(args, str) else args
                if not (isinstance(target, list) and len(target) == 2):
                    raise StackError(f"{where}: malformed !GetAtt {json.dumps(args)}")
                return self.attribute(target[0], target[1], where)
            if fn == "Fn::If":
                if not (isinstance(args, list) and len(args) == 3):
                    raise StackError(f"{where}: malformed !If {json.dumps(args)}")
                return self.resolve(args[1] if self.condition(args[0], where) else args[2], where)
            if fn == "Fn::Sub":
                return self.sub(args, where)
            if fn == "Fn::Join":
                if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
                    raise StackError(f"{where}: malformed !Join {json.dumps(args)}")
                parts = self.resolve(args[1], where)
                if not isinstance(parts, list):
                    raise StackError(f"{where}: !Join needs a list, got {json.dumps(parts)}")
                return args[0].join(str(p) for p in parts)
            if fn.startswith("Fn::") or fn == "Condition":
                raise StackError(f"{where}: this script cannot evaluate {fn}; teach infra/scripts/moto_stack.py")
        resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def sub(self, args, where: str) -> str:
        if isinstance(args, str):
            text, local = args, {}
        elif isinstance(args, list) and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], dict):
            text, local = args
        else:
            raise StackError(f"{where}: malformed !Sub {json.dumps(args)}")

        def variable(m: re.Match) -> str:
            if m.group(1):
                return "${" + m.group(2) + "}"
            name = m.group(2)
            if name in local:
                return str(self.resolve(local[name], where))
            if "." in name and not name.startswith("AWS::"):
                rid, attr = name.split(".", 1)
                return str(self.attribute(rid, attr, where))
            return str(self.ref(name, where))

        return _SUB_VARIABLE.sub(variable, text)

    # ------------------------------------------------ resources

    def attribute(self, rid: str, attribute: str, where: str) -> str:
        self.ensure(rid, where)
        attributes = self.attributes[rid]
        if attribute not in attributes:
            raise StackError(
                f"{where}: {rid} ({self.resources[rid]['Type']}) has no attribute {attribute} here "
                f"(known: {', '.join(sorted(a for a in attributes if a != 'Ref'))})"
            )
        return attributes[attribute]

    def references(self, value, where: str) -> set[str]:
        """The resources `value` names with Ref, GetAtt or a `${X}`/`${X.Attr}` in a Sub (in the
        branch an `!If` takes)."""
        found: set[str] = set()
        if isinstance(value, list):
            for v in value:
                found |= self.references(v, where)
        elif isinstance(value, dict):
            ref = reference(self.template, value)
            if ref is not None:
                return {ref[0]}
            if len(value) == 1 and isinstance(value.get("Fn::If"), list) and len(value["Fn::If"]) == 3:
                condition, yes, no = value["Fn::If"]
                return self.references(yes if self.condition(condition, where) else no, where)
            sub = value.get("Fn::Sub") if len(value) == 1 else None
            text = sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) and sub and isinstance(sub[0], str) else None
            if text is not None:
                local = sub[1] if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[1], dict) else {}
                for bang, name in _SUB_VARIABLE.findall(text):
                    rid = name.split(".", 1)[0]
                    if not bang and name not in local and rid in self.resources:
                        found.add(rid)
            for v in value.values():
                found |= self.references(v, where)
        return found

    def check(self, rid: str, where: str = "--resource", seen: set[str] | None = None) -> None:
        """Fails, before anything is created, if `rid` or a resource it refers to cannot be mapped."""
        seen = set() if seen is None else seen
        if rid in seen:
            return
        seen.add(rid)
        res = self.resources.get(rid)
        if not isinstance(res, dict):
            raise StackError(f"{where}: {rid} is not a resource of the template")
        rtype = res.get("Type")
        if rtype not in SUPPORTED:
            raise StackError(
                f"{rid} ({rtype}), needed by {where}: moto_stack.py cannot create this resource type "
                f"(it maps {', '.join(sorted(SUPPORTED))}); teach infra/scripts/moto_stack.py"
            )
        if "Condition" in res and not self.condition(res["Condition"], rid):
            raise StackError(f"{rid}, needed by {where}: its Condition {res['Condition']} is false, so the template would not create it")
        properties = res.get("Properties") or {}
        unknown = [p for p in properties if p not in SUPPORTED[rtype] and p not in NOT_APPLIED.get(rtype, {})]
        if unknown:
            raise StackError(
                f"{rid} ({rtype}): moto_stack.py does not know how to apply {', '.join(f'Properties.{p}' for p in unknown)}; "
                "map it in infra/scripts/moto_stack.py (or list it there as not applied, with the reason)"
            )
        for dependency in sorted(self.references(properties, f"{rid}.Properties")):
            self.check(dependency, rid, seen)

    def ensure(self, rid: str, where: str = "--resource") -> None:
        if rid in self.attributes:
            return
        if rid in self.in_progress:
            raise StackError(f"{rid}: circular reference ({' -> '.join(self.in_progress + [rid])})")
        self.check(rid, where)
        res = self.resources[rid]
        rtype = res["Type"]
        properties = res.get("Properties") or {}
        self.in_progress.append(rid)
        try:
            props = self.resolve(properties, f"{rid}.Properties")
            physical = f"{self.name}-{rid}"
            create = {TABLE: self.table, KEY: self.key, QUEUE: self.queue}[rtype]
            self.attributes[rid] = create(rid, physical, props)
        finally:
            self.in_progress.pop()
        skipped = [f"{p} ({NOT_APPLIED[rtype][p]})" for p in properties if p in NOT_APPLIED.get(rtype, {})]
        if skipped:
            log(f"  {rid}: not applied: {'; '.join(skipped)}")

    def table(self, rid: str, name: str, props: dict) -> dict[str, str]:
        ddb = self.clients("dynamodb")
        args = {
            "TableName": name,
            "AttributeDefinitions": props.get("AttributeDefinitions"),
            "KeySchema": props.get("KeySchema"),
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        for passed in ("ProvisionedThroughput", "OnDemandThroughput", "LocalSecondaryIndexes", "TableClass", "Tags"):
            if passed in props:
                args[passed] = props[passed]
        if "GlobalSecondaryIndexes" in props:
            args["GlobalSecondaryIndexes"] = [
                {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"} for index in props["GlobalSecondaryIndexes"]
            ]
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": props["StreamSpecification"]["StreamViewType"]}
        if "SSESpecification" in props:
            sse = props["SSESpecification"]
            args["SSESpecification"] = {"Enabled": as_bool(sse.get("SSEEnabled", False), f"{rid}.SSESpecification.SSEEnabled")}
            for k in ("SSEType", "KMSMasterKeyId"):
                if k in sse:
                    args["SSESpecification"][k] = sse[k]
        protection = props.get("DeletionProtectionEnabled")
        if protection is not None:
            args["DeletionProtectionEnabled"] = as_bool(protection, f"{rid}.DeletionProtectionEnabled")
        if args["AttributeDefinitions"] is None or args["KeySchema"] is None:
            raise StackError(f"{rid}: a table needs AttributeDefinitions and KeySchema")

        try:
            existing = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            existing = None
        if existing is None:
            ddb.create_table(**args)
            ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
            action = "created"
        else:
            if canonical(existing.get("KeySchema")) != canonical(args["KeySchema"]):
                raise StackError(
                    f"{rid}: table {name} exists with key schema {json.dumps(existing.get('KeySchema'))}, the template says "
                    f"{json.dumps(args['KeySchema'])}; it cannot change in place: use another --name or reset moto"
                )
            updates = {}
            current_mode = (existing.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            if current_mode != args["BillingMode"]:
                updates["BillingMode"] = args["BillingMode"]
                if "ProvisionedThroughput" in args:
                    updates["ProvisionedThroughput"] = args["ProvisionedThroughput"]
            if "DeletionProtectionEnabled" in args and bool(existing.get("DeletionProtectionEnabled")) != args["DeletionProtectionEnabled"]:
                updates["DeletionProtectionEnabled"] = args["DeletionProtectionEnabled"]
            if updates:
                ddb.update_table(TableName=name, **updates)
            action = "reused"
        settings = [f"BillingMode={args['BillingMode']}", "key " + ", ".join(f"{k['AttributeName']} {k['KeyType']}" for k in args["KeySchema"])]

        ttl = props.get("TimeToLiveSpecification")
        if ttl is not None:
            enabled = as_bool(ttl.get("Enabled", False), f"{rid}.TimeToLiveSpecification.Enabled")
            attribute_name = ttl.get("AttributeName")
            current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            is_on = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            if enabled and (not is_on or current.get("AttributeName") != attribute_name):
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": attribute_name, "Enabled": True})
            elif not enabled and is_on:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": current.get("AttributeName"), "Enabled": False})
            settings.append(f"TTL {attribute_name}" if enabled else "TTL off")
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr is not None:
            enabled = as_bool(pitr.get("PointInTimeRecoveryEnabled", False), f"{rid}.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled")
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled})
            settings.append(f"PITR {'on' if enabled else 'off'}")
        if "DeletionProtectionEnabled" in args:
            settings.append(f"deletion protection {'on' if args['DeletionProtectionEnabled'] else 'off'}")
        log(f"{action} {TABLE} {rid}: {name} ({', '.join(settings)})")
        table = ddb.describe_table(TableName=name)["Table"]
        attributes = {"Ref": name, "Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return attributes

    def key(self, rid: str, name: str, props: dict) -> dict[str, str]:
        kms = self.clients("kms")
        alias = f"alias/{name}"
        try:
            metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
        except kms.exceptions.NotFoundException:
            metadata = None
        spec, usage = props.get("KeySpec", "SYMMETRIC_DEFAULT"), props.get("KeyUsage", "ENCRYPT_DECRYPT")
        policy = json.dumps(props["KeyPolicy"]) if "KeyPolicy" in props else None
        if metadata is None:
            args = {"KeySpec": spec, "KeyUsage": usage}
            if "Description" in props:
                args["Description"] = props["Description"]
            if policy is not None:
                args["Policy"] = policy
            if "BypassPolicyLockoutSafetyCheck" in props:
                args["BypassPolicyLockoutSafetyCheck"] = as_bool(props["BypassPolicyLockoutSafetyCheck"], f"{rid}.BypassPolicyLockoutSafetyCheck")
            if "MultiRegion" in props:
                args["MultiRegion"] = as_bool(props["MultiRegion"], f"{rid}.MultiRegion")
            if "Origin" in props:
                args["Origin"] = props["Origin"]
            if "Tags" in props:
                args["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props["Tags"]]
            metadata = kms.create_key(**args)["KeyMetadata"]
            kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
            action = "created"
        else:
            if metadata.get("KeyState") == "PendingDeletion":
                raise StackError(f"{rid}: the key behind {alias} is pending deletion; use another --name or reset moto")
            if (metadata.get("KeySpec", spec), metadata.get("KeyUsage", usage)) != (spec, usage):
                raise StackError(
                    f"{rid}: the key behind {alias} is {metadata.get('KeySpec')}/{metadata.get('KeyUsage')}, the template says "
                    f"{spec}/{usage}; it cannot change in place: use another --name or reset moto"
                )
            if "Description" in props and metadata.get("Description") != props["Description"]:
                kms.update_key_description(KeyId=metadata["KeyId"], Description=props["Description"])
            if policy is not None:
                kms.put_key_policy(KeyId=metadata["KeyId"], PolicyName="default", Policy=policy)
            action = "reused"
        key_id = metadata["KeyId"]
        settings = [f"{spec}/{usage}", f"alias {alias}"]
        if "Enabled" in props:
            enabled = as_bool(props["Enabled"], f"{rid}.Enabled")
            (kms.enable_key if enabled else kms.disable_key)(KeyId=key_id)
            settings.append("enabled" if enabled else "disabled")
        if "EnableKeyRotation" in props:
            rotation = as_bool(props["EnableKeyRotation"], f"{rid}.EnableKeyRotation")
            if rotation:
                rotation_args = {"KeyId": key_id}
                if "RotationPeriodInDays" in props:
                    rotation_args["RotationPeriodInDays"] = int(props["RotationPeriodInDays"])
                kms.enable_key_rotation(**rotation_args)
            else:
                kms.disable_key_rotation(KeyId=key_id)
            settings.append(f"rotation {'on' if rotation else 'off'}")
        if "Description" in props:
            settings.append(f"description {props['Description']!r}")
        log(f"{action} {KEY} {rid}: {key_id} ({', '.join(settings)})")
        return {"Ref": key_id, "KeyId": key_id, "Arn": metadata["Arn"]}

    def queue(self, rid: str, name: str, props: dict) -> dict[str, str]:
        sqs = self.clients("sqs")
        attributes = {}
        for prop, kind in QUEUE_ATTRIBUTES.items():
            if prop not in props:
                continue
            value, where = props[prop], f"{rid}.{prop}"
            if kind == "number":
                attributes[prop] = str(as_int(value, where))
            elif kind == "bool":
                attributes[prop] = "true" if as_bool(value, where) else "false"
            elif kind == "json":
                attributes[prop] = json.dumps(json.loads(value) if isinstance(value, str) else value, separators=(",", ":"))
            else:
                attributes[prop] = str(value)
        if attributes.get("FifoQueue") == "true":
            name += ".fifo"
        tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])}
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            url = None
        if url is None:
            args = {"QueueName": name, "Attributes": attributes}
            if tags:
                args["tags"] = tags
            url = sqs.create_queue(**args)["QueueUrl"]
            action = "created"
        else:
            settable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
            if settable:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
            if tags:
                sqs.tag_queue(QueueUrl=url, Tags=tags)
            action = "reused"
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        log(f"{action} {QUEUE} {rid}: {url} ({', '.join(f'{k}={v}' for k, v in attributes.items())})")
        return {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}


def canonical(key_schema) -> list:
    return sorted((k.get("AttributeName"), k.get("KeyType")) for k in key_schema or [])


def as_bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise StackError(f"{where} is {json.dumps(value)}, not true or false")


def as_int(value, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise StackError(f"{where} is {json.dumps(value)}, not a number")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="moto_stack.py",
        description="Create template.yaml's table, key and queues in moto and print the variables pointing at them.",
    )
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"), help="the emulator (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"prefix of every name, and AWS::StackName (default {DEFAULT_NAME})")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE", help="override a template parameter's Default")
    parser.add_argument("--resource", action="append", default=[], metavar="LOGICAL_ID", help="also create this resource")
    parser.add_argument("--format", choices=("shell", "json"), default="shell")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("no endpoint: pass --endpoint URL or set AWS_ENDPOINT_URL (this script only talks to an emulator such as moto)")
    if not NAME_PATTERN.match(args.name):
        parser.error(f"--name {args.name!r}: use 1 to 40 of A-Z a-z 0-9 _ -, starting with a letter or digit")
    parameters = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--parameter {item!r}: use NAME=VALUE")
        parameters[key] = value
    args.parameters = parameters
    return args


def make_clients(endpoint: str, region: str):
    import boto3  # here, so that --help and argument errors do not pay for it

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
        region_name=region,
    )
    cache: dict[str, object] = {}

    def client(service: str):
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=endpoint)
        return cache[service]

    return client


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    template = load(args.template)
    for name in args.parameters:
        if name not in (template.get("Parameters") or {}):
            log(f"moto_stack.py: error: --parameter {name}: the template has no such parameter")
            return 2
    import botocore.exceptions

    stack = Stack(template, args.name, args.region, args.parameters, make_clients(args.endpoint, args.region))
    log(f"moto_stack.py: {args.template} -> {args.endpoint} (region {args.region}, name {args.name})")
    try:
        variables = resource_variables(template)
        if not variables:
            raise StackError("no function environment variable names a resource of the template (!Ref X or !GetAtt X.Attr); nothing to do")
        for name, (rid, _) in variables.items():
            stack.check(rid, f"environment variable {name}")
        for rid in args.resource:
            stack.check(rid)
        values = {}
        for name, (rid, attribute) in variables.items():
            values[name] = stack.attribute(rid, attribute or "Ref", f"environment variable {name}")
        for rid in args.resource:
            stack.ensure(rid)
    except StackError as e:
        log(f"moto_stack.py: error: {e}")
        return 1
    except botocore.exceptions.EndpointConnectionError as e:
        log(f"moto_stack.py: error: cannot reach {args.endpoint} ({e}); is moto running?")
        return 1
    except botocore.exceptions.ClientError as e:
        log(f"moto_stack.py: error: {e}")
        return 1
    if args.format == "json":
        print(json.dumps(values, indent=2))
    else:
        for name, value in values.items():
            print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
