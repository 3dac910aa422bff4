#!/usr/bin/env node
// Connection churn: connect, one request, one reply, close, as fast as the
// server allows, at several numbers of concurrent clients. Measures what a
// model pays per connection (fork + exit, thread start + join, or nothing
// for a pool or an event loop). Each server runs in a process of its own
// (`netmodels serve`, as in `netmodels bench`); the native load generator
// runs in this one. Needs a built package (npm run build).
//
// With --rounds N every cell runs N times, the models taking turns within a
// round, and the median is shown: other load on the machine hits all alike.
//
//   node scripts/churn.js [--models fork,prefork,thread,threadpool,epoll]
//        [--clients 1,16,64] [--duration 2000] [--warmup 300] [--size 16] [--rounds 1]
'use strict';

const { parseArgs } = require('node:util');

const { loadgen } = require('../dist');
const { startTarget } = require('../dist/bench');

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'fork,prefork,thread,threadpool,epoll' },
    clients: { type: 'string', default: '1,16,64' },
    duration: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    size: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '1' },
  },
});

const models = values.models.split(',');
const clients = values.clients.split(',').map(Number);

const pad = (s, n) => String(s).padStart(n);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One measurement on a fresh server, so nothing is left over from the last. */
async function cell(model, connections) {
  const server = await startTarget({ label: model, kind: 'model', model }, ['--backlog', '4096']);
  try {
    return await loadgen({
      port: server.port,
      mode: 'churn',
      connections,
      messageSize: Number(values.size),
      durationMs: Number(values.duration),
      warmupMs: Number(values.warmup),
    });
  } finally {
    await server.stop();
  }
}

async function main() {
  const rounds = Number(values.rounds);
  console.log(
    `churn: connect, ${values.size} B request, reply, close; ${values.duration} ms per cell after ${values.warmup} ms warm-up` +
      (rounds > 1 ? `; median of ${rounds} rounds` : ''),
  );
  const runs = new Map(models.map((m) => [m, clients.map(() => [])]));
  for (let round = 0; round < rounds; round++) {
    for (const [i, connections] of clients.entries()) {
      for (const model of models) runs.get(model)[i].push(await cell(model, connections));
    }
  }
  console.log(`${'model'.padEnd(12)}${clients.map((c) => pad(`${c} conn/s`, 14) + pad('p50 us', 9)).join('')}  errors`);
  for (const model of models) {
    let errors = 0;
    const cells = runs.get(model).map((reports) => {
      for (const r of reports) errors += r.errors + r.mismatches;
      const rps = median(reports.map((r) => r.rps));
      const p50 = median(reports.map((r) => r.latencyUs.p50));
      return pad(Math.round(rps).toLocaleString('en-US'), 14) + pad(Math.round(p50), 9);
    });
    console.log(`${model.padEnd(12)}${cells.join('')}  ${errors}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
