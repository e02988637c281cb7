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


# Page-size maxima that AWS's API reference states but botocore's model does not carry as the
# limit member's `max`:
#   S3 list calls "return up to 1,000" keys/uploads/parts per request
#   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html and siblings);
#   EC2 DescribeInstances MaxResults "valid range 5-1000"
#   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html).
DOCUMENTED_LIMIT_MAX = {
    ("s3", "ListObjectsV2"): 1000,
    ("s3", "ListObjects"): 1000,
    ("s3", "ListObjectVersions"): 1000,
    ("s3", "ListMultipartUploads"): 1000,
    ("s3", "ListParts"): 1000,
    ("ec2", "DescribeInstances"): 1000,
}


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


def input_wire(operation, shapes, member_name, protocol):
    """Where a top-level input member travels: {"location": uri|querystring|header|body, "name"}."""
    if not member_name or not operation or not operation.get("input"):
        return None
    shape = shapes.get(operation["input"]["shape"], {})
    member = (shape.get("members") or {}).get(member_name)
    if member is None:
        return None
    return {
        "location": member.get("location", "body"),
        "name": wire_name(member_name, member, protocol),
    }


def output_path(operation, shapes, expression):
    """A paginator's output expression (`NextMarker`, `Contents[-1].Key`, `Reservations`) as wire
    segments: {"n": name on the wire, "i": index, "item": element of a non-flattened XML list}.
    None when the expression goes beyond a dotted path with [-1] indexes."""
    if not operation or not operation.get("output"):
        return None
    shape = shapes.get(operation["output"]["shape"], {})
    segments = []
    for part in expression.strip().split("."):
        index = None
        if part.endswith("[-1]"):
            part, index = part[: -len("[-1]")], -1
        if not part.isidentifier():
            return None
        member = (shape.get("members") or {}).get(part)
        if member is None:
            return None
        target = shapes.get(member["shape"], {})
        segment = {"n": member.get("locationName") or part}
        if target.get("type") == "list":
            if not (member.get("flattened") or target.get("flattened")):
                segment["item"] = target.get("member", {}).get("locationName") or "member"
            if index is not None:
                segment["i"] = index
            target = shapes.get(target.get("member", {}).get("shape"), {})
        elif index is not None:
            return None
        segments.append(segment)
        shape = target
    return segments


def build_paginators(service_name, paginators, operations, shapes, protocol):
    out = {}
    for op_name in sorted(paginators):
        p = paginators[op_name]
        lk = p.get("limit_key")
        op = operations.get(op_name)
        input_tokens = as_list(p.get("input_token"))
        output_tokens = as_list(p.get("output_token"))
        result_keys = as_list(p.get("result_key"))
        more = p.get("more_results")
        out[op_name] = {
            "input_token": input_tokens,
            "output_token": output_tokens,
            "more_results": more,
            "limit_key": lk,
            "limit_max": limit_max(op, shapes, lk)
            or DOCUMENTED_LIMIT_MAX.get((service_name, op_name)),
            "result_key": result_keys,
            # The same, as they appear on the wire: where the request carries its tokens and
            # limit, and the element/member paths of the response's tokens and results.
            "wire": {
                "input": [input_wire(op, shapes, t, protocol) for t in input_tokens],
                "limit": input_wire(op, shapes, lk, protocol) if lk and "." not in lk else None,
                "output": [
                    [output_path(op, shapes, alt) for alt in token.split("||")]
                    for token in output_tokens
                ],
                "result": [output_path(op, shapes, key) for key in result_keys],
                "more": output_path(op, shapes, more) if more else None,
            },
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


def input_header_members(op, shapes):
    """Every header an operation's input binds (lower case), and the prefixes of its header maps
    (`location: headers`, S3's `x-amz-meta-`): with URI, query and body, what makes two requests
    the same call (`Range`, `If-Match`, `x-amz-copy-source` are input members like any other)."""
    input_ref = op.get("input")
    if not input_ref:
        return [], []
    shape = shapes.get(input_ref["shape"], {})
    headers, prefixes = set(), set()
    for member_name, member in shape.get("members", {}).items():
        location = member.get("location")
        wire = member.get("locationName", member_name).lower()
        if location == "header":
            headers.add(wire)
        elif location == "headers":
            prefixes.add(wire)
    return sorted(headers), sorted(prefixes)


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
        input_headers, input_header_prefixes = input_header_members(op, shapes)
        if input_headers:
            entry["input_headers"] = input_headers
        if input_header_prefixes:
            entry["input_header_prefixes"] = input_header_prefixes
        if op.get("deprecated"):
            entry["deprecated"] = True
        ops.append(entry)

    try:
        pag = loader.load_service_model(name, "paginators-1", api_version)
        paginators = build_paginators(name, pag.get("pagination", {}), operations, shapes, protocol)
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
