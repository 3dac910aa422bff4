#!/usr/bin/env node
// Server CPU time per request: each target runs in its own `netmodels serve`
// process (as in `netmodels bench`) under the same rr load, and the CPU time
// that process spent (utime + stime from /proc/<pid>/stat, every thread)
// during the measured window is divided by the requests answered in it.
// Rounds run the targets round-robin; the row shows the median round.
// Needs a built package (npm run build).
//
//   node scripts/cpu-per-request.js [--models ceiling,epoll-level,uring]
//        [--connections 64] [--size 64] [--duration 3] [--warmup 0.5] [--rounds 3]
'use strict';

const { options } = require('./options');
const { loadgen } = require('../dist');
const { CLK_TCK, statTicks } = require('../dist/bench/proc');
const { ceilingTarget, selectTargets, startTarget } = require('../dist/bench/targets');

const values = options({
  models: 'epoll-level,uring',
  connections: '64',
  size: '64',
  duration: '3',
  warmup: '0.5',
  rounds: '3',
});

function cpuMs(pid) {
  return (statTicks(`/proc/${pid}/stat`, false) * 1000) / CLK_TCK;
}

async function measure(target) {
  const server = await startTarget(target, ['--backlog', '4096']);
  try {
    const warmupMs = Number(values.warmup) * 1000;
    const durationMs = Number(values.duration) * 1000;
    let before = 0;
    // The CPU counter is read when the measured window opens and closes.
    const opened = setTimeout(() => (before = cpuMs(server.child.pid)), warmupMs);
    const report = await loadgen({
      port: server.port,
      mode: 'rr',
      connections: Number(values.connections),
      messageSize: Number(values.size),
      durationMs,
      warmupMs,
      expect: 'uppercase',
    });
    clearTimeout(opened);
    const used = cpuMs(server.child.pid) - before;
    return { rps: report.rps, requests: report.requests, cpuMs: used, usPerRequest: (used * 1000) / report.requests };
  } finally {
    await server.stop();
  }
}

(async () => {
  // 'ceiling' names the C ceiling (scripts/ceiling.c), which is no model.
  const names = values.models.split(',');
  const targets = names.flatMap((n) => (n === 'ceiling' ? [ceilingTarget()] : selectTargets([n])));
  const runs = new Map(targets.map((t) => [t, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const t of targets) runs.get(t).push(await measure(t));
  }
  process.stdout.write(
    `server CPU per request: rr, ${values.connections} connections, ${values.size}-byte messages, ` +
      `${values.duration} s, median of ${values.rounds} rounds\n\n` +
      `${'server'.padEnd(12)}  ${'req/s'.padStart(9)}  ${'server CPU ms'.padStart(13)}  ${'CPU us/request'.padStart(14)}  every round (us/request)\n`,
  );
  for (const t of targets) {
    const sorted = [...runs.get(t)].sort((a, b) => a.usPerRequest - b.usPerRequest);
    const m = sorted[(sorted.length - 1) >> 1];
    process.stdout.write(
      `${t.label.padEnd(12)}  ${Math.round(m.rps).toLocaleString('en-US').padStart(9)}  ${String(m.cpuMs).padStart(13)}  ${m.usPerRequest.toFixed(2).padStart(14)}  ` +
        `${runs.get(t).map((r) => r.usPerRequest.toFixed(2)).join(' ')}\n`,
    );
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
