// The lingering close keeps every reply: a client with a small receive buffer
// pipelines thousands of requests ending with `Connection: close`, sends one
// more late, and must still read every reply and then EOF, never a reset.
// The first lingering connection of a fresh server is the one that matters:
// it is the one that switches the loop's timers on, so every config of a
// model that lingers by its loop's timers runs (with the http handler: a
// config that differs only in its handler is the same server here).
import * as net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { MODEL_TABLE, createServer, sys } from '../lib/index';
import { CONFIGS } from './configs';
import { cleanup, delay, trackServer, withTimeout } from './helpers';

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
const CLOSE = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
const REQUESTS = 3000;

/** A client socket whose receive buffer is 4 KiB (set before connect, so the window stays small). */
async function smallBufferClient(port: number): Promise<net.Socket> {
  const fd = sys.socket('ipv4', 'stream');
  sys.setsockopt(fd, 'SO_RCVBUF', 4096);
  sys.connect(fd, '127.0.0.1', port);
  const socket = new net.Socket({ fd, readable: true, writable: true });
  socket.pause();
  return socket;
}

async function pipelineThenLateRequest(port: number): Promise<{ replies: number; ending: string }> {
  const socket = await smallBufferClient(port);
  socket.write(GET.repeat(REQUESTS) + CLOSE);
  await delay(300);
  socket.write(GET);
  const chunks: Buffer[] = [];
  const ending = await withTimeout(
    new Promise<string>((resolve) => {
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.once('end', () => resolve('EOF'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.resume();
    }),
    15_000,
    'the replies and the end of the stream',
  );
  socket.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  return { replies: text.split('HTTP/1.1 200 OK').length - 1, ending };
}

describe('lingering close loses no reply', () => {
  afterEach(cleanup);

  const lingering = CONFIGS.filter((c) => MODEL_TABLE[c.model].spec.linger === 'loop' && typeof c.options?.handler !== 'function');
  it('some config lingers by its loop', () => expect(lingering.length).toBeGreaterThan(0));
  for (const config of lingering) {
    it(`${config.label}: the first lingering connection gets all ${REQUESTS + 1} replies, then EOF`, async () => {
      const server = trackServer(createServer(config.model, { ...config.options, handler: 'http' } as never));
      const { port } = await server.start();
      for (let i = 0; i < 2; i++) {
        const { replies, ending } = await pipelineThenLateRequest(port);
        expect({ connection: i, replies, ending }).toEqual({ connection: i, replies: REQUESTS + 1, ending: 'EOF' });
      }
      await server.stop();
    });
  }
});
