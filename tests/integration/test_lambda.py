"""hydrant's Lambda (issue 13): boto3's lambda client against the real
binary, functions built here with zipfile and run by hydrant's runtime on
Debian's /usr/bin/python3 and /usr/bin/node.

Covered: create / list / get / get-configuration / update-code / delete
for a python3.11 and a nodejs20.x function; invoke with the payload round
trip, the context object and environment variables; an exception (AWS's
FunctionError Unhandled and error payload); a timeout (the worker is
killed and replaced); a crash; the memory limit; the function's output in
hydrant's log; worker reuse (a module-level counter); a restart keeps the
functions; --lambda-runtime=off refuses code; AWS's errors for bad input
(the zip's path traversal, constraints, an unknown function, Event
invocations run in the background). The unsigned / wrongly signed battery is
test_trust_boundary.py, generated from the router's table.
"""
import base64
import io
import json
import time
import zipfile

import botocore.exceptions
import pytest

from conftest import Hydrant, signed_request, wait_for

ROLE_ARN = "arn:aws:iam::000000000000:role/lambda-role"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})

PY_APP = '''
import os
import time

count = 0

def handler(event, context):
    global count
    started = time.time()
    count += 1
    print("py says hello", count, flush=True)
    if event.get("raise"):
        raise ValueError("no good: " + event["raise"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(event["exit"])
    if event.get("alloc_mb"):
        blob = bytearray(event["alloc_mb"] << 20)
        return {"allocated": len(blob)}
    return {
        "event": event,
        "count": count,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ("GREETING", "AWS_REGION",
                                               "AWS_LAMBDA_FUNCTION_NAME",
                                               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                               "LAMBDA_TASK_ROOT")},
        "version": 1,
        "span": [started, time.time()],
    }
'''

NODE_APP = '''
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log("node says hello", count);
  if (event.raise) throw new TypeError("node no good: " + event.raise);
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  return {
    event, count, pid: process.pid,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    memory: context.memoryLimitInMB,
    arn: context.invokedFunctionArn,
    logGroup: context.logGroupName,
    remaining: context.getRemainingTimeInMillis(),
    greeting: process.env.GREETING,
  };
};
'''


def make_zip(files):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
    return b.getvalue()


def setup_role(h):
    h.client("iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument=TRUST)


@pytest.fixture
def lam(hydrant):
    setup_role(hydrant)
    return hydrant.client("lambda", validate=True)


def create(lam, name, runtime="python3.11", files=None, handler=None, **kw):
    if files is None:
        files = {"app.py": PY_APP} if runtime.startswith("python") else {"index.js": NODE_APP}
    if handler is None:
        handler = "app.handler" if runtime.startswith("python") else "index.handler"
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE_ARN,
                               Handler=handler, Code={"ZipFile": make_zip(files)}, **kw)


def invoke(lam, name, event=None, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


# ---- the life cycle ---------------------------------------------------------
def test_python_function_life_cycle(hydrant, lam):
    cfg = create(lam, "py-fn", Environment={"Variables": {"GREETING": "hi there"}},
                 Description="a test", Timeout=5, MemorySize=256)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:py-fn"
    assert cfg["FunctionArn"] == arn
    assert cfg["Runtime"] == "python3.11" and cfg["Handler"] == "app.handler"
    assert cfg["Timeout"] == 5 and cfg["MemorySize"] == 256
    assert cfg["Description"] == "a test" and cfg["Version"] == "$LATEST"
    assert cfg["Environment"]["Variables"] == {"GREETING": "hi there"}
    assert cfg["CodeSize"] > 0 and len(base64.b64decode(cfg["CodeSha256"])) == 32
    assert cfg["State"] == "Active"

    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert names == ["py-fn"]
    got = lam.get_function(FunctionName="py-fn")
    assert got["Configuration"]["CodeSha256"] == cfg["CodeSha256"]
    assert lam.get_function_configuration(FunctionName=arn)["FunctionArn"] == arn

    r, out = invoke(lam, "py-fn", {"hello": "world", "n": [1, 2, 3]})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert r["ExecutedVersion"] == "$LATEST"
    assert out["event"] == {"hello": "world", "n": [1, 2, 3]}
    assert out["function_name"] == "py-fn" and out["function_version"] == "$LATEST"
    assert out["memory"] == "256" and out["arn"] == arn
    assert out["log_group"] == "/aws/lambda/py-fn" and "[$LATEST]" in out["log_stream"]
    assert 0 < out["remaining"] <= 5000
    assert len(out["request_id"]) == 36
    assert out["env"]["GREETING"] == "hi there"
    assert out["env"]["AWS_REGION"] == "us-east-1"
    assert out["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "py-fn"
    assert out["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"

    # reuse: the module-level counter goes on in the same worker
    _, again = invoke(lam, "py-fn", {})
    assert again["count"] == out["count"] + 1 and again["pid"] == out["pid"]
    assert again["request_id"] != out["request_id"]
    # by partial ARN too
    _, third = invoke(lam, "000000000000:function:py-fn", {})
    assert third["count"] == again["count"] + 1

    # the function's print() is in hydrant's log, tagged with its name
    wait_for(lambda: "[lambda:py-fn] py says hello" in hydrant.read_log(), timeout=5)

    # new code applies to the next invocation
    new = lam.update_function_code(FunctionName="py-fn", ZipFile=make_zip(
        {"app.py": PY_APP.replace('"version": 1', '"version": 2')}))
    assert new["CodeSha256"] != cfg["CodeSha256"] and new["RevisionId"] != cfg["RevisionId"]
    _, v2 = invoke(lam, "py-fn", {})
    assert v2["version"] == 2 and v2["count"] == 1  # a fresh worker
    assert v2["pid"] != out["pid"]

    lam.delete_function(FunctionName="py-fn")
    assert lam.list_functions()["Functions"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(lam, "py-fn", {})
    assert error_code(e) == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found: " + arn in str(e.value)


def test_node_function_life_cycle(hydrant, lam):
    cfg = create(lam, "node-fn", runtime="nodejs20.x",
                 Environment={"Variables": {"GREETING": "hallo"}})
    assert cfg["Runtime"] == "nodejs20.x" and cfg["Timeout"] == 3
    assert cfg["MemorySize"] == 128
    r, out = invoke(lam, "node-fn", {"k": "v"})
    assert "FunctionError" not in r, out
    assert out["event"] == {"k": "v"} and out["count"] == 1
    assert out["functionName"] == "node-fn" and out["memory"] == "128"
    assert out["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:node-fn"
    assert out["logGroup"] == "/aws/lambda/node-fn" and out["greeting"] == "hallo"
    assert 0 < out["remaining"] <= 3000 and len(out["requestId"]) == 36
    _, again = invoke(lam, "node-fn", {})
    assert again["count"] == 2 and again["pid"] == out["pid"]
    # console.log in AWS's line format, in hydrant's log
    wait_for(lambda: "INFO\tnode says hello 2" in hydrant.read_log(), timeout=5)
    log = hydrant.read_log()
    assert "[lambda:node-fn]" in log and again["requestId"] in log

    r, err = invoke(lam, "node-fn", {"raise": "badly"})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "TypeError" and err["errorMessage"] == "node no good: badly"
    assert isinstance(err["trace"], list) and err["trace"][0].startswith("TypeError")

    lam.update_function_code(FunctionName="node-fn", ZipFile=make_zip(
        {"index.js": "exports.handler = async (e) => ({ v: 2, e });\n"}))
    _, v2 = invoke(lam, "node-fn", {"x": 1})
    assert v2 == {"v": 2, "e": {"x": 1}}
    lam.delete_function(FunctionName="node-fn")
    assert lam.list_functions()["Functions"] == []


def test_node_es_module_and_callback_handlers(lam):
    create(lam, "esm-fn", runtime="nodejs20.x", handler="index.handler",
           files={"index.mjs": "export const handler = async (e) => ({ esm: true, e });\n"})
    _, out = invoke(lam, "esm-fn", {"a": 1})
    assert out == {"esm": True, "e": {"a": 1}}
    create(lam, "cb-fn", runtime="nodejs20.x", handler="lib/h.go",
           files={"lib/h.js": "exports.go = (e, ctx, cb) => setTimeout(() => cb(null, "
                              "{ cb: e.n * 2 }), 10);\n"})
    _, out = invoke(lam, "cb-fn", {"n": 21})
    assert out == {"cb": 42}


# ---- failures inside the function --------------------------------------------
def test_python_exception_is_unhandled_function_error(lam):
    create(lam, "boom")
    r, err = invoke(lam, "boom", {"raise": "on purpose"})
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "ValueError"
    assert err["errorMessage"] == "no good: on purpose"
    assert isinstance(err["stackTrace"], list) and "in handler" in err["stackTrace"][0]
    assert len(err["requestId"]) == 36
    # the worker survives an exception
    r, out = invoke(lam, "boom", {})
    assert "FunctionError" not in r and out["count"] == 2


def test_timeout_kills_and_replaces_the_worker(hydrant, lam):
    create(lam, "slow", Timeout=1)
    _, first = invoke(lam, "slow", {})
    t0 = time.monotonic()
    r, err = invoke(lam, "slow", {"sleep": 30})
    assert time.monotonic() - t0 < 10
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert "Task timed out after 1.00 seconds" in hydrant.read_log()
    r, out = invoke(lam, "slow", {})
    assert "FunctionError" not in r
    assert out["pid"] != first["pid"] and out["count"] == 1  # a new worker


def test_crash_is_runtime_exit_error_and_the_worker_restarts(lam):
    create(lam, "crash")
    _, first = invoke(lam, "crash", {})
    r, err = invoke(lam, "crash", {"exit": 3})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in err["errorMessage"]
    r, out = invoke(lam, "crash", {})
    assert "FunctionError" not in r and out["pid"] != first["pid"]


def test_memory_limit(lam):
    create(lam, "hungry", MemorySize=128)
    r, out = invoke(lam, "hungry", {"alloc_mb": 16})
    assert "FunctionError" not in r and out == {"allocated": 16 << 20}
    r, err = invoke(lam, "hungry", {"alloc_mb": 512})
    assert r["FunctionError"] == "Unhandled" and err["errorType"] == "MemoryError"


def test_node_memory_limit(lam):
    """node gets --max-old-space-size from MemorySize: a heap past it ends
    the worker (Runtime.ExitError, as on AWS), and the next invocation
    gets a new one."""
    create(lam, "node-hungry", runtime="nodejs20.x", MemorySize=128, files={"index.js": (
        "exports.handler = async (e) => {\n"
        "  const keep = [];\n"
        "  for (let i = 0; i < e.mb; i++) keep.push(new Array(1 << 17).fill(i));\n"
        "  return { kept: keep.length, pid: process.pid };\n"
        "};\n")})
    r, out = invoke(lam, "node-hungry", {"mb": 4})
    assert "FunctionError" not in r and out["kept"] == 4
    r, err = invoke(lam, "node-hungry", {"mb": 400})
    assert r["FunctionError"] == "Unhandled" and err["errorType"] == "Runtime.ExitError", err
    r, again = invoke(lam, "node-hungry", {"mb": 1})
    assert "FunctionError" not in r and again["pid"] != out["pid"]


def test_import_errors_are_aws_runtime_errors(lam):
    create(lam, "no-module", handler="missing.handler")
    r, err = invoke(lam, "no-module", {})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'missing'" in err["errorMessage"]
    create(lam, "no-handler", handler="app.nothere")
    r, err = invoke(lam, "no-handler", {})
    assert err["errorType"] == "Runtime.HandlerNotFound"
    create(lam, "bad-syntax", files={"app.py": "def handler(e, c)\n    return 1\n"})
    r, err = invoke(lam, "bad-syntax", {})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Runtime.UserCodeSyntaxError"
    assert "Syntax error in module 'app'" in err["errorMessage"]
    create(lam, "node-missing", runtime="nodejs20.x", handler="nope.handler")
    r, err = invoke(lam, "node-missing", {})
    assert err["errorType"] == "Runtime.ImportModuleError"
    create(lam, "node-no-export", runtime="nodejs20.x", handler="index.nothere")
    r, err = invoke(lam, "node-no-export", {})
    assert err["errorType"] == "Runtime.HandlerNotFound"


def test_response_not_json_serializable(lam):
    create(lam, "marshal", files={"app.py": "def handler(e, c):\n    return {1, 2}\n"})
    r, err = invoke(lam, "marshal", {})
    assert r["FunctionError"] == "Unhandled" and err["errorType"] == "Runtime.MarshalError"


# ---- the API's own errors ------------------------------------------------------
def test_create_errors(hydrant, lam):
    create(lam, "dup")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, "dup")
    assert error_code(e) == "ResourceConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    raw = hydrant.client("lambda")  # no client-side validation
    for kw, code in [({"Timeout": 901}, "InvalidParameterValueException"),
                     ({"Timeout": 0}, "ValidationException"),
                     ({"MemorySize": 64}, "ValidationException"),
                     ({"MemorySize": 10241}, "ValidationException"),
                     ({"Runtime": "java17"}, "InvalidParameterValueException"),
                     ({"Role": "not-a-role"}, "ValidationException"),
                     ({"Role": "arn:aws:iam::000000000000:role/nobody"},
                      "InvalidParameterValueException"),
                     ({"FunctionName": "bad name!"}, "ValidationException"),
                     ({"Environment": {"Variables": {"AWS_REGION": "x"}}},
                      "InvalidParameterValueException"),
                     ({"Environment": {"Variables": {"BIG": "x" * 5000}}},
                      "InvalidParameterValueException"),
                     ({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:x:1"]},
                      "InvalidParameterValueException")]:
        args = dict(FunctionName="bad", Runtime="python3.11", Role=ROLE_ARN,
                    Handler="app.handler", Code={"ZipFile": make_zip({"app.py": PY_APP})})
        args.update(kw)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            raw.create_function(**args)
        assert error_code(e) == code, (kw, e.value.response)
        assert e.value.response["Error"]["Message"], kw
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["dup"]


def test_zip_path_traversal_and_bad_zips_are_refused(hydrant, lam):
    for files in ({"../evil.py": "x = 1\n"}, {"/abs/evil.py": "x = 1\n"},
                  {"ok/../../evil.py": "x = 1\n"}):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create(lam, "evil", files=files)
        assert error_code(e) == "InvalidParameterValueException"
        assert "Could not unzip uploaded file" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName="evil", Runtime="python3.11", Role=ROLE_ARN,
                            Handler="app.handler", Code={"ZipFile": b"this is no zip"})
    assert error_code(e) == "InvalidParameterValueException"
    import os
    assert not os.path.exists(os.path.join(hydrant.data_dir, "..", "evil.py"))
    assert not os.path.exists(os.path.join(hydrant.data_dir, "lambda", "us-east-1", "evil.py"))
    assert lam.list_functions()["Functions"] == []


def test_invoke_errors(hydrant, lam):
    create(lam, "fn")
    r = lam.invoke(FunctionName="fn", InvocationType="DryRun", Payload=b"{}")
    assert r["StatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="fn", Payload=b"{not json")
    assert error_code(e) == "InvalidRequestContentException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="fn", Qualifier="7", Payload=b"{}")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:other",
                   Payload=b"{}")
    assert error_code(e) == "ResourceNotFoundException"
    r, out = invoke(lam, "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST", {})
    assert out["function_name"] == "fn"
    # the answer's shape on the wire: x-amzn-ErrorType and {"Type","message"}
    status, headers, body = signed_request(
        hydrant, "GET", "/2015-03-31/functions/nope", service="lambda")
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    doc = json.loads(body)
    assert doc["Type"] == "User" and "Function not found" in doc["Message"]
    # too large a payload
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="fn", Payload=b'"' + b"x" * (6 << 20) + b'"')
    assert error_code(e) in ("RequestTooLargeException", "RequestEntityTooLargeException")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    # asynchronous invocation: 256 KB at most
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="fn", InvocationType="Event",
                   Payload=b'"' + b"x" * (256 << 10) + b'"')
    assert error_code(e) == "RequestTooLargeException"
    assert "262144 bytes for the InvokeAsync operation" in str(e.value)


def test_event_invocation_runs_in_the_background(hydrant, lam):
    create(lam, "bg", files={"app.py": (
        "import time\n"
        "def handler(e, c):\n"
        "    time.sleep(1)\n"
        "    print('background job', e['job'], 'done by', c.aws_request_id, flush=True)\n"
        "    return 'ignored'\n")})
    r = lam.invoke(FunctionName="bg", InvocationType="Event", Payload=b'{"job": 42}')
    assert r["StatusCode"] == 202 and r["Payload"].read() == b""
    assert "background job 42 done" not in hydrant.read_log()  # answered before it ran
    wait_for(lambda: "background job 42 done by" in hydrant.read_log(), timeout=10)
    # a failing event is retried (after one minute, as AWS): its first
    # failure is logged
    create(lam, "bg-fail", files={"app.py": (
        "def handler(e, c):\n    raise ValueError('async boom')\n")})
    r = lam.invoke(FunctionName="bg-fail", InvocationType="Event", Payload=b"{}")
    assert r["StatusCode"] == 202
    wait_for(lambda: "asynchronous invocation, attempt 1 of 3 failed" in hydrant.read_log(),
             timeout=10)
    assert "async boom" in hydrant.read_log()


def test_list_functions_pages(lam):
    for i in range(3):
        create(lam, "page-%d" % i)
    first = lam.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in first["Functions"]] == ["page-0", "page-1"]
    rest = lam.list_functions(MaxItems=2, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in rest["Functions"]] == ["page-2"]
    assert "NextMarker" not in rest


# ---- durability and the off switch ----------------------------------------------
def test_restart_keeps_functions(tmp_path):
    h = Hydrant(str(tmp_path / "data")).start()
    try:
        setup_role(h)
        lam = h.client("lambda")
        create(lam, "keeper", Environment={"Variables": {"GREETING": "still here"}})
        create(lam, "keeper-node", runtime="nodejs20.x")
        _, before = invoke(lam, "keeper", {})
        h.restart()
        lam = h.client("lambda")
        names = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])
        assert names == ["keeper", "keeper-node"]
        r, out = invoke(lam, "keeper", {"after": "restart"})
        assert "FunctionError" not in r and out["event"] == {"after": "restart"}
        assert out["env"]["GREETING"] == "still here" and out["count"] == 1
        _, node = invoke(lam, "keeper-node", {"n": 1})
        assert node["event"] == {"n": 1}
    finally:
        assert h.stop() == 0


def test_runtime_off_refuses_code(make_hydrant):
    h = make_hydrant("--lambda-runtime=off")
    setup_role(h)
    lam = h.client("lambda")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, "refused")
    assert error_code(e) == "InvalidParameterValueException"
    assert "--lambda-runtime=off" in str(e.value)
    assert lam.list_functions()["Functions"] == []


def test_workers_are_reaped_at_stop(tmp_path):
    import os
    h = Hydrant(str(tmp_path / "data")).start()
    setup_role(h)
    lam = h.client("lambda")
    create(lam, "reaped")
    create(lam, "reaped-node", runtime="nodejs20.x")
    pids = [invoke(lam, "reaped", {})[1]["pid"], invoke(lam, "reaped-node", {})[1]["pid"]]
    assert h.stop() == 0

    def gone(pid):
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True
    for pid in pids:
        wait_for(lambda: gone(pid), timeout=5)


def test_no_descriptors_or_children_leak(hydrant, lam):
    """Timeouts, crashes, exceptions and code updates leave hydrant with
    the descriptors and child processes it had: every killed worker is
    reaped and its three pipes closed."""
    import os
    create(lam, "leaky", Timeout=1)
    invoke(lam, "leaky", {})
    pid = hydrant.proc.pid

    def fds():
        return len(os.listdir("/proc/%d/fd" % pid))

    def children():
        out = []
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += f.read().split()
        return sorted(out)

    def zombies():
        zs = []
        for c in children():
            try:
                with open("/proc/%s/stat" % c) as f:
                    if f.read().split(")")[-1].split()[0] == "Z":
                        zs.append(c)
            except FileNotFoundError:
                pass
        return zs

    base_fds, base_children = fds(), len(children())
    for i in range(3):
        invoke(lam, "leaky", {"sleep": 5})         # timeout: killed
        invoke(lam, "leaky", {"exit": 1})          # crash
        invoke(lam, "leaky", {"raise": "x"})       # exception: worker kept
    lam.update_function_code(FunctionName="leaky", ZipFile=make_zip({"app.py": PY_APP}))
    invoke(lam, "leaky", {})
    assert zombies() == []
    wait_for(lambda: fds() == base_fds, timeout=5)
    assert len(children()) == base_children
    lam.delete_function(FunctionName="leaky")
    wait_for(lambda: children() == [], timeout=5)
    assert fds() == base_fds - 3  # the deleted function's one worker: 3 pipes


def test_pool_serves_concurrent_invocations(make_hydrant):
    """--lambda-workers 2: four concurrent invocations run two at a time
    on at most two workers, and every one gets its answer."""
    import concurrent.futures
    h = make_hydrant("--lambda-workers", "2", "--threads", "8")
    setup_role(h)
    lam = h.client("lambda")
    create(lam, "pooled", Timeout=30)
    invoke(lam, "pooled", {})

    def one(i):
        c = h.client("lambda", config_kw={"read_timeout": 60})
        return invoke(c, "pooled", {"sleep": 1, "i": i})[1]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(one, range(4)))
    assert sorted(o["event"]["i"] for o in outs) == [0, 1, 2, 3]
    assert len({o["pid"] for o in outs}) == 2
    # how many ran at once, from the functions' own clocks: two workers
    # ran in parallel, never more
    spans = [o["span"] for o in outs]
    most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert most == 2, spans


def test_large_payloads_and_the_6mb_response_limit(lam):
    create(lam, "big", MemorySize=512, files={"app.py": (
        "def handler(e, c):\n"
        "    return {'echo': e['blob'], 'pad': 'y' * e['pad']}\n")})
    create(lam, "big-node", runtime="nodejs20.x", MemorySize=512, files={"index.js": (
        "exports.handler = async (e) => ({ echo: e.blob, pad: 'y'.repeat(e.pad) });\n")})
    blob = "x" * (5 << 20)
    for name in ("big", "big-node"):
        r, out = invoke(lam, name, {"blob": blob, "pad": 0})
        assert "FunctionError" not in r and out["echo"] == blob, name
        r, err = invoke(lam, name, {"blob": "", "pad": 7 << 20})
        assert r["FunctionError"] == "Unhandled", name
        assert err["errorType"] == "Function.ResponseSizeTooLarge", name
        assert "6291556 bytes" in err["errorMessage"]
        # the worker read past the oversized answer and goes on
        r, out = invoke(lam, name, {"blob": "ok", "pad": 1})
        assert out == {"echo": "ok", "pad": "y"}, name


def test_a_long_invocation_holds_no_http_thread(make_hydrant):
    """With one HTTP thread, a function running for seconds does not stop
    hydrant from answering other requests (Invoke answers from a thread
    of its own); SIGTERM waits for it."""
    import concurrent.futures
    h = make_hydrant("--threads", "1")
    setup_role(h)
    lam = h.client("lambda")
    create(lam, "long", Timeout=30)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(lambda: invoke(h.client("lambda", config_kw={"read_timeout": 60}),
                                       "long", {"sleep": 3}))
        wait_for(lambda: "START RequestId" in h.read_log(), timeout=10)
        assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["long"]
        h.client("firehose").list_delivery_streams()
        assert not fut.done()  # both answered while the function still ran
        r, out = fut.result()
    assert "FunctionError" not in r and out["event"] == {"sleep": 3}


def test_sigterm_answers_the_invocations_in_flight(tmp_path):
    import concurrent.futures
    h = Hydrant(str(tmp_path / "data")).start()
    setup_role(h)
    create(h.client("lambda"), "finishing", Timeout=30)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(lambda: invoke(h.client("lambda", config_kw={"read_timeout": 60}),
                                       "finishing", {"sleep": 2}))
        wait_for(lambda: "START RequestId" in h.read_log(), timeout=10)
        assert h.stop() == 0
        r, out = fut.result()
    assert "FunctionError" not in r and out["event"] == {"sleep": 2}


def test_log_type_tail(lam):
    create(lam, "tail")
    create(lam, "tail-node", runtime="nodejs20.x")
    for name, line in (("tail", "py says hello 1"), ("tail-node", "node says hello 1")):
        r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        out = json.loads(r["Payload"].read())
        rid = out.get("request_id") or out.get("requestId")
        log = base64.b64decode(r["LogResult"]).decode()
        lines = log.splitlines()
        assert lines[0] == "START RequestId: %s Version: $LATEST" % rid, log
        assert any(line in l for l in lines), log
        assert "END RequestId: " + rid in log
        assert lines[-1].startswith("REPORT RequestId: " + rid) and "Memory Size: 128 MB" in log
        assert "LogResult" not in lam.invoke(FunctionName=name, Payload=b"{}")
    # the last 4 KB only
    create(lam, "chatty", files={"app.py": (
        "def handler(e, c):\n"
        "    for i in range(500):\n"
        "        print('line %04d' % i)\n")})
    log = base64.b64decode(lam.invoke(FunctionName="chatty", Payload=b"{}",
                                      LogType="Tail")["LogResult"]).decode()
    assert len(log) <= 4096 and "line 0499" in log and "line 0000" not in log


def test_update_function_configuration(hydrant, lam):
    cfg = create(lam, "conf", Environment={"Variables": {"GREETING": "one"}})
    _, before = invoke(lam, "conf", {})
    assert before["env"]["GREETING"] == "one" and before["memory"] == "128"
    new = lam.update_function_configuration(
        FunctionName="conf", MemorySize=256, Timeout=10, Description="changed",
        Environment={"Variables": {"GREETING": "two"}}, RevisionId=cfg["RevisionId"])
    assert new["MemorySize"] == 256 and new["Timeout"] == 10
    assert new["Description"] == "changed" and new["CodeSha256"] == cfg["CodeSha256"]
    assert new["Environment"]["Variables"] == {"GREETING": "two"}
    assert new["RevisionId"] != cfg["RevisionId"] and new["Handler"] == "app.handler"
    _, after = invoke(lam, "conf", {})
    assert after["env"]["GREETING"] == "two" and after["memory"] == "256"
    assert after["pid"] != before["pid"] and 5000 < after["remaining"] <= 10000
    got = lam.get_function_configuration(FunctionName="conf")
    assert got["MemorySize"] == 256 and got["Description"] == "changed"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName="conf", Timeout=5,
                                          RevisionId=cfg["RevisionId"])
    assert error_code(e) == "PreconditionFailedException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        hydrant.client("lambda").update_function_configuration(FunctionName="conf",
                                                               MemorySize=64)
    assert error_code(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName="conf", Layers=["arn:aws:lambda:"
                                          "us-east-1:000000000000:layer:l:1"])
    assert error_code(e) == "InvalidParameterValueException"
    # the handler can move to another module of the same code
    lam.update_function_code(FunctionName="conf", ZipFile=make_zip(
        {"app.py": PY_APP, "other.py": "def go(e, c):\n    return 'other'\n"}))
    lam.update_function_configuration(FunctionName="conf", Handler="other.go")
    assert invoke(lam, "conf", {})[1] == "other"
    assert lam.get_function(FunctionName="conf")["Configuration"]["MemorySize"] == 256


def test_without_bootstrap_scripts_the_server_starts_and_says_so(tmp_path, monkeypatch):
    """A binary with no src/lambda_runtime (or share/hydrant/lambda_runtime)
    next to it still serves everything else; functions are refused with a
    message naming --lambda-runtime-dir. A --lambda-runtime-dir without the
    scripts is refused at start."""
    import shutil
    import subprocess
    import conftest
    lone = tmp_path / "bin" / "hydrant"
    lone.parent.mkdir()
    shutil.copy(conftest.BIN, lone)
    monkeypatch.setattr(conftest, "BIN", str(lone))
    h = Hydrant(str(tmp_path / "data")).start()
    try:
        assert "no Lambda bootstrap scripts next to the binary" in h.read_log()
        setup_role(h)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create(h.client("lambda"), "nowhere")
        assert error_code(e) == "InvalidParameterValueException"
        assert "--lambda-runtime-dir" in str(e.value)
        assert h.client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []
    finally:
        assert h.stop() == 0
    out = subprocess.run([str(lone), "--port", "0", "--data-dir", str(tmp_path / "d2"),
                          "--lambda-runtime-dir", str(tmp_path)], capture_output=True,
                         timeout=30)
    assert out.returncode != 0 and b"has no bootstrap.py" in out.stderr


def test_aws_cli_lambda_commands(hydrant, tmp_path):
    """Debian's AWS CLI v2 (/usr/bin/aws): create-function from a zip file,
    list, invoke into a file, update-function-code, delete."""
    import os
    import subprocess

    def aws(*args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        r = subprocess.run(["/usr/bin/aws", "--endpoint-url", hydrant.endpoint, *args],
                           env=env, capture_output=True, timeout=120)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout.decode()
    setup_role(hydrant)
    z = tmp_path / "fn.zip"
    z.write_bytes(make_zip({"app.py": PY_APP}))
    created = json.loads(aws("lambda", "create-function", "--function-name", "cli-fn",
                             "--runtime", "python3.11", "--handler", "app.handler",
                             "--role", ROLE_ARN, "--zip-file", "fileb://%s" % z,
                             "--environment", "Variables={GREETING=from-cli}"))
    assert created["FunctionArn"].endswith(":function:cli-fn")
    listed = json.loads(aws("lambda", "list-functions"))
    assert [f["FunctionName"] for f in listed["Functions"]] == ["cli-fn"]
    out = tmp_path / "out.json"
    meta = json.loads(aws("lambda", "invoke", "--function-name", "cli-fn",
                          "--cli-binary-format", "raw-in-base64-out",
                          "--payload", '{"from": "cli"}', str(out)))
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    result = json.loads(out.read_text())
    assert result["event"] == {"from": "cli"} and result["env"]["GREETING"] == "from-cli"
    meta = json.loads(aws("lambda", "invoke", "--function-name", "cli-fn",
                          "--cli-binary-format", "raw-in-base64-out", "--log-type", "Tail",
                          "--payload", '{"raise": "cli"}', str(out)))
    assert meta["FunctionError"] == "Unhandled"
    assert "py says hello" in base64.b64decode(meta["LogResult"]).decode()
    z.write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    aws("lambda", "update-function-code", "--function-name", "cli-fn",
        "--zip-file", "fileb://%s" % z)
    aws("lambda", "invoke", "--function-name", "cli-fn", str(out))
    assert json.loads(out.read_text()) == "v2"
    aws("lambda", "delete-function", "--function-name", "cli-fn")
    assert json.loads(aws("lambda", "list-functions"))["Functions"] == []


# ---- the Firehose pipeline's Lambda processor, end to end ------------------------
FH_TRANSFORM = '''
import base64, json

def handler(event, context):
    out = []
    for r in event["records"]:
        d = json.loads(base64.b64decode(r["data"]))
        if d["kind"] == "drop":
            out.append({"recordId": r["recordId"], "result": "Dropped"})
        elif d["kind"] == "bad":
            out.append({"recordId": r["recordId"], "result": "ProcessingFailed",
                        "data": r["data"]})
        else:
            d["by"] = context.function_name
            d["stream"] = event["deliveryStreamArn"].rsplit("/", 1)[1]
            line = (json.dumps(d, sort_keys=True) + "\\n").encode()
            out.append({"recordId": r["recordId"], "result": "Ok",
                        "data": base64.b64encode(line).decode(),
                        "metadata": {"partitionKeys": {"kind": d["kind"]}}})
    return {"records": out}
'''


def s3_lines(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out += [(o["Key"], line) for line in body.decode().splitlines() if line]
    return out


def firehose_with_lambda(h, name, arn, retries="1", **dest):
    fh = h.client("firehose")
    h.client("s3").create_bucket(Bucket=name)
    cfg = {"RoleARN": "arn:aws:iam::000000000000:role/lambda-role",
           "BucketARN": "arn:aws:s3:::" + name,
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
           "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
           "ProcessingConfiguration": {"Enabled": True, "Processors": [
               {"Type": "Lambda", "Parameters": [
                   {"ParameterName": "LambdaArn", "ParameterValue": arn},
                   {"ParameterName": "NumberOfRetries", "ParameterValue": retries}]}]}}
    cfg.update(dest)
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                              ExtendedS3DestinationConfiguration=cfg)
    from conftest import wait_active
    wait_active(fh, name)
    return fh


def test_firehose_stream_runs_the_users_function(hydrant, lam):
    arn = create(lam, "fh-transform", files={"app.py": FH_TRANSFORM})["FunctionArn"]
    fh = firehose_with_lambda(hydrant, "fh-lambda", arn, Prefix="ok/")
    recs = [json.dumps({"i": i, "kind": ("keep", "drop", "bad")[i % 3]}).encode()
            for i in range(60)]
    assert fh.put_record_batch(DeliveryStreamName="fh-lambda",
                               Records=[{"Data": d} for d in recs])["FailedPutCount"] == 0
    s3 = hydrant.client("s3")
    ok = wait_for(lambda: s3_lines(s3, "fh-lambda", "ok/") or None, timeout=30)
    errs = wait_for(lambda: s3_lines(s3, "fh-lambda", "errors/") or None, timeout=30)
    kept = [json.loads(line) for _, line in ok]
    assert sorted(d["i"] for d in kept) == list(range(0, 60, 3))
    assert all(d["by"] == "fh-transform" and d["stream"] == "fh-lambda" for d in kept)
    failed = [json.loads(line) for _, line in errs]
    assert all(k.startswith("errors/processing-failed/") for k, _ in errs)
    assert sorted(json.loads(base64.b64decode(e["rawData"]))["i"] for e in failed) == \
        list(range(2, 60, 3))
    for e in failed:
        assert e["errorCode"] == "Lambda.ProcessingFailedStatus"
        assert e["errorMessage"] == "ProcessingFailed status set for record"
        assert e["lambdaArn"] == arn and e["attemptsMade"] == 1


def test_firehose_partitions_by_the_functions_keys(hydrant, lam):
    arn = create(lam, "fh-keys", files={"app.py": FH_TRANSFORM})["FunctionArn"]
    fh = firehose_with_lambda(
        hydrant, "fh-keys", arn, Prefix="kind=!{partitionKeyFromLambda:kind}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        DynamicPartitioningConfiguration={"Enabled": True})
    fh.put_record_batch(DeliveryStreamName="fh-keys", Records=[
        {"Data": json.dumps({"i": i, "kind": "even" if i % 2 == 0 else "odd"}).encode()}
        for i in range(40)])
    hydrant.restart()  # SIGTERM delivers every buffer
    kinds = {}
    for key, line in s3_lines(hydrant.client("s3"), "fh-keys", "kind="):
        k = key.split("/")[0].split("=")[1]
        assert json.loads(line)["kind"] == k
        kinds[k] = kinds.get(k, 0) + 1
    assert kinds == {"even": 20, "odd": 20}


def test_firehose_failing_function_is_retried_then_error_output(hydrant, lam):
    arn = create(lam, "fh-boom", files={"app.py": (
        "def handler(e, c):\n    raise ValueError('boom')\n")})["FunctionArn"]
    fh = firehose_with_lambda(hydrant, "fh-boom", arn, retries="2", Prefix="ok/")
    fh.put_record_batch(DeliveryStreamName="fh-boom",
                        Records=[{"Data": b"r%d" % i} for i in range(5)])
    s3 = hydrant.client("s3")
    errs = wait_for(lambda: s3_lines(s3, "fh-boom", "errors/") or None, timeout=60)
    failed = [json.loads(line) for _, line in errs]
    assert sorted(base64.b64decode(e["rawData"]) for e in failed) == \
        [b"r%d" % i for i in range(5)]
    for e in failed:
        assert e["errorCode"] == "Lambda.FunctionError" and e["attemptsMade"] == 3, e
        assert e["errorMessage"] == ("The Lambda function was successfully invoked but it "
                                     "returned an error result.")
    assert s3_lines(s3, "fh-boom", "ok/") == []
    # the function's three attempts are in hydrant's log
    assert hydrant.read_log().count("boom") >= 3


def test_only_principals_allowed_create_function_upload_code(make_hydrant):
    """The router's IAM action column, with --iam=default: an IAM user
    allowed to invoke one function (and nothing else) cannot upload code,
    update it, or invoke another function -- AccessDeniedException, 403,
    in Lambda's shape."""
    hydrant = make_hydrant("--iam=default")
    setup_role(hydrant)
    lam = hydrant.client("lambda")
    create(lam, "allowed-fn")
    create(lam, "other-fn")
    iam = hydrant.client("iam")
    iam.create_user(UserName="invoker")
    key = iam.create_access_key(UserName="invoker")["AccessKey"]
    iam.put_user_policy(UserName="invoker", PolicyName="invoke-one", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["lambda:InvokeFunction", "lambda:GetFunction"],
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:allowed-*"}]}))
    user = hydrant.client("lambda", access_key=key["AccessKeyId"],
                          secret_key=key["SecretAccessKey"])

    def denied(call):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == "AccessDeniedException", e.value.response
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return str(e.value)
    _, out = invoke(user, "allowed-fn", {"by": "invoker"})
    assert out["event"] == {"by": "invoker"}
    assert user.get_function(FunctionName="allowed-fn")["Configuration"]["FunctionName"]
    msg = denied(lambda: user.create_function(
        FunctionName="allowed-evil", Runtime="python3.11", Role=ROLE_ARN,
        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": PY_APP})}))
    assert "lambda:CreateFunction" in msg
    denied(lambda: user.update_function_code(FunctionName="allowed-fn",
                                             ZipFile=make_zip({"app.py": PY_APP})))
    denied(lambda: invoke(user, "other-fn", {}))
    denied(lambda: user.delete_function(FunctionName="allowed-fn"))
    names = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])
    assert names == ["allowed-fn", "other-fn"]
