// The node:net baseline for the benchmark: the same uppercase echo as the
// native models, in JavaScript (bench-handler.ts, also what the `+ js` rows
// run), in a process of its own.
// Prints "PORT <n>" on its first stdout line; stops on SIGTERM/SIGINT.
import * as net from 'node:net';

import uppercaseEcho from './bench-handler';

const server = net.createServer({ noDelay: true }, uppercaseEcho);
server.listen({ host: process.argv[2] ?? '127.0.0.1', port: Number(process.argv[3] ?? 0), backlog: 4096 }, () => {
  process.stdout.write(`PORT ${(server.address() as net.AddressInfo).port}\n`);
});
const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
