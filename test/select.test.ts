// What only SelectServer does: refuse connections on fds >= FD_SETSIZE
// instead of passing them to FD_SET.
import * as fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { SelectServer } from '../lib/index';
import { cleanup, trackServer, waitForStats } from './helpers';
import { closeAll, openMany, roundTripAll, serverClosed } from './scale';

const FD_SETSIZE = 1024;

describe('SelectServer', () => {
  const fillers: number[] = [];
  afterEach(async () => {
    for (const fd of fillers.splice(0)) fs.closeSync(fd);
    await cleanup();
  });

  it('rejects connections that land on fds >= FD_SETSIZE and keeps serving the others', async () => {
    const server = trackServer(new SelectServer());
    const { port } = await server.start();
    const [low] = await openMany(port, 1);
    await roundTripAll([low], 'before');

    // Push this process's next free fd (shared with the server) past FD_SETSIZE.
    for (;;) {
      const fd = fs.openSync('/dev/null', 'r');
      fillers.push(fd);
      if (fd >= FD_SETSIZE + 64) break;
    }
    const high = await openMany(port, 5);
    await Promise.all(high.map(serverClosed));
    const s = await waitForStats(server, (x) => x.rejected === 5, '5 connections rejected');
    expect(s.errors).toBe(0);
    expect(s.active).toBe(1);
    await roundTripAll([low], 'during');
    await closeAll(high);

    // Once fds are free again, new connections land low and are served.
    for (const fd of fillers.splice(0)) fs.closeSync(fd);
    const fresh = await openMany(port, 3);
    await roundTripAll(fresh, 'after');
    await roundTripAll([low], 'still');
    const end = server.stats();
    expect(end.rejected).toBe(5);
    expect(end.accepted).toBe(end.active + end.closed + end.rejected);
    await closeAll([low, ...fresh]);
    await server.stop();
  });

  it('counts one wakeup per select() return', async () => {
    const server = trackServer(new SelectServer());
    const { port } = await server.start();
    const before = server.stats().wakeups;
    const sockets = await openMany(port, 1);
    for (let i = 0; i < 20; i++) await roundTripAll(sockets, `w${i}`);
    const after = server.stats().wakeups;
    // At least the accept and one read per round trip; a multiplexing server
    // never needs more than a few returns per request.
    expect(after - before).toBeGreaterThanOrEqual(21);
    expect(after - before).toBeLessThan(21 * 4);
    await closeAll(sockets);
    await server.stop();
  });
});
