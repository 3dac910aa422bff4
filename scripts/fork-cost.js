#!/usr/bin/env node
// Where a fork-per-connection server's time goes: runs a churn load against
// `netmodels serve --model fork` (a server process of its own, as the bench
// does) and reads the CPU time the server process spent itself (the accept
// thread's fork() calls, the reaper) and the CPU time of its reaped children
// (COW faults, serving, exit) from /proc/<pid>/stat, per connection. No tracer
// is attached, so nothing is slowed down. Needs a built package.
//
//   node scripts/fork-cost.js [--model fork] [--clients 1,16] [--duration 3000]
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { parseArgs } = require('node:util');

const { loadgen } = require('../dist');
const { startTarget } = require('../dist/bench');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'fork' },
    clients: { type: 'string', default: '1,16' },
    duration: { type: 'string', default: '3000' },
  },
});

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString());

/** [own CPU ms, reaped children's CPU ms] of `pid`. */
function cpu(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  // Fields 14-17 of proc(5), counted from 3 after the comm: utime stime cutime cstime.
  return [(f[11] + f[12]) * TICK_MS, (f[13] + f[14]) * TICK_MS];
}

function status(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) : NaN;
}

async function main() {
  for (const connections of values.clients.split(',').map(Number)) {
    const server = await startTarget({ label: values.model, kind: 'model', model: values.model }, ['--backlog', '4096']);
    const pid = server.child.pid;
    try {
      const before = cpu(pid);
      const r = await loadgen({ port: server.port, mode: 'churn', connections, messageSize: 16, durationMs: Number(values.duration) });
      // Let the last children be reaped, so their time is in cutime/cstime.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = cpu(pid);
      // Per counted cycle: the few in flight when the run ended are not
      // counted, so this slightly overstates the cost.
      const n = r.requests;
      const own = (after[0] - before[0]) / n;
      const kids = (after[1] - before[1]) / n;
      console.log(
        `${values.model} churn, ${connections} client(s): ${Math.round(r.rps)} conn/s, p50 ${Math.round(r.latencyUs.p50)} us; ` +
          `CPU per connection: server process ${own.toFixed(3)} ms, children ${kids.toFixed(3)} ms; ` +
          `server RSS ${Math.round(status(pid, 'VmRSS') / 1024)} MiB, page tables ${status(pid, 'VmPTE')} KiB`,
      );
    } finally {
      await server.stop();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
