// The classic stress client: open N connections (beyond the server's limits
// too), count how many were accepted and are still held after a pause, then
// run one request round over every connection still open.
import * as net from 'node:net';

export interface StressOptions {
  host: string;
  port: number;
  /** Connections to attempt. */
  connections: number;
  /** How long every connection is held before the held ones are counted. */
  holdMs: number;
}

/** What the connect-and-hold phase found. */
export interface StressHold {
  attempted: number;
  connected: number;
  connectMs: number;
  /** Connections that never connected, and their error codes. */
  failed: number;
  errorCodes: Record<string, number>;
  /** Connections still open after `holdMs` (the rest were closed by the server). */
  held: number;
}

export interface StressReport extends StressHold {
  /** Held connections whose request came back uppercased in full. */
  answered: number;
  /** Held connections that closed, timed out or answered wrong. */
  unanswered: number;
}

/** Connect attempts in flight at once. */
const BATCH = 250;

/**
 * Runs the stress test. `onHeld` is called once the hold phase is over,
 * before the request round starts. Every connection is destroyed by the time
 * the promise resolves.
 */
export async function stress(options: StressOptions, onHeld?: (hold: StressHold) => void): Promise<StressReport> {
  const { host, port, connections: count, holdMs } = options;
  const sockets: net.Socket[] = [];
  const closedByServer = new Set<net.Socket>();
  let failed = 0;
  const errorCodes: Record<string, number> = {};
  const started = Date.now();
  for (let i = 0; i < count; i += BATCH) {
    const batch = Math.min(BATCH, count - i);
    await Promise.all(
      Array.from(
        { length: batch },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ host, port });
            s.setTimeout(10_000, () => s.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
            s.once('connect', () => {
              s.setTimeout(0);
              sockets.push(s);
              resolve();
            });
            s.on('end', () => closedByServer.add(s));
            s.on('close', () => closedByServer.add(s));
            s.on('error', (err: Error & { code?: string }) => {
              const code = err.code ?? 'ERROR';
              if (!sockets.includes(s)) {
                failed++;
                errorCodes[code] = (errorCodes[code] ?? 0) + 1;
                resolve();
              } else {
                closedByServer.add(s);
              }
            });
          }),
      ),
    );
  }
  const connectMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, holdMs));
  const held = sockets.filter((s) => !closedByServer.has(s));
  const hold: StressHold = { attempted: count, connected: sockets.length, connectMs, failed, errorCodes, held: held.length };
  onHeld?.(hold);

  // One request round over every held connection.
  let answered = 0;
  let unanswered = 0;
  await Promise.all(
    held.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          const message = `stress-${i}-abcxyz`;
          let got = '';
          const timer = setTimeout(() => finish(false), 10_000);
          function finish(good: boolean) {
            clearTimeout(timer);
            s.removeAllListeners('data');
            if (good) answered++;
            else unanswered++;
            resolve();
          }
          s.on('data', (chunk: Buffer) => {
            got += chunk.toString('latin1');
            if (got.length >= message.length) finish(got === message.toUpperCase());
          });
          s.once('close', () => finish(false));
          s.write(message);
        }),
    ),
  );
  const report: StressReport = { ...hold, answered, unanswered };
  for (const s of sockets) s.destroy();
  return report;
}
