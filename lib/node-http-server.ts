// The node:http baseline for the bench's http rows: the same app as the
// `+ node:http` rows (bench-http-app.ts) with its own listen(), in a process
// of its own. Prints "PORT <n>" on its first stdout line; stops on
// SIGTERM/SIGINT.
import type { AddressInfo } from 'node:net';

import app = require('./bench-http-app');

app.listen({ host: process.argv[2] ?? '127.0.0.1', port: Number(process.argv[3] ?? 0), backlog: 4096 }, () => {
  process.stdout.write(`PORT ${(app.address() as AddressInfo).port}\n`);
});
const stop = () => {
  app.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
