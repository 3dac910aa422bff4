// The node:net baseline for the benchmark: the same uppercase echo as the
// native models, in JavaScript, in a process of its own.
// Prints "PORT <n>" on its first stdout line; stops on SIGTERM/SIGINT.
import * as net from 'node:net';

function uppercase(chunk: Buffer): Buffer {
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i];
    if (c >= 0x61 && c <= 0x7a) chunk[i] = c - 32;
  }
  return chunk;
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (chunk: Buffer) => {
    // Backpressure as the native models do it: stop reading while the
    // reply cannot be written.
    if (!socket.write(uppercase(chunk))) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
  socket.on('error', () => socket.destroy());
});
server.listen({ host: process.argv[2] ?? '127.0.0.1', port: Number(process.argv[3] ?? 0), backlog: 4096 }, () => {
  process.stdout.write(`PORT ${(server.address() as net.AddressInfo).port}\n`);
});
const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
