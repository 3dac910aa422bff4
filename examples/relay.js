#!/usr/bin/env node
// A chat relay: every line a client sends goes to every other client — the
// "server as a relay between clients" the classic texts open with — on any
// in-process model, its protocol written in JavaScript.
//
// By default it runs three small clients (node:net) against itself, shows what
// each received and stops; with --no-client it prints the port and waits for
// you (try two terminals: nc 127.0.0.1 PORT).
//
//   node examples/relay.js [--model epoll|poll|select|thread|threadpool|iterative] [--loops N]
//                          [--port P] [--no-client]
'use strict';

const net = require('node:net');
const readline = require('node:readline');
const { createServer } = require('..'); // the package itself (dist/), built by npm install

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const model = option('--model', 'epoll');
const loops = Number(option('--loops', 1));
const port = Number(option('--port', 0));
const withClient = !process.argv.includes('--no-client');

const clients = new Set();

function handler(conn) {
  const name = `${conn.remoteAddress}:${conn.remotePort}`;
  clients.add(conn);
  const lines = readline.createInterface({ input: conn, crlfDelay: Infinity });
  lines.on('line', (line) => {
    for (const other of clients) if (other !== conn) other.write(`${name}: ${line}\n`);
  });
  conn.on('close', () => clients.delete(conn));
  conn.on('error', () => clients.delete(conn));
}

async function main() {
  const options = { port, handler };
  if (loops > 1) options.loops = loops;
  const server = createServer(model, options);
  const address = await server.start();
  console.log(`relay (${model}${loops > 1 ? ` x${loops}` : ''}) on 127.0.0.1:${address.port}`);
  if (!withClient) return; // serves until Ctrl-C

  // Three clients: each says hello once everyone is connected.
  const sockets = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise((resolve) => {
          const s = net.connect(address.port, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  while (clients.size < 3) await new Promise((r) => setTimeout(r, 5));
  const received = sockets.map(() => []);
  sockets.forEach((s, i) => {
    readline.createInterface({ input: s }).on('line', (line) => received[i].push(line));
  });
  sockets.forEach((s, i) => s.write(`hello from client ${i}\n`));
  while (received.some((r) => r.length < 2)) await new Promise((r) => setTimeout(r, 5));
  received.forEach((lines, i) => console.log(`client ${i} got:\n  ${lines.sort().join('\n  ')}`));
  for (const s of sockets) s.end();
  await server.stop();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
