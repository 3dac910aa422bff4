// The load generator's http mode: keep-alive GETs with a pipelining depth,
// every response framed and its status counted; non-2xx responses and
// timed-out batches counted apart from errors.
import * as http from 'node:http';
import * as net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { EpollServer, loadgen } from '../lib/index';
import { cleanup, emptyRun, trackServer } from './helpers';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

function close(server: net.Server): Promise<void> {
  const s = server as http.Server;
  s.closeAllConnections?.();
  return new Promise((r) => server.close(() => r()));
}

describe('loadgen http mode', () => {
  afterEach(cleanup);

  it('drives the native http handler with pipelined keep-alive GETs: every response a counted 200', async () => {
    const server = trackServer(new EpollServer({ handler: 'http' }));
    const { port } = await server.start();
    const r = await loadgen({ port, mode: 'http', pipeline: 4, connections: 8, durationMs: 300 });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    expect(r.mismatches).toBe(0);
    expect(r.non2xx).toBe(0);
    expect(r.timeouts).toBe(0);
    expect(Object.keys(r.statuses)).toEqual(['200']);
    expect(r.statuses['200']).toBeGreaterThanOrEqual(r.requests);
    expect(r.connected).toBe(8);
    // Keep-alive: the server accepted the 8 connections only.
    expect(server.stats().accepted).toBe(8);
    await server.stop();
  });

  it('frames chunked and Content-Length bodies in any split, and counts non-2xx apart from requests and errors', async () => {
    const app = http.createServer((req, res) => {
      if (req.url === '/missing') {
        res.statusCode = 404;
        res.end('nope');
        return;
      }
      // Chunked: several writes without a length.
      res.write('a');
      res.write('bc'.repeat(5000));
      res.end('d');
    });
    const port = await listen(app);
    const ok = await loadgen({ port, mode: 'http', path: '/chunked', pipeline: 3, connections: 4, durationMs: 300 });
    expect(ok.requests).toBeGreaterThan(0);
    expect(ok.errors + ok.mismatches + ok.non2xx + ok.timeouts).toBe(0);
    const missing = await emptyRun(loadgen({ port, mode: 'http', path: '/missing', connections: 4, durationMs: 300 }));
    expect(missing.requests).toBe(0);
    expect(missing.non2xx).toBeGreaterThan(0);
    expect(missing.statuses['404']).toBe(missing.non2xx);
    expect(missing.errors).toBe(0);
    await close(app);
  });

  it('a response split byte by byte over many segments is framed; an unframeable one is a mismatch', async () => {
    const reply = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Pad: ' + 'p'.repeat(50) + '\r\n\r\nhello';
    const slow = net.createServer((socket) => {
      socket.setNoDelay(true);
      let pending = '';
      // One reply at a time, in order: each written 7 bytes per turn.
      let chain = Promise.resolve();
      const answer = async () => {
        for (let i = 0; i < reply.length; i += 7) {
          if (socket.destroyed) return;
          socket.write(reply.slice(i, i + 7));
          await new Promise((r) => setImmediate(r));
        }
      };
      socket.on('data', (d) => {
        pending += d.toString();
        while (pending.includes('\r\n\r\n')) {
          pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
          chain = chain.then(answer);
        }
      });
      socket.on('error', () => undefined);
    });
    const port = await listen(slow);
    const r = await loadgen({ port, mode: 'http', pipeline: 2, connections: 2, durationMs: 300 });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.errors + r.mismatches + r.non2xx).toBe(0);
    await close(slow);

    // No length on a keep-alive reply: it could end only at EOF.
    const bad = net.createServer((socket) => {
      socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\n\r\nhello'));
      socket.on('error', () => undefined);
    });
    const badPort = await listen(bad);
    const b = await emptyRun(loadgen({ port: badPort, mode: 'http', connections: 1, durationMs: 200 }));
    expect(b.requests).toBe(0);
    expect(b.mismatches).toBeGreaterThan(0);
    await close(bad);
  });

  it('a server that never answers costs timeouts, not errors', async () => {
    const mute = http.createServer(() => undefined);
    const port = await listen(mute);
    const r = await emptyRun(loadgen({ port, mode: 'http', connections: 2, durationMs: 500, requestTimeoutMs: 100 }));
    expect(r.timeouts).toBeGreaterThanOrEqual(2);
    expect(r.requests).toBe(0);
    expect(r.errors).toBe(0);
    await close(mute);
  });

  it('bad http options are Node-style errors', async () => {
    await expect(loadgen({ port: 1, mode: 'http', pipeline: 0 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(loadgen({ port: 1, mode: 'http', path: 'no-slash' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(loadgen({ port: 1, mode: 'http', path: '/a b' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(loadgen({ port: 1, mode: 'http', requestTimeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});
