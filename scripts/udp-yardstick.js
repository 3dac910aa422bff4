#!/usr/bin/env node
// `udp batch 64` against the C recvmmsg yardstick (scripts/udp-ceiling.c)
// under the bench's load (the load generator's udp mode, 64 clients x 64 B,
// `pipeline` in flight each), both with the same receive queue
// (--receive-buffer bytes; 0: the kernel's default). Rounds alternate the
// two; printed are each round and the medians of the per-round ratios:
// datagrams/s, the server's CPU per datagram (every thread), and, where
// `perf` can count tracepoints, each server's recvmmsg + sendmmsg calls and
// context switches per datagram over the measured window (the yardstick
// keeps no counters of its own), with lost datagrams and kernel drops.
// Needs a built package (npm run build).
//
//   node scripts/udp-yardstick.js [--rounds 5] [--duration 2] [--pipeline 4] [--receive-buffer bytes (default: the udp model's)]
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');

const { loadgen } = require('../dist');
const { options } = require('./options');
const { buildCeiling, serverProcess } = require('../dist/bench/targets');
const { kernelDrops } = require('../dist/bench/udp');
const { UDP_RECEIVE_BUFFER } = require('../dist/models/udp');
const { CLK_TCK, treeTicks } = require('../dist/bench/proc');

const values = options({ rounds: '5', duration: '2', pipeline: '4', 'receive-buffer': String(UDP_RECEIVE_BUFFER) });
const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const EVENTS = ['syscalls:sys_enter_recvmmsg', 'syscalls:sys_enter_sendmmsg', 'context-switches'];
const perfWorks = spawnSync('perf', ['stat', '-x', ',', '-e', EVENTS.join(','), 'true'], { stdio: 'ignore' }).status === 0;

function start(kind) {
  const queue = values['receive-buffer'];
  const child =
    kind === 'udp batch 64'
      ? spawn(process.execPath, [CLI, 'serve', '--model', 'udp', '--batch', '64', '--receive-buffer', queue, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(buildCeiling(path.join(__dirname, 'udp-ceiling.c')), ['0', '127.0.0.1', '1', queue], { stdio: ['ignore', 'pipe', 'inherit'] });
  return serverProcess(child, kind);
}

/** perf counting EVENTS over every thread of `pid` until stopped: resolves with the counts. */
function countCalls(pid) {
  const perf = spawn('perf', ['stat', '-x', ',', '-e', EVENTS.join(','), '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  perf.stderr.on('data', (chunk) => (text += chunk));
  const done = new Promise((resolve) => perf.once('exit', resolve)).then(() => {
    const counts = {};
    for (const cols of text.trim().split('\n').map((line) => line.split(','))) counts[cols[2]] = Number(cols[0]);
    return counts;
  });
  return { stop: () => (perf.kill('SIGINT'), done) };
}

async function measure(kind) {
  const server = await start(kind);
  const pid = server.child.pid;
  let window;
  const report = await loadgen({
    mode: 'udp',
    port: server.port,
    connections: 64,
    messageSize: 64,
    pipeline: Number(values.pipeline),
    durationMs: Number(values.duration) * 1000,
    warmupMs: 250,
    onProgress(p) {
      if (p.phase === 'measure' && !window) window = { ticks: treeTicks(pid), perf: perfWorks ? countCalls(pid) : null };
    },
  });
  const ticks = treeTicks(pid);
  const counts = window.perf ? await window.perf.stop() : null;
  const drops = kernelDrops(server.port);
  await server.stop();
  const per = (n) => n / report.requests;
  return {
    rps: report.rps,
    cpuUs: ((ticks - window.ticks) * 1e6) / CLK_TCK / report.requests,
    syscalls: counts ? per(counts[EVENTS[0]] + counts[EVENTS[1]]) : NaN,
    switches: counts ? per(counts[EVENTS[2]]) : NaN,
    lost: report.lost,
    drops,
  };
}

(async () => {
  const kinds = ['udp batch 64', 'C recvmmsg'];
  const runs = { [kinds[0]]: [], [kinds[1]]: [] };
  const fmt = (r) =>
    `${Math.round(r.rps)} dgram/s, ${r.cpuUs.toFixed(2)} us CPU, ${r.syscalls.toFixed(3)} syscalls, ${r.switches.toFixed(3)} switches /dgram, lost ${r.lost}, kernel drops ${r.drops}`;
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
      const r = await measure(kind);
      runs[kind].push(r);
      console.log(`round ${round} ${kind.padEnd(12)} ${fmt(r)}`);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[(a.length - 1) >> 1];
  const [mine, theirs] = kinds.map((k) => runs[k]);
  console.log(`udp batch 64 / C recvmmsg, ${values.rounds} rounds, ${values.pipeline} in flight per client, receive buffer ${values['receive-buffer']}:`);
  for (const key of ['rps', 'cpuUs', 'syscalls', 'switches']) {
    const ratio = median(mine.map((r, i) => r[key] / theirs[i][key]));
    const digits = key === 'rps' ? 0 : 3;
    console.log(`  ${key.padEnd(9)} ${median(mine.map((r) => r[key])).toFixed(digits)} / ${median(theirs.map((r) => r[key])).toFixed(digits)} = ${ratio.toFixed(2)}x`);
  }
  console.log(`  lost ${mine.map((r) => r.lost).join(',')} / ${theirs.map((r) => r.lost).join(',')}; kernel drops ${mine.map((r) => r.drops).join(',')} / ${theirs.map((r) => r.drops).join(',')}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
