// The node:dgram baseline of the UDP bench: the same uppercase reply as the
// udp model's, in JavaScript (bench-handler.ts's uppercase, also what the
// `udp + js` row runs), in a process of its own.
// Its receive queue: argv[4] bytes (SO_RCVBUF, capped by net.core.rmem_max),
// as the udp model's and the yardstick's; omitted or 0, the kernel's default.
// Prints "PORT <n>" on its first stdout line; stops on SIGTERM/SIGINT.
import * as dgram from 'node:dgram';

import { uppercase } from './bench-handler';

const host = process.argv[2] ?? '127.0.0.1';
const recvBufferSize = Number(process.argv[4] ?? 0) || undefined;
const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize });
socket.on('message', (msg, rinfo) => socket.send(uppercase(msg), rinfo.port, rinfo.address));
socket.bind(Number(process.argv[3] ?? 0), host, () => {
  process.stdout.write(`PORT ${socket.address().port}\n`);
});
const stop = () => {
  socket.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
