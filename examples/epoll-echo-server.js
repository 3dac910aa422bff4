#!/usr/bin/env node
// An echo server written on sys.Epoll in plain JavaScript: one non-blocking
// listening socket, level-triggered interest, partial writes kept per
// connection and sent when the socket becomes writable again.
//
// It stops by itself after serving --connections N clients (default 3). By
// default it also runs its own small client (node:net) against itself; with
// --no-client it prints the port and waits for you (nc 127.0.0.1 PORT).
//
//   node examples/epoll-echo-server.js [--connections N] [--port P] [--no-client]
'use strict';

const net = require('node:net');
const { sys } = require('..'); // the package itself (dist/), built by npm install

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const connections = option('--connections', 3);
const port = option('--port', 0);
const withClient = !process.argv.includes('--no-client');

const listenFd = sys.socket('ipv4', 'stream', { nonBlocking: true });
sys.setsockopt(listenFd, 'SO_REUSEADDR', true);
sys.bind(listenFd, '127.0.0.1', port);
sys.listen(listenFd, 128);
const address = sys.getsockname(listenFd);

const epoll = new sys.Epoll();
epoll.add(listenFd, sys.EPOLLIN);
const pending = new Map(); // fd -> Buffer of bytes not yet sent
let accepted = 0;
let closed = 0;
let wakeups = 0;
let echoed = 0;

function closeConnection(fd) {
  epoll.remove(fd);
  sys.close(fd);
  pending.delete(fd);
  closed += 1;
}

// Sends what is pending; asks for EPOLLOUT only while something is left.
function flush(fd) {
  let out = pending.get(fd);
  while (out.length > 0) {
    const n = sys.send(fd, out);
    if (n === null) break; // send buffer full: wait for EPOLLOUT
    echoed += n;
    out = out.subarray(n);
  }
  pending.set(fd, out);
  epoll.modify(fd, out.length > 0 ? sys.EPOLLIN | sys.EPOLLOUT : sys.EPOLLIN);
}

const buf = Buffer.alloc(64 * 1024);

function onReadable(fd) {
  const n = sys.recv(fd, buf);
  if (n === null) return;
  if (n === 0) {
    closeConnection(fd);
    return;
  }
  pending.set(fd, Buffer.concat([pending.get(fd), buf.subarray(0, n)]));
  flush(fd);
}

async function serve() {
  while (closed < connections) {
    const events = await epoll.waitAsync(64, -1);
    wakeups += 1;
    for (const { fd, events: ev } of events) {
      if (fd === listenFd) {
        for (let conn = sys.accept(listenFd, { nonBlocking: true }); conn; conn = sys.accept(listenFd, { nonBlocking: true })) {
          accepted += 1;
          pending.set(conn.fd, Buffer.alloc(0));
          epoll.add(conn.fd, sys.EPOLLIN);
        }
        continue;
      }
      if (!pending.has(fd)) continue; // closed earlier in this batch
      try {
        if (ev & (sys.EPOLLIN | sys.EPOLLHUP | sys.EPOLLERR)) onReadable(fd);
        if (pending.has(fd) && ev & sys.EPOLLOUT) flush(fd);
      } catch (error) {
        console.error(`connection ${fd}: ${error.message}`);
        closeConnection(fd);
      }
    }
  }
}

// One client per connection, one after another: send a line, expect it back.
async function client(i) {
  const message = `hello from client ${i}\n`.repeat(100);
  const socket = net.connect(address.port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.end(message);
  let reply = '';
  socket.setEncoding('utf8');
  for await (const chunk of socket) reply += chunk;
  if (reply !== message) throw new Error(`client ${i}: echo mismatch`);
  return reply.length;
}

async function main() {
  console.log(`echo server on ${address.address}:${address.port}, serving ${connections} connection(s)`);
  const server = serve();
  if (withClient) {
    for (let i = 0; i < connections; i++) {
      const n = await client(i);
      console.log(`client ${i}: ${n} bytes echoed back intact`);
    }
  }
  await server;
  epoll.close();
  sys.close(listenFd);
  console.log(`done: accepted ${accepted}, closed ${closed}, echoed ${echoed} bytes, ${wakeups} epoll wakeups`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
