#!/usr/bin/env node
// netmodels CLI: serve | bench | stress. Arguments are parsed with node:util
// parseArgs; each command lives in its own function and returns an exit code.
import { parseArgs } from 'node:util';

import { createServer, MODELS, type ModelName } from './index';
import type { ServerStats } from './server';

const USAGE = `Usage:
  netmodels serve  --model <${MODELS.join('|')}> [--trigger level|edge] [--host H] [--port P]
                   [--handler uppercase|echo|discard|http] [--reaper pidfd|sigchld]
                   [--max-connections N] [--idle-timeout MS] [--backlog N] [--quiet]
  netmodels bench  [--models m1,m2,...] [--connections N] [--size BYTES] [--duration S]
                   [--warmup S] [--rounds N] [--json FILE] [--svg FILE] [--no-node] [--no-ceiling]
                   [--experiment idle]
  netmodels stress --port P [--host H] [--connections N] [--duration S]
`;

function fail(message: string): never {
  process.stderr.write(`netmodels: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function intArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

function formatStats(s: ServerStats): string {
  return (
    `active ${s.active} (peak ${s.peakActive})  accepted ${s.accepted}  closed ${s.closed}  ` +
    `rejected ${s.rejected}  in ${s.bytesIn} B  out ${s.bytesOut} B  reads ${s.reads}  writes ${s.writes}  ` +
    `wakeups ${s.wakeups}` +
    (s.model === 'fork' ? `  reaped ${s.reaped}` : '') +
    `  errors ${s.errors}`
  );
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'epoll' },
      trigger: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string', default: '8000' },
      handler: { type: 'string' },
      reaper: { type: 'string' },
      'max-connections': { type: 'string' },
      'idle-timeout': { type: 'string' },
      backlog: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const model = values.model as ModelName;
  const options: Record<string, unknown> = {
    host: values.host,
    port: intArg('port', values.port),
    handler: values.handler,
    maxConnections: intArg('max-connections', values['max-connections']),
    idleTimeoutMs: intArg('idle-timeout', values['idle-timeout']),
    backlog: intArg('backlog', values.backlog),
  };
  if (values.trigger !== undefined) options.trigger = values.trigger;
  if (values.reaper !== undefined) options.reaper = values.reaper;
  const server = createServer(model, options as never);
  const address = await server.start();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`netmodels ${model} server listening on ${host}:${address.port}\n`);
  const timer = values.quiet
    ? undefined
    : setInterval(() => process.stdout.write(`${formatStats(server.stats())}\n`), 1000);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.stdout.write(`\n${signal}: stopping\n`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(timer);
  await server.stop();
  process.stdout.write(`${formatStats(server.stats())}\nstopped\n`);
  return 0;
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'bench':
      return (await import('./bench')).benchCommand(rest);
    case 'stress':
      return (await import('./bench')).stressCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      return fail(`unknown command '${command}'`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error & { code?: string }) => {
    process.stderr.write(`netmodels: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    process.exitCode = 1;
  },
);
