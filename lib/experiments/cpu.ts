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

/**
 * CPU ticks of a process, its reaped children (cutime + cstime: what a fork
 * server's exited children spent), and its live descendants.
 */
export function treeTicks(pid: number): number {
  let ticks = statTicks(`/proc/${pid}/stat`, true);
  let children: string[] = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      children = children.concat(fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean));
    }
  } catch {
    // gone
  }
  for (const child of children) ticks += treeTicks(Number(child));
  return ticks;
}

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
