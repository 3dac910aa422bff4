// Claim 5's "it may even be slower than the multi-process model": one active
// connection beside N idle ones, for select (one process scanning every fd)
// and for fork and thread (one blocked child or thread per idle connection).
import { connectionsSvg, connectionsTable } from './busy';
import type { LoadPoint } from './runner';
import { sweep, sweepFailures, type Experiment, type ExperimentOptions } from './runner';

export const SVF_MODELS = ['select', 'fork', 'thread'];
export const SVF_COUNTS = [0, 250, 500, 1000];
const CLAIMS_COUNTS = [0, 1000];
const QUICK_COUNTS = [0, 16];

/** fork() of the server process takes milliseconds: the warm-up lets every idle child be forked first. */
const FORK_MS_PER_IDLE = 6;

/** The sweep, for `models` (the claims report runs select in its idle sweep). */
export function runSvf(o: ExperimentOptions, models: string[] = SVF_MODELS): Promise<LoadPoint[]> {
  const counts = o.scale === 'quick' ? QUICK_COUNTS : o.scale === 'claims' ? CLAIMS_COUNTS : SVF_COUNTS;
  const cases = counts.flatMap((x) => models.map((name) => ({ name, x })));
  return sweep(cases, o.warmupMs + o.durationMs, (c) => ({
    label: `${c.name} with ${c.x} idle`,
    load: {
      mode: 'hold',
      idle: c.x,
      messageSize: o.messageSize,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs + (c.name === 'fork' ? c.x * FORK_MS_PER_IDLE : 0),
    },
    // One child per connection: room for every idle one.
    // Room for every idle one, and time to reap them all at the end (a
    // child's CPU moves to the server's cutime only once it is reaped).
    // The window starts only once the server holds every idle connection.
    options: c.name === 'fork' ? { extra: ['--max-children', String(c.x + 16)], settleMs: 200 + c.x, expectOpen: c.x } : { expectOpen: c.x },
  }));
}

export const selectVsFork: Experiment<LoadPoint> = {
  name: 'select-vs-fork',
  summary: 'one active client beside 0 ... 1000 idle ones: select against fork and thread (latency, CPU per request)',
  run: (o) => runSvf(o),
  table: (points, format) => connectionsTable(points, format, 'idle', (p) => ` p50 ${p.report!.latencyUs.p50} us`),
  svg: (points) => connectionsSvg(points, 'One active client beside N idle ones: select vs fork and thread', 'idle connections'),
  failures: (points) => sweepFailures(points, (p) => `${p.model} with ${p.x} idle`),
};
