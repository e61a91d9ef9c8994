# bootstrap.py -- hydrant's Lambda worker for the python3.* runtimes.
#
# Started by src/lambda.c as `/usr/bin/python3 -u bootstrap.py`, in the
# function's unpacked code directory (LAMBDA_TASK_ROOT), with _HANDLER
# ("module.function", the module may be dotted: "pkg.mod.fn") and AWS's
# other environment variables set. It imports the handler once, then
# serves invocations one at a time for as long as it lives, so module
# state (a counter, a client) survives across invocations as on AWS.
#
# Protocol (the C side is the authority; see src/lambda.c): frames on two
# pipes, fd 3 (requests, read here) and fd 4 (answers, written here):
#     u32 big-endian N | u8 type | N-1 bytes of body
# requests:  'I' body = one line of JSON (requestId, deadlineMs,
#            functionArn, functionName, functionVersion, memoryLimitInMB,
#            logGroupName, logStreamName) + "\n" + the event (JSON bytes)
# answers:   'R' body = the handler's result as JSON
#            'E' body = AWS's error object {errorMessage, errorType,
#                requestId, stackTrace}
# stdout and stderr (fds 1 and 2) are the function's log: hydrant logs
# each line tagged with the function's name. Nothing else is written to
# fds 3 and 4, so a print() can never corrupt a frame.
import importlib
import json
import os
import struct
import sys
import time
import traceback

REQ = os.fdopen(3, "rb", buffering=0)
RESP = os.fdopen(4, "wb", buffering=0)


def read_exact(n):
    chunks = []
    while n:
        b = REQ.read(n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame():
    head = read_exact(5)
    if head is None:
        return None, None
    n, kind = struct.unpack(">IB", head)
    body = read_exact(n - 1) if n > 1 else b""
    if body is None:
        return None, None
    return chr(kind), body


def write_frame(kind, body):
    # FileIO.write may write less than asked (a pipe): loop until done
    data = memoryview(struct.pack(">IB", len(body) + 1, ord(kind)) + body)
    while data:
        n = RESP.write(data)
        data = data[n:]


class LambdaContext:
    def __init__(self, h):
        self.aws_request_id = h["requestId"]
        self.function_name = h["functionName"]
        self.function_version = h["functionVersion"]
        self.invoked_function_arn = h["functionArn"]
        # a string, as in AWS's Python runtime
        self.memory_limit_in_mb = str(h["memoryLimitInMB"])
        self.log_group_name = h["logGroupName"]
        self.log_stream_name = h["logStreamName"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = h["deadlineMs"]

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)


def error_obj(etype, message, request_id, stack=None):
    return {"errorMessage": message, "errorType": etype, "requestId": request_id,
            "stackTrace": stack or []}


def load_handler():
    """The handler, or the error object every invocation answers with."""
    spec = os.environ.get("_HANDLER", "")
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError:
        return None, ("Runtime.MalformedHandlerName",
                      "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % spec)
    root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, root)
    try:
        mod = importlib.import_module(modname.replace("/", "."))
    except SyntaxError as e:
        traceback.print_exc()
        return None, ("Runtime.UserCodeSyntaxError",
                      "Syntax error in module '%s': %s" % (modname, e))
    except Exception as e:  # noqa: BLE001 -- any import failure is the user's
        traceback.print_exc()
        return None, ("Runtime.ImportModuleError",
                      "Unable to import module '%s': %s" % (modname, e))
    fn = getattr(mod, fname, None)
    if fn is None:
        return None, ("Runtime.HandlerNotFound",
                      "Handler '%s' missing on module '%s'" % (fname, modname))
    return fn, None


def main():
    handler, init_error = load_handler()
    while True:
        kind, body = read_frame()
        if kind is None:
            return
        if kind != "I":
            continue
        line, _, payload = body.partition(b"\n")
        h = json.loads(line)
        rid = h["requestId"]
        if init_error:
            write_frame("E", json.dumps(error_obj(init_error[0], init_error[1], rid)).encode())
            continue
        try:
            event = json.loads(payload) if payload.strip() else {}
            result = handler(event, LambdaContext(h))
        except Exception as e:  # noqa: BLE001
            stack = traceback.format_list(traceback.extract_tb(e.__traceback__)[1:])
            sys.stdout.write("[ERROR] %s: %s\n" % (type(e).__name__, e))
            for s in stack:
                sys.stdout.write(s)
            sys.stdout.flush()
            err = error_obj(type(e).__name__, str(e), rid, stack)
            write_frame("E", json.dumps(err).encode())
            continue
        try:
            out = json.dumps(result).encode()
        except (TypeError, ValueError) as e:
            err = error_obj("Runtime.MarshalError", "Unable to marshal response: %s" % e, rid)
            write_frame("E", json.dumps(err).encode())
            continue
        write_frame("R", out)


if __name__ == "__main__":
    main()
