#!/usr/bin/env python3
"""Check the reliability and security invariants of template.yaml that no linter knows about.

cfn-lint checks that a template is valid CloudFormation; it cannot know that a queue's visibility
timeout must outlast six times its consumer's timeout. These rules come from the project's
reliability checklist (docs/reliability.md, Q2-Q4, Q7, F17):

  consumer   every SQS event source (a SAM `Type: SQS` event, or an AWS::Lambda::EventSourceMapping
             on a queue of the template) reads a queue of this template whose VisibilityTimeout
             is >= 6 x the function's Timeout, reports partial batch failures
             (FunctionResponseTypes: [ReportBatchItemFailures]), and, with a ScalingConfig, has a
             MaximumConcurrency of 2..1000 and <= the function's ReservedConcurrentExecutions
             when that is set; the queue has a RedrivePolicy. Its BatchSize (default 10) is 1..10000,
             and above 10 it has a MaximumBatchingWindowInSeconds of at least 1 (Lambda refuses
             the mapping otherwise). The function may sqs:ChangeMessageVisibility on the queue: it
             spaces out its own retries (shared/sync dispositions); without the grant each retry
             would silently come back at the visibility timeout instead.
  redrive    every queue with a RedrivePolicy has maxReceiveCount >= 5 and a dead-letter queue of
             this template that keeps messages strictly longer than the source (a dead-lettered
             message keeps its original enqueue time).
  sse        every SQS queue is encrypted at rest (SqsManagedSseEnabled: true or KmsMasterKeyId).
  kms        every symmetric KMS key has EnableKeyRotation: true.
  iam        no Allow statement of the stack's own identity policies (AWS::IAM::ManagedPolicy and
             AWS::IAM::Policy PolicyDocument, AWS::IAM::Role/User/Group Policies[].PolicyDocument,
             which is where the expansion puts a SAM function's inline statements, and
             AWS::Serverless::Function Policies statements) grants every resource: Resource "*",
             a list containing "*", an ARN whose resource part is only wildcards
             (`arn:...:sqs:region:account:*`, `arn:aws:s3:::*`), or NotResource; nor every action
             of a service: Action "*" or "service:*", or NotAction. Exempt: Deny statements, role
             trust policies, managed policies attached by ARN (AWSLambdaBasicExecutionRole, ...)
             and SAM policy templates (checked in the expansion), and KMS key policies, whose
             Resource "*" means "this key"; an Allow in a key policy may use "kms:*" only for the
             account root.
  env        every function (AWS::Serverless::Function: Globals.Function.Environment.Variables
             merged with its own; AWS::Lambda::Function: its own) sets, unconditionally and
             non-empty, every variable the shared config requires at start: the
             `required("NAME")` calls in shared/core/src/config.rs, found by a regex (a new required
             variable is picked up without touching this file). `!If [c, v, !Ref AWS::NoValue]`
             is only for variables the config treats as optional. If the scan finds no call, the
             check uses a built-in list and fails, saying so.
  ops        every function logs JSON (LoggingConfig.LogFormat: JSON, its own or Globals'), is traced
             (Tracing / TracingConfig.Mode resolves to Active, a parameter by its Default), and
             has an AWS/Lambda Errors alarm and a Throttles alarm on its FunctionName.
  table      every DynamoDB table has point-in-time recovery, TTL enabled, and deletion
             protection that is on or chosen by a condition (a parameter), never absent or off.
  public     the function behind the public webhook route (a SAM HttpApi event on /webhooks/...,
             or, expanded, the one a Lambda permission lets API Gateway invoke on /webhooks/...)
             writes to DynamoDB only under `ForAllValues:StringLike` `dynamodb:LeadingKeys`
             patterns starting `INBOUND#`: its dedupe entries and the manual trigger queue
             (`INBOUND#{t}#PENDING`), never a tenant's connection or secrets.
  inbound    the inbound queue (the queue of this template the functions' SFBRIDGE_INBOUND_QUEUE_URL
             names) takes messages only from the webhook function, the admin API (the function
             on the /v1/ route, which publishes the manual trigger queue's trigger_requested) and
             the import (the consumer of the queue SFBRIDGE_IMPORT_QUEUE_URL names): the
             product acts on every message there, so no other function's own statements may allow
             sqs:SendMessage on it, and no managed policy of the stack may (a grant belongs in the
             function's own Policies, where this check sees who holds it).

Values may be literals or `!Ref` to a parameter with a Default; anything else the checker cannot
evaluate is a failure, not a pass. SAM and CloudFormation defaults apply when a property is
absent (Timeout 3 s, or Globals.Function.Timeout; VisibilityTimeout 30 s; retention 4 days).

It reads the SAM template and the expanded CloudFormation alike (lint-template.sh runs it on
both). `--self-test` breaks each invariant in a copy of the given template, in memory, and fails
unless the checker catches every break, lets harmless changes pass (a Deny on "*", a log-group ARN
ending in `:*`, an optional variable behind `!If`, ...) and passes the template itself.

usage: check_template.py [--self-test] TEMPLATE
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MIN_VISIBILITY_FACTOR = 6
MIN_MAX_RECEIVE_COUNT = 5
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10000
CHANGE_VISIBILITY = "sqs:changemessagevisibility"
DEFAULT_FUNCTION_TIMEOUT = 3
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION = 345600
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"

SQS_QUEUE = "AWS::SQS::Queue"
SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
KMS_KEY = "AWS::KMS::Key"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
ALARM = "AWS::CloudWatch::Alarm"
FUNCTION_ALARMS = ("Errors", "Throttles")
IAM_MANAGED_POLICY = "AWS::IAM::ManagedPolicy"
IAM_POLICY = "AWS::IAM::Policy"
IAM_ROLE = "AWS::IAM::Role"
IAM_POLICIES_HOLDERS = (IAM_ROLE, "AWS::IAM::User", "AWS::IAM::Group")  # Policies[].PolicyDocument
NO_VALUE = {"Ref": "AWS::NoValue"}

ROOT = Path(__file__).resolve().parents[2]
CONFIG_SOURCE = Path("shared/core/src/config.rs")  # and shared/core/src/config/**/*.rs, if it becomes a module
# `required("SFBRIDGE_TABLE")`: how shared/core/src/config.rs reads a variable it cannot start without.
REQUIRED_CALL = re.compile(r'\brequired\(\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*\)')
# Used only when the scan finds no call (and then the check fails, saying so).
FALLBACK_REQUIRED_ENV = (
    "SFBRIDGE_TABLE",
    "SFBRIDGE_KMS_KEY_ID",
    "SFBRIDGE_PUBLIC_URL",
    "SFBRIDGE_APP_ORIGINS",
    "SFBRIDGE_ACTIVITY_QUEUE_URL",
    "SFBRIDGE_ACTIVITY_DLQ_URL",
    "SFBRIDGE_INBOUND_QUEUE_URL",
)


# ---------------------------------------------------------------- loading


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long form (`!Ref X` ->
    `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`), without touching the global
    SafeLoader."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node):
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if tag_suffix == "GetAtt" and isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node).split(".", 1)}
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise SystemExit(f"{path}: not a CloudFormation template (no Resources mapping)")
    return template


# ---------------------------------------------------------------- evaluation


class Unresolvable(Exception):
    pass


def number(template: dict, value, what: str) -> int:
    """A literal number, or a `!Ref` to a parameter whose Default is one."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        param = template.get("Parameters", {}).get(value["Ref"])
        if not isinstance(param, dict) or "Default" not in param:
            raise Unresolvable(f"{what} is {json.dumps(value)}, which has no default to check")
        value = param["Default"]
    if isinstance(value, bool):
        raise Unresolvable(f"{what} is {value!r}, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise Unresolvable(f"{what} is {json.dumps(value)}, which this check cannot evaluate")


def is_true(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def resource_ref(value, attribute: str | None = None) -> str | None:
    """The logical id in `!Ref X` (attribute None) or `!GetAtt X.<attribute>`."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    if attribute is None and "Ref" in value and isinstance(value["Ref"], str):
        return value["Ref"]
    get_att = value.get("Fn::GetAtt")
    if attribute is not None and isinstance(get_att, list) and len(get_att) == 2 and get_att[1] == attribute:
        return get_att[0]
    return None


def is_intrinsic(value) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def branches(value) -> list:
    """What `value` may be through nested `Fn::If`s; `!Ref AWS::NoValue` (absent) is left out."""
    if value == NO_VALUE:
        return []
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3:
            return branches(args[1]) + branches(args[2])
    return [value]


def may_be_absent(value) -> bool:
    """True when `value` is, or through an `Fn::If` may be, `!Ref AWS::NoValue`."""
    if value == NO_VALUE:
        return True
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        args = value["Fn::If"]
        return isinstance(args, list) and len(args) == 3 and (may_be_absent(args[1]) or may_be_absent(args[2]))
    return False


def leaves(value) -> list:
    """The scalars and intrinsics of a value that may be a list, an `Fn::If`, or lists of them."""
    found = []
    for v in branches(value):
        if isinstance(v, list):
            for item in v:
                found.extend(leaves(item))
        elif v is not None:
            found.append(v)
    return found


# What an intrinsic this check cannot know resolves to (a resource's ARN, the account id, ...):
# no ':' and no '*', so it is never a wildcard and never splits an ARN.
OPAQUE = "{value}"
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


def strings(template: dict, value) -> list[str]:
    """The strings a leaf value may resolve to: literals as they are, `!Ref` to a parameter as its
    Default (each element of a list parameter's), `!Sub`/`!Join` spelled out with OPAQUE for what
    cannot be known, any other intrinsic as OPAQUE."""
    found: list[str] = []
    for v in branches(value):
        if isinstance(v, list):
            for item in v:
                found.extend(strings(template, item))
        elif isinstance(v, dict) and set(v) == {"Ref"}:
            param = template.get("Parameters", {}).get(v["Ref"])
            if isinstance(param, dict) and "Default" in param:
                default = str(param["Default"])
                is_list = str(param.get("Type", "")).startswith("List<") or param.get("Type") == "CommaDelimitedList"
                found.extend(default.split(",") if is_list else [default])
            else:
                found.append(OPAQUE)
        elif isinstance(v, dict) and set(v) == {"Fn::Sub"}:
            sub = v["Fn::Sub"]
            text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1]) if (
                isinstance(sub, list) and len(sub) == 2 and isinstance(sub[0], str) and isinstance(sub[1], dict)) else (None, {})
            if text is None:
                found.append(OPAQUE)
                continue

            def variable(m: re.Match, local=local) -> str:
                if m.group(1):
                    return "${" + m.group(2) + "}"  # ${!Literal}
                if m.group(2) in local:
                    values = strings(template, local[m.group(2)])
                    return values[0] if len(values) == 1 else OPAQUE
                values = strings(template, {"Ref": m.group(2)})
                return values[0] if len(values) == 1 else OPAQUE

            found.append(_SUB_VARIABLE.sub(variable, text))
        elif isinstance(v, dict) and set(v) == {"Fn::Join"}:
            args = v["Fn::Join"]
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], list)):
                found.append(OPAQUE)
                continue
            parts = [strings(template, part) or [""] for part in args[1]]
            for combination in itertools.islice(itertools.product(*parts), 256):
                found.append(args[0].join(combination))
        elif isinstance(v, dict):
            found.append(OPAQUE)
        elif v is not None:
            found.append(str(v))
    return found


# ---------------------------------------------------------------- checks


@dataclass
class Consumer:
    where: str  # "Fn.Events.Name" or "MappingId"
    function: str
    queue_value: object
    props: dict


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    consumers: int = 0
    queues: int = 0
    keys: int = 0
    statements: int = 0
    functions: int = 0
    tables: int = 0
    inbound_senders: set[str] = field(default_factory=set)

    def fail(self, message: str) -> None:
        self.problems.append(message)


def consumers(template: dict, report: Report) -> list[Consumer]:
    resources = template["Resources"]
    found = []
    for rid, res in resources.items():
        props = res.get("Properties") or {}
        if res.get("Type") == SAM_FUNCTION:
            for event_id, event in (props.get("Events") or {}).items():
                if isinstance(event, dict) and event.get("Type") == "SQS":
                    ev = event.get("Properties") or {}
                    found.append(Consumer(f"{rid}.Events.{event_id}", rid, ev.get("Queue"), ev))
        elif res.get("Type") == EVENT_SOURCE_MAPPING:
            source = props.get("EventSourceArn")
            queue = resource_ref(source, "Arn")
            if queue is None or resources.get(queue, {}).get("Type") != SQS_QUEUE:
                continue  # not an SQS queue of this template (streams, Kafka, ...)
            fn = props.get("FunctionName")
            fn_id = resource_ref(fn) or resource_ref(fn, "Arn")
            if fn_id is None or resources.get(fn_id, {}).get("Type") not in (SAM_FUNCTION, LAMBDA_FUNCTION):
                report.fail(f"{rid}: consumes queue {queue} but its FunctionName {json.dumps(fn)} is not a function of this template")
                continue
            found.append(Consumer(rid, fn_id, source, props))
    return found


def function_timeout(template: dict, fn_id: str) -> int:
    fn = template["Resources"][fn_id]
    props = fn.get("Properties") or {}
    if "Timeout" in props:
        return number(template, props["Timeout"], f"{fn_id}.Timeout")
    if fn.get("Type") == SAM_FUNCTION:
        globals_fn = (template.get("Globals") or {}).get("Function") or {}
        if "Timeout" in globals_fn:
            return number(template, globals_fn["Timeout"], "Globals.Function.Timeout")
    return DEFAULT_FUNCTION_TIMEOUT


def redrive_policy(value, where: str) -> dict:
    """RedrivePolicy as a mapping (CloudFormation accepts a JSON string too)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise Unresolvable(f"{where}.RedrivePolicy is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise Unresolvable(f"{where}.RedrivePolicy is {json.dumps(value)}, which this check cannot evaluate")
    return value


def check_consumer(template: dict, c: Consumer, report: Report) -> None:
    resources = template["Resources"]
    report.consumers += 1
    queue = resource_ref(c.queue_value, "Arn")
    if queue is None or resources.get(queue, {}).get("Type") != SQS_QUEUE:
        report.fail(f"{c.where}: the queue {json.dumps(c.queue_value)} is not `!GetAtt <queue>.Arn` of an SQS queue in this template, so its visibility timeout and redrive cannot be checked")
        return
    qprops = resources[queue].get("Properties") or {}
    try:
        timeout = function_timeout(template, c.function)
        visibility = number(template, qprops.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT), f"{queue}.VisibilityTimeout")
    except Unresolvable as e:
        report.fail(f"{c.where}: {e}")
    else:
        if visibility < MIN_VISIBILITY_FACTOR * timeout:
            report.fail(
                f"{queue}: VisibilityTimeout {visibility} s is less than {MIN_VISIBILITY_FACTOR} x the Timeout of its consumer "
                f"{c.function} ({timeout} s), so at least {MIN_VISIBILITY_FACTOR * timeout} s: messages of a batch still being "
                "processed would reappear and be processed twice"
            )

    types = c.props.get("FunctionResponseTypes")
    if not isinstance(types, list) or REPORT_BATCH_ITEM_FAILURES not in types:
        report.fail(
            f"{c.where}: FunctionResponseTypes is {json.dumps(types)}; it must include {REPORT_BATCH_ITEM_FAILURES}, "
            "or one failed record makes the whole batch be retried"
        )

    if "RedrivePolicy" not in qprops:
        report.fail(f"{queue}: consumed by {c.function} but has no RedrivePolicy: a poison message would be retried until it expires")

    try:
        batch = number(template, c.props.get("BatchSize", DEFAULT_BATCH_SIZE), f"{c.where}.BatchSize")
        window = number(template, c.props.get("MaximumBatchingWindowInSeconds", 0), f"{c.where}.MaximumBatchingWindowInSeconds")
    except Unresolvable as e:
        report.fail(f"{c.where}: {e}")
    else:
        if not 1 <= batch <= MAX_BATCH_SIZE:
            report.fail(f"{c.where}: BatchSize {batch} is outside 1..{MAX_BATCH_SIZE}")
        elif batch > DEFAULT_BATCH_SIZE and window < 1:
            report.fail(f"{c.where}: BatchSize {batch} needs MaximumBatchingWindowInSeconds of at least 1 (it is {window}); Lambda refuses the mapping")

    if not may_change_visibility(template, c.function, queue, report):
        report.fail(
            f"{c.where}: {c.function} is not allowed sqs:ChangeMessageVisibility on {queue}: it spaces out its own retries, "
            "and without the grant every retry would come back at the visibility timeout instead"
        )

    scaling = c.props.get("ScalingConfig")
    if scaling is not None:
        try:
            maximum = number(template, (scaling or {}).get("MaximumConcurrency"), f"{c.where}.ScalingConfig.MaximumConcurrency")
        except Unresolvable as e:
            report.fail(f"{c.where}: {e}")
            return
        if not 2 <= maximum <= 1000:
            report.fail(f"{c.where}: ScalingConfig.MaximumConcurrency {maximum} is outside 2..1000")
        reserved = (resources[c.function].get("Properties") or {}).get("ReservedConcurrentExecutions")
        if reserved is not None:
            try:
                reserved_n = number(template, reserved, f"{c.function}.ReservedConcurrentExecutions")
            except Unresolvable as e:
                report.fail(f"{c.where}: {e}")
                return
            if maximum > reserved_n:
                report.fail(
                    f"{c.where}: ScalingConfig.MaximumConcurrency {maximum} exceeds {c.function}'s ReservedConcurrentExecutions "
                    f"{reserved_n}: the event source mapping would be throttled"
                )


def may_change_visibility(template: dict, fn_id: str, queue: str, report: Report) -> bool:
    """Whether one of the function's own Allow statements grants sqs:ChangeMessageVisibility on `queue`."""
    for _, stmt in function_statements(template, fn_id, report):
        if stmt.get("Effect") != "Allow":
            continue
        actions = [a.lower() for action in leaves(stmt.get("Action")) for a in strings(template, action)]
        if not any(a in (CHANGE_VISIBILITY, CHANGE_VISIBILITY + "*") for a in actions):
            continue
        if any(resource_ref(r, "Arn") == queue for r in leaves(stmt.get("Resource"))):
            return True
    return False


def check_queue(template: dict, qid: str, report: Report) -> None:
    resources = template["Resources"]
    report.queues += 1
    props = resources[qid].get("Properties") or {}
    if not is_true(props.get("SqsManagedSseEnabled")) and "KmsMasterKeyId" not in props:
        report.fail(f"{qid}: not encrypted at rest: set SqsManagedSseEnabled: true (or KmsMasterKeyId)")
    if "RedrivePolicy" not in props:
        return
    try:
        policy = redrive_policy(props["RedrivePolicy"], qid)
        count = number(template, policy.get("maxReceiveCount"), f"{qid}.RedrivePolicy.maxReceiveCount")
    except Unresolvable as e:
        report.fail(f"{qid}: {e}")
    else:
        if count < MIN_MAX_RECEIVE_COUNT:
            report.fail(
                f"{qid}: RedrivePolicy.maxReceiveCount is {count}; it must be at least {MIN_MAX_RECEIVE_COUNT}, "
                "or throttled and retried batches dead-letter healthy messages"
            )
        target = policy.get("deadLetterTargetArn")
        dlq = resource_ref(target, "Arn")
        if dlq is None or resources.get(dlq, {}).get("Type") != SQS_QUEUE:
            report.fail(f"{qid}: RedrivePolicy.deadLetterTargetArn {json.dumps(target)} is not `!GetAtt <queue>.Arn` of an SQS queue in this template")
            return
        try:
            source_retention = number(template, props.get("MessageRetentionPeriod", DEFAULT_RETENTION), f"{qid}.MessageRetentionPeriod")
            dlq_props = resources[dlq].get("Properties") or {}
            dlq_retention = number(template, dlq_props.get("MessageRetentionPeriod", DEFAULT_RETENTION), f"{dlq}.MessageRetentionPeriod")
        except Unresolvable as e:
            report.fail(f"{qid}: {e}")
            return
        if dlq_retention <= source_retention:
            report.fail(
                f"{dlq}: MessageRetentionPeriod {dlq_retention} s must be longer than its source {qid}'s "
                f"({source_retention} s): a dead-lettered message keeps its original enqueue time and would expire early"
            )


def check_key(kid: str, key: dict, report: Report) -> None:
    props = key.get("Properties") or {}
    spec = props.get("KeySpec", "SYMMETRIC_DEFAULT")
    if spec != "SYMMETRIC_DEFAULT":
        return  # asymmetric and HMAC keys cannot rotate automatically
    report.keys += 1
    if not is_true(props.get("EnableKeyRotation")):
        report.fail(f"{kid}: EnableKeyRotation is {json.dumps(props.get('EnableKeyRotation'))}; a symmetric key must rotate (EnableKeyRotation: true)")


# ---------------------------------------------------------------- iam


def _only_wildcards(text: str) -> bool:
    return "*" in text and set(text) <= set("*:/")


def wildcard_resource(text: str) -> bool:
    """`*`, or an ARN whose resource part is only wildcards (`arn:aws:sqs:us-east-1:1234:*`,
    `arn:aws:s3:::*/*`). `table/*` or `log-group:/aws/lambda/x:*` name a resource: not wildcards."""
    text = text.strip()
    if _only_wildcards(text):
        return True
    if text.startswith("arn:"):
        parts = text.split(":", 5)
        return text.endswith("*") if len(parts) < 6 else _only_wildcards(parts[5])
    return False


def wildcard_action(text: str) -> bool:
    """`*` or every action of a service (`sqs:*`)."""
    text = text.strip()
    return _only_wildcards(text) or re.fullmatch(r"[A-Za-z0-9-]+:\*+", text) is not None


_THIS_ACCOUNT_ROOT = re.compile(r"arn:(\$\{AWS::Partition\}|aws[a-z-]*):iam::\$\{AWS::AccountId\}:root")


def this_account_root(principal) -> bool:
    """`Principal: {AWS: arn:${AWS::Partition}:iam::${AWS::AccountId}:root}` (or `!Ref AWS::AccountId`)."""
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        return False
    found = leaves(principal["AWS"])
    return bool(found) and all(
        p == {"Ref": "AWS::AccountId"}
        or isinstance(p, dict) and set(p) == {"Fn::Sub"} and isinstance(p["Fn::Sub"], str) and _THIS_ACCOUNT_ROOT.fullmatch(p["Fn::Sub"])
        for p in found
    )


@dataclass
class PolicyDocument:
    where: str
    document: object
    key_policy: bool = False  # a KMS key policy: Resource "*" means the key itself
    note: str = ""  # where it comes from, when that is not where it is


def sam_role_origin(template: dict, role_id: str) -> str:
    """"SAM-generated from F's Policies" for the role SAM generates for function F, else ""."""
    fn_id = role_id[: -len("Role")] if role_id.endswith("Role") else None
    fn = template["Resources"].get(fn_id) if fn_id else None
    if isinstance(fn, dict) and fn.get("Type") == LAMBDA_FUNCTION and resource_ref((fn.get("Properties") or {}).get("Role"), "Arn") == role_id:
        return f"SAM-generated from {fn_id}'s Policies"
    return ""


def policy_documents(template: dict, report: Report) -> list[PolicyDocument]:
    """The identity policies of the stack (and its KMS key policies), as statements to check."""
    docs = []
    for rid, res in template["Resources"].items():
        rtype = res.get("Type")
        props = res.get("Properties") or {}
        if rtype in (IAM_MANAGED_POLICY, IAM_POLICY):
            docs.append(PolicyDocument(f"{rid}.PolicyDocument", props.get("PolicyDocument")))
        elif rtype in IAM_POLICIES_HOLDERS:
            policies = props.get("Policies") or []  # AssumeRolePolicyDocument is a trust policy: not checked
            if not isinstance(policies, list):
                report.fail(f"{rid}.Policies is {json.dumps(policies)}, which this check cannot evaluate: make it a list")
                continue
            origin = sam_role_origin(template, rid)
            for i, item in enumerate(policies):
                for policy in branches(item):
                    if not isinstance(policy, dict) or is_intrinsic(policy):
                        report.fail(f"{rid}.Policies[{i}] is {json.dumps(policy)}, which this check cannot evaluate")
                        continue
                    docs.append(PolicyDocument(f"{rid}.Policies[{i}].PolicyDocument", policy.get("PolicyDocument"), note=origin))
        elif rtype == SAM_FUNCTION:
            policies = props.get("Policies")
            items = policies if isinstance(policies, list) else [] if policies is None else [policies]
            for i, item in enumerate(items):
                for policy in branches(item):
                    # Not statements: a managed policy's name or ARN (a string or an intrinsic), or a SAM
                    # policy template (`SQSSendMessagePolicy: {...}`), which the expansion turns into
                    # statements that are checked there.
                    if isinstance(policy, dict) and "Statement" in policy:
                        docs.append(PolicyDocument(f"{rid}.Policies[{i}]", policy))
        elif rtype == KMS_KEY and "KeyPolicy" in props:
            docs.append(PolicyDocument(f"{rid}.KeyPolicy", props["KeyPolicy"], key_policy=True))
    return docs


def statements(doc: PolicyDocument) -> list[tuple[str, dict]]:
    document = doc.document
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as e:
            raise Unresolvable(f"{doc.where} is not valid JSON: {e}") from e
    found = []
    for d in branches(document):
        if not isinstance(d, dict) or is_intrinsic(d) or "Statement" not in d:
            raise Unresolvable(f"{doc.where} is {json.dumps(d)}, which this check cannot evaluate (a policy document with a Statement)")
        listed = d["Statement"] if isinstance(d["Statement"], list) else [d["Statement"]]
        for i, item in enumerate(listed):
            for stmt in branches(item):
                if not isinstance(stmt, dict) or is_intrinsic(stmt):
                    raise Unresolvable(f"{doc.where}.Statement[{i}] is {json.dumps(stmt)}, which this check cannot evaluate")
                notes = [n for n in (stmt.get("Sid"), doc.note) if isinstance(n, str) and n]
                found.append((f"{doc.where}.Statement[{i}]" + (f" ({'; '.join(notes)})" if notes else ""), stmt))
    return found


def check_statement(template: dict, where: str, stmt: dict, key_policy: bool, report: Report) -> None:
    report.statements += 1
    effect = stmt.get("Effect")
    if effect == "Deny":
        return  # denying more than needed is never a grant
    if effect != "Allow":
        report.fail(f"{where}: Effect is {json.dumps(effect)}, which this check cannot evaluate (Allow or Deny)")
        return
    actions = leaves(stmt.get("Action"))
    granted = json.dumps(actions[0] if len(actions) == 1 else actions)
    if "NotAction" in stmt:
        report.fail(f"{where}: an Allow with NotAction grants every action but those listed: list the actions it needs in Action instead")
    for action in actions:
        if any(wildcard_action(a) for a in strings(template, action)):
            if key_policy and this_account_root(stmt.get("Principal")):
                continue  # the key policy's account-root statement: IAM policies then decide who may use the key
            service = action.split(":", 1)[0] if isinstance(action, str) and ":" in action else None
            report.fail(
                f"{where}: Allow grants every action{f' of {service}' if service else ''} (Action {json.dumps(action)}): "
                "list the actions it needs instead (e.g. sqs:SendMessage)"
                + ("; in a key policy only the account root (arn:${AWS::Partition}:iam::${AWS::AccountId}:root) may have kms:*" if key_policy else "")
            )
    if key_policy:
        return  # Resource "*" in a key policy means "this key"
    if "NotResource" in stmt:
        report.fail(f"{where}: an Allow with NotResource grants {granted} on every resource but those listed: name the resources it needs in Resource instead")
    elif "Resource" not in stmt:
        report.fail(f"{where}: an Allow without Resource cannot be checked (and IAM refuses it): name the resources it needs")
    else:
        for resource in leaves(stmt["Resource"]):
            if any(wildcard_resource(r) for r in strings(template, resource)):
                report.fail(
                    f"{where}: Allow grants {granted} on every resource (Resource {json.dumps(resource)}): name the resources it "
                    "needs instead (!GetAtt <Resource>.Arn, !Ref <Queue>, or an ARN with a resource part)"
                )


def check_policies(template: dict, report: Report) -> None:
    for doc in policy_documents(template, report):
        try:
            found = statements(doc)
        except Unresolvable as e:
            report.fail(str(e))
            continue
        for where, stmt in found:
            check_statement(template, where, stmt, doc.key_policy, report)


# ---------------------------------------------------------------- environment

# Rust tokens that matter for finding code: strings and chars (which may hold `//` or braces),
# comments, and braces.
_RUST_TOKEN = re.compile(r"""\br(#*)".*?"\1|"(?:\\.|[^"\\])*"|'(?:\\.|[^\\'])'|//[^\n]*|/\*.*?\*/|[{}]""", re.S)
_RUST_TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")


def rust_code(text: str) -> str:
    """Rust source without comments and without `#[cfg(test)] mod ... { ... }` blocks."""
    text = _RUST_TOKEN.sub(lambda m: "" if m.group(0).startswith("/") else m.group(0), text)
    while (test_module := _RUST_TEST_MODULE.search(text)) is not None:
        depth, end = 1, len(text)
        for token in _RUST_TOKEN.finditer(text, test_module.end()):
            depth += {"{": 1, "}": -1}.get(token.group(0), 0)
            if depth == 0:
                end = token.end()
                break
        text = text[: test_module.start()] + text[end:]
    return text


@dataclass
class RequiredEnv:
    names: tuple[str, ...]
    origin: str
    problem: str | None = None  # the scan found nothing: `names` is the built-in list


def scan_required_env(sources: dict[str, str]) -> RequiredEnv:
    """The variables `required("NAME")` reads in the given Rust sources (path -> text)."""
    names: list[str] = []
    for text in sources.values():
        for name in REQUIRED_CALL.findall(rust_code(text)):
            if name not in names:
                names.append(name)
    origin = ", ".join(sources) if sources else f"{CONFIG_SOURCE} (not found)"
    if names:
        return RequiredEnv(tuple(names), origin)
    return RequiredEnv(
        FALLBACK_REQUIRED_ENV,
        origin,
        f"{origin}: found no `required(\"NAME\")` call, so the function environments were checked against this script's "
        f"built-in list ({', '.join(FALLBACK_REQUIRED_ENV)}), which a new required variable will not reach: make REQUIRED_CALL "
        "in infra/scripts/check_template.py match how the config now reads a variable it cannot start without",
    )


def config_sources(root: Path = ROOT) -> dict[str, str]:
    """shared/core/src/config.rs (and shared/core/src/config/**/*.rs), path relative to the repository -> text."""
    module_dir = root / CONFIG_SOURCE.with_suffix("")
    paths = [root / CONFIG_SOURCE, *(sorted(module_dir.rglob("*.rs")) if module_dir.is_dir() else [])]
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in paths if p.is_file()}


def function_environment(template: dict, fn_id: str) -> dict[str, tuple[str, object]]:
    """name -> (where it is set, value): for a SAM function Globals.Function.Environment.Variables
    merged with its own (its own win, as SAM merges them), otherwise its own."""
    fn = template["Resources"][fn_id]
    layers = []
    if fn.get("Type") == SAM_FUNCTION:
        globals_fn = (template.get("Globals") or {}).get("Function") or {}
        layers.append(("Globals.Function.Environment", globals_fn.get("Environment")))
    layers.append((f"{fn_id}.Environment", (fn.get("Properties") or {}).get("Environment")))
    merged: dict[str, tuple[str, object]] = {}
    for where, environment in layers:
        if environment is None:
            continue
        if not isinstance(environment, dict) or is_intrinsic(environment):
            raise Unresolvable(f"{where} is {json.dumps(environment)}, which this check cannot evaluate")
        variables = environment.get("Variables")
        if variables is None:
            continue
        if not isinstance(variables, dict) or is_intrinsic(variables):
            raise Unresolvable(f"{where}.Variables is {json.dumps(variables)}, which this check cannot evaluate")
        merged.update({name: (f"{where}.Variables.{name}", value) for name, value in variables.items()})
    return merged


def check_environment(template: dict, fn_id: str, env: RequiredEnv, report: Report) -> None:
    report.functions += 1
    sam = template["Resources"][fn_id].get("Type") == SAM_FUNCTION
    where_to_fix = (
        "Globals.Function.Environment.Variables (or the function's own Environment.Variables)" if sam
        else "its Environment.Variables (for a SAM function: Globals.Function.Environment.Variables)"
    )
    try:
        variables = function_environment(template, fn_id)
    except Unresolvable as e:
        report.fail(f"{fn_id}: {e}")
        return
    for name in env.names:
        where, value = variables.get(name, (None, NO_VALUE))
        if value == NO_VALUE:
            report.fail(
                f"{fn_id}: its environment lacks {name}, which {env.origin} requires (`required(\"{name}\")`), so the function "
                f"would stop at start: set {name} in {where_to_fix}"
            )
        elif may_be_absent(value):
            report.fail(
                f"{where}: {name} is set only under a condition ({json.dumps(value)}), but {env.origin} requires it, so "
                f"{fn_id} would stop at start without it: set it unconditionally (`!If [..., !Ref AWS::NoValue]` is only "
                "for variables the config treats as optional)"
            )
        elif (not isinstance(value, dict) or set(value) == {"Ref"}) and any(not s.strip() for s in strings(template, value)):
            report.fail(
                f"{where}: {name} is {json.dumps(value)}, which is blank (with the parameter's default), and the config treats "
                f"a blank value as unset: {fn_id} would stop at start. Give it a value (or a parameter without an empty default)"
            )


def _setting(template: dict, fn_id: str, name: str):
    """A function property, or for a SAM function Globals.Function's when it has none."""
    fn = template["Resources"][fn_id]
    props = fn.get("Properties") or {}
    if name in props:
        return props[name]
    if fn.get("Type") == SAM_FUNCTION:
        return ((template.get("Globals") or {}).get("Function") or {}).get(name)
    return None


def _alarmed_functions(template: dict) -> dict[str, set[str]]:
    """Function logical id -> the AWS/Lambda metrics an alarm of the template watches on it."""
    found: dict[str, set[str]] = {}
    for res in template["Resources"].values():
        props = res.get("Properties") or {}
        if res.get("Type") != ALARM or props.get("Namespace") != "AWS/Lambda":
            continue
        for dimension in props.get("Dimensions") or []:
            if isinstance(dimension, dict) and dimension.get("Name") == "FunctionName":
                fn_id = resource_ref(dimension.get("Value"))
                if fn_id:
                    found.setdefault(fn_id, set()).add(str(props.get("MetricName")))
    return found


def check_function_ops(template: dict, fn_id: str, alarmed: dict[str, set[str]], report: Report) -> None:
    logging = _setting(template, fn_id, "LoggingConfig")
    if not isinstance(logging, dict) or logging.get("LogFormat") != "JSON":
        report.fail(f"{fn_id}: LoggingConfig.LogFormat is not JSON, so its logs are not structured: set LoggingConfig: {{LogFormat: JSON}}")
    if template["Resources"][fn_id].get("Type") == SAM_FUNCTION:
        tracing = _setting(template, fn_id, "Tracing")
    else:
        tracing = (_setting(template, fn_id, "TracingConfig") or {}).get("Mode") if isinstance(
            _setting(template, fn_id, "TracingConfig"), dict) else None
    modes = strings(template, tracing) if tracing is not None else []
    if not modes or any(m != "Active" for m in modes):
        report.fail(f"{fn_id}: tracing is {json.dumps(tracing)}, not Active: set Tracing: Active (SAM) or TracingConfig.Mode: Active")
    for metric in FUNCTION_ALARMS:
        if metric not in alarmed.get(fn_id, set()):
            report.fail(
                f"{fn_id}: no AWS::CloudWatch::Alarm on AWS/Lambda {metric} with Dimensions FunctionName: !Ref {fn_id}; add one "
                "(a crash, a timeout or throttling would otherwise go unnoticed)"
            )


def check_table(template: dict, rid: str, report: Report) -> None:
    report.tables += 1
    props = template["Resources"][rid].get("Properties") or {}
    pitr = props.get("PointInTimeRecoverySpecification")
    if not (isinstance(pitr, dict) and is_true(pitr.get("PointInTimeRecoveryEnabled"))):
        report.fail(f"{rid}: point-in-time recovery is off: set PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled: true")
    ttl = props.get("TimeToLiveSpecification")
    if not (isinstance(ttl, dict) and is_true(ttl.get("Enabled")) and ttl.get("AttributeName")):
        report.fail(f"{rid}: TTL is off, so expired OAuth states, leases and dedupe entries would pile up: enable TimeToLiveSpecification")
    protection = props.get("DeletionProtectionEnabled")
    chosen = isinstance(protection, dict) and set(protection) == {"Fn::If"} and not may_be_absent(protection)
    if not (is_true(protection) or chosen):
        report.fail(
            f"{rid}: DeletionProtectionEnabled is {json.dumps(protection)}: set it to true, or to !If on a parameter "
            "(TableDeletionProtection) that defaults to on"
        )


WEBHOOK_PATH = "/webhooks/"
ADMIN_PATH = "/v1/"
PUBLIC_WRITE_PREFIX = "INBOUND#"
DYNAMODB_WRITES = ("dynamodb:putitem", "dynamodb:deleteitem", "dynamodb:updateitem", "dynamodb:batchwriteitem")
INBOUND_QUEUE_ENV = "SFBRIDGE_INBOUND_QUEUE_URL"
IMPORT_QUEUE_ENV = "SFBRIDGE_IMPORT_QUEUE_URL"
SQS_SENDS = ("sqs:sendmessage", "sqs:sendmessagebatch")


def functions_on_path(template: dict, prefix: str) -> set[str]:
    """The functions API Gateway invokes on routes under `prefix`: a SAM HttpApi event, or,
    expanded, a Lambda permission whose SourceArn names the route."""
    found = set()
    for rid, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res.get("Type") == SAM_FUNCTION:
            for ev in (props.get("Events") or {}).values():
                path = ((ev or {}).get("Properties") or {}).get("Path")
                if ev.get("Type") == "HttpApi" and isinstance(path, str) and path.startswith(prefix):
                    found.add(rid)
        elif res.get("Type") == "AWS::Lambda::Permission":
            target = resource_ref(props.get("FunctionName"))
            if target and any(prefix in text for text in strings(template, props.get("SourceArn"))):
                found.add(target)
    return found


def webhook_functions(template: dict) -> set[str]:
    """The functions anyone on the internet can invoke through the webhook route."""
    return functions_on_path(template, WEBHOOK_PATH)


def function_statements(template: dict, fn_id: str, report: Report) -> list[tuple[str, dict]]:
    """A function's own identity statements: SAM `Policies`, or its role's inline policies."""
    res = template["Resources"][fn_id]
    props = res.get("Properties") or {}
    docs = []
    if res.get("Type") == SAM_FUNCTION:
        policies = props.get("Policies")
        for i, item in enumerate(policies if isinstance(policies, list) else [policies] if policies else []):
            docs += [PolicyDocument(f"{fn_id}.Policies[{i}]", p) for p in branches(item) if isinstance(p, dict) and "Statement" in p]
    else:
        role = resource_ref(props.get("Role"), "Arn")
        role_props = (template["Resources"].get(role) or {}).get("Properties") or {} if role else {}
        for i, item in enumerate(role_props.get("Policies") or []):
            docs += [PolicyDocument(f"{role}.Policies[{i}].PolicyDocument", p.get("PolicyDocument"))
                     for p in branches(item) if isinstance(p, dict)]
    found = []
    for doc in docs:
        try:
            found += statements(doc)
        except Unresolvable as e:
            report.fail(str(e))
    return found


def check_public_writes(template: dict, report: Report) -> None:
    for fn_id in sorted(webhook_functions(template)):
        if fn_id not in template["Resources"]:
            continue
        for where, stmt in function_statements(template, fn_id, report):
            actions = [a.lower() for action in leaves(stmt.get("Action")) for a in strings(template, action)]
            if stmt.get("Effect") != "Allow" or not any(a in DYNAMODB_WRITES for a in actions):
                continue
            condition = (stmt.get("Condition") or {}).get("ForAllValues:StringLike") or {}
            keys = [k for v in leaves(condition.get("dynamodb:LeadingKeys")) for k in strings(template, v)]
            if not keys or not all(k.startswith(PUBLIC_WRITE_PREFIX) for k in keys):
                report.fail(
                    f"{where}: the public webhook function {fn_id} may write any table item: limit it to its dedupe "
                    f'entries with Condition: {{ForAllValues:StringLike: {{dynamodb:LeadingKeys: ["{PUBLIC_WRITE_PREFIX}*"]}}}}'
                )


def inbound_queue(template: dict) -> str | None:
    """The queue of this template the functions' SFBRIDGE_INBOUND_QUEUE_URL names (`!Ref` to a
    queue is its URL); None unless they all name the same one."""
    return env_queue(template, INBOUND_QUEUE_ENV)


def import_functions(template: dict) -> set[str]:
    """The functions consuming the queue SFBRIDGE_IMPORT_QUEUE_URL names: the import, which
    publishes the org's records on the inbound queue."""
    queue = env_queue(template, IMPORT_QUEUE_ENV)
    if queue is None:
        return set()
    return {c.function for c in consumers(template, Report()) if resource_ref(c.queue_value, "Arn") == queue}


def env_queue(template: dict, env: str) -> str | None:
    """The queue of this template the functions' variable `env` names; None unless they all name
    the same one."""
    found = set()
    for rid, res in template["Resources"].items():
        if res.get("Type") not in (SAM_FUNCTION, LAMBDA_FUNCTION):
            continue
        try:
            _, value = function_environment(template, rid).get(env, (None, None))
        except Unresolvable:
            continue  # reported by the env check
        if value is not None:
            queue = resource_ref(value)
            found.add(queue if queue and template["Resources"].get(queue, {}).get("Type") == SQS_QUEUE else None)
    return next(iter(found)) if len(found) == 1 else None


def sends_to(template: dict, stmt: dict, queue: str) -> bool:
    """Whether an Allow statement grants sending to `queue` (named by `!GetAtt queue.Arn`)."""
    actions = [a.lower() for action in leaves(stmt.get("Action")) for a in strings(template, action)]
    return (
        stmt.get("Effect") == "Allow"
        and any(a in SQS_SENDS for a in actions)
        and any(resource_ref(r, "Arn") == queue for r in leaves(stmt.get("Resource")))
    )


def check_inbound_senders(template: dict, report: Report) -> None:
    queue = inbound_queue(template)
    if queue is None:
        report.fail(
            f"the functions' {INBOUND_QUEUE_ENV} does not name one queue of this template (!Ref InboundQueue): the check "
            "cannot tell which queue the product trusts"
        )
        return
    senders = webhook_functions(template) | functions_on_path(template, ADMIN_PATH) | import_functions(template)
    for rid, res in template["Resources"].items():
        rtype = res.get("Type")
        if rtype in (SAM_FUNCTION, LAMBDA_FUNCTION):
            # Unreadable documents are reported once, by the iam check.
            for where, stmt in function_statements(template, rid, Report()):
                if sends_to(template, stmt, queue) and rid not in senders:
                    report.fail(
                        f"{where}: {rid} may send to the inbound queue {queue}, which only the webhook receiver, the admin API "
                        "and the import may: the product acts on every message there. Remove the grant"
                    )
                elif sends_to(template, stmt, queue):
                    report.inbound_senders.add(rid)
        elif rtype in (IAM_MANAGED_POLICY, IAM_POLICY):
            try:
                found = statements(PolicyDocument(f"{rid}.PolicyDocument", (res.get("Properties") or {}).get("PolicyDocument")))
            except Unresolvable:
                continue
            for where, stmt in found:
                if sends_to(template, stmt, queue):
                    report.fail(
                        f"{where}: the managed policy {rid} allows sending to the inbound queue {queue}; grant it in the webhook "
                        "receiver's or the admin API's own Policies instead, where its holder is visible"
                    )


def check(template: dict, env: RequiredEnv) -> Report:
    report = Report()
    if env.problem:
        report.fail(env.problem)
    for c in consumers(template, report):
        check_consumer(template, c, report)
    alarmed = _alarmed_functions(template)
    for rid, res in template["Resources"].items():
        if res.get("Type") == SQS_QUEUE:
            check_queue(template, rid, report)
        elif res.get("Type") == KMS_KEY:
            check_key(rid, res, report)
        elif res.get("Type") == DYNAMODB_TABLE:
            check_table(template, rid, report)
        elif res.get("Type") in (SAM_FUNCTION, LAMBDA_FUNCTION):
            check_environment(template, rid, env, report)
            check_function_ops(template, rid, alarmed, report)
    check_policies(template, report)
    check_public_writes(template, report)
    check_inbound_senders(template, report)
    return report


# ---------------------------------------------------------------- self-test


def _first(template: dict, rtype: str, pred=lambda rid, res: True) -> str:
    for rid, res in template["Resources"].items():
        if res.get("Type") == rtype and pred(rid, res):
            return rid
    raise SystemExit(f"self-test: the template has no {rtype} to break")


def self_test(template: dict, env: RequiredEnv, sources: dict[str, str]) -> int:
    """Breaks each invariant in a copy of `template` and checks that the checker says so; makes
    harmless changes and checks that it does not. `sources` is the Rust config `env` comes from."""
    base = check(template, env)
    if base.problems:
        print("self-test: the template itself fails:", *base.problems, sep="\n  ", file=sys.stderr)
        return 1
    res = template["Resources"]
    fn_id = _first(template, SAM_FUNCTION, lambda _, r: any(
        isinstance(e, dict) and e.get("Type") == "SQS" for e in ((r.get("Properties") or {}).get("Events") or {}).values()))
    event_id = next(k for k, e in res[fn_id]["Properties"]["Events"].items() if e.get("Type") == "SQS")
    queue_id = resource_ref(res[fn_id]["Properties"]["Events"][event_id]["Properties"]["Queue"], "Arn")
    dlq_id = resource_ref(redrive_policy(res[queue_id]["Properties"]["RedrivePolicy"], queue_id)["deadLetterTargetArn"], "Arn")
    key_id = _first(template, KMS_KEY)
    receiver_id = min(webhook_functions(template), default=None)
    if receiver_id is None:
        raise SystemExit("self-test: the template has no function on a /webhooks/ route to break")

    def receiver_statements(t):
        return next(p["Statement"] for p in t["Resources"][receiver_id]["Properties"]["Policies"] if isinstance(p, dict) and "Statement" in p)

    def receiver_writes(t):
        return next(st for st in receiver_statements(t) if "dynamodb:PutItem" in leaves(st.get("Action")))

    def fn(t):
        return t["Resources"][fn_id]["Properties"]

    def event(t):
        return fn(t)["Events"][event_id]["Properties"]

    def queue(t):
        return t["Resources"][queue_id]["Properties"]

    def dlq(t):
        return t["Resources"][dlq_id]["Properties"]

    def key(t):
        return t["Resources"][key_id]["Properties"]

    managed_id = _first(template, IAM_MANAGED_POLICY)

    def managed(t):
        return t["Resources"][managed_id]["Properties"]["PolicyDocument"]

    def add_statement(t, statement, wrap=lambda s: {"Statement": [s]}):
        """Adds an inline policy with `statement` to the SQS consumer's Policies."""
        policies = fn(t).get("Policies")
        policies = [] if policies is None else policies if isinstance(policies, list) else [policies]
        fn(t)["Policies"] = [*policies, wrap(statement)]

    def allow(resource, action="sqs:SendMessage"):
        return {"Sid": "SelfTest", "Effect": "Allow", "Action": action, "Resource": resource}

    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    inbound_id = inbound_queue(template)
    if inbound_id is None or inbound_id == queue_id or fn_id in functions_on_path(template, ADMIN_PATH) | webhook_functions(template):
        raise SystemExit("self-test: the template has no inbound queue apart from the SQS consumer's, or its consumer may send there")
    inbound_arn = {"Fn::GetAtt": [inbound_id, "Arn"]}

    def add_resource(t, rid, rtype, props):
        t["Resources"][rid] = {"Type": rtype, "Properties": props}

    def role_with_inline(t, statement):
        """The expansion's form of a function's inline statements: a role's Policies[].PolicyDocument."""
        add_resource(t, "SelfTestRole", IAM_ROLE, {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]},
            "Policies": [{"PolicyName": "SelfTestRolePolicy0", "PolicyDocument": {"Statement": [statement]}}],
        })

    def wildcard_parameter(t):
        t.setdefault("Parameters", {})["SelfTestArn"] = {"Type": "String", "Default": "*"}
        add_statement(t, allow({"Ref": "SelfTestArn"}))

    def add_key_statement(t, principal):
        key(t)["KeyPolicy"]["Statement"].append(
            {"Sid": "SelfTest", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:*", "Resource": "*"})

    globals_vars = ((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables")
    if not isinstance(globals_vars, dict):
        raise SystemExit("self-test: the template has no Globals.Function.Environment.Variables to break")
    victim = "SFBRIDGE_INBOUND_QUEUE_URL" if "SFBRIDGE_INBOUND_QUEUE_URL" in env.names else env.names[-1]
    if victim not in globals_vars:
        raise SystemExit(f"self-test: the template sets no {victim} in Globals.Function.Environment.Variables to remove")

    def env_vars(t):
        return t["Globals"]["Function"]["Environment"]["Variables"]

    def fn_vars(t):
        return fn(t).setdefault("Environment", {}).setdefault("Variables", {})

    def lambda_function_without(t, name):
        """The expansion's form: an AWS::Lambda::Function with its own, complete but for `name`, environment."""
        variables = {k: v for k, v in env_vars(t).items() if k != name}
        add_resource(t, "SelfTestFunction", LAMBDA_FUNCTION, {
            "Runtime": "provided.al2023", "Handler": "bootstrap", "Code": {"ZipFile": "x"},
            "Role": {"Fn::GetAtt": ["SelfTestRole", "Arn"]}, "Environment": {"Variables": variables},
        })

    def optional_variable(t):
        env_vars(t)["SFBRIDGE_SELF_TEST_OPTIONAL"] = {"Fn::If": ["HasAdminToken", "x", NO_VALUE]}

    timeout = function_timeout(template, fn_id)
    retention = number(template, queue(template).get("MessageRetentionPeriod", DEFAULT_RETENTION), "retention")

    def set_globals_timeout(t, seconds):
        del fn(t)["Timeout"]
        t.setdefault("Globals", {}).setdefault("Function", {})["Timeout"] = seconds

    def visibility_from_parameter(t):
        t.setdefault("Parameters", {})["Visibility"] = {"Type": "Number", "Default": 6 * timeout - 1}
        queue(t)["VisibilityTimeout"] = {"Ref": "Visibility"}

    table_id = _first(template, DYNAMODB_TABLE)

    def table(t):
        return t["Resources"][table_id]["Properties"]

    def alarm_of(t, metric):
        for rid, r in t["Resources"].items():
            p = r.get("Properties") or {}
            if r.get("Type") == ALARM and p.get("MetricName") == metric and any(
                    resource_ref(d.get("Value")) == fn_id for d in p.get("Dimensions") or []):
                return rid
        raise SystemExit(f"self-test: no {metric} alarm on {fn_id} to break")

    other_fn = _first(template, SAM_FUNCTION, lambda rid, _: rid != fn_id)

    def globals_fn(t):
        return t.setdefault("Globals", {}).setdefault("Function", {})

    def tracing_parameter(t, default):
        t.setdefault("Parameters", {})["SelfTestTracing"] = {"Type": "String", "Default": default}
        globals_fn(t)["Tracing"] = {"Ref": "SelfTestTracing"}

    def lambda_function_tracing(t, mode):
        lambda_function_without(t, None)
        props = t["Resources"]["SelfTestFunction"]["Properties"]
        props["LoggingConfig"] = {"LogFormat": "JSON"}
        if mode:
            props["TracingConfig"] = {"Mode": mode}
        for metric in FUNCTION_ALARMS:
            add_resource(t, f"SelfTest{metric}", ALARM, {
                "Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "SelfTestFunction"}}]})

    def change_visibility_statement(t):
        for policy in fn(t).get("Policies") or []:
            for st in (policy.get("Statement") or []) if isinstance(policy, dict) else []:
                if isinstance(st, dict) and CHANGE_VISIBILITY in [a.lower() for a in leaves(st.get("Action")) if isinstance(a, str)]:
                    return st
        raise SystemExit(f"self-test: {fn_id} has no sqs:ChangeMessageVisibility statement to break")

    def drop_change_visibility(t):
        target = change_visibility_statement(t)
        for policy in fn(t)["Policies"]:
            if isinstance(policy, dict) and target in (policy.get("Statement") or []):
                policy["Statement"].remove(target)

    cases = [
        ("visibility timeout one second short", "VisibilityTimeout", lambda t: queue(t).__setitem__("VisibilityTimeout", 6 * timeout - 1)),
        ("visibility timeout as a string, short", "VisibilityTimeout", lambda t: queue(t).__setitem__("VisibilityTimeout", str(timeout))),
        ("visibility timeout absent (30 s default)", "VisibilityTimeout", lambda t: queue(t).pop("VisibilityTimeout")),
        ("visibility timeout from a parameter default, short", "VisibilityTimeout", visibility_from_parameter),
        ("visibility timeout an unevaluable intrinsic", "cannot evaluate", lambda t: queue(t).__setitem__("VisibilityTimeout", {"Fn::Sub": "360"})),
        ("function timeout raised", "VisibilityTimeout", lambda t: fn(t).__setitem__("Timeout", timeout + 1)),
        ("function timeout from Globals, too long", "VisibilityTimeout", lambda t: set_globals_timeout(t, timeout * 10)),
        ("maxReceiveCount 4", "maxReceiveCount", lambda t: queue(t)["RedrivePolicy"].__setitem__("maxReceiveCount", 4)),
        ("maxReceiveCount 1 in a JSON-string RedrivePolicy", "maxReceiveCount",
         lambda t: queue(t).__setitem__("RedrivePolicy", json.dumps({**queue(t)["RedrivePolicy"], "maxReceiveCount": 1}))),
        ("no RedrivePolicy on a consumed queue", "no RedrivePolicy", lambda t: queue(t).pop("RedrivePolicy")),
        ("DLQ not in the template", "deadLetterTargetArn",
         lambda t: queue(t)["RedrivePolicy"].__setitem__("deadLetterTargetArn", "arn:aws:sqs:us-east-1:123456789012:elsewhere")),
        ("DLQ retention equal to the source's", "MessageRetentionPeriod", lambda t: dlq(t).__setitem__("MessageRetentionPeriod", retention)),
        ("DLQ retention shorter", "MessageRetentionPeriod", lambda t: dlq(t).__setitem__("MessageRetentionPeriod", 60)),
        ("DLQ retention absent (4-day default)", "MessageRetentionPeriod",
         lambda t: (dlq(t).pop("MessageRetentionPeriod"), queue(t).__setitem__("MessageRetentionPeriod", DEFAULT_RETENTION))),
        ("ReportBatchItemFailures missing", "ReportBatchItemFailures", lambda t: event(t).pop("FunctionResponseTypes")),
        ("ReportBatchItemFailures misspelt", "ReportBatchItemFailures",
         lambda t: event(t).__setitem__("FunctionResponseTypes", ["ReportBatchItemFailure"])),
        ("MaximumConcurrency above reserved concurrency", "ReservedConcurrentExecutions",
         lambda t: (event(t).__setitem__("ScalingConfig", {"MaximumConcurrency": 5}), fn(t).__setitem__("ReservedConcurrentExecutions", 3))),
        ("MaximumConcurrency 1", "outside 2..1000", lambda t: event(t).__setitem__("ScalingConfig", {"MaximumConcurrency": 1})),
        ("BatchSize 200 without a batching window", "MaximumBatchingWindowInSeconds",
         lambda t: event(t).pop("MaximumBatchingWindowInSeconds")),
        ("BatchSize 10001", "outside 1..10000", lambda t: event(t).__setitem__("BatchSize", 10001)),
        ("the consumer's ChangeMessageVisibility grant removed", "sqs:ChangeMessageVisibility", drop_change_visibility),
        ("ChangeMessageVisibility on another queue", "sqs:ChangeMessageVisibility",
         lambda t: change_visibility_statement(t).__setitem__("Resource", {"Fn::GetAtt": [dlq_id, "Arn"]})),
        ("SQS event on a queue outside the template", "not `!GetAtt",
         lambda t: event(t).__setitem__("Queue", "arn:aws:sqs:us-east-1:123456789012:other")),
        ("queue without encryption at rest", "encrypted at rest", lambda t: queue(t).pop("SqsManagedSseEnabled", None)),
        ("key rotation off", "EnableKeyRotation", lambda t: key(t).__setitem__("EnableKeyRotation", False)),
        ("key rotation absent", "EnableKeyRotation", lambda t: key(t).pop("EnableKeyRotation")),
        ("key rotation as the string false", "EnableKeyRotation", lambda t: key(t).__setitem__("EnableKeyRotation", "false")),
        # iam
        ('Allow on Resource "*" in a function\'s Policies', "every resource", lambda t: add_statement(t, allow("*"))),
        ('Resource list containing "*"', "every resource", lambda t: add_statement(t, allow([queue_arn, "*"]))),
        ("Resource an ARN with no resource part (!Sub ...:*)", "every resource", lambda t: add_statement(
            t, allow({"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"}))),
        ("Resource arn:aws:s3:::*", "every resource", lambda t: add_statement(t, allow("arn:aws:s3:::*", "s3:GetObject"))),
        ("Resource from a parameter whose default is *", "every resource", wildcard_parameter),
        ('Resource "*" in a statement behind !If', "every resource",
         lambda t: add_statement(t, allow("*"), lambda s: {"Statement": [{"Fn::If": ["HasAdminToken", s, NO_VALUE]}]})),
        ("Statement a single mapping, on *", "every resource", lambda t: add_statement(t, allow("*"), lambda s: {"Statement": s})),
        ("NotResource in an Allow", "NotResource", lambda t: add_statement(t, {"Effect": "Allow", "Action": "sqs:SendMessage", "NotResource": queue_arn})),
        ("Allow without Resource", "without Resource", lambda t: add_statement(t, {"Effect": "Allow", "Action": "sqs:SendMessage"})),
        ('managed policy on Resource "*"', "every resource", lambda t: managed(t)["Statement"][0].__setitem__("Resource", "*")),
        ("managed policy as a JSON string, on *", "every resource", lambda t: t["Resources"][managed_id]["Properties"].__setitem__(
            "PolicyDocument", json.dumps({**managed(t), "Statement": [allow("*")]}))),
        ("managed policy document an unevaluable intrinsic", "cannot evaluate",
         lambda t: t["Resources"][managed_id]["Properties"].__setitem__("PolicyDocument", {"Fn::ImportValue": "policy"})),
        ("AWS::IAM::Policy on *", "every resource", lambda t: add_resource(
            t, "SelfTestPolicy", IAM_POLICY, {"PolicyName": "x", "Roles": ["r"], "PolicyDocument": {"Statement": [allow("*")]}})),
        ('inline role policy (the expansion\'s form) on "*"', "every resource", lambda t: role_with_inline(t, allow("*"))),
        ('Action "*" in a managed policy', "every action", lambda t: managed(t)["Statement"][0].__setitem__("Action", "*")),
        ("Action sqs:* in a function's Policies", "every action", lambda t: add_statement(t, allow(queue_arn, ["sqs:SendMessage", "sqs:*"]))),
        ("NotAction in an Allow", "NotAction", lambda t: add_statement(t, {"Effect": "Allow", "NotAction": "iam:*", "Resource": queue_arn})),
        ("Action sqs:* in an inline role policy", "every action", lambda t: role_with_inline(t, allow(queue_arn, "sqs:*"))),
        ("key policy: kms:* for a role", "every action", lambda t: add_key_statement(t, {"Fn::GetAtt": [f"{fn_id}Role", "Arn"]})),
        ("key policy: kms:* for another account's root", "every action",
         lambda t: add_key_statement(t, "arn:aws:iam::111122223333:root")),
        # env
        (f"{victim} removed from Globals", f"lacks {victim}", lambda t: env_vars(t).pop(victim)),
        (f"{victim} set to AWS::NoValue by a function", f"lacks {victim}", lambda t: fn_vars(t).__setitem__(victim, NO_VALUE)),
        (f"{victim} only under a condition", "only under a condition",
         lambda t: env_vars(t).__setitem__(victim, {"Fn::If": ["HasAdminToken", env_vars(t)[victim], NO_VALUE]})),
        (f"{victim} blank", "blank", lambda t: env_vars(t).__setitem__(victim, " ")),
        (f"{victim} from a parameter with an empty default", "blank", lambda t: (
            t.setdefault("Parameters", {}).__setitem__("SelfTestUrl", {"Type": "String", "Default": ""}),
            env_vars(t).__setitem__(victim, {"Ref": "SelfTestUrl"}))),
        ("an AWS::Lambda::Function (the expansion's form) without it", f"SelfTestFunction: its environment lacks {victim}",
         lambda t: lambda_function_without(t, victim)),
        ("a function's Environment an unevaluable intrinsic", "cannot evaluate",
         lambda t: fn(t).__setitem__("Environment", {"Fn::If": ["HasAdminToken", {"Variables": {}}, NO_VALUE]})),
        # ops
        ("a function's LoggingConfig removed", "LogFormat is not JSON", lambda t: fn(t).pop("LoggingConfig")),
        ("a function logging Text", "LogFormat is not JSON", lambda t: fn(t)["LoggingConfig"].__setitem__("LogFormat", "Text")),
        ("Tracing removed from Globals", "not Active", lambda t: globals_fn(t).pop("Tracing")),
        ("Tracing PassThrough on a function", "not Active", lambda t: fn(t).__setitem__("Tracing", "PassThrough")),
        ("Tracing from a parameter defaulting to PassThrough", "not Active", lambda t: tracing_parameter(t, "PassThrough")),
        ("an AWS::Lambda::Function (the expansion's form) without TracingConfig", "SelfTestFunction: tracing",
         lambda t: (lambda_function_tracing(t, None), role_with_inline(t, allow(queue_arn)))),
        ("a function's Errors alarm removed", "AWS/Lambda Errors", lambda t: t["Resources"].pop(alarm_of(t, "Errors"))),
        ("a function's Throttles alarm on another function", "AWS/Lambda Throttles",
         lambda t: t["Resources"][alarm_of(t, "Throttles")]["Properties"]["Dimensions"][0].__setitem__("Value", {"Ref": other_fn})),
        ("an Errors alarm in another namespace", "AWS/Lambda Errors",
         lambda t: t["Resources"][alarm_of(t, "Errors")]["Properties"].__setitem__("Namespace", "Custom/Lambda")),
        # table
        ("point-in-time recovery off", "point-in-time recovery",
         lambda t: table(t)["PointInTimeRecoverySpecification"].__setitem__("PointInTimeRecoveryEnabled", False)),
        ("TTL disabled", "TTL is off", lambda t: table(t)["TimeToLiveSpecification"].__setitem__("Enabled", False)),
        ("deletion protection removed", "DeletionProtectionEnabled", lambda t: table(t).pop("DeletionProtectionEnabled")),
        ("deletion protection false", "DeletionProtectionEnabled", lambda t: table(t).__setitem__("DeletionProtectionEnabled", False)),
        ("deletion protection possibly absent", "DeletionProtectionEnabled",
         lambda t: table(t).__setitem__("DeletionProtectionEnabled", {"Fn::If": ["ProtectTable", True, NO_VALUE]})),
        # public
        ("webhook receiver writes without a LeadingKeys condition", "may write any table item", lambda t: receiver_writes(t).pop("Condition")),
        ("webhook receiver writes under LeadingKeys *", "may write any table item",
         lambda t: receiver_writes(t).__setitem__("Condition", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*"]}})),
        ("webhook receiver: LeadingKeys INBOUND# and TENANT#", "may write any table item",
         lambda t: receiver_writes(t)["Condition"]["ForAllValues:StringLike"].__setitem__("dynamodb:LeadingKeys", ["INBOUND#*", "TENANT#*"])),
        ("webhook receiver: an unconditioned UpdateItem statement", "may write any table item", lambda t: receiver_statements(t).append(
            {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": {"Fn::GetAtt": ["Table", "Arn"]}})),
        # inbound
        ("another function sends to the inbound queue", f"{fn_id} may send to the inbound queue",
         lambda t: add_statement(t, allow(inbound_arn))),
        ("another function sends batches to the inbound queue", f"{fn_id} may send to the inbound queue",
         lambda t: add_statement(t, allow([queue_arn, inbound_arn], ["sqs:SendMessageBatch"]))),
        ("a managed policy allows sending to the inbound queue", "the managed policy", lambda t: managed(t)["Statement"].append(allow(inbound_arn))),
        (f"{INBOUND_QUEUE_ENV} not a queue of the template", "cannot tell which queue",
         lambda t: env_vars(t).__setitem__(INBOUND_QUEUE_ENV, "https://sqs.us-east-1.amazonaws.com/123456789012/elsewhere")),
    ]
    # The variables come from the Rust source: a new required("...") must be checked without
    # touching this script, and a scan that finds nothing must fail, not pass on a stale list.
    config_text = "\n".join(sources.values())
    scan_cases = [
        ("a new required(\"...\") in the config", "lacks SFBRIDGE_SELF_TEST_NEW",
         config_text + '\nfn more(required: impl Fn(&str)) { required("SFBRIDGE_SELF_TEST_NEW"); }\n'),
        ("a config in which the scan finds no required(\"...\")", "found no", "pub fn from_lookup() {}\n"),
        ("no config source at all", "found no", None),
    ]
    harmless = [
        ("BatchSize 10 without a batching window",
         lambda t: (event(t).__setitem__("BatchSize", 10), event(t).pop("MaximumBatchingWindowInSeconds"))),
        ('Deny sqs:* on "*"', lambda t: add_statement(t, {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"})),
        ("Allow on a log group ARN ending in :*", lambda t: add_statement(t, allow(
            {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/x:*"}, "logs:PutLogEvents"))),
        ("Allow on a table's indexes (table/x/index/*)", lambda t: add_statement(t, allow(
            {"Fn::Join": ["/", [{"Fn::GetAtt": ["Table", "Arn"]}, "index", "*"]]}, "dynamodb:Query"))),
        ("managed policy ARN and SAM policy template in Policies", lambda t: fn(t)["Policies"].extend(
            ["arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess", {"SQSSendMessagePolicy": {"QueueName": "x"}}])),
        ("key policy: kms:* for the account root via !Ref AWS::AccountId", lambda t: add_key_statement(t, {"Ref": "AWS::AccountId"})),
        ("an optional variable behind !If/NoValue", optional_variable),
        ("an AWS::Lambda::Function with a complete environment, its role, JSON logs, tracing and both alarms",
         lambda t: (lambda_function_tracing(t, "Active"), role_with_inline(t, allow(queue_arn)))),
        ("Tracing from a parameter defaulting to Active", lambda t: tracing_parameter(t, "Active")),
        ("webhook receiver: an unconditioned Query (a read)", lambda t: receiver_statements(t).append(
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::GetAtt": ["Table", "Arn"]}})),
        ("another function reads the inbound queue", lambda t: add_statement(t, allow(inbound_arn, "sqs:ReceiveMessage"))),
    ]
    harmless_sources = [
        ("required(\"...\") only in comments and tests",
         config_text + '\n// required("SFBRIDGE_SELF_TEST_COMMENTED")\n/* required("SFBRIDGE_SELF_TEST_BLOCK") */\n'
         '#[cfg(test)]\nmod more_tests {\n    fn f() { let s = "}"; required("SFBRIDGE_SELF_TEST_IN_TEST"); }\n}\n'),
    ]
    failures = 0
    runs = [(name, expected, breaks, env) for name, expected, breaks in cases]
    runs += [(name, expected, lambda t: None, scan_required_env({} if text is None else {"config.rs": text}))
             for name, expected, text in scan_cases]
    runs += [(name, None, changes, env) for name, changes in harmless]
    runs += [(name, None, lambda t: None, scan_required_env({"config.rs": text})) for name, text in harmless_sources]
    for name, expected, change, run_env in runs:
        changed = copy.deepcopy(template)
        change(changed)
        problems = check(changed, run_env).problems
        if expected is None and problems:
            failures += 1
            print(f"self-test FAILED: {name}: harmless, but the checker reports {problems}", file=sys.stderr)
        elif expected is not None and not any(expected in p for p in problems):
            failures += 1
            print(f"self-test FAILED: {name}: expected a problem mentioning {expected!r}, got {problems}", file=sys.stderr)
    if failures:
        return 1
    broken = len(cases) + len(scan_cases)
    print(f"self-test: {broken} broken copies of the template caught, {len(harmless) + len(harmless_sources)} harmless "
          "changes pass, the template itself passes")
    return 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    run_self_test = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    path = args[0]
    template = load(path)
    sources = config_sources()
    env = scan_required_env(sources)
    if run_self_test:
        return self_test(template, env, sources)
    report = check(template, env)
    for problem in report.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if report.problems:
        print(f"{path}: {len(report.problems)} invariant(s) broken", file=sys.stderr)
        return 1
    print(
        f"invariants OK: {report.consumers} SQS consumer(s), {report.queues} queue(s), {report.keys} KMS key(s), "
        f"{report.statements} IAM policy statement(s), {report.functions} function environment(s) with the "
        f"{len(env.names)} variables {env.origin} requires, JSON logs, tracing and Errors/Throttles alarms, "
        f"{report.tables} table(s) with PITR, TTL and deletion protection, "
        f"{len(webhook_functions(template))} public webhook function(s) writing only {PUBLIC_WRITE_PREFIX} items, "
        f"the inbound queue sent to only by {', '.join(sorted(report.inbound_senders)) or 'nobody'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
