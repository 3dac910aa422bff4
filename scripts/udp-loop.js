#!/usr/bin/env node
// The udp model's two loops under the same load: a loop that blocks in the
// receive call (a built-in handler on a socket of its own) against one that
// waits in poll() and reads without blocking (what a loop on an inherited
// socket runs, here a socket bound by this script and passed as fd 3). Each
// runs `netmodels serve --model udp --batch 64` in a process of its own
// under the load generator's udp mode; rounds alternate the two, and the
// medians of the per-round ratios are printed: datagrams/s, the server's CPU
// per datagram (every thread, /proc/<pid>/stat) and its syscalls per
// datagram (its own counters). Needs a built package (npm run build).
//
//   node scripts/udp-loop.js [--pipeline 4] [--clients 64] [--duration 2] [--rounds 5]
'use strict';

const { spawn } = require('node:child_process');
const path = require('node:path');

const { loadgen, sys } = require('../dist');
const { options } = require('./options');
const { serverProcess } = require('../dist/bench/targets');
const { readStats } = require('../dist/bench/udp');
const { CLK_TCK, treeTicks } = require('../dist/bench/proc');

const values = options({ pipeline: '4', clients: '64', duration: '2', rounds: '5' });
const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

async function measure(loop) {
  const args = [CLI, 'serve', '--model', 'udp', '--batch', '64', '--quiet'];
  let fd = -1;
  let child;
  if (loop === 'poll') {
    fd = sys.socket('ipv4', 'dgram');
    sys.bind(fd, '127.0.0.1', 0);
    child = spawn(process.execPath, [...args, '--fd', '3'], { stdio: ['ignore', 'pipe', 'inherit', fd] });
  } else {
    child = spawn(process.execPath, [...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  const server = await serverProcess(child, loop);
  if (fd >= 0) sys.close(fd);
  let start;
  const report = await loadgen({
    mode: 'udp',
    port: server.port,
    connections: Number(values.clients),
    pipeline: Number(values.pipeline),
    durationMs: Number(values.duration) * 1000,
    warmupMs: 250,
    onProgress(p) {
      if (p.phase !== 'measure' || start) return;
      const ticks = treeTicks(child.pid);
      start = readStats(server).then((stats) => ({ ticks, stats }));
    },
  });
  const ticks = treeTicks(child.pid);
  const stats = await readStats(server);
  const begin = await start;
  await server.stop();
  const calls = (s) => s.syscalls.recv + s.syscalls.send + s.syscalls.wait;
  return {
    rps: report.rps,
    cpuUs: ((ticks - begin.ticks) * 1e6) / CLK_TCK / report.requests,
    syscalls: (calls(stats) - calls(begin.stats)) / (stats.datagramsIn - begin.stats.datagramsIn),
    lost: report.lost,
  };
}

(async () => {
  const runs = { block: [], poll: [] };
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const loop of round % 2 ? ['poll', 'block'] : ['block', 'poll']) runs[loop].push(await measure(loop));
  }
  const median = (a) => [...a].sort((x, y) => x - y)[(a.length - 1) >> 1];
  console.log(`udp batch 64, ${values.clients} clients x ${values.pipeline} in flight, ${values.rounds} rounds`);
  for (const key of ['rps', 'cpuUs', 'syscalls']) {
    const ratio = median(runs.block.map((r, i) => r[key] / runs.poll[i][key]));
    const fmt = (n) => n.toFixed(key === 'rps' ? 0 : 3);
    console.log(`${key.padEnd(8)} block ${fmt(median(runs.block.map((r) => r[key])))}  poll ${fmt(median(runs.poll.map((r) => r[key])))}  block/poll ${ratio.toFixed(2)}x`);
  }
  console.log(`lost     block ${runs.block.map((r) => r.lost).join(',')}  poll ${runs.poll.map((r) => r.lost).join(',')}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
