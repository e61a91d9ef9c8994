// bootstrap.js -- hydrant's Lambda worker for the nodejs* runtimes.
//
// Started by src/lambda.c as `/usr/bin/node --max-old-space-size=M
// bootstrap.js` in the function's unpacked code directory
// (LAMBDA_TASK_ROOT), with _HANDLER ("file.export", the file may be in a
// folder: "src/app.handler") and AWS's other environment variables set.
// It loads the handler once (require, or import() for ES modules), then
// serves invocations one at a time; module state survives across them.
// Handlers may be async (return a promise) or take a callback.
//
// Protocol: the same frames as bootstrap.py (the C side, src/lambda.c, is
// the authority), on fd 3 (requests) and fd 4 (answers):
//     u32 big-endian N | u8 type | N-1 bytes of body
// 'I' request: one line of JSON (requestId, deadlineMs, functionArn,
//     functionName, functionVersion, memoryLimitInMB, logGroupName,
//     logStreamName) + "\n" + the event; answers 'R' (the result as JSON)
//     or 'E' (AWS's Node.js error object {errorType, errorMessage, trace}).
// console.* writes AWS's log line format to stdout ("<ISO time>\t<request
// id>\t<LEVEL>\t<message>"); hydrant logs each line with the function name.
'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const url = require('url');

let currentId = 'undefined';
for (const [name, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'],
  ['error', 'ERROR'], ['debug', 'DEBUG']]) {
  console[name] = (...args) => {
    const line = util.format(...args).replace(/\n/g, '\r');
    fs.writeSync(1, `${new Date().toISOString()}\t${currentId}\t${level}\t${line}\n`);
  };
}

function writeFrame(kind, obj) {
  const body = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head.writeUInt8(kind.charCodeAt(0), 4);
  const frame = Buffer.concat([head, body]);
  // a write to a pipe may be partial: loop until the frame is out
  for (let off = 0; off < frame.length;) {
    try {
      off += fs.writeSync(4, frame, off, frame.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function errorObj(err) {
  if (err instanceof Error) {
    return { errorType: err.name || 'Error', errorMessage: err.message,
      trace: String(err.stack || '').split('\n') };
  }
  return { errorType: typeof err === 'string' ? 'string' : typeof err,
    errorMessage: typeof err === 'string' ? err : JSON.stringify(err), trace: [] };
}

async function loadHandler() {
  const spec = process.env._HANDLER || '';
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) {
    return { error: { errorType: 'Runtime.MalformedHandlerName',
      errorMessage: `Bad handler ${spec}`, trace: [] } };
  }
  const file = spec.slice(0, dot), fname = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const base = path.resolve(root, file);
  let mod;
  try {
    if (fs.existsSync(base + '.mjs')) {
      mod = await import(url.pathToFileURL(base + '.mjs').href);
    } else {
      try {
        mod = require(base);
      } catch (e) {
        if (e.code !== 'ERR_REQUIRE_ESM') throw e;
        mod = await import(url.pathToFileURL(require.resolve(base)).href);
      }
    }
  } catch (e) {
    console.error(e);
    return { error: { errorType: 'Runtime.ImportModuleError',
      errorMessage: `${e.name}: ${e.message}`, trace: String(e.stack || '').split('\n') } };
  }
  let fn = mod && mod[fname];
  if (typeof fn !== 'function' && mod && mod.default) fn = mod.default[fname];
  if (typeof fn !== 'function') {
    return { error: { errorType: 'Runtime.HandlerNotFound',
      errorMessage: `${spec} is undefined or not exported`, trace: [] } };
  }
  return { fn };
}

function invoke(fn, event, h) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (err, result) => {
      if (done) return;
      done = true;
      resolve({ err, result });
    };
    const context = {
      awsRequestId: h.requestId,
      functionName: h.functionName,
      functionVersion: h.functionVersion,
      invokedFunctionArn: h.functionArn,
      memoryLimitInMB: String(h.memoryLimitInMB),
      logGroupName: h.logGroupName,
      logStreamName: h.logStreamName,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(h.deadlineMs - Date.now(), 0),
      done: (e, r) => finish(e, r),
      succeed: (r) => finish(null, r),
      fail: (e) => finish(e === undefined ? new Error('handled') : e),
    };
    try {
      const r = fn(event, context, (e, res) => finish(e, res));
      if (r && typeof r.then === 'function') r.then((v) => finish(null, v), (e) => finish(e || new Error('rejected')));
      else if (fn.length < 3) finish(null, r);
    } catch (e) {
      finish(e);
    }
  });
}

async function main() {
  const loaded = await loadHandler();
  let pending = Buffer.alloc(0);
  let busy = false;
  const queue = [];
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const body = queue.shift();
      const nl = body.indexOf(10);
      const h = JSON.parse(body.subarray(0, nl).toString());
      const payload = body.subarray(nl + 1).toString();
      currentId = h.requestId;
      if (loaded.error) {
        writeFrame('E', loaded.error);
        continue;
      }
      let event;
      try {
        event = payload.trim() ? JSON.parse(payload) : {};
      } catch (e) {
        writeFrame('E', { errorType: 'Runtime.UnmarshalError', errorMessage: e.message, trace: [] });
        continue;
      }
      const { err, result } = await invoke(loaded.fn, event, h);
      if (err !== null && err !== undefined) {
        const eo = errorObj(err);
        console.error(`Invoke Error \t${JSON.stringify(eo)}`);
        writeFrame('E', eo);
        continue;
      }
      let out;
      try {
        out = JSON.stringify(result === undefined ? null : result);
      } catch (e) {
        writeFrame('E', { errorType: 'Runtime.MarshalError',
          errorMessage: `Unable to stringify response body: ${e.message}`, trace: [] });
        continue;
      }
      writeFrame('R', out);
    }
    busy = false;
  };
  const input = fs.createReadStream(null, { fd: 3 });
  input.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const n = pending.readUInt32BE(0);
      if (pending.length < 4 + n) break;
      const kind = String.fromCharCode(pending[4]);
      const body = pending.subarray(5, 4 + n);
      pending = pending.subarray(4 + n);
      if (kind === 'I') queue.push(body);
    }
    pump();
  });
  input.on('end', () => process.exit(0));
  input.on('error', () => process.exit(0));
}

process.on('uncaughtException', (e) => {
  // an exception outside the handler's promise: AWS's runtime exits, and
  // so does this worker (hydrant answers Runtime.ExitError and restarts it)
  console.error(e);
  process.exit(1);
});
main();
