// netmodels serve: one model's server in the foreground, a stats line every
// second, stopped cleanly by SIGINT or SIGTERM.
import { parseArgs } from 'node:util';

import { isHandlerModule, loadHandlerModule } from '../handler-module';
import { createServer, MODEL_TABLE, type ModelName } from '../index';
import type { ServerStats } from '../server';
import { flagName, modelOptions, type ModelSpec } from '../spec';
import { fail, intArg, MODEL_FLAGS } from './args';

function formatStats(s: ServerStats): string {
  return (
    `active ${s.active} (peak ${s.peakActive})  accepted ${s.accepted}  closed ${s.closed}  ` +
    `rejected ${s.rejected}  in ${s.bytesIn} B  out ${s.bytesOut} B  reads ${s.reads}  writes ${s.writes}  ` +
    `wakeups ${s.wakeups}` +
    (s.workers ? `  workers ${s.workers.map((w) => w.active).join('/')}` : '') +
    (s.model === 'fork' ? `  reaped ${s.reaped} (exited ${s.exitedOk} ok, ${s.exitedFailed} failed)` : '') +
    `  errors ${s.errors}`
  );
}

export async function serveCommand(argv: string[]): Promise<number> {
  // A list flag (--exec) takes the words after `--`, which may look like flags.
  const dashes = argv.indexOf('--');
  const list = dashes < 0 ? [] : argv.slice(dashes + 1);
  const { values } = parseArgs({
    args: dashes < 0 ? argv : argv.slice(0, dashes),
    options: {
      model: { type: 'string', default: 'epoll' },
      ...Object.fromEntries(
        MODEL_FLAGS.map(([key, o]) => [flagName(key), { type: o.cli.type === 'list' ? ('boolean' as const) : ('string' as const) }]),
      ),
      host: { type: 'string' },
      port: { type: 'string', default: '8000' },
      handler: { type: 'string' },
      'max-connections': { type: 'string' },
      'max-per-source': { type: 'string' },
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
    handler:
      values.handler !== undefined && isHandlerModule(values.handler) ? await loadHandlerModule(values.handler) : values.handler,
    maxConnections: intArg('max-connections', values['max-connections']),
    maxConnectionsPerSource: intArg('max-per-source', values['max-per-source']),
    idleTimeoutMs: intArg('idle-timeout', values['idle-timeout']),
    backlog: intArg('backlog', values.backlog),
  };
  // A model's own flags go to it (a number where the option takes one); the
  // model's validation words any error, and one the model does not take is
  // rejected as an unknown option.
  const flags = values as Record<string, string | boolean | undefined>;
  let listTaken = dashes < 0;
  for (const [key, option] of MODEL_FLAGS) {
    const value = flags[flagName(key)];
    if (option.cli.type === 'list') {
      if (value !== true) continue;
      if (list.length === 0) fail(`--${flagName(key)} needs a program after --`);
      options[key] = list;
      listTaken = true;
      continue;
    }
    if (typeof value !== 'string') continue;
    const spec = (MODEL_TABLE as Record<string, { spec: ModelSpec }>)[model]?.spec;
    const own = spec !== undefined && key in modelOptions(spec);
    const numeric = own && (option.cli.type === 'number' || (option.cli.type === 'count' && value !== 'auto'));
    options[key] = numeric ? intArg(flagName(key), value) : value;
  }
  if (!listTaken) fail(`unexpected arguments after --: ${list.join(' ')}`);
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
