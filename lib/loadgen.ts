// The native load generator (native/loadgen/): an epoll client on its own
// thread(s) that drives a TCP server and verifies every reply.
import { isIP } from 'node:net';

import { binding } from './binding';
import {
  AbortError,
  codedError,
  invalidArgType,
  invalidArgValue,
  rejectUnknownOptions,
  validateInteger,
  validateOneOf,
  validateOptionsObject,
  validateSignal,
  type NodeStyleError,
} from './errors';

export type LoadMode = 'rr' | 'hold' | 'churn' | 'udp' | 'http';
export type LoadExpect = 'uppercase' | 'echo' | 'none';

export const LOAD_MODES: readonly LoadMode[] = ['rr', 'hold', 'churn', 'udp', 'http'];
export const LOAD_EXPECTS: readonly LoadExpect[] = ['uppercase', 'echo', 'none'];

/**
 * Where a run is: `setup` (rr and hold: connecting, no request sent yet),
 * `warmup`, then `measure` (the measured window). Churn starts in `warmup`,
 * or in `measure` without one; a run with no warm-up skips `warmup`.
 */
export type LoadPhase = 'setup' | 'warmup' | 'measure';

/**
 * A snapshot delivered to `onProgress` about every 250 ms during a run, and
 * at once whenever the run enters a phase (its start included). The first
 * snapshot in phase `measure` comes as soon as the measured window has begun
 * (under a millisecond after it, plus the hop to the JS thread): sample a
 * server there to measure it over the same window as the load generator.
 * A run stopped during set-up, or one whose window is shorter than the hop,
 * may end without one.
 */
export interface LoadProgress {
  phase: LoadPhase;
  /** Since the start of the run: set-up and warm-up included. */
  elapsedMs: number;
  /** Requests counted so far (measured window only, as in the report). */
  requests: number;
  /** Completed replies per second over the last interval (warm-up included). */
  rps: number;
  /** Errors so far. */
  errors: number;
}

export interface LoadgenOptions {
  /** IPv4 or IPv6 literal. Default '127.0.0.1'. */
  host?: string;
  /** Required, 1..65535. */
  port: number;
  /**
   * Default 'rr'. 'udp': `connections` virtual clients, each its own UDP
   * socket with `pipeline` datagrams in flight (default 1: send, wait for
   * the reply, send the next), answered byte for byte or lost.
   */
  mode?: LoadMode;
  /** rr, churn and udp: concurrent connections (slots; udp: clients). Default 64. Ignored by hold. */
  connections?: number;
  /** Request size in bytes, 1..16 MiB. Default 64. */
  messageSize?: number;
  /** The measured window, after the warm-up. Default 3000. */
  durationMs?: number;
  /** Run before the measured window; its requests are not counted. Default 0. */
  warmupMs?: number;
  /**
   * A connect() still pending after this long fails with 'ETIMEDOUT' (and is
   * retried in rr and churn, like any failed connect). Bounds rr's and
   * hold's set-up. Default 3000.
   */
  connectTimeoutMs?: number;
  /**
   * udp: a datagram unanswered after this long is counted as `lost`, and its
   * client sends the next one. Default 200.
   */
  timeoutMs?: number;
  /** hold: idle connections opened and held beside the one active connection. Default 0. */
  idle?: number;
  /** How replies are verified. Default 'uppercase'. */
  expect?: LoadExpect;
  /** Native event loops, each with its own epoll set; connections are split among them. Default 1. */
  threads?: number;
  /**
   * rr only: an open-loop fixed rate, in requests per second over the whole
   * run (as wrk2's `-R`). Each connection sends on its own schedule of
   * intended times (`rate / connections` per second, spread evenly), and a
   * request's latency counts from its intended time, so a server that
   * stalls is charged for every request it held up (closed-loop
   * percentiles hide that: coordinated omission). A request already late
   * when its predecessor's reply comes goes at once. Give enough
   * `connections` for the rate (each carries one request at a time).
   * Default 0: closed loop, each connection sends as soon as its reply came.
   */
  rate?: number;
  /** Called on the JS thread about every 250 ms and at each phase change: see `LoadProgress`. */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborting it ends the run at once: the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** http: the path every GET asks for. Default '/'. */
  path?: string;
  /**
   * http: GETs sent at once on a connection (pipelining depth); the next
   * batch waits for every response. udp: datagrams each client keeps in
   * flight; a reply (or a loss) lets the next one go, and a client reads
   * its replies with one recvmmsg() and sends with one sendmmsg(), so the
   * client's syscalls per datagram fall as this grows (a datagram of under
   * 4 bytes numbers at most 10^messageSize). Default 1.
   */
  pipeline?: number;
  /** http: a batch not wholly answered after this long is a timeout (counted in `timeouts`; the connection is closed and retried). Default 10000. */
  requestTimeoutMs?: number;
}

/**
 * Latency of the counted requests, microseconds. min, mean, stdev
 * (population, as wrk and autocannon give it) and max are exact; the
 * percentiles come from a log-linear histogram (within 0.4 %).
 */
export interface LatencyUs {
  min: number;
  mean: number;
  stdev: number;
  p50: number;
  p75: number;
  p90: number;
  /** The 97.5th percentile (autocannon's column). */
  p975: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
}

export interface LoadReport {
  /** Connections established and still open when the run ended (hold: idle + active held). */
  connected: number;
  /**
   * Connections never attempted because the run ended first: churn slots
   * still waiting for a connect slot (at most 128 connects are in flight per
   * thread), or any connection of a run stopped during set-up. Not errors:
   * the run's end is not a failure of the server. rr and hold settle every
   * connection before the clock starts, so 0 for them unless stopped early.
   */
  unstarted: number;
  /** Verified replies completed in the measured window (churn: whole cycles). */
  requests: number;
  /** requests / measured seconds. */
  rps: number;
  /** Payload bytes sent plus received by the counted requests, per second: `readBytesPerSec + writtenBytesPerSec`. */
  bytesPerSec: number;
  /** Payload bytes received by the counted requests, per second (what wrk calls Transfer/sec). */
  readBytesPerSec: number;
  /** Payload bytes sent by the counted requests, per second. */
  writtenBytesPerSec: number;
  /** When the run started (set-up included) and finished, ISO 8601. */
  startedAt: string;
  finishedAt: string;
  /**
   * Failed connects, early closes (EOF), resets...: see errorCodes. Whole run,
   * set-up and warm-up included. A connect() pending for `connectTimeoutMs`
   * is 'ETIMEDOUT' (e.g. a server whose accept queue is full drops the SYNs);
   * one the run's end interrupts is no error. In rr and hold, set-up waits
   * for every connection to be established or to fail, so `connected` falls
   * short of the connections asked for only with errors that say why.
   */
  errors: number;
  /** Replies (or bytes on an idle connection) that did not match. Whole run, warm-up included. */
  mismatches: number;
  /** udp: datagrams sent in the measured window and unanswered within `timeoutMs` (0 in the other modes). */
  lost: number;
  /** udp: replies that came after their datagram was counted lost, or that named no datagram in flight. */
  late: number;
  /** Latency of the counted requests in microseconds (churn: from connect() to the reply). */
  latencyUs: LatencyUs;
  /** The measured window actually run (shorter only if the process was exiting). */
  durationMs: number;
  /** errors by cause: libuv error names ('ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', ...) and 'EOF'. */
  errorCodes: Record<string, number>;
  /**
   * rr and hold: set-up was cut short because the server stopped accepting
   * (no connection established for `connectTimeoutMs` while others waited
   * for a connect slot: an iterative server busy with one client, a full
   * backlog dropping SYNs). The connections never tried are `unstarted`; the
   * run went on with those `connected`. Without this rule 30,000 connections
   * would time out 128 at a time, for ten minutes.
   */
  setupCut: boolean;
  /** http: responses by status code, whole run (warm-up included). Empty in other modes. */
  statuses: Record<string, number>;
  /** http: responses whose status is not 2xx, whole run; not in `requests`, not in `errors`. */
  non2xx: number;
  /** http: batches not answered within `requestTimeoutMs`; not in `errors`. */
  timeouts: number;
}

const KNOWN = [
  'host', 'port', 'mode', 'connections', 'messageSize', 'durationMs', 'warmupMs',
  'connectTimeoutMs', 'timeoutMs', 'idle', 'expect', 'threads', 'rate', 'onProgress', 'signal', 'path', 'pipeline', 'requestTimeoutMs',
] as const;

const MAX_CONNECTIONS = 1_000_000;
/** The largest `messageSize`, in bytes. */
export const MAX_MESSAGE = 16 * 1024 * 1024;
const MAX_MS = 24 * 60 * 60 * 1000;

/**
 * Drives a TCP server from native epoll loops and resolves with a report.
 *
 * - `rr`: every connection sends `messageSize` bytes of lowercase letters
 *   (a different rotation for each request) and waits for the whole reply
 *   before sending the next.
 * - `hold`: opens `idle` connections that send nothing, then, once every one
 *   of them is established or has failed, one active connection doing rr.
 * - `churn`: every slot loops connect, one request/reply, close (with RST,
 *   so that no TIME_WAIT piles up on the client).
 * - `http`: rr over HTTP/1.1 keep-alive: every connection sends `pipeline`
 *   `GET path` requests at once and waits until each response is framed
 *   (Content-Length or chunked); `requests` counts the 2xx responses, and
 *   `statuses`, `non2xx` and `timeouts` say what else came back. A
 *   response that cannot be framed is a mismatch (the connection is
 *   closed and retried). `messageSize` and `expect` do not apply.
 *
 * Set-up (rr and hold): the clock starts only once every connection (rr:
 * all `connections`; hold: the `idle` ones) is established or has failed
 * (refused, reset, or 'ETIMEDOUT' after `connectTimeoutMs`). No request is
 * sent before, so connecting is never measured and never waits behind the
 * traffic of open connections. Then the warm-up runs, then the measured
 * window: a run lasts set-up + `warmupMs` + `durationMs`, and set-up is
 * bounded by `connectTimeoutMs` per wave of 128 connects per thread. Churn
 * has no set-up: connecting is what it measures. `onProgress` reports each
 * phase as it begins, so a caller knows when the measured window starts: a
 * timer of `warmupMs` started with the run would open its window a set-up
 * early.
 *
 * A failed rr/churn connection (refused, reset, closed early) is counted in
 * `errors` and retried after 20 ms; hold's idle connections are opened once.
 * The run ends `warmupMs + durationMs` after set-up; requests in flight then
 * are dropped, not waited for.
 *
 * An aborted `signal` stops the run at once (its threads are joined) and
 * rejects the promise with an `AbortError` (`cause`: the signal's reason).
 *
 * A run that counted no request failed, whatever else it did: the promise
 * rejects with an `Error` of code 'ERR_LOADGEN_NO_REQUESTS' that names why —
 * its errors by cause, most first ('ECONNREFUSED 640, mismatch 28,471'),
 * with a hint when replies came but did not match, or that the server never
 * answered — and carries the whole report as `report`.
 *
 * Invalid options never throw synchronously: the returned promise rejects
 * with a Node-style TypeError (ERR_INVALID_ARG_TYPE) or RangeError
 * (ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE). If `onProgress` throws, the run
 * continues without further progress calls and the promise rejects with
 * that error at the end.
 */
export async function loadgen(options: LoadgenOptions): Promise<LoadReport> {
  const report = await loadgenReport(options);
  if (report.requests === 0) throw noRequests(report, (options as { expect?: LoadExpect }).expect ?? 'uppercase');
  return report;
}

/** Errors of `reports` by cause, summed: their `errorCodes`, mismatches, non-2xx responses, timeouts and lost datagrams. */
export function errorCauses(reports: readonly Pick<LoadReport, 'errorCodes' | 'mismatches' | 'non2xx' | 'timeouts' | 'lost'>[]): Record<string, number> {
  const causes: Record<string, number> = {};
  const add = (cause: string, n: number | undefined) => {
    if (n) causes[cause] = (causes[cause] ?? 0) + n;
  };
  for (const r of reports) {
    for (const [code, n] of Object.entries(r.errorCodes ?? {})) add(code, n);
    add('mismatch', r.mismatches);
    add('non-2xx', r.non2xx);
    add('timeout', r.timeouts);
    add('lost', r.lost);
  }
  return causes;
}

/** What loadgen() rejects with when a run counted no request. */
function noRequests(report: LoadReport, expect: LoadExpect): NodeStyleError & { report: LoadReport } {
  const causes = Object.entries(errorCauses([report])).sort(([, a], [, b]) => b - a);
  let why: string;
  if (causes.length === 0) {
    why = 'no error: the server never answered (is it a discard server? a request of this size too large for it?)';
  } else {
    const others = LOAD_EXPECTS.filter((e) => e !== expect).join('|');
    why = causes.map(([cause, n]) => `${cause} ${n.toLocaleString('en-US')}`).join(', ');
    if (report.mismatches > 0) why += `: does the server speak another protocol? (expect: ${others})`;
  }
  const err = codedError('ERR_LOADGEN_NO_REQUESTS', `loadgen: no request completed in ${Math.round(report.durationMs)} ms; ${why}`);
  return Object.assign(err, { report });
}

/**
 * loadgen()'s run, resolved with its report even when it counted no request:
 * for the bench and the experiments, which judge a report themselves.
 */
export async function loadgenReport(options: LoadgenOptions): Promise<LoadReport> {
  const opts = validateOptionsObject('options', options);
  rejectUnknownOptions('options', opts, KNOWN, 'loadgen()');
  if (opts.port === undefined) throw invalidArgType('options.port', 'of type number', opts.port);
  const port = validateInteger('options.port', opts.port, 1, 65535, 0);
  let host = '127.0.0.1';
  if (opts.host !== undefined) {
    if (typeof opts.host !== 'string') throw invalidArgType('options.host', 'of type string', opts.host);
    if (isIP(opts.host) === 0) throw invalidArgValue('options.host', opts.host, 'must be an IPv4 or IPv6 address');
    host = opts.host;
  }
  const mode = validateOneOf('options.mode', opts.mode, LOAD_MODES, 'rr');
  const expect = validateOneOf('options.expect', opts.expect, LOAD_EXPECTS, 'uppercase');
  const connections = validateInteger('options.connections', opts.connections, 1, MAX_CONNECTIONS, 64);
  const idle = validateInteger('options.idle', opts.idle, 0, MAX_CONNECTIONS, 0);
  const messageSize = validateInteger('options.messageSize', opts.messageSize, 1, MAX_MESSAGE, 64);
  const durationMs = validateInteger('options.durationMs', opts.durationMs, 1, MAX_MS, 3000);
  const warmupMs = validateInteger('options.warmupMs', opts.warmupMs, 0, MAX_MS, 0);
  const connectTimeoutMs = validateInteger('options.connectTimeoutMs', opts.connectTimeoutMs, 1, MAX_MS, 3000);
  const timeoutMs = validateInteger('options.timeoutMs', opts.timeoutMs, 1, MAX_MS, 200);
  const threads = validateInteger('options.threads', opts.threads, 1, 256, 1);
  const rate = validateInteger('options.rate', opts.rate, 0, 100_000_000, 0);
  if (rate > 0 && mode !== 'rr') throw invalidArgValue('options.rate', rate, "applies to mode 'rr' only");
  const pipeline = validateInteger('options.pipeline', opts.pipeline, 1, mode === 'udp' ? Math.min(1024, 10 ** messageSize) : 1024, 1);
  const requestTimeoutMs = validateInteger('options.requestTimeoutMs', opts.requestTimeoutMs, 1, MAX_MS, 10_000);
  let path = '/';
  if (opts.path !== undefined) {
    if (typeof opts.path !== 'string') throw invalidArgType('options.path', 'of type string', opts.path);
    if (!/^\/[\x21-\x7e]*$/.test(opts.path)) throw invalidArgValue('options.path', opts.path, "must start with '/' and hold only visible ASCII");
    path = opts.path;
  }
  const onProgress = opts.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw invalidArgType('options.onProgress', 'of type function', onProgress);
  }
  const signal = validateSignal('options.signal', opts.signal);
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });

  // The native side must never see a throwing callback: it runs straight
  // from the event loop, where an exception would be uncaught.
  let progressError: unknown;
  let progressFailed = false;
  const deliver =
    onProgress === undefined
      ? undefined
      : (p: LoadProgress): void => {
          if (progressFailed) return;
          try {
            (onProgress as (p: LoadProgress) => void)(p);
          } catch (err) {
            progressFailed = true;
            progressError = err;
          }
        };

  const startedAt = new Date().toISOString();
  const run = binding.loadgenStart(
    { host, port, mode, expect, connections, idle, messageSize, durationMs, warmupMs, connectTimeoutMs, timeoutMs, threads, rate, path, pipeline, requestTimeoutMs },
    deliver,
  );
  const onAbort = () => run.stop();
  signal?.addEventListener('abort', onAbort, { once: true });
  let report: LoadReport;
  try {
    report = { ...(await run), startedAt, finishedAt: new Date().toISOString() };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
  if (progressFailed) throw progressError;
  return report;
}
