#!/usr/bin/env node
// Drives the C ceiling server (scripts/ceiling.c) with the native load
// generator and prints what one loadgen thread achieves against it.
// Needs a built package (npm install / npm run build) and a C compiler.
//
//   node scripts/loadgen-vs-ceiling.js [--connections 64] [--size 64]
//        [--duration 3000] [--warmup 500] [--threads 1] [--runs 3]
'use strict';

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { options } = require('./options');
const { loadgen } = require('../dist');

const values = options({ connections: '64', size: '64', duration: '3000', warmup: '500', threads: '1', runs: '3' });

const here = __dirname;
const source = path.join(here, 'ceiling.c');
const binary = path.join(here, 'ceiling');

function buildCeiling() {
  const stale = !fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs;
  if (stale) execFileSync('sh', [path.join(here, 'build-ceiling.sh'), binary], { stdio: 'inherit' });
}

function startCeiling() {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`ceiling exited early (${code})`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^PORT (\d+)$/m.exec(out);
      if (m) {
        child.removeAllListeners('exit');
        resolve({ child, port: Number(m[1]) });
      }
    });
  });
}

function stopCeiling(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

async function main() {
  buildCeiling();
  const { child, port } = await startCeiling();
  const options = {
    port,
    connections: Number(values.connections),
    messageSize: Number(values.size),
    durationMs: Number(values.duration),
    warmupMs: Number(values.warmup),
    threads: Number(values.threads),
  };
  console.log(`C ceiling on 127.0.0.1:${port}; loadgen ${JSON.stringify(options)}`);
  try {
    const rates = [];
    for (let i = 1; i <= Number(values.runs); i++) {
      const r = await loadgen(options);
      rates.push(r.rps);
      const l = r.latencyUs;
      console.log(
        `run ${i}: ${Math.round(r.rps)} req/s  ${(r.bytesPerSec / 1e6).toFixed(1)} MB/s  ` +
          `p50 ${l.p50.toFixed(0)} us  p99 ${l.p99.toFixed(0)} us  p99.9 ${l.p999.toFixed(0)} us  ` +
          `errors ${r.errors}  mismatches ${r.mismatches}`,
      );
    }
    console.log(`best ${Math.round(Math.max(...rates))} req/s`);
  } finally {
    await stopCeiling(child);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
