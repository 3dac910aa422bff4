// The claims report's own measurements, beside the experiments it runs:
// zombies and reaping, the thread model's clones, idle connections, and one
// loop holding many connections.
import { loadgenReport as loadgen } from '../../loadgen';
import { threadCount, zombiesOf } from '../proc';
import { holdsIdle, startTarget } from '../targets';
import { countersBetween, serverStats, sleep, sweep, target, type LoadPoint } from './runner';

/** Connections the claim-10 run holds on one epoll loop. */
export const MANY = 10_000;
export const QUICK_MANY = 1000;
/** Idle connections beside the active one for claims 5-7 (select stops at 1000: FD_SETSIZE). */
export const IDLE = [0, 1000, 5000];
export const QUICK_IDLE = [0, 16, 64];
const IDLE_MODELS = ['select', 'poll', 'epoll-level'];

/** Churn through a fork server in one reaper mode; then count zombies and compare reaped with accepted. */
export async function reaping(reaper: string, clients: number, durationMs: number) {
  const server = await startTarget(target('fork').target, ['--backlog', '4096', '--reaper', reaper]);
  try {
    const report = await loadgen({ port: server.port, mode: 'churn', connections: clients, messageSize: 64, durationMs });
    // Every child has exited once its client closed; give the reaper a moment.
    let stats = await serverStats(server);
    for (let i = 0; i < 20 && stats && stats.reaped < stats.accepted; i++) {
      await sleep(50);
      stats = await serverStats(server);
    }
    return { reaper, report, accepted: stats?.accepted, reaped: stats?.reaped, inUse: stats?.reaper, zombies: zombiesOf(server.child.pid!).length };
  } finally {
    await server.stop();
  }
}

/** The thread model under churn: what it clones, reaps, and leaves. */
export async function threads(clients: number, durationMs: number) {
  const server = await startTarget(target('thread').target, ['--backlog', '4096']);
  try {
    const before = await serverStats(server);
    const report = await loadgen({ port: server.port, mode: 'churn', connections: clients, messageSize: 64, durationMs });
    await sleep(100);
    const after = await serverStats(server);
    const c = before && after ? countersBetween(before, after) : undefined;
    return { report, accepted: c?.accepted, reaped: after?.reaped, clone: c?.syscalls?.clone, threadsAfter: threadCount(server.child.pid!), zombies: zombiesOf(server.child.pid!).length };
  } finally {
    await server.stop();
  }
}

/**
 * One active connection beside N idle ones, for select, poll and epoll: its
 * latency and the server's CPU per request. Each window starts only once the
 * server holds every idle connection (a server still accepting them would
 * be measured instead), so these figures and select-vs-fork's are taken the
 * same way.
 */
export function idleSweep(counts: number[], o: { durationMs: number; warmupMs: number; messageSize: number }): Promise<LoadPoint[]> {
  const cases = IDLE_MODELS.flatMap((name) => counts.filter((x) => holdsIdle(name, x)).map((x) => ({ name, x })));
  return sweep(cases, o.warmupMs + o.durationMs, (c) => ({
    label: `${c.name} with ${c.x} idle`,
    load: { mode: 'hold', idle: c.x, messageSize: o.messageSize, durationMs: o.durationMs, warmupMs: o.warmupMs },
    options: { expectOpen: c.x },
  }));
}

/** One loop holding `idle` idle connections beside one active one. */
export async function hold(name: string, idle: number, durationMs: number) {
  const server = await startTarget(target(name).target, ['--backlog', '16384']);
  try {
    const report = await loadgen({ port: server.port, mode: 'hold', idle, messageSize: 64, durationMs, warmupMs: 200 });
    const stats = await serverStats(server);
    return { report, active: stats?.peakActive, rejected: stats?.rejected };
  } finally {
    await server.stop();
  }
}

export type Reaping = Awaited<ReturnType<typeof reaping>>;
export type Threads = Awaited<ReturnType<typeof threads>>;
export type Held = Awaited<ReturnType<typeof hold>>;
