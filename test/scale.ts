// Helpers for tests that hold thousands of raw connections at once. They use
// bare sockets (no per-client buffering objects) and connect in batches so
// the listen backlog never overflows into SYN retransmits.
import * as net from 'node:net';

import { trackSocket, withTimeout } from './helpers';

/** Opens `n` connections to `port`, `batch` at a time; every one must connect. */
export async function openMany(port: number, n: number, host = '127.0.0.1', batch = 250): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += batch) {
    const count = Math.min(batch, n - i);
    const opened = await withTimeout(
      Promise.all(
        Array.from(
          { length: count },
          () =>
            new Promise<net.Socket>((resolve, reject) => {
              const s = trackSocket(net.connect({ port, host }));
              s.once('connect', () => {
                s.off('error', reject);
                resolve(s);
              });
              s.once('error', reject);
            }),
        ),
      ),
      30_000,
      `connecting ${count} sockets`,
    );
    sockets.push(...opened);
  }
  return sockets;
}

/**
 * Sends a distinct lowercase message on every socket (all at once) and checks
 * each one gets exactly its uppercase back.
 */
export async function roundTripAll(sockets: net.Socket[], tag = 'msg'): Promise<void> {
  await withTimeout(
    Promise.all(
      sockets.map(
        (s, i) =>
          new Promise<void>((resolve, reject) => {
            const message = `${tag}-${i}-abcdefghijklmnopqrstuvwxyz`;
            const expected = message.toUpperCase();
            let got = '';
            const onData = (chunk: Buffer) => {
              got += chunk.toString('latin1');
              if (got.length >= expected.length) {
                s.off('data', onData);
                s.off('error', reject);
                if (got === expected) resolve();
                else reject(new Error(`socket ${i}: expected ${expected}, got ${got}`));
              }
            };
            s.on('data', onData);
            s.once('error', reject);
            s.write(message);
          }),
      ),
    ),
    60_000,
    `a round trip over ${sockets.length} sockets`,
  );
}

/** Destroys the sockets and waits until each has emitted 'close'. */
export async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed && s.closed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  );
}

/** Resolves when the server closes `socket` (end, reset or close). */
export function serverClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
    socket.resume();
  });
}
