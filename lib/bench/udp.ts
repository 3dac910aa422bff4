// The UDP bench (`netmodels bench --udp`): the datagram models' rows from
// the model table against node:dgram doing the same uppercase in JS and a C
// recvmmsg/sendmmsg server (scripts/udp-ceiling.c, the yardstick), under the
// load generator's udp mode: N clients, `pipeline` datagrams in flight each
// (each client reads its replies with one recvmmsg() and sends with one
// sendmmsg(), so the client, on the same cores, costs less per datagram).
//
// Each server runs in a process of its own, as in the TCP bench; the
// server's CPU (every thread and child) is sampled over the measured window,
// its kernel drops read from /proc/net/udp{,6}, and a model's syscalls per
// datagram from its own counters (`serve` prints them on SIGUSR2). All three
// kinds get the receive queue the udp model asks for by default
// (UDP_RECEIVE_BUFFER), so none drops where another would not.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { columns, fmt, grid } from '../format';
import { loadgenReport as loadgen, type LoadProgress, type LoadReport } from '../loadgen';
import { MODEL_TABLE, MODELS, type ModelName } from '../models/index';
import { UDP_RECEIVE_BUFFER } from '../models/udp';
import { benchVariants, flagName } from '../spec';
import { CLK_TCK, treeTicks } from './proc';
import { median } from './rr';
import { buildCeiling, ceilingBuildError, CLI, DIST, ROOT, serverProcess, type RunningTarget } from './targets';

const DGRAM_SERVER = path.join(DIST, 'dgram-server.js');
const UDP_HANDLER = path.join(DIST, 'bench-udp-handler.js');
const YARDSTICK_SOURCE = path.join(ROOT, 'scripts', 'udp-ceiling.c');

/** The bench's datagrams in flight per client (--pipeline). */
export const UDP_PIPELINE = 4;

export interface UdpTarget {
  label: string;
  kind: 'model' | 'dgram' | 'yardstick';
  model?: ModelName;
  args?: string[];
  /** yardstick: processes sharing the port. */
  loops?: number;
}

/** The datagram models' rows (and their JS-handler row), node:dgram, the C yardstick (and as many of it as the loops row runs). */
export function udpTargets(loops: number): UdpTarget[] {
  const models = MODELS.filter((m) => MODEL_TABLE[m].spec.family === 'datagram');
  const rows: UdpTarget[] = models.flatMap((model) => [
    ...benchVariants(MODEL_TABLE[model].spec).map((v) => {
      const options = { ...v.options, ...(v.options.loops !== undefined ? { loops } : {}) };
      return {
        label: v.options.loops !== undefined ? `${model} x${loops}` : v.label,
        kind: 'model' as const,
        model,
        args: Object.entries(options).flatMap(([key, value]) => [`--${flagName(key)}`, String(value)]),
      };
    }),
    { label: `${model} + js`, kind: 'model' as const, model, args: ['--handler', UDP_HANDLER] },
  ]);
  rows.push({ label: 'node:dgram', kind: 'dgram' }, { label: 'C recvmmsg', kind: 'yardstick', loops: 1 });
  if (loops > 1) rows.push({ label: `C recvmmsg x${loops}`, kind: 'yardstick', loops });
  return rows;
}

export async function startUdp(target: UdpTarget): Promise<RunningTarget> {
  let child: ChildProcess;
  if (target.kind === 'model') {
    child = spawn(process.execPath, [CLI, 'serve', '--model', target.model!, '--port', '0', '--quiet', ...(target.args ?? [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  } else if (target.kind === 'dgram') {
    child = spawn(process.execPath, [DGRAM_SERVER, '127.0.0.1', '0', String(UDP_RECEIVE_BUFFER)], { stdio: ['ignore', 'pipe', 'inherit'] });
  } else {
    const binary = buildCeiling(YARDSTICK_SOURCE);
    if (!binary) throw new Error(ceilingBuildError());
    child = spawn(binary, ['0', '127.0.0.1', String(target.loops ?? 1), String(UDP_RECEIVE_BUFFER)], { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  return serverProcess(child, target.label);
}

/** Datagrams the kernel dropped on every UDP socket bound to `port` (the `drops` column of /proc/net/udp and udp6). */
export function kernelDrops(port: number): number {
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13) continue;
      if (parseInt(cols[1].split(':')[1], 16) === port) drops += Number(cols[cols.length - 1]);
    }
  }
  return drops;
}

export interface UdpRun extends LoadReport {
  /** Server CPU per answered datagram, microseconds. */
  cpuUsPerDatagram?: number;
  /** Kernel drops on the server's port(s) over the run. */
  kernelDrops: number;
  /** The model's recv + send + wait calls per datagram over the measured window. */
  syscallsPerDatagram?: number;
}

export interface UdpConfig {
  connections: number;
  messageSize: number;
  durationMs: number;
  warmupMs: number;
  rounds: number;
  /** Load-generator threads. */
  threads: number;
  /** Datagrams each client keeps in flight. */
  pipeline: number;
  /** The loops row's loops (and yardstick processes). */
  loops: number;
}

export interface Counted {
  datagramsIn: number;
  datagramsOut: number;
  syscalls: { recv: number; send: number; wait: number; clone: number; fork: number };
}

/** A model's counters, read from its `serve` process (SIGUSR2 prints them). */
export function readStats(server: RunningTarget): Promise<Counted | null> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => done(null), 2000);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const m = /STATS (\{.*\})\n/.exec(text);
      if (m) done(JSON.parse(m[1]) as Counted);
    };
    const done = (value: Counted | null): void => {
      clearTimeout(timer);
      server.child.stdout!.off('data', onData);
      resolve(value);
    };
    server.child.stdout!.on('data', onData);
    server.child.kill('SIGUSR2');
  });
}

export async function measureUdp(target: UdpTarget, config: UdpConfig, onProgress?: (p: LoadProgress) => void): Promise<UdpRun> {
  const server = await startUdp(target);
  const pid = server.child.pid!;
  let start: { ticks: number; stats: Counted | null } | undefined;
  let sampling: Promise<void> | undefined;
  const onWindow = (p: LoadProgress): void => {
    if (p.phase === 'measure' && !sampling) {
      const ticks = treeTicks(pid);
      sampling = (target.kind === 'model' ? readStats(server) : Promise.resolve(null)).then((stats) => {
        start = { ticks, stats };
      });
    }
    onProgress?.(p);
  };
  try {
    const report = await loadgen({
      mode: 'udp',
      port: server.port,
      connections: config.connections,
      messageSize: config.messageSize,
      durationMs: config.durationMs,
      warmupMs: config.warmupMs,
      threads: config.threads,
      pipeline: config.pipeline,
      onProgress: onWindow,
    });
    const ticks = treeTicks(pid);
    const stats = target.kind === 'model' ? await readStats(server) : null;
    await sampling;
    const run: UdpRun = { ...report, kernelDrops: kernelDrops(server.port) };
    if (start && report.requests > 0) run.cpuUsPerDatagram = ((ticks - start.ticks) * 1e6) / CLK_TCK / report.requests;
    if (start?.stats && stats && stats.datagramsIn > start.stats.datagramsIn) {
      const calls = (s: Counted) => s.syscalls.recv + s.syscalls.send + s.syscalls.wait;
      run.syscallsPerDatagram = (calls(stats) - calls(start.stats)) / (stats.datagramsIn - start.stats.datagramsIn);
    }
    return run;
  } finally {
    await server.stop();
  }
}

export interface UdpRow {
  label: string;
  kind: UdpTarget['kind'];
  /** The median round by datagrams/s. */
  report: UdpRun | null;
  skipped?: string;
  runs: UdpRun[];
  /** Medians over the rounds of the ratio measured within each round. */
  vsDgram?: number;
  vsYardstick?: number;
  /** Median server CPU per datagram over the rounds, and its ratio to the yardstick's. */
  cpuUsPerDatagram?: number;
  cpuVsYardstick?: number;
  syscallsPerDatagram?: number;
}

/** Every target `rounds` times, interleaved; ratios are medians of the per-round ratios. */
export async function runUdp(targets: UdpTarget[], config: UdpConfig, onRun?: (label: string, round: number) => void): Promise<UdpRow[]> {
  const runs = new Map<UdpTarget, (UdpRun | null)[]>(targets.map((t) => [t, []]));
  const skipped = new Map<UdpTarget, string>();
  for (let round = 0; round < config.rounds; round++) {
    for (const target of targets) {
      if (skipped.has(target)) continue;
      onRun?.(target.label, round);
      try {
        runs.get(target)!.push(await measureUdp(target, config));
      } catch (err) {
        skipped.set(target, (err as Error).message);
        runs.get(target)!.push(null);
      }
    }
  }
  const dgram = targets.find((t) => t.kind === 'dgram');
  const yardstick = targets.find((t) => t.kind === 'yardstick' && t.loops === 1);
  const ratio = (t: UdpTarget, base: UdpTarget | undefined, value: (r: UdpRun) => number | undefined): number | undefined => {
    if (!base) return undefined;
    const mine = runs.get(t)!;
    const theirs = runs.get(base)!;
    const per: number[] = [];
    for (let i = 0; i < mine.length; i++) {
      const a = mine[i] && value(mine[i]!);
      const b = theirs[i] && value(theirs[i]!);
      if (a && b) per.push(a / b);
    }
    return median(per);
  };
  return targets.map((t) => {
    const done = runs.get(t)!.filter((r): r is UdpRun => r !== null);
    const sorted = [...done].sort((a, b) => a.rps - b.rps);
    const row: UdpRow = { label: t.label, kind: t.kind, report: sorted[(sorted.length - 1) >> 1] ?? null, runs: done };
    if (skipped.has(t)) row.skipped = skipped.get(t);
    row.vsDgram = ratio(t, dgram, (r) => r.rps);
    row.vsYardstick = ratio(t, yardstick, (r) => r.rps);
    row.cpuVsYardstick = ratio(t, yardstick, (r) => r.cpuUsPerDatagram);
    row.cpuUsPerDatagram = median(done.flatMap((r) => (r.cpuUsPerDatagram === undefined ? [] : [r.cpuUsPerDatagram])));
    row.syscallsPerDatagram = median(done.flatMap((r) => (r.syscallsPerDatagram === undefined ? [] : [r.syscallsPerDatagram])));
    return row;
  });
}

const COLUMNS = columns(['server', 'datagrams/s', 'vs node:dgram', 'vs C recvmmsg', 'p50 us', 'p99 us', 'lost', 'kernel drops', 'CPU us/dgram', 'CPU vs C', 'syscalls/dgram']);

export function udpTable(rows: UdpRow[], format: 'table' | 'md'): string {
  return grid(
    format,
    COLUMNS,
    rows.map((r) => {
      if (!r.report) return { label: r.label, note: `skipped: ${r.skipped ?? 'no run'}` };
      const x = (n: number | undefined) => (n === undefined ? '-' : `${fmt(n, 2)}x`);
      return [
        r.label,
        fmt(r.report.rps),
        x(r.vsDgram),
        x(r.vsYardstick),
        fmt(r.report.latencyUs.p50),
        fmt(r.report.latencyUs.p99),
        fmt(r.report.lost),
        fmt(r.report.kernelDrops),
        fmt(r.cpuUsPerDatagram, 2),
        x(r.cpuVsYardstick),
        fmt(r.syscallsPerDatagram, 3),
      ];
    }),
  );
}
