// The counters of stats() by key, checked against their types here at
// compile time and against the addon's own lists (native/core/stats.h
// NM_COUNTERS and NM_SYSCALLS, native/models/model.h NM_WORKER_COUNTERS) by
// test/stats-keys.test.ts: a counter added on one side only fails one or the other.
import type { ServerStats, SyscallStats, WorkerStats } from './stats';

/** The connection and traffic counters of {@link ServerStats}. */
export const STATS_COUNTERS = [
  'accepted', 'active', 'peakActive', 'closed', 'rejected', 'bytesIn', 'bytesOut',
  'reads', 'writes', 'wakeups', 'reaped', 'errors',
] as const satisfies readonly (keyof ServerStats)[];

/** Every key of {@link SyscallStats}. */
export const SYSCALL_COUNTERS = [
  'accept', 'recv', 'send', 'wait', 'ctl', 'eagain', 'fork', 'clone',
] as const satisfies readonly (keyof SyscallStats)[];

/** The counters of {@link WorkerStats}. */
export const WORKER_COUNTERS = [
  'accepted', 'active', 'served', 'bytesIn', 'bytesOut', 'wakeups',
] as const satisfies readonly (keyof WorkerStats)[];

/** The keys of T whose value is a number in every stats object. */
type NumberKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? never : T[K] extends number ? K : never }[keyof T];
/** Compiles only when nothing is missing. */
type None<Missing extends never> = Missing;

// Every number a stats object always has is a counter of these lists, but
// for the server's port and uptime (not counters): the lists leave nothing out.
export type StatsKeysCovered = [
  None<Exclude<NumberKeys<ServerStats>, (typeof STATS_COUNTERS)[number] | 'port' | 'uptimeMs'>>,
  None<Exclude<keyof SyscallStats, (typeof SYSCALL_COUNTERS)[number]>>,
  None<Exclude<NumberKeys<WorkerStats>, (typeof WORKER_COUNTERS)[number]>>,
];
