// netmodels serve: one model's server in the foreground, a stats line every
// second, stopped cleanly by SIGINT or SIGTERM.
import { parseArgs } from 'node:util';

import { createServer, MODEL_TABLE, type ModelName } from '../index';
import type { ServerStats } from '../server';
import { flagName, modelOptions, type ModelSpec } from '../spec';
import { intArg, MODEL_FLAGS } from './args';

function formatStats(s: ServerStats): string {
  return (
    `active ${s.active} (peak ${s.peakActive})  accepted ${s.accepted}  closed ${s.closed}  ` +
    `rejected ${s.rejected}  in ${s.bytesIn} B  out ${s.bytesOut} B  reads ${s.reads}  writes ${s.writes}  ` +
    `wakeups ${s.wakeups}` +
    (s.workers ? `  workers ${s.workers.map((w) => w.active).join('/')}` : '') +
    (s.model === 'fork' ? `  reaped ${s.reaped}` : '') +
    `  errors ${s.errors}`
  );
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'epoll' },
      ...Object.fromEntries(MODEL_FLAGS.map(([key]) => [flagName(key), { type: 'string' as const }])),
      host: { type: 'string' },
      port: { type: 'string', default: '8000' },
      handler: { type: 'string' },
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
  // A model's own flags go to it (a number where the option takes one); the
  // model's validation words any error, and one the model does not take is
  // rejected as an unknown option.
  const flags = values as Record<string, string | boolean | undefined>;
  for (const [key, option] of MODEL_FLAGS) {
    const value = flags[flagName(key)];
    if (typeof value !== 'string') continue;
    const spec = (MODEL_TABLE as Record<string, { spec: ModelSpec }>)[model]?.spec;
    const own = spec !== undefined && key in modelOptions(spec);
    const numeric = own && (option.cli.type === 'number' || (option.cli.type === 'count' && value !== 'auto'));
    options[key] = numeric ? intArg(flagName(key), value) : value;
  }
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
