#!/usr/bin/env node
// Does claim 8's verdict flip from one run to the next? Runs the busy
// experiment's 1000-connection point (select, poll, epoll level) TRIES times,
// each in ROUNDS interleaved rounds, and prints per try the verdict the
// claims report would give: epoll's CPU per request and req/s against the
// cheaper / faster of select and poll, through the same compare().
//
//   node scripts/verdict-stability.js [tries=3] [rounds=3] [duration s=0.8]
'use strict';

const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist', 'experiments');
const { compare } = require(path.join(dist, 'rounds.js'));
const { cpuOf, rpsOf, sweep, withRounds } = require(path.join(dist, 'runner.js'));

const [tries = 3, rounds = 3, seconds = 0.8] = process.argv.slice(2).map(Number);
const CONNECTIONS = 1000;
const MODELS = ['select', 'poll', 'epoll-level'];
const durationMs = seconds * 1000;
const warmupMs = 200;

async function main() {
  for (let t = 1; t <= tries; t++) {
    const points = await withRounds(rounds, () =>
      sweep(
        MODELS.map((name) => ({ name, x: CONNECTIONS })),
        warmupMs + durationMs,
        (c) => ({ label: `${c.name}, ${c.x} busy`, load: { mode: 'rr', connections: c.x, messageSize: 64, durationMs, warmupMs }, options: { expectOpen: c.x } }),
      ),
    );
    const at = (m) => points.find((p) => p.model === m);
    const epoll = at('epoll level');
    const others = ['select', 'poll'].map(at);
    const cheaper = others.sort((a, b) => cpuOf(a).median - cpuOf(b).median)[0];
    const faster = others.sort((a, b) => rpsOf(b).median - rpsOf(a).median)[0];
    const cost = compare({ name: 'epoll', figure: cpuOf(epoll) }, { name: cheaper.model, figure: cpuOf(cheaper) }, undefined, 1);
    const speed = compare({ name: 'epoll', figure: rpsOf(epoll) }, { name: faster.model, figure: rpsOf(faster) });
    console.log(`try ${t}: CPU per request (us): ${cost.text}; req/s: ${speed.text}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
