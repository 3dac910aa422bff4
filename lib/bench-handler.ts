// The benchmark's JavaScript work, the same code on both sides of a ratio:
// the node:net baseline (node-server.ts) and the `<model> + js` rows
// (`netmodels serve --handler <this file>`): the ASCII uppercase echo over
// the Buffer, keeping backpressure (no reading while write() says wait).
import type { Duplex } from 'node:stream';

export function uppercase(chunk: Buffer): Buffer {
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i];
    if (c >= 0x61 && c <= 0x7a) chunk[i] = c - 32;
  }
  return chunk;
}

/** Serves one connection: a net.Socket or a netmodels Connection. */
export default function uppercaseEcho(socket: Duplex): void {
  socket.on('data', (chunk: Buffer) => {
    if (!socket.write(uppercase(chunk))) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
}
