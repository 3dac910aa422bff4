#!/usr/bin/env node
// uring's receive modes against epoll level, in one run: req/s, server CPU
// per request and recv completions per request (stats().syscalls.recv over
// the measured window), for each message size; targets interleaved round by
// round, each row the median round. 'uring' runs its defaults (bundles over
// incrementally consumed 64 KiB buffers where the kernel has them);
// 'uring whole' is uring with buffers: 'whole' (bundles over whole 2 KiB
// buffers, as before incremental ones); 'uring single' with recv: 'single'
// (one completion per 2 KiB buffer, as before receive bundles). Needs a
// built package (npm run build).
//
//   node scripts/uring-recv.js [--sizes 64,4096,65536] [--connections 64]
//        [--duration 1] [--warmup 0.25] [--rounds 3]
'use strict';

const { options } = require('./options');
const { selectTargets } = require('../dist/bench/targets');
const { measureLoad } = require('../dist/bench/experiments/runner');

const values = options({ sizes: '64,4096,65536', connections: '64', duration: '1', warmup: '0.25', rounds: '3' });

const [epoll, uring] = selectTargets(['epoll-level', 'uring']);
const targets = [
  epoll,
  uring,
  { ...uring, label: 'uring whole', args: [...(uring.args ?? []), '--buffers', 'whole'] },
  { ...uring, label: 'uring single', args: [...(uring.args ?? []), '--recv', 'single'] },
];
const connections = Number(values.connections);

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

(async () => {
  console.log(`| size | server | req/s | x epoll level | CPU us/req | recv completions/req |`);
  console.log('|---|---|---|---|---|---|');
  for (const size of values.sizes.split(',').map(Number)) {
    const runs = targets.map(() => []);
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const [i, target] of targets.entries()) {
        const m = await measureLoad(
          target,
          { mode: 'rr', connections, messageSize: size, durationMs: Number(values.duration) * 1000, warmupMs: Number(values.warmup) * 1000 },
          { expectOpen: connections },
        );
        const n = m.report.requests;
        runs[i].push({ rps: m.report.rps, cpu: m.cpuUs / n, recv: m.counters ? m.counters.syscalls.recv / n : NaN, errors: m.report.errors + m.report.mismatches });
      }
    }
    const base = median(runs[0].map((r) => r.rps));
    for (const [i, target] of targets.entries()) {
      const rps = median(runs[i].map((r) => r.rps));
      const errors = runs[i].reduce((a, r) => a + r.errors, 0);
      console.log(
        `| ${size} | ${target.label} | ${Math.round(rps)} | ${(rps / base).toFixed(2)} | ${median(runs[i].map((r) => r.cpu)).toFixed(1)} | ${median(runs[i].map((r) => r.recv)).toFixed(2)}${errors ? ` (${errors} errors)` : ''} |`,
      );
    }
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
