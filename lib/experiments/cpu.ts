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

/**
 * CPU ticks of a process, its reaped children (cutime + cstime: what a fork
 * server's exited children spent), and its live descendants. `workers`: pids
 * the server reports in stats().workers (a pre-forked pool): their CPU is in
 * no cutime until they are reaped, and the children files of proc(5) are not
 * guaranteed complete for a running process, so each one is read directly.
 * Every pid counts once.
 */
export function treeTicks(pid: number, workers: readonly number[] = []): number {
  const seen = new Set<number>();
  let ticks = 0;
  const visit = (p: number) => {
    if (seen.has(p)) return;
    seen.add(p);
    ticks += statTicks(`/proc/${p}/stat`, true);
    for (const child of childrenOf(p)) visit(child);
  };
  visit(pid);
  for (const w of workers) visit(w);
  return ticks;
}

/** USER_HZ ticks below which a CPU figure is coarse (one tick is 10 ms). */
export const COARSE_TICKS = 20;

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
