"""Unit tests of the call-site bootstrap (sitecustomize.py beside this file), run with pytest by
tests/integration/callsites.rs: how a file is shown, how a test id and a header value are made,
and that the walk skips the SDK. Loads the bootstrap under another name, so that nothing is
installed in the interpreter running the tests beyond one inert finder."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    spec = importlib.util.spec_from_file_location(
        "tollgate_bootstrap_under_test", os.path.join(HERE, "sitecustomize.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The finder it put on sys.meta_path (botocore may already be imported: then none).
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_SessionHook"]
    return module


boot = load()


def test_files_in_the_working_directory_are_relative(monkeypatch):
    monkeypatch.setattr(boot, "_ROOT", "/home/ann/project")
    monkeypatch.setattr(boot, "_shown", {})
    assert boot._show("/home/ann/project/sync.py") == "sync.py"
    assert boot._show("/home/ann/project/pkg/a.py") == "pkg/a.py"
    # A sibling whose name starts the same is not inside.
    assert not boot._show("/home/ann/project2/x.py").startswith("/")


def test_files_elsewhere_are_shown_by_their_path_inside_sys_path(monkeypatch):
    monkeypatch.setattr(boot, "_ROOT", "/home/ann/project")
    monkeypatch.setattr(boot, "_shown", {})
    monkeypatch.setattr(
        sys, "path", ["", "/home/ann/.venv/lib/python3.11/site-packages", "/usr/lib/python3.11"]
    )
    assert (
        boot._show("/home/ann/.venv/lib/python3.11/site-packages/pandas/io/s3.py")
        == "pandas/io/s3.py"
    )
    assert boot._show("/usr/lib/python3.11/json/decoder.py") == "json/decoder.py"
    # Elsewhere in the home directory: from `~`, never the absolute path; elsewhere still, the
    # last two parts.
    monkeypatch.setattr(boot, "_HOME", "/home/ann")
    assert boot._show("/home/ann/other/tool/run.py") == "~/other/tool/run.py"
    assert boot._show("/opt/tools/bin/run.py") == "bin/run.py"
    assert boot._show("<string>") == "<string>"


def test_test_ids_lose_their_phase():
    assert boot._test_id("tests/t.py::test_a (call)") == "tests/t.py::test_a"
    assert boot._test_id("tests/t.py::test_b[x (1)] (setup)") == "tests/t.py::test_b[x (1)]"
    assert boot._test_id("tests/t.py::test_c") == "tests/t.py::test_c"


def test_header_values_are_printable_ascii():
    assert boot._header_value("sync.py:42 copy_all") == "sync.py:42 copy_all"
    assert boot._header_value("café.py:1 f") == "caf%C3%A9.py:1 f"
    assert boot._header_value("a%b\n") == "a%25b%0A"


def test_the_walk_skips_the_sdk_and_stops_at_the_caller():
    namespace = {"__name__": "botocore.client", "walk": boot._walk, "sys": sys}
    exec("def sdk():\n    return walk(sys._getframe())\n", namespace)
    site = namespace["sdk"]()  # the line the test calls from
    path, _, function = site.partition(" ")
    assert path.endswith("test_sitecustomize.py:%d" % (sys._getframe().f_lineno - 2))
    assert function == "test_the_walk_skips_the_sdk_and_stops_at_the_caller"


def test_the_handler_never_answers_and_never_raises():
    class Request:
        headers = {}

    request = Request()
    assert boot._before_send(request=request) is None
    assert "x-tollgate-callsite" in request.headers
    assert boot._before_send(request=None) is None


def test_the_operation_is_named_from_the_event_and_nothing_else():
    assert boot._operation("before-send.s3.GetObject") == "GetObject"
    assert boot._operation("before-send.api-gateway.GetRestApis") == "GetRestApis"
    assert boot._operation(None) is None
    assert boot._operation("before-send.s3.") is None
    assert boot._operation("before-send.s3.Get Object") is None
    assert boot._operation("before-send.s3." + "A" * 129) is None

    class Request:
        headers = {}

    request = Request()
    boot._before_send(request=request, event_name="before-send.s3.ListObjectsV2")
    assert request.headers["x-tollgate-operation"] == "ListObjectsV2"


def test_pyarrow_is_left_alone_without_a_proxy_or_an_s3_uri(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert boot._proxied_s3("s3://bucket/key.parquet") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert boot._proxied_s3("/local/file.parquet") is None
    assert boot._proxied_s3("gs://bucket/key") is None
    assert boot._proxied_s3(None) is None
    # A URI with options (`?region=...`) is pyarrow's to read: left alone.
    assert boot._proxied_s3("s3://bucket/key?region=eu-west-1") is None


def test_the_wrapped_resolver_passes_a_given_filesystem_through():
    class Module:
        @staticmethod
        def _resolve_filesystem_and_path(path, filesystem=None, **kwargs):
            return ("original", path, filesystem)

    boot._patch_pyarrow_fs(Module)
    mine = object()
    assert Module._resolve_filesystem_and_path("s3://b/k", mine) == ("original", "s3://b/k", mine)
    assert Module._resolve_filesystem_and_path._tollgate


def test_its_bytecode_is_cached_once_even_under_pythondontwritebytecode(tmp_path):
    import shutil
    import subprocess

    shutil.copy(os.path.join(HERE, "sitecustomize.py"), tmp_path / "sitecustomize.py")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    script = "import sys; print(sys.modules['sitecustomize'].__file__)"
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(tmp_path / "sitecustomize.py")
    cached = list((tmp_path / "__pycache__").glob("sitecustomize.*.pyc"))
    assert len(cached) == 1, cached
    written = cached[0].stat().st_mtime_ns
    second = subprocess.run([sys.executable, "-c", "pass"], env=env)
    assert second.returncode == 0
    assert cached[0].stat().st_mtime_ns == written
    # Nothing else was cached: the variable still holds for everything else.
    assert [p.name for p in (tmp_path / "__pycache__").iterdir()] == [cached[0].name]


def test_pyarrow_gets_the_labels_as_proxy_credentials():
    labels = {"x-tollgate-callsite": "etl.py:12 load", "x-tollgate-test": "t.py::a&b"}
    options = boot._proxy_options("http://127.0.0.1:8877", labels)
    assert options == {
        "scheme": "http",
        "host": "127.0.0.1",
        "port": 8877,
        "username": "tollgate",
        "password": "callsite=etl.py:12 load&test=t.py::a%26b",
    }
    # No labels, or a proxy with credentials of its own: the proxy as it was.
    assert boot._proxy_options("http://127.0.0.1:8877", {}) == "http://127.0.0.1:8877"
    assert boot._proxy_options("http://u:p@127.0.0.1:8877", labels) == "http://u:p@127.0.0.1:8877"
