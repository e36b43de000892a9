#!/usr/bin/env python3
"""Check the reliability and security invariants of template.yaml that no linter knows about.

cfn-lint checks that a template is valid CloudFormation; it cannot know that a queue's visibility
timeout must outlast six times its consumer's timeout. These rules come from the project's
reliability checklist (reliability-security.md Q2-Q4, Q7, F17):

  consumer   every SQS event source (a SAM `Type: SQS` event, or an AWS::Lambda::EventSourceMapping
             on a queue of the template) reads a queue of this template whose VisibilityTimeout
             is >= 6 x the function's Timeout, reports partial batch failures
             (FunctionResponseTypes: [ReportBatchItemFailures]), and, with a ScalingConfig, has a
             MaximumConcurrency of 2..1000 and <= the function's ReservedConcurrentExecutions
             when that is set; the queue has a RedrivePolicy.
  redrive    every queue with a RedrivePolicy has maxReceiveCount >= 5 and a dead-letter queue of
             this template that keeps messages strictly longer than the source (a dead-lettered
             message keeps its original enqueue time).
  sse        every SQS queue is encrypted at rest (SqsManagedSseEnabled: true or KmsMasterKeyId).
  kms        every symmetric KMS key has EnableKeyRotation: true.

Values may be literals or `!Ref` to a parameter with a Default; anything else the checker cannot
evaluate is a failure, not a pass. SAM and CloudFormation defaults apply when a property is
absent (Timeout 3 s, or Globals.Function.Timeout; VisibilityTimeout 30 s; retention 4 days).

It reads the SAM template and the expanded CloudFormation alike (lint-template.sh runs it on
both). `--self-test` breaks each invariant in a copy of the given template, in memory, and fails
unless the checker catches every break and passes the template itself.

usage: check_template.py [--self-test] TEMPLATE
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field

import yaml

MIN_VISIBILITY_FACTOR = 6
MIN_MAX_RECEIVE_COUNT = 5
DEFAULT_FUNCTION_TIMEOUT = 3
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION = 345600
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"

SQS_QUEUE = "AWS::SQS::Queue"
SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
KMS_KEY = "AWS::KMS::Key"


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


def check(template: dict) -> Report:
    report = Report()
    for c in consumers(template, report):
        check_consumer(template, c, report)
    for rid, res in template["Resources"].items():
        if res.get("Type") == SQS_QUEUE:
            check_queue(template, rid, report)
        elif res.get("Type") == KMS_KEY:
            check_key(rid, res, report)
    return report


# ---------------------------------------------------------------- self-test


def _first(template: dict, rtype: str, pred=lambda rid, res: True) -> str:
    for rid, res in template["Resources"].items():
        if res.get("Type") == rtype and pred(rid, res):
            return rid
    raise SystemExit(f"self-test: the template has no {rtype} to break")


def self_test(template: dict) -> int:
    """Breaks each invariant in a copy of `template` and checks that the checker says so."""
    base = check(template)
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

    timeout = function_timeout(template, fn_id)
    retention = number(template, queue(template).get("MessageRetentionPeriod", DEFAULT_RETENTION), "retention")

    def set_globals_timeout(t, seconds):
        del fn(t)["Timeout"]
        t.setdefault("Globals", {}).setdefault("Function", {})["Timeout"] = seconds

    def visibility_from_parameter(t):
        t.setdefault("Parameters", {})["Visibility"] = {"Type": "Number", "Default": 6 * timeout - 1}
        queue(t)["VisibilityTimeout"] = {"Ref": "Visibility"}

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
        ("SQS event on a queue outside the template", "not `!GetAtt",
         lambda t: event(t).__setitem__("Queue", "arn:aws:sqs:us-east-1:123456789012:other")),
        ("queue without encryption at rest", "encrypted at rest", lambda t: queue(t).pop("SqsManagedSseEnabled", None)),
        ("key rotation off", "EnableKeyRotation", lambda t: key(t).__setitem__("EnableKeyRotation", False)),
        ("key rotation absent", "EnableKeyRotation", lambda t: key(t).pop("EnableKeyRotation")),
        ("key rotation as the string false", "EnableKeyRotation", lambda t: key(t).__setitem__("EnableKeyRotation", "false")),
    ]
    failures = 0
    for name, expected, breaks in cases:
        broken = copy.deepcopy(template)
        breaks(broken)
        problems = check(broken).problems
        if not any(expected in p for p in problems):
            failures += 1
            print(f"self-test FAILED: {name}: expected a problem mentioning {expected!r}, got {problems}", file=sys.stderr)
    if failures:
        return 1
    print(f"self-test: {len(cases)} broken copies of the template caught, the template itself passes")
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
    if run_self_test:
        return self_test(template)
    report = check(template)
    for problem in report.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if report.problems:
        print(f"{path}: {len(report.problems)} invariant(s) broken", file=sys.stderr)
        return 1
    print(f"invariants OK: {report.consumers} SQS consumer(s), {report.queues} queue(s), {report.keys} KMS key(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
