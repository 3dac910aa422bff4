// netmodels bench: the rr table over the chosen targets, or one of the
// experiments, printed and optionally written as JSON and SVG.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';

import {
  IDLE_COUNTS,
  ceilingTarget,
  coresTable,
  defaultLoadThreads,
  idleTable,
  loopCounts,
  runCores,
  runIdle,
  runRr,
  rrTable,
  selectTargets,
  type RrConfig,
} from '../bench';
import { barChartSvg, lineChartSvg } from '../svg';
import { num } from './args';

function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
  };
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string' },
      connections: { type: 'string' },
      size: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      json: { type: 'string' },
      svg: { type: 'string' },
      'no-node': { type: 'boolean', default: false },
      'no-ceiling': { type: 'boolean', default: false },
      experiment: { type: 'string' },
      'idle-counts': { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string' },
      loops: { type: 'string' },
    },
    strict: true,
  });
  const durationMs = Math.round(num('duration', values.duration, 3, 0.05) * 1000);
  const warmupMs = Math.round(num('warmup', values.warmup, 0.5, 0) * 1000);
  const messageSize = num('size', values.size, 64, 1);
  const threads = values.threads === undefined ? undefined : num('threads', values.threads, 1, 1);
  const loops =
    values.loops === 'auto' ? os.availableParallelism() : num('loops', values.loops, 1, 1);

  if (values.experiment === 'cores') {
    const config = {
      connections: num('connections', values.connections, 1000, 1),
      messageSize,
      durationMs,
      warmupMs,
      threads,
      counts: loopCounts(),
    };
    process.stdout.write(
      `netmodels bench --experiment cores: rr, ${config.connections} connections, ${messageSize}-byte messages, ` +
        `${durationMs / 1000} s each, ${threads ?? defaultLoadThreads(Math.max(...config.counts))} load-generator threads; ` +
        `${machine().cpus} cores, ${machine().cpuModel}\n\n`,
    );
    const points = await runCores(config);
    process.stdout.write(`${coresTable(points)}\n`);
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify({ experiment: 'cores', machine: machine(), config, points }, null, 2)}\n`);
    if (values.svg) {
      const series = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.label))].map((label) => ({
        name: label,
        points: points.filter((p) => p.label === label && p.report).map((p) => ({ x: p.loops, y: p.report!.rps })),
      }));
      for (const p of points.filter((x) => x.loops === 0 && x.report)) {
        series.push({ name: p.label, points: config.counts.map((x) => ({ x, y: p.report!.rps })) });
      }
      fs.writeFileSync(values.svg, lineChartSvg('requests/s vs event loops', 'loops', 'requests/s', series));
    }
    return points.some((p) => !p.report || p.report.mismatches > 0) ? 1 : 0;
  }

  if (values.experiment !== undefined) {
    if (values.experiment !== 'idle') {
      throw Object.assign(new RangeError(`unknown experiment '${values.experiment}' (known: idle, cores)`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    const counts = values['idle-counts'] ? values['idle-counts'].split(',').map((c) => num('idle-counts', c, 0)) : IDLE_COUNTS;
    process.stdout.write(
      `netmodels bench --experiment idle: one active connection (${messageSize}-byte rr) beside N idle ones, ` +
        `${durationMs / 1000} s each; ${machine().cpus} cores, ${machine().cpuModel}\n\n`,
    );
    const points = await runIdle({ durationMs, warmupMs, messageSize, counts });
    process.stdout.write(`${idleTable(points)}\n`);
    const result = { experiment: 'idle', machine: machine(), config: { durationMs, warmupMs, messageSize, counts }, points };
    if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    if (values.svg) {
      const series = [...new Set(points.map((p) => p.model))]
        .map((m) => ({
          name: m,
          points: points.filter((p) => p.model === m && p.report).map((p) => ({ x: p.idle, y: p.report!.latencyUs.p50 })),
        }))
        .filter((line) => line.points.length > 0);
      fs.writeFileSync(values.svg, lineChartSvg('Latency of one active connection vs idle connections (p50)', 'idle connections', 'p50 latency (us)', series));
    }
    return 0;
  }

  const config: RrConfig = {
    connections: num('connections', values.connections, 64, 1),
    messageSize,
    durationMs,
    warmupMs,
    rounds: num('rounds', values.rounds, 1, 1),
    threads,
  };
  const targets = selectTargets(values.models?.split(',').map((m) => m.trim()).filter(Boolean), loops);
  if (!values['no-node']) targets.push({ label: 'node:net', kind: 'node' });
  if (!values['no-ceiling']) {
    targets.push(ceilingTarget(1));
    if (loops > 1) targets.push(ceilingTarget(loops));
  }
  process.stdout.write(
    `netmodels bench: rr, ${config.connections} connections, ${config.messageSize}-byte messages, ` +
      `${durationMs / 1000} s each after ${warmupMs / 1000} s warm-up` +
      `${config.rounds! > 1 ? `, median of ${config.rounds} rounds` : ''}; ${machine().cpus} cores, ${machine().cpuModel}, node ${process.version}\n\n`,
  );
  const rows = await runRr(targets, config);
  process.stdout.write(`${rrTable(rows)}\n`);
  if (values.json) {
    fs.writeFileSync(values.json, `${JSON.stringify({ machine: machine(), config, rows }, null, 2)}\n`);
  }
  if (values.svg) {
    const bars = rows.filter((r) => r.report).map((r) => ({ label: r.label, value: r.report!.rps }));
    fs.writeFileSync(
      values.svg,
      barChartSvg(`requests/s: ${config.connections} connections, ${config.messageSize}-byte messages`, 'requests/s', bars),
    );
  }
  const failed = rows.some((r) => r.report && r.report.mismatches > 0);
  return failed ? 1 : 0;
}
