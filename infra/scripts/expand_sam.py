#!/usr/bin/env python3
"""Expand the SAM transform of a template offline and print the CloudFormation JSON.

cfn-lint (1.x) no longer expands `AWS::Serverless-2016-10-31` itself, so mistakes inside
Serverless resources (a misspelt event property, `Architectures: [arm65]`, a `!Ref` to a missing
resource in `Policies`) pass it silently. Linting the expanded template catches them.

It also checks what the transform cannot: the HTTP API's DefinitionBody wires each route to a
function by its fixed FunctionName (to avoid a circular dependency, see template.yaml), so every
HttpApi event must land on an integration that names its own function, and every integration
must belong to an event (the event is what grants API Gateway the invoke permission).

Offline: managed-policy names are not looked up (no AWS call), local `CodeUri`s become
placeholder S3 URIs (what `sam package` would do), and the region comes from AWS_DEFAULT_REGION.

usage: expand_sam.py TEMPLATE [OUTPUT.json]
"""

from __future__ import annotations

import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_CODE_URI = "s3://sfbridge-lint-placeholder/code.zip"


class NoManagedPolicies:
    """Managed-policy loader that never calls IAM: the template names no AWS managed policy by its
    short name (SAM adds AWSLambdaBasicExecutionRole by ARN itself)."""

    def load(self) -> dict:
        return {}


def with_placeholder_code_uris(template: dict) -> dict:
    globals_fn = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_fn.get("CodeUri"), str):
        globals_fn["CodeUri"] = PLACEHOLDER_CODE_URI
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if isinstance(props.get("CodeUri"), str) or "CodeUri" not in props and "CodeUri" not in globals_fn:
                props["CodeUri"] = PLACEHOLDER_CODE_URI
    return template


def _sub_text(value) -> str | None:
    """The template string of `!Sub "..."` / `!Sub ["...", {...}]`, else None."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def check_integrations(template: dict) -> list[str]:
    resources = template.get("Resources", {})
    problems = []
    routes = {}  # (api, path, openapi method key) -> (function id, function name template)
    for fn_id, fn in resources.items():
        if fn.get("Type") != "AWS::Serverless::Function":
            continue
        props = fn.get("Properties", {})
        for event_id, event in props.get("Events", {}).items():
            if event.get("Type") != "HttpApi":
                continue
            ev = event.get("Properties", {})
            api = ev.get("ApiId", {}).get("Ref") if isinstance(ev.get("ApiId"), dict) else None
            if api is None:
                continue
            method = str(ev.get("Method", "")).lower()
            key = "x-amazon-apigateway-any-method" if method in ("any", "x-amazon-apigateway-any-method") else method
            name = _sub_text(props.get("FunctionName"))
            if name is None:
                problems.append(f"{fn_id}: routes of {api} are wired by name, so FunctionName must be a !Sub string")
                continue
            routes[(api, ev.get("Path"), key)] = (f"{fn_id}.Events.{event_id}", name)

    for api_id, api in resources.items():
        if api.get("Type") != "AWS::Serverless::HttpApi":
            continue
        paths = api.get("Properties", {}).get("DefinitionBody", {}).get("paths", {})
        wired = set()
        for path, item in paths.items():
            for method, op in item.items():
                uri = _sub_text(op.get("x-amazon-apigateway-integration", {}).get("uri"))
                if uri is None:
                    continue
                wired.add((api_id, path, method))
                owner = routes.get((api_id, path, method))
                if owner is None:
                    problems.append(f"{api_id}: {method} {path} has an integration but no function event (no invoke permission)")
                elif f":function:{owner[1]}/invocations" not in uri:
                    problems.append(f"{owner[0]}: {method} {path} is integrated with {uri!r}, not with function {owner[1]!r}")
        for (api, path, method), (owner, _) in routes.items():
            if api == api_id and (api, path, method) not in wired and paths:
                problems.append(f"{owner}: {method} {path} has no integration in {api_id}'s DefinitionBody")
    return problems


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1], encoding="utf-8") as f:
        template = with_placeholder_code_uris(yaml_parse(f.read()))
    problems = check_integrations(template)
    for problem in problems:
        print(f"{sys.argv[1]}: {problem}", file=sys.stderr)
    if problems:
        return 1
    try:
        expanded = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{sys.argv[1]}: SAM transform: {cause.message}", file=sys.stderr)
        return 1
    text = json.dumps(expanded, indent=2, sort_keys=False) + "\n"
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
