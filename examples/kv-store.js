#!/usr/bin/env node
// A line-based key-value store: SET key value / GET key / DEL key / KEYS,
// one reply line each ("OK", the value, "(nil)", "ERR ..."). The protocol is
// JavaScript; the sockets are served by the chosen model's native threads.
//
// By default it runs a small client against itself and stops; with
// --no-client it prints the port and waits (nc 127.0.0.1 PORT).
//
//   node examples/kv-store.js [--model epoll|poll|select|thread|threadpool|iterative] [--port P] [--no-client]
'use strict';

const net = require('node:net');
const readline = require('node:readline');
const { createServer } = require('..'); // the package itself (dist/), built by npm install

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const model = option('--model', 'epoll');
const port = Number(option('--port', 0));
const withClient = !process.argv.includes('--no-client');

const store = new Map();

function answer(line) {
  const [command = '', key, ...rest] = line.trim().split(/\s+/);
  switch (command.toUpperCase()) {
    case 'SET':
      if (!key || rest.length === 0) return 'ERR usage: SET key value';
      store.set(key, rest.join(' '));
      return 'OK';
    case 'GET':
      if (!key) return 'ERR usage: GET key';
      return store.has(key) ? store.get(key) : '(nil)';
    case 'DEL':
      if (!key) return 'ERR usage: DEL key';
      return store.delete(key) ? '1' : '0';
    case 'KEYS':
      return [...store.keys()].join(' ');
    default:
      return `ERR unknown command '${command}'`;
  }
}

function handler(conn) {
  const lines = readline.createInterface({ input: conn, crlfDelay: Infinity });
  lines.on('line', (line) => conn.write(`${answer(line)}\n`));
  conn.on('error', () => {});
}

async function main() {
  const server = createServer(model, { port, handler });
  const address = await server.start();
  console.log(`kv store (${model}) on 127.0.0.1:${address.port}`);
  if (!withClient) return;

  const socket = net.connect(address.port, '127.0.0.1');
  const replies = readline.createInterface({ input: socket })[Symbol.asyncIterator]();
  for (const request of ['SET greeting hello world', 'GET greeting', 'GET missing', 'KEYS', 'DEL greeting', 'GET greeting', 'FLY away']) {
    socket.write(`${request}\n`);
    console.log(`> ${request}\n${(await replies.next()).value}`);
  }
  socket.end();
  await server.stop();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
