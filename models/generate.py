#!/usr/bin/env python3
"""Generate tollgate's compact AWS API model from botocore's own data.

Usage:
    .venv/bin/python models/generate.py [--out models/aws-model.json]

Reads every service botocore knows (through ``botocore.loaders.Loader``), takes
the newest API version of each, and writes one deterministic JSON document:

    {"botocore_version":"...","format":1,"services":[
    {...one service per line, keys sorted...},
    ...
    ]}

Running it twice with the same botocore produces byte-identical output.
Pure Python: stdlib + botocore only.
"""

import argparse
import json
import os
import sys
import time

import botocore
import botocore.session
from botocore.exceptions import DataNotFoundError

FORMAT = 1

# Members that name "the" resource an operation acts on, in order of preference.
RESOURCE_PREFERENCE = [
    "Bucket",
    "TableName",
    "QueueUrl",
    "QueueName",
    "TopicArn",
    "FunctionName",
    "StreamName",
    "StreamARN",
    "KeyId",
    "SecretId",
    "Name",  # only for ssm (GetParameter, PutParameter, DeleteParameter, ...)
    "LogGroupName",
    "StateMachineArn",
    "ClusterName",
    "Cluster",
    "DBInstanceIdentifier",
    "RepositoryName",
    "TargetArn",
    "ResourceArn",
    "Arn",
]


def as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]


def primary_protocol(metadata):
    protocols = metadata.get("protocols")
    if protocols:
        return list(protocols)
    return [metadata["protocol"]]


def wire_name(member_name, member, protocol):
    """Name the member has on the wire (for body members of query/ec2 services
    the query-string key; otherwise its locationName or member name)."""
    location = member.get("location")
    if location is None and protocol == "ec2":
        if member.get("queryName"):
            return member["queryName"]
        if member.get("locationName"):
            ln = member["locationName"]
            return ln[:1].upper() + ln[1:]
        return member_name
    return member.get("locationName") or member_name


def find_resource(service_name, operation, shapes, protocol):
    input_ref = operation.get("input")
    if not input_ref:
        return None
    shape = shapes.get(input_ref["shape"], {})
    members = shape.get("members") or {}
    for candidate in RESOURCE_PREFERENCE:
        if candidate == "Name" and service_name != "ssm":
            continue
        member = members.get(candidate)
        if member is None:
            continue
        return {
            "member": candidate,
            "location": member.get("location", "body"),
            "name": wire_name(candidate, member, protocol),
        }
    return None


def limit_max(operation, shapes, limit_key):
    if not limit_key or not operation or not operation.get("input"):
        return None
    shape = shapes.get(operation["input"]["shape"], {})
    # limit_key may (rarely) be a dotted path into nested structures.
    parts = limit_key.split(".")
    for part in parts:
        member = (shape.get("members") or {}).get(part)
        if member is None:
            return None
        shape = shapes.get(member["shape"], {})
    value = shape.get("max")
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def build_paginators(paginators, operations, shapes):
    out = {}
    for op_name in sorted(paginators):
        p = paginators[op_name]
        lk = p.get("limit_key")
        out[op_name] = {
            "input_token": as_list(p.get("input_token")),
            "output_token": as_list(p.get("output_token")),
            "more_results": p.get("more_results"),
            "limit_key": lk,
            "limit_max": limit_max(operations.get(op_name), shapes, lk),
            "result_key": as_list(p.get("result_key")),
        }
    return out


def required_wire_members(op, shapes):
    """Query keys and headers that an operation's required input members always put on the wire.

    REST operations that share a method and URI template (S3 PutObject, CopyObject, UploadPart)
    differ only in these, so the router uses them to tell such operations apart.
    """
    input_ref = op.get("input")
    if not input_ref:
        return [], []
    shape = shapes.get(input_ref["shape"], {})
    required = set(shape.get("required", []))
    query, headers = [], []
    for member_name, member in shape.get("members", {}).items():
        if member_name not in required:
            continue
        location = member.get("location")
        wire = member.get("locationName", member_name)
        if location == "querystring":
            query.append(wire)
        elif location == "header":
            headers.append(wire.lower())
    return sorted(query), sorted(headers)


def build_service(loader, name):
    versions = loader.list_api_versions(name, "service-2")
    api_version = max(versions)
    model = loader.load_service_model(name, "service-2", api_version)
    metadata = model["metadata"]
    shapes = model.get("shapes", {})
    operations = model.get("operations", {})
    protocols = primary_protocol(metadata)
    protocol = protocols[0]

    ops = []
    for op_name in sorted(operations):
        op = operations[op_name]
        http = op.get("http") or {}
        endpoint = op.get("endpoint") or {}
        entry = {
            "name": op_name,
            "method": http.get("method"),
            "uri": http.get("requestUri"),
            "host_prefix": endpoint.get("hostPrefix"),
            "resource": find_resource(name, op, shapes, protocol),
        }
        # Written only when present, to keep the model small.
        required_query, required_headers = required_wire_members(op, shapes)
        if required_query:
            entry["required_query"] = required_query
        if required_headers:
            entry["required_headers"] = required_headers
        if op.get("deprecated"):
            entry["deprecated"] = True
        ops.append(entry)

    try:
        pag = loader.load_service_model(name, "paginators-1", api_version)
        paginators = build_paginators(pag.get("pagination", {}), operations, shapes)
    except DataNotFoundError:
        paginators = {}

    return {
        "name": name,
        "service_id": metadata.get("serviceId"),
        "endpoint_prefix": metadata.get("endpointPrefix"),
        "signing_name": metadata.get("signingName") or metadata.get("endpointPrefix"),
        "protocols": protocols,
        "target_prefix": metadata.get("targetPrefix"),
        "json_version": metadata.get("jsonVersion"),
        "api_version": api_version,
        "aws_query_compatible": "awsQueryCompatible" in metadata,
        "global_endpoint": metadata.get("globalEndpoint"),
        "operations": ops,
        "paginators": paginators,
    }


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def render(services):
    head = dumps({"botocore_version": botocore.__version__, "format": FORMAT, "services": []})
    assert head.endswith('"services":[]}')
    head = head[: -len("]}")]
    lines = [dumps(s) for s in services]
    return head + "\n" + ",\n".join(lines) + "\n]}\n"


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "aws-model.json"))
    args = ap.parse_args(argv)

    start = time.monotonic()
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    names = sorted(loader.list_available_services("service-2"))
    services = [build_service(loader, n) for n in names]
    text = render(services)
    # Sanity: the line-per-service layout is still one valid JSON document.
    json.loads(text)

    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, args.out)

    n_ops = sum(len(s["operations"]) for s in services)
    n_pag = sum(len(s["paginators"]) for s in services)
    print(
        "aws-model: botocore %s, %d services, %d operations, %d paginators, %d bytes, %.2fs -> %s"
        % (botocore.__version__, len(services), n_ops, n_pag, len(text.encode()),
           time.monotonic() - start, args.out),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
