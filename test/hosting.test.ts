// Hosting a node server (`handler: server`): node:http, https, http2 and ws
// served by every in-process model as if the server had listened itself,
// node's own defences (headersTimeout, requestTimeout, keepAliveTimeout,
// closeIdleConnections, req.setTimeout) included, and the socket methods
// node's stacks call on a Connection.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';

import { binding } from '../lib/binding';
import { modelOptions } from '../lib/spec';
import { Connection, createServer, ForkServer, MODEL_TABLE, nativeModels, type ModelName } from '../lib/index';
import { cleanup, delay, MiB, trackServer, trackSocket, waitFor } from './helpers';
import { fdSnapshot, newFds, steadyThreadCount } from './proc';

interface HostConfig {
  label: string;
  model: ModelName;
  options?: Record<string, unknown>;
  /** One client at a time (the iterative model). */
  serial?: boolean;
}

// The models that take a stream connection in this process: not the forking
// ones, not the datagram ones.
const IN_PROCESS = nativeModels().filter((m) => MODEL_TABLE[m].spec.jsHandler === 'connection');
const LOOPED = IN_PROCESS.find((m) => 'loops' in modelOptions(MODEL_TABLE[m].spec));
const CONFIGS: HostConfig[] = [
  ...IN_PROCESS.map((model): HostConfig => ({ label: model, model, serial: MODEL_TABLE[model].spec.serial })),
  ...(LOOPED ? [{ label: `${LOOPED} x3`, model: LOOPED, options: { loops: 3 } }] : []),
];

let tlsDir = '';
let key = '';
let cert = '';

beforeAll(() => {
  // A self-signed certificate made here, for 127.0.0.1.
  tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', path.join(tlsDir, 'key.pem'), '-out', path.join(tlsDir, 'cert.pem'),
  ], { stdio: 'ignore' });
  key = fs.readFileSync(path.join(tlsDir, 'key.pem'), 'utf8');
  cert = fs.readFileSync(path.join(tlsDir, 'cert.pem'), 'utf8');
});

afterAll(() => {
  if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
});

function host(config: HostConfig, server: net.Server) {
  return trackServer(createServer(config.model, { ...config.options, handler: server }));
}

/**
 * A client socket whose reset by the server (a 408, say, closes with unread
 * input) is what the test looks at, not an uncaught error.
 */
function rawSocket(port: number): net.Socket {
  const socket = trackSocket(net.connect(port, '127.0.0.1'));
  socket.on('error', () => undefined);
  return socket;
}

/** What `socket` has received so far, as latin1 text. */
function received(socket: net.Socket): () => string {
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  return () => got;
}

/** Sends `raw` on a new socket and collects the reply until `until` holds; the socket stays open. */
async function rawRequest(port: number, raw: string | Buffer, until: (got: string, socket: net.Socket) => boolean, what = 'the reply') {
  const socket = rawSocket(port);
  const got = received(socket);
  socket.write(raw);
  await waitFor(() => until(got(), socket), what, 10_000, () => JSON.stringify(got().slice(-200)));
  return { socket, got };
}

/** Sends `raw` on a new socket and collects the reply until the server closes or `until` holds. */
async function rawExchange(port: number, raw: string | Buffer, until: (got: string) => boolean): Promise<string> {
  const { socket, got } = await rawRequest(port, raw, (g, s) => until(g) || s.destroyed);
  socket.destroy();
  return got();
}

function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function fetchOnce(port: number, options: http.RequestOptions & { body?: Buffer } = {}): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('hosting a node server', () => {
  afterEach(cleanup);

  for (const config of CONFIGS) {
    describe(config.label, () => {
      it("node:http: 'listening' once, address(), keep-alive and pipelined requests answered in order; stop() closes it", async () => {
        const app = http.createServer((req, res) => res.end(`you asked ${req.url}`));
        let listening = 0;
        app.on('listening', () => listening++);
        const closed = new Promise<void>((r) => app.once('close', () => r()));
        const server = host(config, app);
        const { port } = await server.start();
        await waitFor(() => listening === 1, "the hosted server's 'listening'");
        expect(app.listening).toBe(true);
        expect(app.address()).toEqual(server.address());
        const pipelined = ['/a', '/b', '/c'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
        const got = await rawExchange(port, pipelined, (g) => g.includes('you asked /c'));
        expect(got.match(/you asked \/[abc]/g)).toEqual(['you asked /a', 'you asked /b', 'you asked /c']);
        expect(got.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
        // Keep-alive across turns on one socket.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const seen = new Set<net.Socket>();
        app.on('connection', (c) => seen.add(c));
        for (const p of ['/1', '/2', '/3']) {
          const reply = await fetchOnce(port, { path: p, agent });
          expect(reply.body.toString()).toBe(`you asked ${p}`);
        }
        expect(seen.size).toBe(1);
        agent.destroy();
        await server.stop();
        await closed;
        expect(listening).toBe(1);
        expect(app.listening).toBe(false);
      });

      it('a 16 MiB request body and a 16 MiB streamed response arrive byte-exact', async () => {
        const body = Buffer.alloc(16 * MiB);
        for (let i = 0; i < body.length; i += 4096) body.writeUInt32LE(i * 2654435761 >>> 0, i);
        const app = http.createServer((req, res) => {
          if (req.method === 'POST') {
            const hash = createHash('sha256');
            let n = 0;
            req.on('data', (c: Buffer) => {
              hash.update(c);
              n += c.length;
            });
            req.on('end', () => res.end(JSON.stringify({ n, sha: hash.digest('hex') })));
            return;
          }
          let sent = 0;
          const step = 256 * 1024;
          const more = () => {
            while (sent < body.length) {
              const ok = res.write(body.subarray(sent, sent + step));
              sent += step;
              if (!ok) return void res.once('drain', more);
            }
            res.end();
          };
          more();
        });
        const server = host(config, app);
        const { port } = await server.start();
        const up = await fetchOnce(port, { method: 'POST', path: '/up', body });
        expect(JSON.parse(up.body.toString())).toEqual({ n: body.length, sha: sha(body) });
        const down = await fetchOnce(port, { path: '/down' });
        expect(down.body.length).toBe(body.length);
        expect(sha(down.body)).toBe(sha(body));
        await server.stop();
      });

      it('https with a self-signed certificate: the peer address is known under TLS', async () => {
        const app = https.createServer({ key, cert }, (req, res) => {
          const s = req.socket as tls.TLSSocket;
          res.end(JSON.stringify({ a: s.remoteAddress, p: s.remotePort, f: s.remoteFamily, l: s.localPort, enc: s.encrypted }));
        });
        const server = host(config, app);
        const { port } = await server.start();
        const reply = await new Promise<{ body: string; localPort: number }>((resolve, reject) => {
          const req = https.request({ host: '127.0.0.1', port, ca: cert, agent: false }, (res) => {
            let b = '';
            res.on('data', (c) => (b += c));
            res.on('end', () => resolve({ body: b, localPort: (res.socket as tls.TLSSocket).localPort ?? 0 }));
          });
          req.on('socket', (s) => s.once('secureConnect', () => undefined));
          req.on('error', reject);
          req.end();
        });
        expect(JSON.parse(reply.body)).toMatchObject({ a: '127.0.0.1', f: 'IPv4', l: port, enc: true });
        expect(JSON.parse(reply.body).p).toBeGreaterThan(0);
        await server.stop();
      });

      it('http2: h2c and over TLS with ALPN', async () => {
        for (const secure of [false, true]) {
          const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
            stream.respond({ ':status': 200 });
            stream.end(`h2 ${headers[':path']} ${stream.session?.alpnProtocol ?? ''}`);
          };
          const app = secure ? http2.createSecureServer({ key, cert, allowHTTP1: false }) : http2.createServer();
          app.on('stream', onStream);
          const server = host(config, app);
          const { port } = await server.start();
          const session = http2.connect(`${secure ? 'https' : 'http'}://127.0.0.1:${port}`, secure ? { ca: cert } : {});
          const ask = (p: string) =>
            new Promise<string>((resolve, reject) => {
              const req = session.request({ ':path': p });
              let b = '';
              req.on('data', (c) => (b += c));
              req.on('end', () => resolve(b));
              req.on('error', reject);
              req.end();
            });
          const answers = await Promise.all(['/x', '/y'].map(ask));
          expect(answers).toEqual([`h2 /x ${secure ? 'h2' : 'h2c'}`, `h2 /y ${secure ? 'h2' : 'h2c'}`]);
          session.close();
          await server.stop();
        }
      });

      it("ws behind 'upgrade' echoes messages", async () => {
        const app = http.createServer((_req, res) => res.end('plain'));
        const wss = new WebSocketServer({ noServer: true });
        app.on('upgrade', (req, socket, head) => {
          wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
        });
        const server = host(config, app);
        const { port } = await server.start();
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        const echoes: string[] = [];
        ws.on('message', (m) => echoes.push(m.toString()));
        for (const m of ['one', 'two', 'x'.repeat(100_000)]) ws.send(m);
        await waitFor(() => echoes.length === 3, 'three echoes');
        expect(echoes[0]).toBe('one');
        expect(echoes[1]).toBe('two');
        expect(echoes[2]).toHaveLength(100_000);
        ws.close();
        wss.close();
        await server.stop();
      });

      it('node defences work: headersTimeout, requestTimeout, keepAliveTimeout, req.setTimeout, closeIdleConnections', async () => {
        const app = http.createServer({ headersTimeout: 600, requestTimeout: 1200, connectionsCheckingInterval: 100 }, (req, res) => {
          if (req.url === '/slow-req') {
            req.setTimeout(200, () => res.end('req timed out'));
            return;
          }
          if (req.url === '/slow-res') {
            res.setTimeout(200, () => res.end('res timed out'));
            return;
          }
          if (req.url === '/body') {
            req.resume();
            req.on('end', () => res.end('body done'));
            return;
          }
          res.end('ok');
        });
        app.keepAliveTimeout = 400;
        const server = host(config, app);
        const { port } = await server.start();
        // Headers one byte at a time, slower than headersTimeout.
        {
          const socket = rawSocket(port);
          const got = received(socket);
          const t0 = Date.now();
          const header = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
          let i = 0;
          const timer = setInterval(() => {
            if (!socket.destroyed && i < header.length) socket.write(header[i++]);
          }, 50);
          await waitFor(() => socket.destroyed || got().includes('408'), 'the slow-header client closed', 6000);
          clearInterval(timer);
          expect(got()).toContain('408');
          expect(Date.now() - t0).toBeLessThan(3000);
          socket.destroy();
        }
        if (!config.serial) {
          // requestTimeout: headers done, the body never finishes.
          const got = await rawExchange(port, 'POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', (g) => g.includes('408'));
          expect(got).toContain('408');
        }
        // req.setTimeout fires while the body is incomplete (as on node's own
        // server, a complete request's timeout goes to the response);
        // res.setTimeout fires.
        const slowReq = await rawExchange(port, 'POST /slow-req HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc', (g) => g.includes('timed out'));
        expect(slowReq).toContain('req timed out');
        const slowRes = await fetchOnce(port, { path: '/slow-res' });
        expect(slowRes.body.toString()).toBe('res timed out');
        // keepAliveTimeout: an idle keep-alive connection is closed.
        {
          const socket = rawSocket(port);
          const got = received(socket);
          socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
          const closedAt = await new Promise<number>((r) => socket.once('close', () => r(Date.now())));
          expect(got()).toContain('200 OK');
          expect(got()).toContain('Keep-Alive: timeout=');
          expect(closedAt).toBeGreaterThan(0);
        }
        await server.stop();
      });

      if (!config.serial) {
        it('closeIdleConnections() closes an idle keep-alive connection and leaves a busy one', async () => {
          let release: (() => void) | null = null;
          const app = http.createServer((req, res) => {
            if (req.url === '/busy') release = () => res.end('busy done');
            else res.end('ok');
          });
          const server = host(config, app);
          const { port } = await server.start();
          const { socket: idle } = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', (g) => g.includes('ok'), 'the idle connection answered');
          const busy = rawSocket(port);
          const busyGot = received(busy);
          busy.write('GET /busy HTTP/1.1\r\nHost: x\r\n\r\n');
          await waitFor(() => release !== null, 'the busy request arrived');
          app.closeIdleConnections();
          await waitFor(() => idle.destroyed || idle.readableEnded, 'the idle connection closed');
          expect(busy.destroyed).toBe(false);
          release!();
          await waitFor(() => busyGot().includes('busy done'), 'the busy reply');
          await server.stop();
        });
      }
    });
  }

  describe('on one model', () => {
    const model = IN_PROCESS.find((m) => MODEL_TABLE[m].spec.family === 'event') ?? IN_PROCESS[0];

    it('a 64 MiB response to a client that reads slowly keeps RSS bounded', async () => {
      const chunk = Buffer.alloc(MiB, 0x61);
      const app = http.createServer((_req, res) => {
        let left = 64;
        const more = () => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      });
      const server = trackServer(createServer(model, { handler: app }));
      const { port } = await server.start();
      const before = process.memoryUsage().rss;
      const socket = rawSocket(port);
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let received = 0;
      let peak = 0;
      socket.on('data', (d) => (received += d.length));
      // Reads in short bursts with pauses: the server side must wait.
      while (!socket.destroyed && received < 64 * MiB) {
        socket.pause();
        await delay(20);
        peak = Math.max(peak, process.memoryUsage().rss - before);
        socket.resume();
        await delay(2);
      }
      await waitFor(() => received >= 64 * MiB, 'the whole response', 60_000);
      expect(peak).toBeLessThan(32 * MiB);
      await server.stop();
    });

    it("stop() with live http, https, h2 and ws connections leaves no fd, thread or timer; 'close' fires on each hosted server", async () => {
      const fds = fdSnapshot();
      const threads = await steadyThreadCount();
      const apps: net.Server[] = [];
      const httpApp = http.createServer((_q, r) => r.end('x'));
      const wss = new WebSocketServer({ noServer: true });
      httpApp.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => undefined));
      apps.push(httpApp, https.createServer({ key, cert }, (_q, r) => r.end('x')), http2.createServer());
      const servers = apps.map((app) => trackServer(createServer(model, { handler: app })));
      const ports: number[] = [];
      for (const s of servers) ports.push((await s.start()).port);
      const clientSockets: net.Socket[] = [];
      const keep = new http.Agent({ keepAlive: true });
      await fetchOnce(ports[0], { agent: keep });
      await new Promise<void>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: ports[1], ca: cert, agent: new https.Agent({ keepAlive: true }) }, (res) => {
          clientSockets.push(res.socket);
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
      const session = http2.connect(`http://127.0.0.1:${ports[2]}`);
      session.on('error', () => undefined);
      await new Promise((r) => session.once('connect', r));
      const ws = new WebSocket(`ws://127.0.0.1:${ports[0]}/`);
      ws.on('error', () => undefined);
      await new Promise((r) => ws.once('open', r));
      const closes = apps.map((app) => new Promise<void>((r) => app.once('close', () => r())));
      for (const s of servers) await s.stop();
      await Promise.all(closes);
      await waitFor(() => ws.readyState === WebSocket.CLOSED, 'the ws client saw the close');
      keep.destroy();
      for (const s of clientSockets) s.destroy();
      session.destroy();
      wss.close();
      await waitFor(() => newFds(fds).length === 0, 'no fd left', 5000, () => newFds(fds).join(', '));
      expect(await steadyThreadCount()).toBeLessThanOrEqual(threads);
      // node:http's connection-checking interval, armed by the hosted
      // server's 'listening', was cleared by its close().
      for (const app of [apps[0], apps[1]]) {
        const key = Object.getOwnPropertySymbols(app).find((k) => /connectionsCheckingInterval/.test(k.description ?? ''));
        expect(key).toBeDefined();
        expect((app as unknown as Record<symbol, { _destroyed: boolean }>)[key!]._destroyed).toBe(true);
      }
    });

    it('a hosted server cannot listen twice by accident: listen() throws while hosted, a listening server is refused, and close() stops the host', async () => {
      const app = http.createServer((_q, r) => r.end('x'));
      const server = trackServer(createServer(model, { handler: app }));
      const { port } = await server.start();
      expect(() => app.listen(0)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
      // Hosted by a second netmodels server at once: refused.
      const second = trackServer(createServer(model, { handler: app }));
      await expect(second.start()).rejects.toMatchObject({ code: 'ERR_SERVER_ALREADY_LISTEN' });
      expect(second.listening).toBe(false);
      expect((await fetchOnce(port)).body.toString()).toBe('x');
      await new Promise<void>((resolve, reject) => app.close((err) => (err ? reject(err) : resolve())));
      expect(server.listening).toBe(false);
      // No longer hosted: its own listen() again, and then it cannot be hosted.
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
      await expect(second.start()).rejects.toMatchObject({ code: 'ERR_SERVER_ALREADY_LISTEN' });
      await new Promise<void>((r) => app.close(() => r()));
    });

    it("the hosted server's maxConnections applies: a connection over it is closed and 'drop' emitted", async () => {
      const app = http.createServer((_q, r) => r.end('x'));
      app.maxConnections = 1;
      const drops: unknown[] = [];
      app.on('drop', (d) => drops.push(d));
      const server = trackServer(createServer(model, { handler: app }));
      const { port } = await server.start();
      const { socket: first, got } = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', (g) => g.includes('200 OK'), 'the first reply');
      const second = rawSocket(port);
      await waitFor(() => second.destroyed || second.readableEnded, 'the second connection closed');
      expect(drops).toHaveLength(1);
      expect(drops[0]).toMatchObject({ remoteAddress: '127.0.0.1', localPort: port });
      expect(first.destroyed).toBe(false);
      await server.stop();
    });

    it("https: the client's certificate is known (getPeerCertificate(), authorized)", async () => {
      const app = https.createServer({ key, cert, ca: cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
        const s = req.socket as tls.TLSSocket;
        res.end(JSON.stringify({ cn: s.getPeerCertificate().subject?.CN, authorized: s.authorized, a: s.remoteAddress }));
      });
      const server = trackServer(createServer(model, { handler: app }));
      const { port } = await server.start();
      const body = await new Promise<string>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, ca: cert, key, cert, agent: false }, (res) => {
          let b = '';
          res.on('data', (c) => (b += c));
          res.on('end', () => resolve(b));
        });
        req.on('error', reject);
        req.end();
      });
      expect(JSON.parse(body)).toEqual({ cn: '127.0.0.1', authorized: true, a: '127.0.0.1' });
      await server.stop();
    });

    it("CONNECT: the socket 'connect' hands over keeps working (a tunnel that echoes)", async () => {
      const app = http.createServer((_q, r) => r.end('plain'));
      app.on('connect', (_req, socket: net.Socket, head: Buffer) => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) socket.write(head);
        socket.pipe(socket);
      });
      const server = trackServer(createServer(model, { handler: app }));
      const { port } = await server.start();
      const socket = rawSocket(port);
      const got = received(socket);
      socket.write('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
      await waitFor(() => got().includes('200 Connection Established\r\n\r\n'), 'the tunnel');
      socket.write('through the tunnel');
      await waitFor(() => got().endsWith('through the tunnel'), 'the echo through the tunnel');
      socket.destroy();
      await server.stop();
    });

    it('a datagram model refuses a server that takes connections', () => {
      for (const m of nativeModels().filter((n) => MODEL_TABLE[n].spec.family === 'datagram')) {
        expect(() => createServer(m, { handler: http.createServer() as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      }
    });

    it('fork and prefork refuse a server as they refuse a function', () => {
      // Refused by the types too; a JavaScript caller gets the error.
      expect(() => new ForkServer({ handler: http.createServer() as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    });

    it("a peer reset is 'error' ECONNRESET then 'close' with hadError true (no 'error' listener: 'close' alone); a clean close is not", async () => {
      const events: string[] = [];
      let listen = true;
      const server = trackServer(createServer(model, {
        handler: (conn: Connection) => {
          if (listen) conn.on('error', (err: NodeJS.ErrnoException) => events.push(`error ${err.code} ${err.syscall}`));
          conn.on('close', (hadError: boolean) => events.push(`close ${hadError}`));
          conn.on('data', () => undefined);
        },
      }));
      const { port } = await server.start();
      const a = rawSocket(port);
      await new Promise((r) => a.once('connect', r));
      a.write('x');
      await delay(50);
      a.resetAndDestroy();
      await waitFor(() => events.length === 2, 'error and close', 5000, () => events.join(', '));
      expect(events).toEqual(['error ECONNRESET read', 'close true']);
      events.length = 0;
      const b = rawSocket(port);
      await new Promise((r) => b.once('connect', r));
      b.end();
      await waitFor(() => events.length === 1, 'close', 5000, () => events.join(', '));
      expect(events).toEqual(['close false']);
      // Without an 'error' listener a reset is no uncaught exception (the
      // test run would fail on one).
      events.length = 0;
      listen = false;
      const c = rawSocket(port);
      await new Promise((r) => c.once('connect', r));
      c.write('x');
      await delay(50);
      c.resetAndDestroy();
      await waitFor(() => events.length === 1, 'close', 5000, () => events.join(', '));
      expect(events).toEqual(['close true']);
      await server.stop();
    });

    it('Connection: setTimeout emits timeout without closing, setNoDelay is set natively, destroySoon, address(), readyState', async () => {
      let conn: Connection | null = null;
      const server = trackServer(createServer(model, { handler: (c: Connection) => { conn = c; c.on('data', () => undefined); } }));
      const { port } = await server.start();
      const socket = rawSocket(port);
      await waitFor(() => conn, 'the connection');
      const c = conn!;
      expect(c.readyState).toBe('open');
      expect(c.pending).toBe(false);
      expect(c.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
      const fd = (c as unknown as { fd: number }).fd;
      const sys = binding.sys as { getsockopt(fd: number, option: string): number };
      expect(sys.getsockopt(fd, 'TCP_NODELAY')).not.toBe(0);
      c.setNoDelay(false);
      await waitFor(() => sys.getsockopt(fd, 'TCP_NODELAY') === 0, 'TCP_NODELAY off');
      c.setNoDelay(true);
      await waitFor(() => sys.getsockopt(fd, 'TCP_NODELAY') !== 0, 'TCP_NODELAY on');
      let timeouts = 0;
      const t0 = Date.now();
      c.setTimeout(150, () => timeouts++);
      expect(c.timeout).toBe(150);
      await waitFor(() => timeouts === 1, "'timeout'");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      expect(c.destroyed).toBe(false);
      // New traffic re-arms it, as on net.Socket (the callback was a once listener).
      let again = 0;
      c.on('timeout', () => again++);
      socket.write('x');
      await waitFor(() => again === 1, "a second 'timeout' after new traffic");
      expect(timeouts).toBe(1);
      c.setTimeout(0);
      expect(() => c.setTimeout(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      const got = received(socket);
      c.write('bye');
      c.destroySoon();
      await waitFor(() => c.destroyed, 'destroySoon');
      await waitFor(() => socket.readableEnded, 'the client saw the end');
      expect(got()).toBe('bye');
      await server.stop();
    });
  });
});
