#!/usr/bin/env python3
"""Generate a JSONL corpus of the real HTTP requests botocore sends.

Usage:
    .venv/bin/python tests/conformance/generate_corpus.py OUT.jsonl \
        [--services s3,sqs] [--jobs N] [--model models/aws-model.json]

For every operation of every service (newest API version, the same set as
models/aws-model.json), build a minimal input (every required member filled
recursively with a plausible value), call the operation through a real botocore
client, and capture the final, signed request in a ``before-send`` handler that
answers with a fake empty 200 response, so nothing leaves the machine.

OUT.jsonl gets one line per captured request:
    {"service", "operation", "region", "method", "url", "headers",
     "body_b64" (first 64 KiB), "body_len", ["note"]}
("note" only appears when the request had to be signed with SigV4 because
the SigV4a signer the endpoint rules ask for needs awscrt.)
OUT.errors.jsonl gets one line per operation whose request was not captured:
    {"service", "operation", "stage", "error"}

Pure Python: stdlib + botocore only.
"""

import argparse
import base64
import datetime
import io
import json
import multiprocessing
import os
import tempfile
import re
import sys
import time
import traceback

BODY_LIMIT = 64 * 1024
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT_ID = "123456789012"
MAX_DEPTH = 12
TIMESTAMP = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
# ARN member names whose type the endpoint rules check.
ARN_RESOURCES = {
    "ConsumerARN": "stream/example-name/consumer/example-consumer:1700000000",
}
# member names that say nothing about the resource type (ResourceArn, Arn, ...)
GENERIC_ARN_KINDS = {"", "resource", "target", "source", "destination", "parent", "entity"}
# resource type to use for such generic ARNs where the rules require a known type
SERVICE_ARN_KINDS = {"kinesis": "stream"}
HOST_LABEL_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_MODEL = os.path.join(ROOT, "models", "aws-model.json")


# --------------------------------------------------------------------------
# Environment isolation: nothing from the developer's AWS config may change
# the requests (endpoint overrides, FIPS, profiles, ...).
# --------------------------------------------------------------------------
def isolate_environment():
    for key in list(os.environ):
        if key.startswith("AWS_") or key.startswith("BOTO_"):
            del os.environ[key]
    # Paths that do not exist: botocore treats a missing file as empty. (/dev/null is not safe:
    # botocore's config parser can fail on it, depending on how the file is opened.)
    missing = os.path.join(tempfile.gettempdir(), "tollgate-no-such-aws-config-%d" % os.getpid())
    os.environ["AWS_CONFIG_FILE"] = missing
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = missing
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


# --------------------------------------------------------------------------
# Minimal input generation
# --------------------------------------------------------------------------
def partition_of(region):
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("eu-isoe-"):
        return "aws-iso-e"
    if region.startswith("us-isof-"):
        return "aws-iso-f"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


class InputGenerator:
    def __init__(self, service_name, service_model, region):
        self.service_name = service_name
        self.service_model = service_model
        self.region = region
        self.partition = partition_of(region)
        self.arn_service = service_model.signing_name or service_model.endpoint_prefix

    # ---- strings ----------------------------------------------------------
    def arn(self, name):
        if self.service_name == "cloudfront-keyvaluestore" or name == "KvsARN":
            # endpoint rules parse this one: arn:aws:cloudfront::acct:key-value-store/id
            return "arn:%s:cloudfront::%s:key-value-store/example-id" % (self.partition, ACCOUNT_ID)
        if name in ARN_RESOURCES:
            resource = ARN_RESOURCES[name]
        else:
            # resource type from the member name: QueueARN -> queue/..., TopicArn -> topic/...
            prefix = re.sub(r"(?i)arn$", "", name)
            kind = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", prefix).lower()
            if kind in GENERIC_ARN_KINDS:
                kind = SERVICE_ARN_KINDS.get(self.service_name, "example-resource")
            resource = "%s/example-name" % kind
        return "arn:%s:%s:%s:%s:%s" % (self.partition, self.arn_service, self.region, ACCOUNT_ID, resource)

    def string_for(self, name, shape):
        enum = shape.metadata.get("enum")
        if enum:
            return enum[0]
        lname = name.lower()
        if lname in ("bucket", "bucketname") or lname.endswith("bucket") or lname.endswith("bucketname"):
            value = "example-bucket"
        elif lname == "copysource":
            value = "example-bucket/example-key"
        elif lname.endswith("url") or lname.endswith("uri") and "queue" in lname:
            value = "https://sqs.us-east-1.amazonaws.com/%s/example-queue" % ACCOUNT_ID
        elif lname.endswith("arn"):
            value = self.arn(name)
        elif lname == "predictendpoint":  # machinelearning Predict: the handler swaps the host
            value = "https://realtime.machinelearning.%s.amazonaws.com" % self.region
        elif lname.endswith("accountid") or lname in ("owner", "ownerid", "awsaccountid"):
            value = ACCOUNT_ID
        elif lname in ("region", "regionname"):
            value = self.region
        elif lname == "key" or lname.endswith("objectkey"):
            value = "example-key"
        elif lname.endswith("email") or lname.endswith("emailaddress"):
            value = "user@example.com"
        else:
            value = "example-name"
        if shape.serialization.get("hostLabel") and not HOST_LABEL_RE.match(value):
            value = "example-name"
        lo = shape.metadata.get("min")
        hi = shape.metadata.get("max")
        if isinstance(lo, (int, float)) and len(value) < lo:
            value = value + "x" * (int(lo) - len(value))
        if isinstance(hi, (int, float)) and hi >= 1 and len(value) > hi:
            value = value[: int(hi)]
        return value

    # ---- numbers ----------------------------------------------------------
    @staticmethod
    def number_for(shape):
        lo = shape.metadata.get("min")
        hi = shape.metadata.get("max")
        v = 1
        if isinstance(lo, (int, float)) and lo > v:
            v = lo
        if isinstance(hi, (int, float)) and hi < v:
            v = hi
        return v

    # ---- generic ----------------------------------------------------------
    def value(self, name, shape, depth=0):
        t = shape.type_name
        if t == "structure":
            if shape.metadata.get("document"):
                return {"example": "value"}
            return self.structure(shape, depth)
        if t == "list":
            n = shape.metadata.get("min") or 1
            n = max(1, min(int(n), 5))
            if depth >= MAX_DEPTH:
                return []
            return [self.value(name, shape.member, depth + 1) for _ in range(n)]
        if t == "map":
            if depth >= MAX_DEPTH:
                return {}
            return {self.value("key", shape.key, depth + 1): self.value(name, shape.value, depth + 1)}
        if t == "string":
            if shape.serialization.get("jsonvalue"):
                return {"example": "value"}
            return self.string_for(name, shape)
        if t in ("integer", "long", "short", "byte"):
            return int(self.number_for(shape))
        if t in ("float", "double"):
            return float(self.number_for(shape))
        if t == "boolean":
            return True
        if t == "timestamp":
            return TIMESTAMP
        if t == "blob":
            n = shape.metadata.get("min") or 1
            return b"x" * max(1, int(n))
        return "example-name"

    def structure(self, shape, depth):
        out = {}
        if depth >= MAX_DEPTH:
            return out
        members = shape.members
        wanted = list(shape.required_members)
        if shape.metadata.get("union") and not wanted:
            for mname, mshape in members.items():
                if not is_event_stream(mshape):
                    wanted = [mname]
                    break
        for mname in wanted:
            mshape = members.get(mname)
            if mshape is None or is_event_stream(mshape):
                continue
            out[mname] = self.value(mname, mshape, depth + 1)
        return out

    def operation_input(self, operation_model):
        shape = operation_model.input_shape
        if shape is None:
            return {}
        params = self.structure(shape, 0)
        # Members the endpoint rules or host prefix need even when optional.
        for mname, mshape in shape.members.items():
            if mname in params or is_event_stream(mshape):
                continue
            if mshape.serialization.get("hostLabel") or mname in ("AccountId",):
                params[mname] = self.value(mname, mshape, 1)
        return params


def is_event_stream(shape):
    return bool(shape.serialization.get("eventstream")) or (
        shape.type_name == "structure" and bool(getattr(shape, "is_event_stream", False))
    )


# --------------------------------------------------------------------------
# Request capture
# --------------------------------------------------------------------------
class FakeRaw:
    def __init__(self, body=b""):
        self._body = body
        self._io = io.BytesIO(body)

    def stream(self, **kwargs):
        if self._body:
            yield self._body

    def read(self, amt=None):
        return self._io.read() if amt is None else self._io.read(amt)

    def close(self):
        pass


class Captured(Exception):
    pass


def read_body(body):
    """Return (first BODY_LIMIT bytes, total length or None)."""
    if body is None:
        return b"", 0
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body)
        return body[:BODY_LIMIT], len(body)
    if hasattr(body, "read"):
        try:
            start = body.tell() if hasattr(body, "tell") else None
        except Exception:
            start = None
        head = b""
        total = 0
        try:
            while True:
                chunk = body.read(BODY_LIMIT)
                if not chunk:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                if len(head) < BODY_LIMIT:
                    head += chunk[: BODY_LIMIT - len(head)]
                total += len(chunk)
                if total > 64 * 1024 * 1024:
                    total = None
                    break
        except Exception:
            return head, None
        finally:
            if start is not None:
                try:
                    body.seek(start)
                except Exception:
                    pass
        return head, total
    try:
        parts = []
        size = 0
        for chunk in body:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        return data[:BODY_LIMIT], size
    except Exception:
        return b"", None


def header_value(v):
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return str(v)


class ServiceRunner:
    def __init__(self, session, service_name, regions):
        self.session = session
        self.service_name = service_name
        self.regions = regions
        self.clients = {}
        self.current_op = None
        self.captured = None

    def client(self, region, sigv4_only=False):
        key = (region, sigv4_only)
        if key not in self.clients:
            from botocore.config import Config

            extra = {"signature_version": "v4"} if sigv4_only else {}
            config = Config(
                parameter_validation=False,
                retries={"max_attempts": 0},
                connect_timeout=1,
                read_timeout=1,
                **extra
            )
            client = self.session.create_client(
                self.service_name,
                region_name=region,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                aws_session_token=None,
                config=config,
            )
            client.meta.events.register("before-send", self.before_send)
            self.clients[key] = client
        return self.clients[key]

    def before_send(self, request, event_name=None, **kwargs):
        from botocore.awsrequest import AWSResponse

        op = event_name.rsplit(".", 1)[-1] if event_name else None
        if op == self.current_op and self.captured is None:
            body, body_len = read_body(request.body)
            self.captured = {
                "method": request.method,
                "url": request.url,
                "headers": {k: header_value(v) for k, v in request.headers.items()},
                "body_b64": base64.b64encode(body).decode("ascii"),
                "body_len": body_len,
            }
            return AWSResponse(request.url, 200, {}, FakeRaw(b""))
        if op and op != self.current_op and op == "DescribeEndpoints":
            # endpoint discovery (timestream): hand back the usual endpoint
            from urllib.parse import urlsplit

            host = urlsplit(request.url).hostname
            first, _, rest = host.partition(".")
            payload = json.dumps(
                {"Endpoints": [{"Address": "%s-cell1.%s" % (first, rest), "CachePeriodInMinutes": 1440}]}
            ).encode()
            return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, FakeRaw(payload))
        return AWSResponse(request.url, 200, {}, FakeRaw(b""))

    def attempt(self, op_name, region, sigv4_only):
        """Call the operation once; return the captured request or raise
        (StageError wrapping the exception)."""
        stage = "client"
        try:
            client = self.client(region, sigv4_only)
            stage = "input"
            op_model = client.meta.service_model.operation_model(op_name)
            gen = InputGenerator(self.service_name, client.meta.service_model, region)
            params = gen.operation_input(op_model)
            stage = "call"
            self.current_op = op_name
            self.captured = None
            try:
                client._make_api_call(op_name, params)
            except Exception:  # parse errors after the fake response are fine
                if self.captured is None:
                    raise
        except Exception as e:
            raise StageError(stage, e)
        finally:
            self.current_op = None
        captured, self.captured = self.captured, None
        if captured is None:
            raise StageError("capture", RuntimeError("call returned without sending a request"))
        return captured

    def run_operation(self, op_name):
        """Return (record, error) where exactly one is not None."""
        first_error = None
        for i, region in enumerate(self.regions):
            note = None
            try:
                try:
                    captured = self.attempt(op_name, region, False)
                except StageError as se:
                    if not is_missing_crt(se.error):
                        raise
                    # SigV4a (chosen by the endpoint rules, e.g. cloudfront-keyvaluestore)
                    # needs awscrt; pure botocore can only sign the same request with SigV4.
                    captured = self.attempt(op_name, region, True)
                    note = "signed with sigv4: sigv4a needs awscrt"
            except StageError as se:
                err = {
                    "service": self.service_name,
                    "operation": op_name,
                    "stage": se.stage,
                    "region": region,
                    "error": "%s: %s" % (type(se.error).__name__, str(se.error)[:500]),
                }
                first_error = first_error or err
                if is_region_error(se.error) and i + 1 < len(self.regions):
                    continue
                return None, first_error
            rec = {"service": self.service_name, "operation": op_name, "region": region}
            if note:
                rec["note"] = note
            rec.update(captured)
            return rec, None
        return None, first_error


class StageError(Exception):
    def __init__(self, stage, error):
        super().__init__(stage, error)
        self.stage = stage
        self.error = error


def is_missing_crt(e):
    from botocore.exceptions import MissingDependencyException

    return isinstance(e, MissingDependencyException) and "crt" in str(e)


def is_region_error(e):
    from botocore import exceptions as bex

    kinds = tuple(
        getattr(bex, n)
        for n in ("EndpointResolutionError", "NoRegionError", "UnknownEndpointError",
                  "EndpointVariantError", "UnknownRegionError", "UnsupportedS3ConfigurationError")
        if hasattr(bex, n)
    )
    return isinstance(e, kinds)


class ExampleTokenProvider:
    """Bearer token for services that only accept bearer auth (codecatalyst).
    Returns nothing for scoped (per-service env) look-ups, so services that
    support both sigv4 and bearer keep using sigv4."""

    def load_token(self, signing_name=None, **kwargs):
        if signing_name is not None:
            return None
        from botocore.tokens import FrozenAuthToken

        return FrozenAuthToken("example-bearer-token", None)


# --------------------------------------------------------------------------
# Worker
# --------------------------------------------------------------------------
_SESSION = None
_PARTITION_REGIONS = None


def get_session():
    global _SESSION
    if _SESSION is None:
        import botocore.session

        _SESSION = botocore.session.get_session()
        _SESSION.register_component("token_provider", ExampleTokenProvider())
    return _SESSION


def fallback_regions(session, service_name, endpoint_prefix):
    """us-east-1, us-west-2, then the first region of the first partition that
    lists the service (for services that only exist elsewhere)."""
    regions = ["us-east-1", "us-west-2"]
    loader = session.get_component("data_loader")
    try:
        endpoints = loader.load_data("endpoints")
    except Exception:
        return regions
    for part in endpoints.get("partitions", []):
        svc = part.get("services", {}).get(endpoint_prefix)
        if not svc:
            continue
        names = [r for r, v in svc.get("endpoints", {}).items()
                 if r in part.get("regions", {}) and not v.get("deprecated")]
        if part["partition"] == "aws" and ("us-east-1" in names or not names):
            break
        if names:
            first = sorted(names)[0]
            if first not in regions:
                regions.append(first)
            break
    return regions


def run_service(task):
    service_name, operations = task
    start = time.monotonic()
    session = get_session()
    records, errors = [], []
    try:
        model = session.get_service_model(service_name)
        regions = fallback_regions(session, service_name, model.endpoint_prefix)
    except Exception:
        regions = ["us-east-1", "us-west-2"]
    runner = ServiceRunner(session, service_name, regions)
    for op in operations:
        try:
            rec, err = runner.run_operation(op)
        except Exception as e:  # never lose a whole service
            rec, err = None, {"service": service_name, "operation": op, "stage": "internal",
                              "error": "%s: %s" % (type(e).__name__, traceback.format_exc()[-500:])}
        if rec is not None:
            records.append(json.dumps(rec, sort_keys=True, separators=(",", ":")))
        else:
            errors.append(json.dumps(err, sort_keys=True, separators=(",", ":")))
    return service_name, len(operations), records, errors, time.monotonic() - start


def load_operations(model_path, only):
    if model_path and os.path.exists(model_path):
        with open(model_path, encoding="utf-8") as f:
            model = json.load(f)
        services = [(s["name"], [o["name"] for o in s["operations"]]) for s in model["services"]]
    else:
        import botocore.session

        loader = botocore.session.get_session().get_component("data_loader")
        services = []
        for name in sorted(loader.list_available_services("service-2")):
            m = loader.load_service_model(name, "service-2")
            services.append((name, sorted(m.get("operations", {}))))
    if only:
        wanted = set(only)
        missing = wanted - {n for n, _ in services}
        if missing:
            raise SystemExit("unknown services: %s" % ", ".join(sorted(missing)))
        services = [s for s in services if s[0] in wanted]
    return services


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate a JSONL corpus of real botocore requests.")
    ap.add_argument("out", help="output JSONL path (errors go to OUT.errors.jsonl)")
    ap.add_argument("--services", help="comma-separated service names (default: all)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--model", default=DEFAULT_MODEL,
                    help="aws-model.json to take the operation list from (default: %(default)s; "
                         "falls back to botocore if missing)")
    args = ap.parse_args(argv)

    start = time.monotonic()
    isolate_environment()
    only = [s.strip() for s in args.services.split(",") if s.strip()] if args.services else None
    services = load_operations(args.model, only)
    total_ops = sum(len(ops) for _, ops in services)
    # biggest services first so the pool stays balanced
    tasks = sorted(services, key=lambda s: -len(s[1]))

    results = {}
    if args.jobs > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else multiprocessing
        with ctx.Pool(processes=args.jobs, maxtasksperchild=40) as pool:
            for res in pool.imap_unordered(run_service, tasks, chunksize=1):
                results[res[0]] = res
    else:
        for t in tasks:
            res = run_service(t)
            results[res[0]] = res

    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    err_path = re.sub(r"\.jsonl$", "", args.out) + ".errors.jsonl"
    captured = failed = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as out, \
            open(err_path, "w", encoding="utf-8", newline="\n") as errf:
        for name, _ in services:  # stable order: services, then operations
            _, _, records, errors, _ = results[name]
            for line in records:
                out.write(line + "\n")
            for line in errors:
                errf.write(line + "\n")
            captured += len(records)
            failed += len(errors)

    elapsed = time.monotonic() - start
    rate = 100.0 * captured / total_ops if total_ops else 100.0
    print(
        "corpus: %d services, %d operations attempted, %d captured (%.2f%%), %d failed, %.1fs -> %s"
        % (len(services), total_ops, captured, rate, failed, elapsed, args.out),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
