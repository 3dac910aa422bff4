// Process-level probes read from /proc: open fds, threads and child
// processes (leak checks), and whether the host has an IPv6 loopback.
import * as fs from 'node:fs';

import { waitFor } from './helpers';

/** fd number -> link target for every fd of this process. */
export function fdSnapshot(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${name}`);
      // The directory fd readdirSync itself used shows up as /proc/<pid>/fd.
      if (target.startsWith('/proc/')) continue;
      out.set(Number(name), target);
    } catch {
      // The fd was closed between readdir and readlink.
    }
  }
  return out;
}

/** The fds open now that were not open (with the same target) in `before`. */
export function newFds(before: Map<number, string>): string[] {
  const added: string[] = [];
  for (const [fd, target] of fdSnapshot()) {
    if (before.get(fd) !== target) added.push(`${fd} -> ${target}`);
  }
  return added;
}

/** Fails unless, within `timeoutMs`, no fd is open that was not open in `before`. */
export async function expectNoNewFds(before: Map<number, string>, timeoutMs = 5000): Promise<void> {
  await waitFor(() => newFds(before).length === 0, 'no fd left open beyond the snapshot', timeoutMs, () =>
    newFds(before).join(', '),
  );
}

/** Number of threads in this process. */
export function threadCount(): number {
  return fs.readdirSync('/proc/self/task').length;
}

/**
 * The thread count once it has held still for `quietMs`. start() resolves
 * when a server listens, and a model with several loops starts their threads
 * after that: a baseline sampled at once can miss some of them (a slow
 * machine, or the sanitizer build, shows it).
 */
export async function steadyThreadCount(quietMs = 200, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = threadCount();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const now = threadCount();
    if (now !== count) {
      count = now;
      since = Date.now();
    }
  }
  return count;
}

/** Pids (with state) of the processes whose parent is this process. */
export function childProcesses(): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue;
    }
    // Fields after the parenthesised comm (which may itself contain spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid) out.push(`${name}:${fields[0]}`);
  }
  return out;
}

/**
 * Makes sure libuv's threadpool exists before a thread count is taken, so a
 * later first use of it does not look like a thread leaked by a server.
 */
export async function warmUpThreadPool(): Promise<void> {
  await Promise.all(Array.from({ length: 8 }, () => fs.promises.stat('/proc/self')));
}

/** True if this host can bind and connect on ::1. */
export function hasIPv6Loopback(): boolean {
  try {
    return fs.readFileSync('/proc/net/if_inet6', 'latin1').includes('00000000000000000000000000000001');
  } catch {
    return false;
  }
}
