#!/usr/bin/env node
// A small node:http app (routes, a JSON body, a streamed 10 MiB response)
// served by a netmodels model instead of app.listen(): the model's native
// threads accept, read and write; node:http parses and answers on the JS
// thread, with its own timeouts (headersTimeout, keepAliveTimeout...) on.
//
// By default it asks itself once per route and stops; with --no-client it
// prints the port and waits (curl http://127.0.0.1:PORT/hello).
//
//   node examples/http-app.js [--model epoll|poll|select|uring|thread|threadpool|iterative] [--loops N] [--port P] [--no-client]
//
// The module also exports the app, so the CLI can host it:
//
//   netmodels serve --model epoll --handler ./examples/http-app.js
'use strict';

const http = require('node:http');

const TEN_MIB = 10 * 1024 * 1024;

const app = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/hello') {
    res.setHeader('content-type', 'text/plain');
    res.end('hello from node:http on netmodels\n');
    return;
  }
  if (req.method === 'POST' && req.url === '/echo-json') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid JSON' }));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ youSent: body, from: req.socket.remoteAddress }));
    });
    return;
  }
  if (req.method === 'GET' && req.url === '/big') {
    // Streamed, respecting backpressure: write() false waits for 'drain'.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TEN_MIB });
    const chunk = Buffer.alloc(64 * 1024, 0x2e);
    let left = TEN_MIB;
    const more = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
app.keepAliveTimeout = 5000;

module.exports = app;

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function ask(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
      let n = 0;
      let text = '';
      res.on('data', (c) => {
        n += c.length;
        if (text.length < 200) text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode, bytes: n, text: text.slice(0, 80).trim() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const { createServer } = require('..'); // the package itself (dist/), built by npm install
  const model = option('--model', 'epoll');
  const loops = option('--loops', undefined);
  const server = createServer(model, {
    port: Number(option('--port', 0)),
    handler: app,
    ...(loops !== undefined ? { loops: loops === 'auto' ? 'auto' : Number(loops) } : {}),
  });
  const { port } = await server.start();
  console.log(`node:http app on the ${model} model, http://127.0.0.1:${port}/hello`);
  if (process.argv.includes('--no-client')) {
    process.on('SIGINT', () => server.stop());
    process.on('SIGTERM', () => server.stop());
    return;
  }
  console.log('GET /hello      ', await ask(port, 'GET', '/hello'));
  console.log('POST /echo-json ', await ask(port, 'POST', '/echo-json', JSON.stringify({ a: 1 })));
  const big = await ask(port, 'GET', '/big');
  console.log('GET /big        ', { status: big.status, bytes: big.bytes });
  console.log('GET /nope       ', await ask(port, 'GET', '/nope'));
  await server.stop();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
