// tollgate's Node preload: sends a Node program's calls to AWS through tollgate, with no change
// to the program. `tollgate run` (and `tollgate env` for `serve`) loads it with
// `NODE_OPTIONS=--require <this file>`, so every Node process the command starts has it.
//
// Why: Node's HTTP clients ignore HTTPS_PROXY, and the AWS SDK for JavaScript v3 builds its own
// https.Agent, so without this file its calls go straight to AWS and tollgate sees none.
//
// What it touches, and only for the hosts tollgate intercepts (TOLLGATE_NODE_HOSTS, globs as
// `--intercept` takes them, given by tollgate) when NO_PROXY does not cover them:
//   - https.Agent: the connection is a CONNECT tunnel through tollgate (TOLLGATE_NODE_PROXY);
//     TLS, the agent's keep-alive pool and its TLS session cache stay as they are.
//   - http.Agent (plain http://): the request goes to tollgate in absolute form, as to any
//     HTTP proxy (moto answers with http:// SQS queue URLs, which the SDK follows).
//   - http2.connect: a CONNECT tunnel too. The SDK's Kinesis and Bedrock Runtime clients use
//     HTTP/2 for every call.
// With TOLLGATE_NODE_CALLSITES=1 (`tollgate run` without `--no-callsites`), it also tags each
// command the AWS SDK for JavaScript v3 sends with the program's line that sent it (header
// `x-tollgate-callsite`, removed by tollgate) and, under jest or `node --test`, with the test
// that was running (`x-tollgate-test`): see `installCallsites` below.
// Every other host, and every agent Node already sends through a proxy (NODE_USE_ENV_PROXY),
// is left exactly as it was. What it cannot route (fetch on a Node without NODE_USE_ENV_PROXY)
// it says on stderr, once per host.
//
// No dependencies: only Node's own modules, CommonJS, loaded before the program.
'use strict';

(function tollgatePreload() {
  const LOADED = Symbol.for('tollgate.node-preload');
  if (globalThis[LOADED]) {
    return; // Listed twice in NODE_OPTIONS (a nested `tollgate run`): once is enough.
  }
  globalThis[LOADED] = true;

  const env = process.env;
  let proxy;
  try {
    proxy = new URL(env.TOLLGATE_NODE_PROXY || '');
  } catch {
    return; // Not under tollgate (NODE_OPTIONS kept from an old shell): change nothing.
  }
  if (proxy.protocol !== 'http:') {
    return;
  }
  const proxyHost = proxy.hostname.replace(/^\[|\]$/g, '');
  const proxyPort = Number(proxy.port || 80);
  const globs = (env.TOLLGATE_NODE_HOSTS || '')
    .split(',')
    .map((glob) => glob.trim().toLowerCase().replace(/\.$/, ''))
    .filter(Boolean);
  const noProxy = parseNoProxy(env.no_proxy ?? env.NO_PROXY ?? '');

  /** Set by `installCallsites`: `(headers) => ({name: value} | undefined)`, the labels to add
   * to a request that goes to tollgate (see there). */
  let labels = null;

  /** `headers` with what `labels` adds, as a new object; `headers` itself when it adds nothing
   * or anything goes wrong: the request is then sent as it was. */
  function labelled(headers) {
    const plain = headers == null || (typeof headers === 'object' && !Array.isArray(headers));
    if (labels === null || !plain) {
      return headers;
    }
    try {
      const extra = labels(headers || {});
      return extra === undefined ? headers : { ...headers, ...extra };
    } catch {
      return headers;
    }
  }

  const net = require('node:net');
  const tls = require('node:tls');
  const http = require('node:http');
  const https = require('node:https');
  const http2 = require('node:http2');

  const warned = new Set();
  function warnOnce(key, message) {
    if (!warned.has(key)) {
      warned.add(key);
      process.stderr.write(`tollgate: ${message}\n`);
    }
  }

  /** Whether tollgate intercepts `host` (same rules as the proxy's --intercept globs). */
  function intercepted(host) {
    const name = String(host).toLowerCase().replace(/\.$/, '');
    return globs.some((glob) =>
      glob.startsWith('*.')
        ? name.length > glob.length - 1 && name.endsWith(glob.slice(1))
        : name === glob,
    );
  }

  /** NO_PROXY as curl and Node read it: `*`, names (a leading `.` or `*.` is dropped; a name
   * covers itself and every name below it), IP addresses, each with an optional `:port`. */
  function parseNoProxy(value) {
    return value
      .split(/[\s,]+/)
      .map((entry) => entry.trim().toLowerCase())
      .filter(Boolean)
      .map((entry) => {
        if (entry === '*') {
          return { all: true };
        }
        let port = null;
        const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
        if (bracketed) {
          return { name: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : null };
        }
        const colon = entry.lastIndexOf(':');
        if (colon > 0 && entry.indexOf(':') === colon && /^\d+$/.test(entry.slice(colon + 1))) {
          port = Number(entry.slice(colon + 1));
          entry = entry.slice(0, colon);
        }
        return { name: entry.replace(/^\*?\./, '').replace(/\.$/, ''), port };
      });
  }

  function bypassed(host, port) {
    const name = String(host).toLowerCase().replace(/\.$/, '');
    return noProxy.some(
      (entry) =>
        entry.all ||
        ((entry.port === null || entry.port === Number(port)) &&
          entry.name !== '' &&
          (name === entry.name || name.endsWith(`.${entry.name}`))),
    );
  }

  function routed(host, port) {
    return Boolean(host) && intercepted(host) && !bypassed(host, port);
  }

  /** An agent Node itself sends through a proxy (NODE_USE_ENV_PROXY, or `proxyEnv`): routing
   * it again would tunnel inside Node's own tunnel. */
  function proxiedByNode(agent) {
    if (agent.options && agent.options.proxyEnv) {
      return true;
    }
    return Object.getOwnPropertySymbols(agent).some(
      (symbol) => symbol.description === 'kProxyConfig' && Boolean(agent[symbol]),
    );
  }

  function authority(host, port) {
    return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  }

  function tunnelError(target, cause, code) {
    const error = new Error(
      `tollgate: cannot tunnel to ${target} through tollgate at ${proxy.host}: ${cause}` +
        ' (is the tollgate that started this process still running?)',
    );
    error.code = code || 'ERR_TOLLGATE_TUNNEL';
    return error;
  }

  /** Opens a CONNECT tunnel to `host:port`; `done(error, socket)` gets the raw socket once
   * tollgate has answered 200, with nothing of the answer left unread. */
  function openTunnel(host, port, done) {
    const target = authority(host, port);
    const socket = net.connect({ host: proxyHost, port: proxyPort });
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    let finished = false;
    const finish = (error) => {
      if (finished) {
        return;
      }
      finished = true;
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('end', onEnd);
      if (error) {
        socket.destroy();
        done(error);
      } else {
        done(null, socket);
      }
    };
    const onError = (error) => finish(tunnelError(target, error.message, error.code));
    const onEnd = () => finish(tunnelError(target, 'tollgate closed the connection'));
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16384) {
          finish(tunnelError(target, 'an answer to CONNECT with no end'));
        }
        return;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200\b/.test(statusLine)) {
        finish(tunnelError(target, `tollgate answered "${statusLine}"`));
        return;
      }
      socket.pause();
      const rest = head.subarray(end + 4);
      if (rest.length > 0) {
        socket.unshift(rest);
      }
      finish(null);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    return socket;
  }

  // --- https.Agent: a CONNECT tunnel under the agent's own TLS ---------------------------------
  const httpsCreateConnection = https.Agent.prototype.createConnection;
  https.Agent.prototype.createConnection = function createConnection(options, oncreate) {
    if (
      typeof options !== 'object' ||
      options === null ||
      typeof oncreate !== 'function' ||
      options.socket ||
      proxiedByNode(this)
    ) {
      return httpsCreateConnection.apply(this, arguments);
    }
    const host = options.host || options.hostname || 'localhost';
    const port = Number(options.port || this.defaultPort || 443);
    if (!routed(host, port)) {
      return httpsCreateConnection.apply(this, arguments);
    }
    // The agent takes the socket through `oncreate` when createConnection returns nothing; the
    // original createConnection then does TLS over the tunnel, with the agent's session cache.
    openTunnel(host, port, (error, socket) => {
      if (error) {
        oncreate(error);
        return;
      }
      let tlsSocket;
      try {
        tlsSocket = httpsCreateConnection.call(this, { ...options, socket }, () => {});
      } catch (caught) {
        socket.destroy();
        oncreate(caught);
        return;
      }
      oncreate(null, tlsSocket);
    });
    return undefined;
  };

  // --- http.Agent: plain http:// in absolute form to tollgate ----------------------------------
  const addRequest = http.Agent.prototype.addRequest;
  http.Agent.prototype.addRequest = function (request, options) {
    if (
      this.protocol === 'http:' &&
      typeof options === 'object' &&
      options !== null &&
      !options.socketPath &&
      !proxiedByNode(this)
    ) {
      const host = options.host || options.hostname || 'localhost';
      const port = Number(options.port || this.defaultPort || 80);
      if (routed(host, port) && !/^[a-z]+:\/\//i.test(request.path)) {
        const origin = port === 80 ? `http://${host}` : `http://${authority(host, port)}`;
        const absolute = origin + request.path;
        if (request._header) {
          // The request line is already written (Expect: 100-continue, headers as an array):
          // write it again with the absolute form.
          const line = `${request.method} ${request.path} `;
          if (!request._header.startsWith(line)) {
            warnOnce(`http:${host}`, `cannot send http://${host} through tollgate; it goes direct`);
            return addRequest.apply(this, arguments);
          }
          request._header = `${request.method} ${absolute} ${request._header.slice(line.length)}`;
        }
        request.path = absolute;
        const toProxy = { ...options, host: proxyHost, hostname: proxyHost, port: proxyPort };
        delete toProxy.servername;
        return addRequest.call(this, request, toProxy);
      }
    }
    return addRequest.apply(this, arguments);
  };

  // --- http2.connect: TLS over a CONNECT tunnel ------------------------------------------------
  const { Duplex } = require('node:stream');

  /** A stream through a CONNECT tunnel that accepts writes at once (HTTP/2 wants its socket
   * synchronously) and holds them until tollgate has answered. */
  class TunnelStream extends Duplex {
    constructor(host, port) {
      super();
      this.raw = null;
      this.held = null;
      openTunnel(host, port, (error, socket) => {
        if (error) {
          this.destroy(error);
          return;
        }
        if (this.destroyed) {
          socket.destroy();
          return;
        }
        this.raw = socket;
        socket.on('data', (chunk) => {
          if (!this.push(chunk)) {
            socket.pause();
          }
        });
        socket.on('end', () => this.push(null));
        socket.on('error', (socketError) => this.destroy(socketError));
        socket.on('close', () => this.destroy());
        socket.resume();
        if (this.held) {
          const [chunk, callback] = this.held;
          this.held = null;
          socket.write(chunk, callback);
        }
        if (this.ended) {
          socket.end();
        }
      });
    }

    _read() {
      if (this.raw) {
        this.raw.resume();
      }
    }

    _write(chunk, encoding, callback) {
      if (this.raw) {
        this.raw.write(chunk, encoding, callback);
      } else {
        this.held = [chunk, callback];
      }
    }

    _final(callback) {
      this.ended = true;
      if (this.raw) {
        this.raw.end();
      }
      callback();
    }

    _destroy(error, callback) {
      if (this.raw) {
        this.raw.destroy();
      }
      callback(error);
    }
  }

  const connect = http2.connect;
  http2.connect = function (target, options, listener) {
    if (typeof options === 'function') {
      listener = options;
      options = undefined;
    }
    let url = target;
    if (typeof target === 'string') {
      try {
        url = new URL(target);
      } catch {
        return connect.apply(this, arguments);
      }
    }
    const protocol = (url && url.protocol) || (options && options.protocol) || 'https:';
    let host = (url && (url.hostname || url.host)) || 'localhost';
    host = host.replace(/^\[|\]$/g, '');
    const port = Number((url && url.port) || (protocol === 'http:' ? 80 : 443));
    if (protocol !== 'https:' || (options && options.createConnection) || !routed(host, port)) {
      return listener === undefined
        ? connect.call(this, target, options)
        : connect.call(this, target, options, listener);
    }
    const routedOptions = {
      ...options,
      createConnection: (_authority, tlsOptions) =>
        tls.connect({
          ...tlsOptions,
          createConnection: undefined,
          host,
          port,
          servername: (options && options.servername) || (net.isIP(host) ? undefined : host),
          ALPNProtocols: ['h2'],
          socket: new TunnelStream(host, port),
        }),
    };
    const session =
      listener === undefined
        ? connect.call(this, target, routedOptions)
        : connect.call(this, target, routedOptions, listener);
    if (labels !== null) {
      // Each stream of this session goes to tollgate: the call-site fallback and the test name
      // (see `installCallsites`) may label it.
      const request = session.request;
      session.request = function (headers, ...rest) {
        return request.call(this, labelled(headers), ...rest);
      };
    }
    return session;
  };

  // --- fetch: said, not routed ------------------------------------------------------------------
  // Node's fetch has its own connection pool that no agent reaches. Node 24 (and 22.21) send it
  // through HTTPS_PROXY, which points at tollgate, when NODE_USE_ENV_PROXY=1.
  const fetch = globalThis.fetch;
  if (typeof fetch === 'function' && !env.NODE_USE_ENV_PROXY) {
    globalThis.fetch = function fetch(input, init) {
      try {
        const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
        const port = Number(url.port || (url.protocol === 'http:' ? 80 : 443));
        if (routed(url.hostname, port)) {
          warnOnce(
            `fetch:${url.hostname}`,
            `fetch(${url.origin}) goes around tollgate, which will not see it: Node's fetch ignores ` +
              'agents. Set NODE_USE_ENV_PROXY=1 (Node 22.21 or 24.5 and later) to send it ' +
              'through HTTPS_PROXY, or use an http/https client',
          );
        }
      } catch {
        // Not a URL fetch can use either: fetch itself says so.
      }
      return fetch.apply(this, arguments);
    };
  }

  // --- call sites: the line of the program that sent each SDK command ------------------------
  if (env.TOLLGATE_NODE_CALLSITES === '1') {
    installCallsites();
  }

  /** Tags each command the AWS SDK for JavaScript v3 sends with `x-tollgate-callsite: <path>:<line>
   * <function>`: the program's first frame outside the SDK (`@aws-sdk`, `@smithy`, `@aws-crypto`,
   * `tslib`), Node's internals and this file, in the stack captured when `send` is called (so
   * a command sent without `await`, or from a paginator, still names its line).
   *
   * Only public extension points: the smithy `Client` class every v3 client extends (reached
   * when `@smithy/smithy-client` or `@smithy/core/client` is loaded), whose `send` is wrapped to
   * capture the stack, and two middlewares on each client's own middleware stack: one at the
   * `initialize` step (which receives the command `send` was given) passes the call site on in
   * the call's context; one at the end of the `deserialize` step, after signing, adds the header
   * to each attempt's request. The header is not signed; tollgate removes it before the
   * request goes on. Only a path, a line and a function name: paths relative to the working
   * directory at start, code elsewhere by its path inside `node_modules` (`pkg/lib/x.js`), else
   * `~/...`, else its last two parts; never arguments, values or source text. Any failure leaves
   * the call as it was.
   *
   * Where that Client is out of reach (jest's module registry), the same headers are added at
   * the transport, for requests to tollgate only: see "where the SDK's Client class is out of
   * reach" below. The running test (`x-tollgate-test: <file>::<test name>`) is read from jest's
   * `expect` state or node:test's `getTestContext`: see "the test that is running". */
  function installCallsites() {
    const Module = require('node:module');
    const path = require('node:path');
    const { fileURLToPath } = require('node:url');
    const HEADER = 'x-tollgate-callsite';
    const TEST_HEADER = 'x-tollgate-test';
    // The operation's name as the SDK knows it: a REST request names its operation only by
    // method and path, so one newer than tollgate's model would otherwise be unknown.
    const OPERATION_HEADER = 'x-tollgate-operation';
    const SITE = Symbol('tollgate.callsite');
    const PATCHED = Symbol.for('tollgate.callsite.patched');
    const TAGGED = Symbol.for('tollgate.callsite.tagged');
    // The SDK's own code, and test runners' (a test that returns the SDK's promise unawaited is
    // awaited by the runner: its frames name no line of the user's).
    const SKIPPED = ['@aws-sdk', '@smithy', '@aws-crypto', 'tslib'].concat(
      ['jest-circus', 'jest-runner', 'jest-runtime', '@jest', 'mocha', 'vitest', '@vitest'],
    );
    const SKIP = new RegExp(`[\\\\/]node_modules[\\\\/](?:${SKIPPED.join('|')})[\\\\/]`);
    let root = '';
    try {
      root = process.cwd();
    } catch {
      // No working directory: paths are shown by the rules after it.
    }
    const home = (env.HOME || '').replace(/[\\/]+$/, '');
    const shown = new Map();
    const sites = new WeakMap();
    let sending;

    function show(file) {
      let text = shown.get(file);
      if (text !== undefined) {
        return text;
      }
      let name = file;
      if (name.startsWith('file:')) {
        try {
          name = fileURLToPath(name);
        } catch {
          // Not a file URL Node can read: shown as it is.
        }
      }
      text = name;
      if (path.isAbsolute(name)) {
        const modules = name.lastIndexOf(`${path.sep}node_modules${path.sep}`);
        if (root && name.startsWith(root + path.sep)) {
          text = name.slice(root.length + 1);
        } else if (modules >= 0) {
          text = name.slice(modules + '/node_modules/'.length);
        } else if (home && name.startsWith(home + path.sep)) {
          text = `~${name.slice(home.length)}`;
        } else {
          text = name.split(path.sep).slice(-2).join(path.sep);
        }
      }
      shown.set(file, text);
      return text;
    }

    function headerValue(text) {
      if (/^[\x20-\x24\x26-\x7e]*$/.test(text)) {
        return text;
      }
      let out = '';
      for (const byte of Buffer.from(text, 'utf8')) {
        out +=
          byte >= 0x20 && byte < 0x7f && byte !== 0x25
            ? String.fromCharCode(byte)
            : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }
      return out;
    }

    // --- lines of code a test runner transformed -------------------------------------------
    // jest compiles each file it transformed (babel-jest by default, ts-jest, ...) with
    // `vm.compileFunction`, vitest each file vite transformed with `vm.runInThisContext` (or
    // `vm.runInContext`), and V8's lines are the transformed code's, not the file's. The
    // transformed code carries its source map inline (a `sourceMappingURL=data:` comment, as
    // the format defines it; vitest closes its wrapper after it): kept here by file name,
    // decoded on first use, and used to give the line of the file as written. A file with no
    // such map keeps V8's line.
    const INLINE_MAP = /^\/\/[#@] sourceMappingURL=data:application\/json[^,]*;base64,([A-Za-z0-9+/=]+)/;
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const inlineMaps = new Map(); // file -> base64 text, then the decoded map (or null)
    function keepMap(code, file) {
      try {
        if (typeof file === 'string' && typeof code === 'string') {
          // The last such comment is the one that counts.
          const at = code.lastIndexOf('sourceMappingURL=data:');
          const found = at >= 4 ? INLINE_MAP.exec(code.slice(at - 4)) : null;
          if (found) {
            inlineMaps.set(file, found[1]);
          } else {
            inlineMaps.delete(file);
          }
        }
      } catch {
        // No map: V8's lines.
      }
    }
    const vm = require('node:vm');
    const filenameOf = (options) =>
      typeof options === 'string' ? options : options && options.filename;
    const compileFunction = vm.compileFunction;
    vm.compileFunction = function (code, params, options) {
      const compiled = compileFunction.apply(this, arguments);
      keepMap(code, filenameOf(options));
      return compiled;
    };
    const runInThisContext = vm.runInThisContext;
    vm.runInThisContext = function (code, options) {
      keepMap(code, filenameOf(options));
      return runInThisContext.apply(this, arguments);
    };
    const runInContext = vm.runInContext;
    vm.runInContext = function (code, context, options) {
      keepMap(code, filenameOf(options));
      return runInContext.apply(this, arguments);
    };

    /** The source map's `mappings` (base64 VLQ), decoded: per generated line, [column, source,
     * line] of each segment (0-based), in order. */
    function decodeMappings(mappings) {
      const lines = [];
      let source = 0;
      let line = 0;
      for (const text of mappings.split(';')) {
        const segments = [];
        let generated = 0;
        for (const segment of text.split(',')) {
          const values = [];
          let value = 0;
          let scale = 1;
          for (const char of segment) {
            const digit = B64.indexOf(char);
            if (digit < 0) {
              throw new Error('not a source map');
            }
            value += (digit & 31) * scale;
            if (digit & 32) {
              scale *= 32;
            } else {
              values.push(value % 2 ? -Math.floor(value / 2) : value / 2);
              value = 0;
              scale = 1;
            }
          }
          if (values.length === 0) {
            continue;
          }
          generated += values[0];
          if (values.length >= 4) {
            source += values[1];
            line += values[2];
            segments.push([generated, source, line]);
          }
        }
        lines.push(segments);
      }
      return lines;
    }

    /** `{file, line}` as written, for V8's `file`, `line` and `column` (1-based). */
    function original(file, line, column) {
      let map = inlineMaps.get(file);
      if (map === undefined || map === null) {
        return { file, line };
      }
      if (typeof map === 'string') {
        try {
          const json = JSON.parse(Buffer.from(map, 'base64').toString('utf8'));
          map = {
            sources: (json.sources || []).map((source) =>
              source.startsWith('file:')
                ? fileURLToPath(source)
                : path.resolve(path.dirname(file), json.sourceRoot || '', source),
            ),
            lines: decodeMappings(String(json.mappings || '')),
          };
        } catch {
          map = null;
        }
        inlineMaps.set(file, map);
        if (map === null) {
          return { file, line };
        }
      }
      const segments = map.lines[line - 1];
      if (!segments || segments.length === 0) {
        return { file, line };
      }
      let best = segments[0];
      for (const segment of segments) {
        if (segment[0] > column - 1) {
          break;
        }
        best = segment;
      }
      return { file: map.sources[best[1]] || file, line: best[2] + 1 };
    }

    /** `path:line function` of the program's frame that called `send`, or undefined. */
    function callSite(below, depth = 32) {
      const limit = Error.stackTraceLimit;
      const prepare = Error.prepareStackTrace;
      let frames;
      try {
        Error.stackTraceLimit = depth;
        Error.prepareStackTrace = (_, structured) => structured;
        const holder = {};
        Error.captureStackTrace(holder, below);
        frames = holder.stack;
      } finally {
        Error.stackTraceLimit = limit;
        Error.prepareStackTrace = prepare;
      }
      if (!Array.isArray(frames)) {
        return undefined;
      }
      for (const frame of frames) {
        const file = frame.getFileName() || frame.getScriptNameOrSourceURL();
        if (!file || file === __filename || file.startsWith('node:') || SKIP.test(file)) {
          continue;
        }
        let name = frame.getFunctionName();
        if (name) {
          const type = frame.isToplevel() || frame.isConstructor() ? null : frame.getTypeName();
          if (type && type !== 'Object' && !name.includes('.')) {
            name = `${type}.${name}`;
          }
        } else {
          name = frame.isToplevel() ? '<module>' : '<anonymous>';
        }
        const at = original(file, frame.getLineNumber(), frame.getColumnNumber());
        return headerValue(`${show(at.file)}:${at.line} ${name}`);
      }
      return undefined;
    }

    // --- the test that is running ----------------------------------------------------------
    // jest (and vitest, which keeps jest's interface) publish the running test in the state of
    // `expect`, on the test's global under Symbol.for('$$jest-matchers-object'): `testPath`
    // (the file, absolute) and the test's name (its describe blocks' names and its own, joined
    // by spaces, as jest prints it and as `-t` matches it). The id sent is
    // `<file>::<name>`, the file shown like a call site's (relative to the working directory),
    // so it reads like pytest's `path::test`. jest 30 keeps the test in an AsyncLocalStorage,
    // exposed as `currentConcurrentTestName()`: right for `test.concurrent`, and nothing in
    // beforeAll/afterAll; before 30 that is only set for concurrent tests, and the plain
    // `currentTestName` (the last test started) is used, as for vitest: there an afterAll's
    // calls count under the file's last test. Only the name is read, never values.
    //
    // jest's tests run in a vm context of their own: its global is seen through the object
    // jest contextifies with `vm.createContext` (what the test's code sets on its global is
    // set on that object). Contexts are held weakly; the newest one that has jest's `expect`
    // answers (jest runs one test file at a time in a process, each in a new context).
    const MATCHERS = Symbol.for('$$jest-matchers-object');
    const contexts = [];
    const createContext = vm.createContext;
    vm.createContext = function (contextObject) {
      const context = createContext.apply(this, arguments);
      try {
        if (context !== null && typeof context === 'object') {
          for (let i = contexts.length - 1; i >= 0; i -= 1) {
            if (contexts[i].deref() === undefined) {
              contexts.splice(i, 1);
            }
          }
          contexts.push(new WeakRef(context));
        }
      } catch {
        // Not remembered: its tests are not named.
      }
      return context;
    };

    /** The test running in `global`: its id; null where `expect` is there but no test runs
     * (module scope, beforeAll/afterAll); undefined where there is no `expect`. */
    function testOf(global) {
      const state = global && global[MATCHERS] && global[MATCHERS].state;
      if (!state || typeof state.testPath !== 'string' || state.testPath === '') {
        return undefined;
      }
      const concurrent =
        typeof state.currentConcurrentTestName === 'function'
          ? state.currentConcurrentTestName()
          : undefined;
      // jest 30 and later (currentTestIdentity): the AsyncLocalStorage alone.
      const name =
        typeof state.currentTestIdentity === 'function'
          ? concurrent
          : concurrent || state.currentTestName;
      if (typeof name !== 'string' || name === '') {
        return null;
      }
      return headerValue(`${show(state.testPath)}::${name}`);
    }

    // Node's own runner (`node --test`): Node 24 has `getTestContext()` in node:test, the test
    // or suite running now (kept across awaits); its `fullName` joins the suites' names and the
    // test's with ` > `, as Node prints them. Asked only in a process `node --test` runs tests
    // in (NODE_TEST_CONTEXT in each test file's process, or `--test` itself with
    // --test-isolation=none), so no other program loads node:test for it. Node 20 and 22 have
    // no such call: their tests are not named.
    let nodeTestContext;
    function nodeTest() {
      if (nodeTestContext === undefined) {
        nodeTestContext = null;
        if (env.NODE_TEST_CONTEXT || process.execArgv.includes('--test')) {
          const { getTestContext } = require('node:test');
          if (typeof getTestContext === 'function') {
            nodeTestContext = getTestContext;
          }
        }
      }
      if (nodeTestContext === null) {
        return undefined;
      }
      const context = nodeTestContext();
      const file = context && context.filePath;
      const name = context && (context.fullName || context.name);
      // `<root>`: Node's name for the file's own level (a top-level before/after hook), which
      // is no test.
      const named = typeof name === 'string' && name !== '' && name !== '<root>';
      if (!named || typeof file !== 'string' || file === '') {
        return undefined;
      }
      return headerValue(`${show(file)}::${name}`);
    }

    /** `<file>::<test name>` of the test running now, or undefined: node:test's, else the
     * program's own global (vitest), else the newest vm context that has jest's `expect`. */
    function currentTest() {
      const node = nodeTest();
      if (node !== undefined) {
        return node;
      }
      const own = testOf(globalThis);
      if (own !== undefined) {
        return own ?? undefined;
      }
      for (let i = contexts.length - 1; i >= 0; i -= 1) {
        const test = testOf(contexts[i].deref());
        if (test !== undefined) {
          return test ?? undefined;
        }
      }
      return undefined;
    }

    /** The call site from `send` into the call's context (the first middleware of the call). */
    const remember = (next, context) => (args) => {
      const label = sites.get(args) ?? sending;
      if (label !== undefined) {
        context[SITE] = label;
      }
      return next(args);
    };
    /** The headers on each attempt's request, after signing; none on a request that NO_PROXY
     * sends to AWS itself (tollgate would not be there to remove them). */
    const tag = (next, context) => (args) => {
      const label = context[SITE];
      const request = args && args.request;
      const headers = request && request.headers;
      if (
        headers &&
        typeof headers === 'object' &&
        !(
          intercepted(String(request.hostname || '')) &&
          bypassed(request.hostname, Number(request.port || 443))
        )
      ) {
        if (label !== undefined) {
          if (label.site !== undefined) {
            headers[HEADER] = label.site;
          }
          if (label.test !== undefined) {
            headers[TEST_HEADER] = label.test;
          }
        }
        const command = context && context.commandName;
        if (typeof command === 'string') {
          const operation = command.replace(/Command$/, '');
          if (/^[A-Z][A-Za-z0-9_]{0,127}$/.test(operation)) {
            headers[OPERATION_HEADER] = operation;
          }
        }
      }
      return next(args);
    };

    function patchClient(Client) {
      const proto = Client && Client.prototype;
      if (!proto || typeof proto.send !== 'function' || proto[PATCHED]) {
        return;
      }
      const send = proto.send;
      proto[PATCHED] = true;
      proto.send = function send_(command) {
        let label;
        try {
          const stack = this.middlewareStack;
          if (stack && !stack[TAGGED] && typeof stack.add === 'function') {
            stack.add(remember, {
              step: 'initialize',
              priority: 'high',
              name: 'tollgateCallsiteRemember',
              override: true,
            });
            stack.add(tag, {
              step: 'deserialize',
              priority: 'low',
              name: 'tollgateCallsiteHeader',
              override: true,
            });
            stack[TAGGED] = true;
          }
          // The test too is read here, in the caller's own async context: node:test finds
          // the running test from it, and a first call can lose it further down the SDK
          // (a promise the client made at load time, outside any test).
          const site = callSite(send_);
          const test = currentTest();
          if (site !== undefined || test !== undefined) {
            label = { site, test };
          }
          if (label !== undefined && command && typeof command === 'object') {
            sites.set(command, label);
          }
        } catch {
          label = undefined;
        }
        const outer = sending;
        sending = label;
        try {
          return send.apply(this, arguments);
        } finally {
          sending = outer;
        }
      };
    }

    // The smithy Client class is in `@smithy/core/client` (recent SDKs) or
    // `@smithy/smithy-client` (older ones, and a re-export of the former in between).
    const CLIENT_MODULE = /[\\/]node_modules[\\/]@smithy[\\/](?:smithy-client|core)[\\/]/;
    const load = Module._load;
    Module._load = function (request, parent) {
      const exported = load.apply(this, arguments);
      try {
        if (
          exported &&
          typeof exported.Client === 'function' &&
          typeof request === 'string' &&
          (request.startsWith('@smithy/smithy-client') ||
            request.startsWith('@smithy/core/client') ||
            CLIENT_MODULE.test(request))
        ) {
          patchClient(exported.Client);
        }
      } catch {
        // Not the module it looked like: left as it is.
      }
      return exported;
    };

    // --- the same labels where the SDK's Client class is out of reach --------------------------
    // jest runs each test file in a vm context of its own and loads modules through its own
    // registry, never through Module._load: the SDK's `Client` there is a class this file never
    // sees. What jest (and any other loader) cannot hide is the transport: every attempt ends in
    // Node's http.request, https.request, or an HTTP/2 session's request, with its headers as
    // an object. There, for a request to tollgate that has no call site yet, the call site is
    // read from the stack, async frames included: V8 follows each `await` (and Promise.all)
    // from the SDK's middleware up to the program's function that awaited `send`. This names
    // the line that awaited the call, which is the line that sent it when the program awaits
    // `send` where it calls it; a command never awaited (a callback, a bare `.then`) has no
    // line. The test that is running, where a runner says so cheaply, is named too.
    labels = (headers) => {
      for (const name of Object.keys(headers)) {
        const lower = name.toLowerCase();
        if (lower === HEADER || lower === TEST_HEADER) {
          return undefined; // Labelled by the Client's middleware already.
        }
      }
      const site = callSite(undefined, 64);
      const test = currentTest();
      if (site === undefined && test === undefined) {
        return undefined;
      }
      const extra = {};
      if (site !== undefined) {
        extra[HEADER] = site;
      }
      if (test !== undefined) {
        extra[TEST_HEADER] = test;
      }
      return extra;
    };
    /** Whether `agent` (a request's `agent` option) is one whose connections this file routes
     * to tollgate, or Node sends through HTTPS_PROXY (tollgate, under `tollgate run`). */
    function routesItself(agent, secure) {
      if (agent === undefined || agent === null || agent === false) {
        return true; // The global agent, or a new Agent of Node's.
      }
      if (proxiedByNode(agent)) {
        return true;
      }
      return (
        agent.addRequest === http.Agent.prototype.addRequest &&
        (!secure || agent.createConnection === https.Agent.prototype.createConnection)
      );
    }
    for (const [module, defaultPort] of [
      [http, 80],
      [https, 443],
    ]) {
      const request = module.request;
      module.request = function (input, options, callback) {
        // The SDK's form: `request(options, callback)`, options an object with its headers,
        // sent by an agent this file routes (not a socket or connection of the caller's, nor an
        // agent that connects its own way, as to another proxy): the labels go to tollgate
        // only, which removes them.
        if (
          input !== null &&
          typeof input === 'object' &&
          !(input instanceof URL) &&
          (typeof options === 'function' || options === undefined) &&
          !input.socketPath &&
          !input.createConnection &&
          routesItself(input.agent, module === https) &&
          routed(input.hostname || input.host, Number(input.port || defaultPort))
        ) {
          const headers = labelled(input.headers);
          if (headers !== input.headers) {
            arguments[0] = { ...input, headers };
          }
        }
        return request.apply(this, arguments);
      };
    }
  }

  // ES modules that import these functions by name see the patched ones too.
  require('node:module').syncBuiltinESMExports();
})();
