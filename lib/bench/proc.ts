// CPU time of a server process from /proc, read from outside: nothing is
// attached to it, so nothing is slowed down.
import * as fs from 'node:fs';

/** USER_HZ: the unit of /proc/<pid>/stat times on Linux. */
export const CLK_TCK = 100;

/** utime + stime (+ cutime + cstime with `reaped`) of a /proc stat line, in ticks. */
export function statTicks(file: string, reaped: boolean): number {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of stat(5), counted from after the command name.
    return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return 0; // the process or thread is gone
  }
}

/** Live children of a process, every thread's (/proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out; // gone
  }
  for (const tid of tids) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c) out.push(Number(c));
    } catch {
      // that thread is gone; the others still count
    }
  }
  return out;
}

/** Time on CPU of a process's live threads, ns (/proc/<pid>/task/<tid>/schedstat, first field: exact, not sampled). */
function liveThreadsNs(pid: number): number {
  let ns = 0;
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // gone
  }
  for (const tid of tids) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) || 0;
    } catch {
      // that thread is gone
    }
  }
  return ns;
}

/**
 * CPU time of one process, ns: utime + stime, or its live threads' exact
 * runtime where that is more (utime + stime is floored to whole ticks, and a
 * pool worker serving short connections may spend less than one tick in a
 * window: summed over 64 workers, the floors lose most of it; the ticks
 * keep the threads that have exited, which schedstat no longer lists), plus
 * cutime + cstime with `reaped`.
 */
function processNs(pid: number, reaped: boolean): number {
  const own = statTicks(`/proc/${pid}/stat`, false);
  const all = reaped ? statTicks(`/proc/${pid}/stat`, true) : own;
  const tickNs = 1e9 / CLK_TCK;
  return Math.max(own * tickNs, liveThreadsNs(pid)) + (all - own) * tickNs;
}

/**
 * CPU time, ns, of a process, its reaped children (cutime + cstime: what a
 * fork server's exited children spent), and its live descendants.
 * `workers`: pids the server reports in stats().workers (a pre-forked pool):
 * their CPU is in no cutime until they are reaped, and the children files of
 * proc(5) are not guaranteed complete for a running process, so each one is
 * read directly. Every pid counts once.
 */
export function treeNs(pid: number, workers: readonly number[] = []): number {
  const seen = new Set<number>();
  let ns = 0;
  const visit = (p: number) => {
    if (seen.has(p)) return;
    seen.add(p);
    ns += processNs(p, true);
    for (const child of childrenOf(p)) visit(child);
  };
  visit(pid);
  for (const w of workers) visit(w);
  return ns;
}

/** CPU ticks of a process tree as treeNs() counts it (the rr bench's unit). */
export function treeTicks(pid: number, workers: readonly number[] = []): number {
  return (treeNs(pid, workers) * CLK_TCK) / 1e9;
}

/**
 * Below this many ticks' worth (10 ms each) of server CPU in a window, a CPU
 * figure is coarse: an exited thread's or child's time is known to a tick
 * only, so the error can reach a tenth.
 */
export const COARSE_TICKS = 10;

/** Zombie processes (state Z) whose parent is `pid`. */
export function zombiesOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z' && Number(f[1]) === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/** Threads of a process now (/proc/<pid>/task). */
export function threadCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** Resident memory of a process, MiB (VmRSS in /proc/<pid>/status); undefined once it is gone. */
export function residentMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
