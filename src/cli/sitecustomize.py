# tollgate's Python bootstrap: tags each AWS call a Python process makes with the line of the
# program that made it, for `tollgate report --by callsite`. Loaded by `tollgate run` (and by
# `tollgate env`'s exports) as `sitecustomize` from the first PYTHONPATH entry; carried inside the
# tollgate binary, which writes it there.
#
# What it does, and nothing else:
# - at start: puts one small finder on sys.meta_path that waits for `botocore.session` to be
#   imported (nothing heavy is imported here: no importlib.abc, no inspect), then runs the
#   user's own `sitecustomize`, if there is one further along sys.path;
# - when botocore.session is loaded: wraps `Session.create_client` so that every new client gets
#   one `before-send` handler, and remembers, on botocore's per-call context, the line that
#   started a call (s3transfer carries that context into its worker threads);
# - the handler adds `x-tollgate-callsite: <path>:<line> <function>` (and, under pytest,
#   `x-tollgate-test: <test id>`) to the request, and `x-tollgate-operation: <Operation>`, the
#   operation's name as botocore knows it: a REST request names its operation only by method
#   and path, so an operation newer than tollgate's model would otherwise be unknown.
#   `before-send` runs after signing: the headers are not signed, and tollgate removes them
#   before the request goes on;
# - when pyarrow or pandas' parquet resolve an `s3://` URI, gives pyarrow's own S3 client the
#   proxy and the CA bundle, which it reads from no variable (see `_proxied_s3`), and, as its
#   proxy credentials, the call site of the line that resolved it (see `_proxy_options`).
# Only a path, a line number and a function name leave the process: paths relative to the
# working directory at start, code elsewhere by its path inside sys.path (`pandas/io/s3.py`);
# never arguments, locals or source text. Under PYTHONDONTWRITEBYTECODE=1 it writes its own
# bytecode cache once, beside it (see `_keep_bytecode`). Any failure here leaves the program as
# it was.

import os
import sys

_SKIP = frozenset(
    (
        "botocore",
        "boto3",
        "s3transfer",
        "urllib3",
        "aiobotocore",
        "contextlib",
        "threading",
        "concurrent",
        "asyncio",
    )
)
_CALLSITE = "x-tollgate-callsite"
_TEST = "x-tollgate-test"
_OPERATION = "x-tollgate-operation"
_ATTR = "_tollgate_callsite"
_HERE = os.path.dirname(os.path.abspath(__file__))
_OWN = globals()
try:
    _ROOT = os.getcwd()
except OSError:
    _ROOT = None
_HOME = (os.environ.get("HOME") or "").rstrip(os.sep)
_shown = {}


def _show(filename):
    """The file as the report shows it: relative to the working directory, else to the sys.path
    entry that holds it, else to the home directory (`~/...`), else its last two parts; never an
    absolute path."""
    shown = _shown.get(filename)
    if shown is not None:
        return shown
    shown = filename
    if os.path.isabs(filename):
        if _ROOT and filename.startswith(_ROOT.rstrip(os.sep) + os.sep):
            shown = filename[len(_ROOT.rstrip(os.sep)) + 1 :]
        else:
            best = ""
            for entry in sys.path:
                if entry and os.path.isabs(entry):
                    entry = entry.rstrip(os.sep)
                    if filename.startswith(entry + os.sep) and len(entry) > len(best):
                        best = entry
            if best:
                shown = filename[len(best) + 1 :]
            elif _HOME and filename.startswith(_HOME + os.sep):
                shown = "~" + filename[len(_HOME) :]
            else:
                shown = os.sep.join(filename.split(os.sep)[-2:])
    _shown[filename] = shown
    return shown


def _walk(frame, skip=_SKIP):
    """`path:line function` of the first frame outside the SDK, the standard plumbing between
    it and the caller, and this file; None when there is none."""
    while frame is not None:
        globals_ = frame.f_globals
        if globals_ is not _OWN:
            name = globals_.get("__name__") or ""
            if name.partition(".")[0] not in skip:
                code = frame.f_code
                return "%s:%d %s" % (
                    _show(code.co_filename),
                    frame.f_lineno,
                    getattr(code, "co_qualname", code.co_name),
                )
        frame = frame.f_back
    return None


def _header_value(text):
    """Printable ASCII as it is; anything else (and `%`) percent-encoded as UTF-8."""
    if text.isascii() and text.isprintable() and "%" not in text:
        return text
    out = []
    for byte in text.encode("utf-8", "replace"):
        if 0x20 <= byte < 0x7F and byte != 0x25:
            out.append(chr(byte))
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def _test_id(value):
    """PYTEST_CURRENT_TEST less its phase: `tests/t.py::test_a (call)` -> `tests/t.py::test_a`."""
    if value.endswith(")"):
        head, sep, _ = value.rpartition(" (")
        if sep:
            return head
    return value


_get_context = None


def _operation(event_name):
    """`before-send.s3.GetObject` -> `GetObject`; None for anything that is not a name."""
    if not event_name:
        return None
    name = event_name.rpartition(".")[2]
    if 0 < len(name) <= 128 and name.isascii() and name.isalnum():
        return name
    return None


def _before_send(request=None, event_name=None, **_):
    try:
        site = None
        if _get_context is not None:
            site = getattr(_get_context(), _ATTR, None)
        if site is None:
            site = _walk(sys._getframe(1))
        headers = request.headers
        if site:
            headers[_CALLSITE] = _header_value(site)
        test = os.environ.get("PYTEST_CURRENT_TEST")
        if test:
            headers[_TEST] = _header_value(_test_id(test))
        operation = _operation(event_name)
        if operation:
            headers[_OPERATION] = operation
    except Exception:
        pass
    # Anything but None would replace the HTTP response.
    return None


def _tag(client):
    """Gives a new client the handler that names each call's site; the client either way."""
    try:
        client.meta.events.register_first(
            "before-send", _before_send, unique_id="tollgate-callsite"
        )
    except Exception:
        pass
    return client


def _patch_session(module):
    global _get_context
    session_class = getattr(module, "Session", None)
    create_client = getattr(session_class, "create_client", None)
    if create_client is None or getattr(create_client, "_tollgate", False):
        return

    def wrapped_create_client(self, *args, **kwargs):
        return _tag(create_client(self, *args, **kwargs))

    wrapped_create_client._tollgate = True
    wrapped_create_client.__wrapped__ = create_client
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:
            setattr(wrapped_create_client, attr, getattr(create_client, attr))
        except Exception:
            pass
    session_class.create_client = wrapped_create_client

    # botocore's per-call context (private API: used only when it is there). A context is made
    # where a call, a paginator's page or an s3transfer upload starts, in the caller's thread,
    # and copied into s3transfer's workers: the line is taken then.
    context = sys.modules.get("botocore.context")
    client_context = getattr(context, "ClientContext", None)
    init = getattr(client_context, "__init__", None)
    if init is None or getattr(init, "_tollgate", False):
        return

    def wrapped_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        try:
            site = _walk(sys._getframe(1))
            if site:
                setattr(self, _ATTR, site)
        except Exception:
            pass

    wrapped_init._tollgate = True
    client_context.__init__ = wrapped_init
    _get_context = getattr(context, "get_context", None)


def _patch_aio_session(module):
    """aiobotocore's session makes its clients in `_create_client` (a coroutine)."""
    session_class = getattr(module, "AioSession", None)
    create = getattr(session_class, "_create_client", None)
    if create is None or getattr(create, "_tollgate", False):
        return

    async def wrapped_create_client(self, *args, **kwargs):
        return _tag(await create(self, *args, **kwargs))

    wrapped_create_client._tollgate = True
    wrapped_create_client.__wrapped__ = create
    session_class._create_client = wrapped_create_client


# pyarrow's S3 client (the AWS SDK for C++ over its own curl) reads neither HTTPS_PROXY nor a CA
# bundle variable, so `s3://` paths given to pyarrow and pandas' parquet would go around tollgate.
# Where they resolve an `s3://` URI to a filesystem (pyarrow.fs._resolve_filesystem_and_path,
# pandas.io.parquet._get_path_or_handle), the filesystem is made as pyarrow makes it (its own
# client, the bucket's region, asked of S3 as pyarrow asks it), given the proxy and the bundle.
# Nothing changes when the program passes its own filesystem, or when no proxy is set.


# The frames between the program and pyarrow's filesystem: the line that read or wrote the
# `s3://` URI is the first one outside them.
_SKIP_DATA = _SKIP | frozenset(("pyarrow", "pandas", "fsspec"))


def _data_labels():
    """The call site (and pytest test) of the program's line that is resolving an `s3://` URI
    for pyarrow, as {header: value}."""
    labels = {}
    site = _walk(sys._getframe(1), _SKIP_DATA)
    if site:
        labels[_CALLSITE] = _header_value(site)
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        labels[_TEST] = _header_value(_test_id(test))
    return labels


def _proxy_options(proxy, labels):
    """pyarrow's `proxy_options` for the proxy URL. pyarrow's client cannot add a header to a
    request, but it sends proxy credentials on every CONNECT: the user `tollgate` and, as the
    password, the labels (`callsite=...&test=...`), which tollgate gives every request on that
    connection (it authenticates nobody)."""
    if not labels:
        return proxy
    from urllib.parse import urlsplit

    parts = urlsplit(proxy)
    if not parts.hostname or parts.username:
        return proxy
    password = "&".join(
        "%s=%s" % (name[len("x-tollgate-") :], value.replace("&", "%26"))
        for name, value in labels.items()
    )
    return {
        "scheme": parts.scheme or "http",
        "host": parts.hostname,
        "port": parts.port or (443 if parts.scheme == "https" else 80),
        "username": "tollgate",
        "password": password,
    }


def _proxied_s3(uri):
    """(S3FileSystem through the proxy, path) for an `s3://bucket/key` URI; None to leave it."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if not proxy or not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    path = uri[len("s3://") :]
    bucket = path.split("/", 1)[0]
    if not bucket or "?" in path:
        return None
    import pyarrow.fs as pa_fs

    try:
        labels = _data_labels()
    except Exception:
        labels = {}
    options = {"proxy_options": _proxy_options(proxy, labels)}
    bundle = os.environ.get("SSL_CERT_FILE")
    if bundle:
        options["tls_ca_file_path"] = bundle
    region = _bucket_region(bucket, proxy, bundle, labels)
    if region:
        options["region"] = region
    return pa_fs.S3FileSystem(**options), path


_regions = {}


def _bucket_region(bucket, proxy, bundle, labels=None):
    """The bucket's region from S3's `x-amz-bucket-region` (the HEAD pyarrow itself sends to
    resolve it), through the proxy; else the configured region."""
    if bucket in _regions:
        return _regions[bucket]
    region = None
    try:
        import ssl
        import urllib.error
        import urllib.request

        context = ssl.create_default_context(cafile=bundle) if bundle else None
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"https": proxy}),
            urllib.request.HTTPSHandler(context=context),
        )
        request = urllib.request.Request(
            "https://%s.s3.amazonaws.com/" % bucket,
            method="HEAD",
            headers=dict(
                labels or {},
                **{"User-Agent": "tollgate-python-bootstrap (the bucket region pyarrow asks)"}
            ),
        )
        try:
            with opener.open(request, timeout=30) as answer:
                region = answer.headers.get("x-amz-bucket-region")
        except urllib.error.HTTPError as error:
            region = error.headers.get("x-amz-bucket-region")
    except Exception:
        region = None
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    _regions[bucket] = region
    return region


def _patch_pyarrow_fs(module):
    resolve = getattr(module, "_resolve_filesystem_and_path", None)
    if resolve is None or getattr(resolve, "_tollgate", False):
        return

    def wrapped_resolve(path, filesystem=None, *args, **kwargs):
        if filesystem is None:
            try:
                proxied = _proxied_s3(path)
            except Exception:
                proxied = None
            if proxied is not None:
                return proxied
        return resolve(path, filesystem, *args, **kwargs)

    wrapped_resolve._tollgate = True
    wrapped_resolve.__wrapped__ = resolve
    module._resolve_filesystem_and_path = wrapped_resolve


def _patch_pyarrow_parquet(module):
    """`pyarrow.parquet.core` bound the resolver by name when it was imported."""
    fs = sys.modules.get("pyarrow.fs")
    if fs is not None:
        _patch_pyarrow_fs(fs)
        resolve = getattr(fs, "_resolve_filesystem_and_path", None)
        if getattr(resolve, "_tollgate", False):
            module._resolve_filesystem_and_path = resolve


def _patch_pandas_parquet(module):
    get = getattr(module, "_get_path_or_handle", None)
    if get is None or getattr(get, "_tollgate", False):
        return

    def wrapped_get(path, fs, storage_options=None, *args, **kwargs):
        if fs is None and storage_options is None:
            try:
                proxied = _proxied_s3(path if isinstance(path, str) else None)
            except Exception:
                proxied = None
            if proxied is not None:
                fs, path = proxied
        return get(path, fs, storage_options, *args, **kwargs)

    wrapped_get._tollgate = True
    wrapped_get.__wrapped__ = get
    module._get_path_or_handle = wrapped_get


_PATCHES = {
    "botocore.session": _patch_session,
    "aiobotocore.session": _patch_aio_session,
    "pyarrow.fs": _patch_pyarrow_fs,
    "pyarrow.parquet.core": _patch_pyarrow_parquet,
    "pandas.io.parquet": _patch_pandas_parquet,
}


class _SessionHook:
    """Finds nothing itself: when a module of `_PATCHES` is imported, asks the finders after it,
    and patches the module once it has run."""

    def __init__(self):
        self.waiting = set(_PATCHES)

    def find_spec(self, name, path=None, target=None):
        if name not in self.waiting:
            return None
        self.waiting.discard(name)
        patch = _PATCHES[name]
        if not self.waiting:
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
        for finder in sys.meta_path:
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_and_patch(module):
            try:
                del loader.exec_module
            except Exception:
                pass
            exec_module(module)
            try:
                patch(module)
            except Exception:
                pass

        try:
            loader.exec_module = exec_and_patch
        except Exception:
            pass
        return spec

    def invalidate_caches(self):
        pass


def _install():
    hook = _SessionHook()
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            hook.waiting.discard(name)
            patch(module)
    if hook.waiting:
        sys.meta_path.insert(0, hook)


def _chain():
    """Runs the `sitecustomize` that this one hides, if any, as Python would have."""
    own = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    try:
        sys.path[:] = [
            entry
            for entry in sys.path
            if os.path.abspath(entry or os.curdir) != _HERE
        ]
        try:
            import sitecustomize  # noqa: F401  (the user's own)
        except ImportError as error:
            if error.name != "sitecustomize":
                raise
    finally:
        sys.path[:] = saved
        if "sitecustomize" not in sys.modules and own is not None:
            sys.modules["sitecustomize"] = own


def _keep_bytecode():
    """Python caches this file's bytecode beside it, in tollgate's data directory, at the first
    start; under PYTHONDONTWRITEBYTECODE=1 (common in container images) it would compile it again
    at every start instead (about 5 ms). Writes that one cache file, once: the user's own
    directories are left as the variable asks."""
    if not sys.dont_write_bytecode or __name__ != "sitecustomize":
        return
    cached = getattr(globals().get("__spec__"), "cached", None)
    if cached and not os.path.exists(cached):
        import py_compile

        py_compile.compile(__file__, cfile=cached, doraise=True)


try:
    _install()
except Exception:
    pass
try:
    _keep_bytecode()
except Exception:
    pass
_chain()
