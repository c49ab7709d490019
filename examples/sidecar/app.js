// A Node.js app that joins a go-micro platform through the sidecar, with
// nothing but what Node itself ships (fetch, and the WebSocket that
// --experimental-websocket enables on Node 20; no npm packages):
//
//   node --experimental-websocket app.js http://127.0.0.1:8081 [--topic T] [--name N]
//
// It serves GET /health on a free loopback port (for `micro sidecar
// --healthcheck_url`), then through the sidecar at the URL given:
//   1. looks the greeter up in the registry (GET /registry?service=greeter),
//   2. calls Say.Hello of the greeter (POST /rpc), and once more without a
//      name, which the greeter refuses with a 400,
//   3. subscribes to the topic (a websocket on /broker, mode=sub),
//   4. publishes an event on it (a second websocket, mode=pub), which the
//      subscription and the greeter's own subscriber receive,
// printing what it got as one JSON object per line on stdout. It then keeps
// serving /health until SIGINT or SIGTERM. A step that fails prints its
// error on stderr and ends the app with exit code 1.
'use strict';

const http = require('node:http');
const { parseArgs } = require('node:util');

// How long one step may take before the app gives up.
const STEP_TIMEOUT_MS = 20000;

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(step, err) {
  process.stderr.write(`app: ${step}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

// withTimeout rejects when promise has not settled within the step timeout.
function withTimeout(step, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// serveHealth serves GET /health on 127.0.0.1 at a free port and resolves
// to the server once it listens.
function serveHealth() {
  let checks = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      checks++;
      if (checks === 1) print({ event: 'health', checks });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok' }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: `no resource at ${req.url}` }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// call POSTs body as JSON to the sidecar and returns the status and the
// decoded answer.
async function call(base, path, body) {
  const res = await fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: status ${res.status}, not JSON: ${text}`);
  }
  return { status: res.status, json };
}

// openSocket opens a websocket and resolves once it is open.
function openSocket(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new Error(`websocket ${url}: could not open`)), { once: true });
    ws.addEventListener('close', (ev) => reject(new Error(`websocket ${url}: closed (${ev.code} ${ev.reason})`)), { once: true });
  });
}

// closeSocket closes ws and resolves once it is closed.
function closeSocket(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.addEventListener('close', () => resolve(), { once: true });
    ws.close(1000, 'done');
  });
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      topic: { type: 'string', default: 'greeter.events' },
      name: { type: 'string', default: 'Node' },
    },
  });
  if (positionals.length !== 1 || !/^https?:\/\/[^/]+$/.test(positionals[0])) {
    process.stderr.write('usage: node --experimental-websocket app.js http://SIDECAR-HOST:PORT [--topic T] [--name N]\n');
    process.exit(2);
  }
  if (typeof WebSocket !== 'function') {
    fail('start', 'no global WebSocket: run node (20 or later) with --experimental-websocket');
  }
  const base = positionals[0];
  const wsBase = base.replace(/^http/, 'ws');
  const { topic, name } = values;

  const server = await serveHealth().catch((err) => fail('health server', err));
  const { address, port } = server.address();
  print({ event: 'listening', address: `${address}:${port}` });
  const stop = () => {
    print({ event: 'stopped' });
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  // 1. The registry.
  const reg = await withTimeout('registry', call(base, '/registry?service=greeter')).catch((err) => fail('registry', err));
  if (reg.status !== 200) fail('registry', `status ${reg.status}: ${JSON.stringify(reg.json)}`);
  const nodes = reg.json.reduce((n, svc) => n + (svc.nodes || []).length, 0);
  print({ event: 'registry', service: 'greeter', nodes });

  // 2. Calls.
  const rpc = { service: 'greeter', endpoint: 'Say.Hello', request: { name } };
  const ok = await withTimeout('rpc', call(base, '/rpc', rpc)).catch((err) => fail('rpc', err));
  if (ok.status !== 200) fail('rpc', `status ${ok.status}: ${JSON.stringify(ok.json)}`);
  print({ event: 'rpc', service: rpc.service, endpoint: rpc.endpoint, status: ok.status, response: ok.json });
  const bad = await withTimeout('rpc', call(base, '/rpc', { ...rpc, request: { name: '' } })).catch((err) => fail('rpc', err));
  print({ event: 'rpc_error', service: rpc.service, endpoint: rpc.endpoint, status: bad.status, error: bad.json });

  // 3. and 4. Subscribe, then publish on a second socket. The sidecar
  // subscribes before it completes the handshake, so once the first socket
  // is open the event published next cannot be missed.
  const topicQuery = encodeURIComponent(topic);
  const sub = await withTimeout('subscribe', openSocket(`${wsBase}/broker?topic=${topicQuery}&mode=sub`)).catch((err) => fail('subscribe', err));
  print({ event: 'subscribed', topic });
  const received = new Promise((resolve, reject) => {
    sub.addEventListener('message', (ev) => resolve(ev.data), { once: true });
    sub.addEventListener('close', (ev) => reject(new Error(`subscription closed (${ev.code} ${ev.reason})`)), { once: true });
  });
  const pub = await withTimeout('publish', openSocket(`${wsBase}/broker?topic=${topicQuery}&mode=pub`)).catch((err) => fail('publish', err));
  const sent = { name, message: `hello from node ${process.version}` };
  pub.send(JSON.stringify(sent));
  print({ event: 'published', topic, data: sent });
  const data = await withTimeout('receive', received).catch((err) => fail('receive', err));
  let parsed;
  try {
    parsed = JSON.parse(typeof data === 'string' ? data : '');
  } catch (err) {
    fail('receive', `not JSON: ${data}`);
  }
  print({ event: 'message', topic, data: parsed });
  await withTimeout('close', Promise.all([closeSocket(pub), closeSocket(sub)])).catch((err) => fail('close', err));

  print({ event: 'done' });
}

main().catch((err) => fail('main', err));
