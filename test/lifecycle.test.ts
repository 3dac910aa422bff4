// Rule 10 and the edges of the lifecycle: a server left running when its
// worker or process exits is stopped by the environment cleanup hook, and
// stats() stays safe while stop() is in flight.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { afterEach, describe, expect, it } from 'vitest';

import { MODEL_TABLE, createServer, nativeModels } from '../lib/index';
import { Client, connectError } from './client';
import { cleanup, trackServer, waitFor } from './helpers';
import { childProcesses, fdSnapshot, newFds, threadCount, warmUpThreadPool } from './proc';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');

describe('lifecycle', () => {
  afterEach(cleanup);

  it('terminating a worker with running servers stops them: no thread, fd or listener left', async () => {
    await warmUpThreadPool();
    const threads = threadCount();
    const fds = fdSnapshot();
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      const { createServer } = require(${JSON.stringify(DIST)});
      (async () => {
        const ports = [];
        for (const model of ['epoll', 'thread', 'poll', 'iterative']) {
          ports.push((await createServer(model).start()).port);
        }
        parentPort.postMessage(ports);
      })();
      `,
      { eval: true },
    );
    const ports = await new Promise<number[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const clients = await Promise.all(ports.map((p) => Client.connect(p)));
    for (const c of clients) {
      c.write('hello');
      expect((await c.read(5)).toString()).toBe('HELLO');
    }
    await worker.terminate();
    for (const c of clients) await c.waitClosed();
    for (const p of ports) expect(await connectError(p)).toBe('ECONNREFUSED');
    for (const c of clients) c.destroy();
    await waitFor(() => threadCount() <= threads, 'the servers threads to be joined', 5000, () => `${threadCount()} > ${threads}`);
    await waitFor(() => newFds(fds).length === 0, 'no fd left', 5000, () => newFds(fds).join(', '));
  });

  it('terminating workers in the middle of async waits and a loadgen run never takes the process down', async () => {
    // A callback from a native thread that lands while a Worker terminates
    // cannot call into JS; it must be dropped, not escape as a C++ exception
    // (which aborts the whole process).
    const server = trackServer(createServer('epoll'));
    const { port } = await server.start();
    for (let i = 0; i < 20; i++) {
      const worker = new Worker(
        `
        const { parentPort } = require('node:worker_threads');
        const { sys, loadgen } = require(${JSON.stringify(DIST)});
        const [a, b] = sys.socketpair({ nonBlocking: true });
        const ep = new sys.Epoll();
        ep.add(a, sys.EPOLLIN);
        sys.write(b, Buffer.from('x'));   // level-triggered: always ready
        const spin = () => ep.waitAsync(8, -1).then(() => { const t = Date.now(); while (Date.now() - t < 2) {} spin(); });
        for (let i = 0; i < 4; i++) spin();
        loadgen({ port: ${port}, connections: 2, durationMs: 20 }).then(() => { for (;;) {} });
        parentPort.postMessage('up');
        `,
        { eval: true },
      );
      await new Promise((resolve) => worker.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, 5 + (i % 7) * 5));
      await worker.terminate();
    }
    // Still alive, and the server is unharmed.
    const client = await Client.connect(port);
    client.write('alive');
    expect((await client.read(5)).toString()).toBe('ALIVE');
    client.destroy();
    await server.stop();
  });

  it('process.exit() with a ForkServer and live children leaves no child behind', async () => {
    const script = `
      const { ForkServer } = require(${JSON.stringify(DIST)});
      const net = require('node:net');
      (async () => {
        const server = new ForkServer();
        const { port } = await server.start();
        const sockets = [];
        for (let i = 0; i < 5; i++) {
          const s = net.connect(port, '127.0.0.1');
          await new Promise((r) => s.on('data', r).write('x'));
          sockets.push(s);
        }
        const fs = require('node:fs');
        const children = fs.readdirSync('/proc').filter((name) => {
          if (!/^\\d+$/.test(name)) return false;
          try {
            const stat = fs.readFileSync('/proc/' + name + '/stat', 'latin1');
            return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
          } catch { return false; }
        });
        process.stdout.write(children.join(' ') + '\\n');
        process.exit(0);
      })();
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const pids = out.trim().split(/\s+/).filter(Boolean).map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(5);
    // The children belonged to the exited process; each must be gone, not reparented and serving.
    await waitFor(
      () => pids.every((pid) => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }),
      'every forked child to be gone',
      10_000,
    );
    expect(childProcesses()).toEqual([]);
  });

  it('stats() is safe to call while stop() is in flight, for every model', async () => {
    // The connection models (udp's datagrams: test/udp.test.ts).
    for (const model of nativeModels().filter((m) => MODEL_TABLE[m].spec.family !== 'datagram')) {
      const server = trackServer(createServer(model));
      const { port } = await server.start();
      const clients = await Promise.all([1, 2, 3].map(() => Client.connect(port)));
      const stopping = server.stop();
      const seen: boolean[] = [];
      while (seen.length < 1000) {
        const s = server.stats();
        seen.push(s.running);
        if (!s.running) break;
        await new Promise((r) => setImmediate(r));
      }
      await stopping;
      const s = server.stats();
      expect(s.running).toBe(false);
      expect(s.accepted).toBe(s.active + s.closed + s.rejected);
      for (const c of clients) c.destroy();
    }
  });
});
