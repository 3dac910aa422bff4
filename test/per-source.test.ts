// maxConnectionsPerSource: open connections counted per remote IP. Loopback
// answers every 127.x address, so clients bound to 127.0.0.2 are another source.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { createServer, nativeModels, type ModelName } from '../lib/index';
import { cleanup, trackServer, trackSocket, waitForStats } from './helpers';

afterEach(cleanup);

interface Outcome {
  socket: net.Socket;
  /** true: served (the echo came back); false: closed at once, nothing received. */
  served: boolean;
}

/** Connects from `from`, sends a ping and settles once it is echoed or the server closed. */
function attempt(port: number, from: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = trackSocket(net.connect({ port, host: '127.0.0.1', localAddress: from }));
    const timer = setTimeout(() => reject(new Error(`no answer for a client from ${from}`)), 10_000);
    const done = (served: boolean) => {
      clearTimeout(timer);
      resolve({ socket, served });
    };
    socket.on('connect', () => socket.write('ping'));
    socket.once('data', () => done(true));
    // A reset (the ping crossed the close) or a plain end: either way refused.
    socket.on('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

function release(outcomes: Outcome[]): void {
  for (const o of outcomes) o.socket.destroy();
}

const CASES: Array<[string, ModelName, Record<string, unknown>]> = [
  ['epoll (an event model)', 'epoll', {}],
  ['poll (an event model)', 'poll', {}],
  ['thread (a blocking model)', 'thread', {}],
  ['fork (released when the child is reaped)', 'fork', {}],
  ['prefork (one count across the children, each accepting for itself)', 'prefork', { workers: 8 }],
  ['epoll x3 handoff (one count across loops, admitted by the acceptor)', 'epoll', { loops: 3, balance: 'handoff' }],
  ['poll x3 reuseport (one count across loops)', 'poll', { loops: 3 }],
  ...(nativeModels().includes('uring') ? [['uring (a completion loop)', 'uring', {}] as [string, ModelName, Record<string, unknown>]] : []),
];

describe.each(CASES)('maxConnectionsPerSource: %s', (_label, model, options) => {
  it('refuses the third connection from one IP and serves the others', async () => {
    const server = trackServer(createServer(model, { ...options, handler: 'echo', maxConnectionsPerSource: 2 } as never));
    const { port } = await server.start();
    // One at a time, so which ones are refused is known.
    const first: Outcome[] = [];
    for (let i = 0; i < 5; i++) first.push(await attempt(port, '127.0.0.1'));
    expect(first.map((o) => o.served)).toEqual([true, true, false, false, false]);
    const other = await Promise.all([0, 1].map(() => attempt(port, '127.0.0.2')));
    expect(other.map((o) => o.served)).toEqual([true, true]);
    let s = await waitForStats(server, (x) => x.active === 4 && x.accepted === 7, '4 served, 3 refused');
    expect(s.rejected).toBe(3);

    // A connection that ends frees its place for the next one from that IP.
    first[0].socket.destroy();
    await waitForStats(server, (x) => x.active === 3, 'the first client gone');
    const again = await attempt(port, '127.0.0.1');
    expect(again.served).toBe(true);
    expect((await attempt(port, '127.0.0.1')).served).toBe(false);

    release([...first, ...other, again]);
    s = await waitForStats(server, (x) => x.active === 0 && x.accepted === x.closed + x.rejected, 'quiescent');
    expect(s).toMatchObject({ accepted: 9, rejected: 4, closed: 5 });
    await server.stop();
  });

  it('concurrent clients: 5 from 127.0.0.1 and 2 from 127.0.0.2 with a limit of 2 -> 3 rejected', async () => {
    const server = trackServer(createServer(model, { ...options, handler: 'echo', maxConnectionsPerSource: 2 } as never));
    const { port } = await server.start();
    const a = await Promise.all(Array.from({ length: 5 }, () => attempt(port, '127.0.0.1')));
    const b = await Promise.all(Array.from({ length: 2 }, () => attempt(port, '127.0.0.2')));
    expect(a.filter((o) => o.served)).toHaveLength(2);
    expect(b.every((o) => o.served)).toBe(true);
    const s = await waitForStats(server, (x) => x.accepted === 7 && x.active === 4, 'every attempt accounted for');
    expect(s.rejected).toBe(3);
    release([...a, ...b]);
    await waitForStats(server, (x) => x.active === 0, 'every client gone');
    await server.stop();
  });
});

it('no limit by default: 20 connections from one IP are all served', async () => {
  const server = trackServer(createServer('epoll', { handler: 'echo' }));
  const { port } = await server.start();
  const all = await Promise.all(Array.from({ length: 20 }, () => attempt(port, '127.0.0.1')));
  expect(all.every((o) => o.served)).toBe(true);
  expect(server.stats().rejected).toBe(0);
  release(all);
  await server.stop();
});
