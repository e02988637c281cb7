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
// `x-tollgate-callsite`, removed by tollgate): see `installCallsites` below.
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
    return listener === undefined
      ? connect.call(this, target, routedOptions)
      : connect.call(this, target, routedOptions, listener);
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
   * the call as it was. */
  function installCallsites() {
    const Module = require('node:module');
    const path = require('node:path');
    const { fileURLToPath } = require('node:url');
    const HEADER = 'x-tollgate-callsite';
    const SITE = Symbol('tollgate.callsite');
    const PATCHED = Symbol.for('tollgate.callsite.patched');
    const TAGGED = Symbol.for('tollgate.callsite.tagged');
    const SKIP = /[\\/]node_modules[\\/](?:@aws-sdk|@smithy|@aws-crypto|tslib)[\\/]/;
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

    /** `path:line function` of the program's frame that called `send`, or undefined. */
    function callSite(below) {
      const limit = Error.stackTraceLimit;
      const prepare = Error.prepareStackTrace;
      let frames;
      try {
        Error.stackTraceLimit = 32;
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
        return headerValue(`${show(file)}:${frame.getLineNumber()} ${name}`);
      }
      return undefined;
    }

    /** The call site from `send` into the call's context (the first middleware of the call). */
    const remember = (next, context) => (args) => {
      const site = sites.get(args) ?? sending;
      if (site !== undefined) {
        context[SITE] = site;
      }
      return next(args);
    };
    /** The header on each attempt's request, after signing. */
    const tag = (next, context) => (args) => {
      const site = context[SITE];
      const headers = args && args.request && args.request.headers;
      if (site !== undefined && headers && typeof headers === 'object') {
        headers[HEADER] = site;
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
        let site;
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
          site = callSite(send_);
          if (site !== undefined && command && typeof command === 'object') {
            sites.set(command, site);
          }
        } catch {
          site = undefined;
        }
        const outer = sending;
        sending = site;
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
  }

  // ES modules that import these functions by name see the patched ones too.
  require('node:module').syncBuiltinESMExports();
})();
