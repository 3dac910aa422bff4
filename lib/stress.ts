// The classic stress client: open N connections (beyond the server's limits
// too), count how many were accepted and are still held after a pause, then
// run one request round over every connection still open, in the server's
// protocol.
import * as net from 'node:net';

export type StressExpect = 'uppercase' | 'echo' | 'http' | 'none';
export const STRESS_EXPECTS: readonly StressExpect[] = ['uppercase', 'echo', 'http', 'none'];

export interface StressOptions {
  host: string;
  port: number;
  /** Connections to attempt. */
  connections: number;
  /** How long every connection is held before the held ones are counted. */
  holdMs: number;
  /**
   * The server's protocol, for the request round (default 'uppercase'):
   * 'uppercase' and 'echo' send a line and wait for it back (uppercased or
   * not); 'http' sends `GET /` and waits for a whole 2xx reply; 'none' sends a
   * line and only checks that the connection stays open (a discard server).
   */
  expect?: StressExpect;
  /** How long one request may take. Default 10 s. */
  timeoutMs?: number;
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
  /** Held connections whose request was answered as `expect` says. */
  answered: number;
  /** Held connections that closed, timed out or answered wrong. */
  unanswered: number;
  /** Why requests failed: 'EOF' (closed), 'TIMEOUT', 'MISMATCH', 'STATUS <code>', error codes. */
  failures: Record<string, number>;
}

/** Connect attempts in flight at once. */
const BATCH = 250;
/** 'none': how long a connection must stay open after its request was sent. */
const SETTLE_MS = 100;

type Verdict = 'more' | 'ok' | string;

/** The request and the check of what came back, for one connection. */
function exchange(expect: StressExpect, i: number, host: string): { request: string; check(reply: string): Verdict } {
  if (expect === 'http') {
    return {
      request: `GET /stress-${i} HTTP/1.1\r\nHost: ${net.isIPv6(host) ? `[${host}]` : host}\r\n\r\n`,
      check(reply) {
        const end = reply.indexOf('\r\n\r\n');
        if (end < 0) return 'more';
        const head = reply.slice(0, end);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (!status) return 'MISMATCH';
        if (status[1] === '100') return exchange(expect, i, host).check(reply.slice(end + 4));
        const body = reply.slice(end + 4);
        const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
        const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
        const complete = length ? body.length >= Number(length[1]) : chunked ? /(?:^|\r\n)0\r\n(?:.*\r\n)*\r\n$/.test(body) : true;
        if (!complete) return 'more';
        return status[1].startsWith('2') ? 'ok' : `STATUS ${status[1]}`;
      },
    };
  }
  const request = `stress-${i}-abcxyz\n`;
  const wanted = expect === 'uppercase' ? request.toUpperCase() : request;
  return {
    request,
    check(reply) {
      if (expect === 'none') return 'ok';
      if (reply.length < wanted.length) return wanted.startsWith(reply) ? 'more' : 'MISMATCH';
      return reply === wanted ? 'ok' : 'MISMATCH';
    },
  };
}

/**
 * Runs the stress test. `onHeld` is called once the hold phase is over,
 * before the request round starts. Every connection is destroyed by the time
 * the promise resolves.
 */
export async function stress(options: StressOptions, onHeld?: (hold: StressHold) => void): Promise<StressReport> {
  const { host, port, connections: count, holdMs } = options;
  const expect = options.expect ?? 'uppercase';
  const timeoutMs = options.timeoutMs ?? 10_000;
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
  const failures: Record<string, number> = {};
  await Promise.all(
    held.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          const { request, check } = exchange(expect, i, host);
          let got = '';
          let done = false;
          const timer = setTimeout(() => finish('TIMEOUT'), timeoutMs);
          function finish(verdict: Verdict) {
            if (done) return;
            done = true;
            clearTimeout(timer);
            s.removeAllListeners('data');
            if (verdict === 'ok') answered++;
            else failures[verdict] = (failures[verdict] ?? 0) + 1;
            resolve();
          }
          s.on('data', (chunk: Buffer) => {
            if (expect === 'none') return;
            got += chunk.toString('latin1');
            const verdict = check(got);
            if (verdict !== 'more') finish(verdict);
          });
          s.once('error', (err: Error & { code?: string }) => finish(err.code ?? 'ERROR'));
          s.once('close', () => finish('EOF'));
          s.write(request, (err) => {
            if (err) finish((err as Error & { code?: string }).code ?? 'ERROR');
            else if (expect === 'none') setTimeout(() => finish(s.destroyed ? 'EOF' : 'ok'), SETTLE_MS);
          });
        }),
    ),
  );
  const unanswered = held.length - answered;
  const report: StressReport = { ...hold, answered, unanswered, failures };
  for (const s of sockets) s.destroy();
  return report;
}
