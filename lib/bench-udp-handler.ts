// The `udp + js` row's handler (`netmodels serve --model udp --handler
// <this file>`): the node:dgram baseline's uppercase, on the udp model's
// JS bridge.
import { uppercase } from './bench-handler';
import type { Reply } from './udp-link';

export default function uppercaseDatagram(msg: Buffer, _rinfo: unknown, reply: Reply): void {
  reply(uppercase(msg));
}
