#!/usr/bin/env node
// User-space instructions per request (valgrind callgrind's Ir), a figure the
// load on a shared machine does not change: each target runs under
// callgrind, scripts/ir-client.c sends a fixed number of requests (64 B
// uppercase echo), and the counters are zeroed after the warm-up rounds and
// dumped after the measured ones, so connecting and closing stay outside.
// Only the thread that runs the loop counts (the thread whose functions
// include the ceiling's serve() or EventModel::Run()): node's own threads
// wake now and then on their own.
// Also shows the calls per request of the loop's syscall wrappers, and with
// --top N the N functions that cost the most (exclusive Ir per request).
// Kernel time is not in Ir: compare with scripts/cpu-per-request.js.
// Needs valgrind, cc and a built package (npm run build).
//
//   node scripts/ir-per-request.js [--models ceiling,select,poll,epoll-level,epoll-edge]
//        [--connections 64] [--rounds 200] [--size 64] [--top 0]
'use strict';

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const { options } = require('./options');

const values = options({
  models: 'ceiling,select,poll,epoll-level,epoll-edge',
  connections: '64',
  rounds: '200',
  size: '64',
  top: '0',
});
const WARM_ROUNDS = 20;
const SYSCALLS = ['recv', 'send', 'select', 'poll', 'epoll_wait', 'epoll_ctl'];
const ROOT = path.join(__dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-ir-'));

function serverArgs(name, port) {
  if (name === 'ceiling') return [path.join(dir, 'ceiling'), String(port)];
  const model = name.startsWith('epoll-') ? ['--model', 'epoll', '--trigger', name.slice(6)] : ['--model', name];
  return [process.execPath, path.join(ROOT, 'dist', 'cli.js'), 'serve', '--quiet', '--port', String(port), ...model];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitListening(port, child) {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Exclusive Ir per function and calls per callee, from an uncompressed dump.
function parseDump(file) {
  const self = new Map();
  const calls = new Map();
  let fn = null;
  let cfn = null;
  let callLine = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) fn = line.slice(3);
    else if (line.startsWith('cfn=')) cfn = line.slice(4);
    else if (line.startsWith('calls=')) {
      const name = cfn.split('(')[0];
      calls.set(name, (calls.get(name) || 0) + Number(line.slice(6).split(' ')[0]));
      callLine = true;
    } else if (/^[0-9+*-]/.test(line)) {
      if (callLine) callLine = false; // the inclusive cost of that call
      else self.set(fn, (self.get(fn) || 0) + Number(line.split(' ')[1] || 0));
    }
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return { total, self, calls };
}

async function measure(name) {
  const port = await freePort();
  const out = path.join(dir, `${name}.cg`);
  const server = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, '--compress-strings=no', '--compress-pos=no', '--separate-threads=yes', ...serverArgs(name, port)],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  try {
    await waitListening(port, server);
    const requests = Number(values.connections) * Number(values.rounds);
    const client = spawn(path.join(dir, 'ir-client'), [port, values.connections, values.rounds, values.size, WARM_ROUNDS].map(String), {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = readline.createInterface({ input: client.stdout });
    for await (const line of lines) {
      const control = line === 'W' ? '-z' : '-d';
      execFileSync('callgrind_control', [control, String(server.pid)], { stdio: 'ignore' });
      client.stdin.write('\n');
      if (line === 'M') break;
    }
    await new Promise((resolve) => (client.exitCode !== null ? resolve() : client.on('exit', resolve)));
    if (client.exitCode !== 0) throw new Error(`${name}: ir-client failed`);
    // One file per thread: <out>.<part>-<thread>, part 1 being this dump.
    for (const f of fs.readdirSync(dir).filter((f) => f.startsWith(`${name}.cg.1-`))) {
      const parsed = parseDump(path.join(dir, f));
      if ([...parsed.self.keys()].some((fn) => fn === 'serve' || fn.startsWith('nm::EventModel::Run()'))) {
        return { name, requests, ...parsed };
      }
    }
    throw new Error(`${name}: no loop thread in the dump`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.on('exit', resolve)));
  }
}

(async () => {
  execFileSync('cc', ['-O3', '-o', path.join(dir, 'ceiling'), path.join(__dirname, 'ceiling.c')]);
  execFileSync('cc', ['-O2', '-o', path.join(dir, 'ir-client'), path.join(__dirname, 'ir-client.c')]);
  const results = [];
  for (const name of values.models.split(',')) results.push(await measure(name));
  const ceiling = results.find((r) => r.name === 'ceiling');
  process.stdout.write(
    `user-space Ir per request (callgrind): rr, ${values.connections} connections x ${values.rounds} rounds, ` +
      `${values.size}-byte messages\n\n${'server'.padEnd(12)}  ${'Ir/request'.padStart(10)}  ${'x ceiling'.padStart(9)}  ` +
      `calls per request\n`,
  );
  for (const r of results) {
    const per = r.total / r.requests;
    const ratio = ceiling ? (per / (ceiling.total / ceiling.requests)).toFixed(2) : '-';
    const calls = SYSCALLS.filter((s) => r.calls.get(s)).map((s) => `${s} ${(r.calls.get(s) / r.requests).toFixed(3)}`);
    process.stdout.write(`${r.name.padEnd(12)}  ${per.toFixed(0).padStart(10)}  ${ratio.padStart(9)}  ${calls.join(', ')}\n`);
  }
  const top = Number(values.top);
  for (const r of top > 0 ? results : []) {
    process.stdout.write(`\n${r.name}: top functions, exclusive Ir per request\n`);
    for (const [fn, ir] of [...r.self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${(ir / r.requests).toFixed(1).padStart(8)}  ${fn.slice(0, 100)}\n`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
})().catch((err) => {
  console.error(err);
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
