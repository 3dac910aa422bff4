#!/usr/bin/env node
// Connection churn: connect, one request, one reply, close, as fast as the
// server allows, at several numbers of concurrent clients. Measures what a
// model pays per connection (fork + exit, thread start + join, or nothing
// for a pool or an event loop). Each server runs in a process of its own
// (`netmodels serve`, as in `netmodels bench`); the native load generator
// runs in this one. Needs a built package (npm run build).
//
//   node scripts/churn.js [--models fork,prefork,thread,threadpool,epoll]
//        [--clients 1,16,64] [--duration 2000] [--warmup 300] [--size 16]
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
  },
});

const models = values.models.split(',');
const clients = values.clients.split(',').map(Number);

const pad = (s, n) => String(s).padStart(n);

async function main() {
  console.log(
    `churn: connect, ${values.size} B request, reply, close; ${values.duration} ms per cell after ${values.warmup} ms warm-up`,
  );
  console.log(`${'model'.padEnd(12)}${clients.map((c) => pad(`${c} conn/s`, 14) + pad('p50 us', 9)).join('')}  errors`);
  for (const model of models) {
    const cells = [];
    let errors = 0;
    for (const connections of clients) {
      // A fresh server per cell: nothing left over from the previous one.
      const server = await startTarget({ label: model, kind: 'model', model }, ['--backlog', '4096']);
      try {
        const r = await loadgen({
          port: server.port,
          mode: 'churn',
          connections,
          messageSize: Number(values.size),
          durationMs: Number(values.duration),
          warmupMs: Number(values.warmup),
        });
        errors += r.errors + r.mismatches;
        cells.push(pad(Math.round(r.rps).toLocaleString('en-US'), 14) + pad(r.latencyUs.p50, 9));
      } finally {
        await server.stop();
      }
    }
    console.log(`${model.padEnd(12)}${cells.join('')}  ${errors}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
