// netmodels bench: the rr table over the chosen targets, or one of the
// experiments, printed in the chosen format and optionally written as JSON
// and SVG. Exits 1 when a target could not run or had errors.
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { coresChartSvg, idleChartSvg, rrChartSvg } from '../bench/charts';
import { coresTable, loopCounts, runCores } from '../bench/cores';
import { IDLE_COUNTS, idleTable, runIdle } from '../bench/idle';
import { noiseWarning, rowFailure, rowNote, type RrConfig, rrTable, runRr } from '../bench/rr';
import { ceilingTarget, defaultLoadThreads, externalTarget, httpTargets, selectTargets, type Target, targetNames } from '../bench/targets';
import { runUdp, UDP_PIPELINE, udpTable, udpTargets, type UdpConfig } from '../bench/udp';
import { runClaims } from '../bench/experiments/claims';
import { EXPERIMENTS } from '../bench/experiments/index';
import { runExperiment } from '../bench/experiments/runner';
import { fmt, FORMATS, type Format } from '../format';
import { LOAD_EXPECTS, MAX_MESSAGE } from '../loadgen';
import { choice, didYouMean, joinNegativeValues, num, parseFlags, UsageError } from './args';

function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    /** 1, 5 and 15 minute load averages when the bench started. */
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

/** The header's machine part: cores, CPU, load average, node. */
function machineLine(m: ReturnType<typeof machine>): string {
  return `${m.cpus} cores, ${m.cpuModel}, load ${m.loadavg.map((l) => fmt(l, 2)).join(' ')}, node ${m.node}`;
}

/**
 * What a JSON result carries to be quoted later: the netmodels version, when
 * it was made, and the command line that made it.
 */
function provenance(argv: readonly string[]) {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return { netmodels: pkg.version, generatedAt: new Date().toISOString(), command: ['netmodels', 'bench', ...argv].join(' ') };
}

/** `1 load-generator thread`, `2 load-generator threads`. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function usage(message: string): never {
  throw new UsageError(message, 'bench');
}

/** Prints the header (text formats only) and the table or the JSON result. */
function print(format: Format, header: string, table: (f: 'table' | 'md' | 'csv') => string, result: object): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (format === 'csv') process.stdout.write(`${table('csv')}\n`);
  else process.stdout.write(`${header}\n\n${table(format)}\n`);
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('bench', () =>
    parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      options: {
        models: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        expect: { type: 'string' },
        connections: { type: 'string' },
        size: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        json: { type: 'string' },
        svg: { type: 'string' },
        format: { type: 'string' },
        'no-node': { type: 'boolean', default: false },
        'no-ceiling': { type: 'boolean', default: false },
        experiment: { type: 'string' },
        'idle-counts': { type: 'string' },
        rounds: { type: 'string' },
        threads: { type: 'string' },
        loops: { type: 'string' },
        out: { type: 'string' },
        quick: { type: 'boolean', default: false },
        udp: { type: 'boolean', default: false },
        pipeline: { type: 'string' },
        http: { type: 'boolean', default: false },
      },
    }),
  );
  const durationMs = Math.round(num('bench', 'duration', values.duration, 1, 0.05) * 1000);
  const warmupMs = Math.round(num('bench', 'warmup', values.warmup, 0.25, 0) * 1000);
  const messageSize = num('bench', 'size', values.size, 64, 1, true, MAX_MESSAGE);
  const threads = values.threads === undefined ? undefined : num('bench', 'threads', values.threads, 1, 1, true);
  const loops = values.loops === 'auto' ? os.availableParallelism() : num('bench', 'loops', values.loops, 1, 1, true);
  const format = choice('bench', 'format', values.format, FORMATS, 'table');
  const experiment = choice('bench', 'experiment', values.experiment, ['idle', 'cores', ...Object.keys(EXPERIMENTS), 'claims'], 'rr');
  const external = values.port !== undefined;
  if (external && values.experiment !== undefined) usage('--port (an external server) does not go with --experiment');
  if (external && values.models !== undefined) usage('--port benches the server at --host:--port; it does not go with --models');
  if (!external && values.host !== undefined) usage('--host needs --port');
  if (!external && values.expect !== undefined) usage('--expect applies to the server at --port');
  if (values['idle-counts'] !== undefined && experiment !== 'idle') usage('--idle-counts applies to --experiment idle');
  if (values.out !== undefined && experiment !== 'claims') usage('--out applies to --experiment claims');
  if (values.pipeline !== undefined && !values.udp) usage('--pipeline applies to --udp');
  const quick = values.quick === true;
  if (quick && values.experiment === undefined) usage('--quick does not apply to the rr table');
  if (quick && values['idle-counts'] !== undefined) usage('--quick picks the idle counts: it does not go with --idle-counts');
  if (values.experiment !== undefined) {
    const rrOnly = ['models', 'loops', 'no-node', 'no-ceiling', ...(experiment !== 'cores' ? ['connections', 'threads'] : [])];
    const given = rrOnly.find((flag) => (values as Record<string, unknown>)[flag] !== undefined && (values as Record<string, unknown>)[flag] !== false);
    if (given !== undefined) usage(`--${given} does not apply to --experiment ${experiment}`);
  }
  const m = machine();
  const made = provenance(argv);

  if (values.udp) {
    const other = ['experiment', 'models', 'port', 'svg', 'no-node', 'no-ceiling'].find(
      (flag) => (values as Record<string, unknown>)[flag] !== undefined && (values as Record<string, unknown>)[flag] !== false,
    );
    if (other !== undefined) usage(`--${other} does not go with --udp`);
    if (format === 'csv') usage('--udp prints table, md or json');
    const config: UdpConfig = {
      connections: num('bench', 'connections', values.connections, 64, 1, true),
      messageSize,
      durationMs,
      warmupMs,
      rounds: values.rounds === undefined ? 3 : num('bench', 'rounds', values.rounds, 1, 1, true),
      threads: threads ?? defaultLoadThreads(),
      pipeline: num('bench', 'pipeline', values.pipeline, UDP_PIPELINE, 1, true, 1024),
      loops: values.loops === undefined ? os.availableParallelism() : loops,
    };
    const rows = await runUdp(udpTargets(config.loops), config);
    const header =
      `netmodels bench --udp: ${config.connections} clients x ${messageSize} B datagrams, ${config.pipeline} in flight each ` +
        `(each client: one recvmmsg() for its replies, one sendmmsg() for its next datagrams); ` +
      `${durationMs / 1000} s after ${warmupMs / 1000} s warm-up, median of ${config.rounds} interleaved rounds; ${machineLine(m)}`;
    const result = { ...made, machine: m, config, rows };
    print(format, header, (f) => udpTable(rows, f === 'csv' ? 'table' : f), result);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    const failed = rows.filter((r) => !r.report || r.report.mismatches > 0 || r.report.requests === 0);
    for (const r of failed) process.stderr.write(`netmodels bench: ${r.label}: ${r.skipped ?? 'no datagram answered correctly'}\n`);
    return failed.length > 0 ? 1 : 0;
  }

  if (experiment === 'claims') {
    if (format !== 'table' && format !== 'md') usage('--experiment claims writes Markdown: --format does not apply');
    if (values.json || values.svg) usage('--experiment claims writes one Markdown report (--out FILE); --json and --svg do not apply');
    const rounds = values.rounds === undefined ? undefined : num('bench', 'rounds', values.rounds, 1, 1, true);
    const report = await runClaims({ durationMs: values.duration === undefined ? undefined : durationMs, warmupMs: values.warmup === undefined ? undefined : warmupMs, messageSize, quick, rounds }, m, machineLine(m));
    if (values.out) fs.writeFileSync(values.out, report.markdown);
    else process.stdout.write(report.markdown);
    for (const f of report.failures) process.stderr.write(`netmodels bench: ${f}\n`);
    return report.failures.length > 0 ? 1 : 0;
  }

  const exp = EXPERIMENTS[experiment];
  if (exp) {
    const rounds = values.rounds === undefined ? 1 : num('bench', 'rounds', values.rounds, 1, 1, true);
    const options = { durationMs, warmupMs, messageSize, rounds, scale: quick ? ('quick' as const) : ('full' as const) };
    const header =
      `netmodels bench --experiment ${exp.name}: ${exp.summary}; ${durationMs / 1000} s each after ${warmupMs / 1000} s warm-up` +
      `${rounds > 1 ? `, median of ${rounds} interleaved rounds` : ''}; ${machineLine(m)}`;
    const points = await runExperiment(exp, options);
    const result = { ...made, experiment: exp.name, machine: m, config: options, points };
    print(format, header, (f) => exp.table(points, f), result);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    if (values.svg) fs.writeFileSync(values.svg, exp.svg(points));
    const failures = exp.failures(points);
    for (const f of failures) process.stderr.write(`netmodels bench: ${f}\n`);
    return failures.length > 0 ? 1 : 0;
  }

  // idle and cores: one round unless asked (each point is a full server start).
  const rounds = values.rounds === undefined ? 1 : num('bench', 'rounds', values.rounds, 1, 1, true);
  const roundsText = rounds > 1 ? `, median of ${rounds} interleaved rounds` : '';

  if (experiment === 'cores') {
    const all = loopCounts();
    const config = {
      connections: num('bench', 'connections', values.connections, quick ? 64 : 1000, 1, true),
      messageSize,
      durationMs,
      warmupMs,
      threads,
      rounds,
      // --quick: one loop and every core, the two ends of the curve.
      counts: quick ? [...new Set([all[0], all[all.length - 1]])] : all,
    };
    const header =
      `netmodels bench --experiment cores: rr, ${config.connections} connections, ${messageSize}-byte messages, ` +
      `${durationMs / 1000} s each${roundsText}, ${plural(threads ?? defaultLoadThreads(Math.max(...config.counts)), 'load-generator thread')}; ${machineLine(m)}`;
    const points = await runCores(config);
    const result = { ...made, experiment: 'cores', machine: m, config, points };
    print(format, header, (f) => coresTable(points, f), result);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    if (values.svg) fs.writeFileSync(values.svg, coresChartSvg(points, config.counts));
    return points.some((p) => !p.report || p.report.errors + p.report.mismatches > 0) ? 1 : 0;
  }

  if (experiment === 'idle') {
    const counts = values['idle-counts']
      ? values['idle-counts'].split(',').map((c) => num('bench', 'idle-counts', c.trim(), 0, 0, true))
      : quick
        ? [0, 250]
        : IDLE_COUNTS;
    const header =
      `netmodels bench --experiment idle: one active connection (${messageSize}-byte rr) beside N idle ones, ` +
      `${durationMs / 1000} s each after ${warmupMs / 1000} s warm-up${roundsText}; ${machineLine(m)}`;
    const points = await runIdle({ durationMs, warmupMs, messageSize, counts, rounds });
    const result = { ...made, experiment: 'idle', machine: m, config: { durationMs, warmupMs, messageSize, counts, rounds }, points };
    print(format, header, (f) => idleTable(points, f), result);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    if (values.svg) fs.writeFileSync(values.svg, idleChartSvg(points));
    const failed = points.filter((p) => (!p.report && !p.unavailable) || (p.report && p.report.errors + p.report.mismatches > 0));
    for (const p of failed) {
      process.stderr.write(`netmodels bench: ${p.model} with ${p.idle} idle: ${p.report ? `${p.report.errors + p.report.mismatches} errors` : `skipped: ${p.skipped}`}\n`);
    }
    return failed.length > 0 ? 1 : 0;
  }

  const config: RrConfig = {
    connections: num('bench', 'connections', values.connections, 64, 1, true),
    messageSize,
    durationMs,
    warmupMs,
    rounds: num('bench', 'rounds', values.rounds, 3, 1, true),
    threads,
  };
  let targets: Target[];
  const named = values.models?.split(',').map((x) => x.trim()).filter(Boolean);
  if (values.http) {
    if (external || named !== undefined || values.experiment !== undefined) usage('--http does not go with --port, --models or --experiment');
    targets = httpTargets(loops);
    const header =
      `netmodels bench --http: the same node:http app hosted and on its own listen(), HTTP/1.1 keep-alive GETs, ` +
      `${config.connections} connections, every response framed and its status checked, ${durationMs / 1000} s each after ${warmupMs / 1000} s warm-up, ` +
      `${config.rounds! > 1 ? `median of ${config.rounds} interleaved rounds` : 'one round'}; ${machineLine(m)}`;
    const rows = await runRr(targets, config);
    const result = { ...made, machine: m, config: { ...config, http: true }, rows };
    print(format, header, (f) => rrTable(rows, f, 'node:http'), result);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    const failed = rows.filter((r) => r.skipped || (r.errors ?? 0) > 0);
    for (const r of failed) process.stderr.write(`netmodels bench: ${r.label}: ${r.skipped ? `skipped: ${r.skipped}` : `${r.errors} errors`}\n`);
    return failed.length > 0 ? 1 : 0;
  }
  if (external) {
    const host = values.host ?? '127.0.0.1';
    if (isIP(host) === 0) usage(`--host must be an IPv4 or IPv6 address, got '${host}'`);
    const port = num('bench', 'port', values.port, 0, 1, true);
    if (port > 65535) usage(`--port must be an integer >= 1 and <= 65535, got '${values.port}'`);
    targets = [externalTarget(host, port, choice('bench', 'expect', values.expect, LOAD_EXPECTS, 'uppercase'))];
  } else {
    if (named !== undefined && named.length === 0) usage('--models needs at least one name');
    const known = targetNames(loops);
    const unknown = named?.find((n) => !known.includes(n));
    if (unknown !== undefined) {
      const near = didYouMean(unknown, known);
      usage(`unknown model '${unknown}'${near ? ` (did you mean '${near}'?)` : ''} (known: ${known.join(', ')})`);
    }
    targets = selectTargets(named, loops);
  }
  if (!values['no-node']) targets.push({ label: 'node:net', kind: 'node' });
  if (!values['no-ceiling']) {
    targets.push(ceilingTarget(1));
    if (loops > 1) targets.push(ceilingTarget(loops));
  }
  const header =
    `netmodels bench: rr, ${config.connections} connections, ${config.messageSize}-byte messages, ` +
    `${durationMs / 1000} s each after ${warmupMs / 1000} s warm-up, ` +
    `${config.rounds! > 1 ? `median of ${config.rounds} interleaved rounds` : 'one round'}, ` +
    `${plural(threads ?? defaultLoadThreads(loops), 'load-generator thread')}; ${machineLine(m)}`;
  const rows = await runRr(targets, config);
  const result = { ...made, machine: m, config: { ...config, loops, targets: targets.map((t) => t.label) }, rows };
  print(format, header, (f) => rrTable(rows, f), result);
  const warning = noiseWarning(rows, config.rounds!);
  if (warning) process.stderr.write(`${warning}\n`);
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  if (values.svg) fs.writeFileSync(values.svg, rrChartSvg(rows, config, { rounds: config.rounds!, machine: machineLine(m), date: made.generatedAt, warning }));
  // A model this build lacks is not a failure unless it was asked for by name.
  const expect = external ? (values.expect ?? 'uppercase') : undefined;
  const failures = rows
    .filter((r) => !(r.skipped && r.unavailable && named === undefined))
    .map((r) => [r.label, rowFailure(r, expect)] as const)
    .filter(([, why]) => why !== null);
  for (const r of rows) {
    const note = rowNote(r, config.connections);
    if (note) process.stderr.write(`netmodels bench: ${r.label}: ${note}\n`);
  }
  for (const [label, why] of failures) process.stderr.write(`netmodels bench: ${label}: ${why}\n`);
  return failures.length > 0 ? 1 : 0;
}
