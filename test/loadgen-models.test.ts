// The load generator against every model: every reply verified, and its
// counts agree with the server's own.
import { afterEach, describe, expect, it } from 'vitest';

import { MODEL_TABLE, createServer, loadgen } from '../lib/index';
import { CONFIGS } from './configs';
import { cleanup, trackServer, waitQuiescent } from './helpers';

describe.each(CONFIGS)('loadgen against $label', ({ model, options }) => {
  afterEach(cleanup);

  it('rr: every reply verified, and the server counted what the generator sent', async () => {
    const server = trackServer(createServer(model, options as never));
    const { port } = await server.start();
    const connections = MODEL_TABLE[model].spec.serial ? 1 : 8;
    const messageSize = 100;
    const report = await loadgen({ port, connections, messageSize, durationMs: 500 });
    expect(report.mismatches).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.connected).toBe(connections);
    expect(report.requests).toBeGreaterThan(0);
    expect(report.latencyUs.p50).toBeLessThanOrEqual(report.latencyUs.p99);
    const s = await waitQuiescent(server, connections, 10_000);
    // Not counted: the request each connection had in flight when the window
    // closed, and the one it may have sent from the event batch in which its
    // thread noticed the deadline. At most two per connection.
    expect(s.bytesIn).toBeGreaterThanOrEqual(report.requests * messageSize);
    expect(s.bytesIn).toBeLessThanOrEqual((report.requests + 2 * connections) * messageSize);
    expect(s.bytesIn % messageSize).toBe(0);
    expect(s.bytesOut).toBeGreaterThanOrEqual(report.requests * messageSize);
    expect(s.bytesOut).toBeLessThanOrEqual(s.bytesIn);
    expect(s.accepted).toBe(connections);
    await server.stop();
  });
});
