// netmodels serve: one model's server in the foreground, a stats line every
// second, stopped cleanly by SIGINT or SIGTERM.
import { parseArgs } from 'node:util';

import { isHandlerModule, loadHandlerModule } from '../handler-module';
import { createServer, MODEL_TABLE, MODELS, nativeModels, type ModelName } from '../index';
import type { ServerStats } from '../server';
import { flagName, modelOptions, type ModelSpec } from '../spec';
import { COMMON_FLAGS, didYouMean, intArg, MODEL_FLAGS, joinNegativeValues, parseFlags, SERVE_MODEL, serveFlag, UsageError } from './args';
import { COMMON_OPTIONS, SERVE_PORT } from '../options';

/** `1,234`. */
const count = (n: number) => n.toLocaleString('en-US');

/** `512 B`, `1.5 KiB`, `20.0 MiB`, `3.2 GiB`. */
function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

function formatStats(s: ServerStats): string {
  return (
    `active ${count(s.active)} (peak ${count(s.peakActive)})  accepted ${count(s.accepted)}  closed ${count(s.closed)}  ` +
    `rejected ${count(s.rejected)}  in ${bytes(s.bytesIn)}  out ${bytes(s.bytesOut)}  reads ${count(s.reads)}  writes ${count(s.writes)}  ` +
    `wakeups ${count(s.wakeups)}` +
    (s.workers ? `  workers ${s.workers.map((w) => w.active).join('/')}` : '') +
    (MODEL_TABLE[s.model].spec.childPerConnection ? `  reaped ${s.reaped} (exited ${s.exitedOk} ok, ${s.exitedFailed} failed)` : '') +
    `  errors ${s.errors}`
  );
}

const VALIDATION = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE']);

/**
 * An option the server's validation refused, worded for the command line:
 * `The property 'options.trigger' must be ...` -> `--trigger must be ...`.
 */
function flagError(err: Error & { code?: string }, model: ModelName): Error {
  if (!err.code || !VALIDATION.has(err.code)) return err;
  const m = /options\.(\w+)/.exec(err.message);
  if (!m) return err;
  const flag = serveFlag(m[1]);
  let message = err.message
    .replace(/^The (?:property|argument) 'options\.\w+' /, `${flag} `)
    .replace(/^The "options\.\w+" (?:property|argument) /, `${flag} `)
    .replace(/^The value of "options\.\w+" is out of range\. It /, `${flag} is out of range: it `)
    .replace(/\.?\s+Received (?:type \w+ \((.*)\)|(.*))$/s, (_, typed, plain) => `, got ${typed ?? plain}`);
  if (/is not an option of/.test(message)) message = `${flag} is not an option of the ${model} model`;
  return new UsageError(message, 'serve');
}

export async function serveCommand(argv: string[]): Promise<number> {
  // A list flag (--exec) takes the words after `--`, which may look like flags.
  const dashes = argv.indexOf('--');
  const list = dashes < 0 ? [] : argv.slice(dashes + 1);
  const { values } = parseFlags('serve', () =>
    parseArgs({
      args: joinNegativeValues(dashes < 0 ? argv : argv.slice(0, dashes)),
      strict: true,
      options: {
        model: { type: 'string', default: SERVE_MODEL },
        ...Object.fromEntries(
          MODEL_FLAGS.map(([key, o]) => [flagName(key), { type: o.cli.type === 'list' ? ('boolean' as const) : ('string' as const) }]),
        ),
        ...Object.fromEntries(
          COMMON_FLAGS.map(([, f]) => [f.name, { type: f.type === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
        ),
        quiet: { type: 'boolean', default: false },
      },
    }),
  );
  const model = values.model as ModelName;
  if (!(MODELS as readonly string[]).includes(model)) {
    const near = didYouMean(model, MODELS);
    throw new UsageError(`unknown model '${values.model}'${near ? ` (did you mean '${near}'?)` : ''} (models: ${MODELS.join(', ')})`, 'serve');
  }
  if (!nativeModels().includes(model)) {
    const requires = MODEL_TABLE[model].spec.requires;
    throw new Error(
      `the ${model} model is not in this build${requires ? ` (${requires} was missing when netmodels was compiled; install it and run npm rebuild netmodels)` : ''}`,
    );
  }
  const flags = values as Record<string, string | boolean | undefined>;
  // The common flags (a handler module is loaded below); with --fd, none
  // of those for a socket that listens already.
  const options: Record<string, unknown> = {};
  for (const [key, f] of COMMON_FLAGS) {
    const value = flags[f.name];
    if (key !== 'handler') options[key] = f.type === 'integer' ? intArg('serve', f.name, value as string | undefined) : value;
  }
  if (options.fd !== undefined) {
    const other = COMMON_FLAGS.find(([key, f]) => COMMON_OPTIONS[key].listens && flags[f.name] !== undefined);
    if (other) throw new UsageError(`--${other[1].name} does not go with --fd (that socket listens already)`, 'serve');
  } else {
    options.port ??= SERVE_PORT;
  }
  // A model's own flags go to it (a number where the option takes one); the
  // model's validation words any error, and one the model does not take is
  // rejected as an unknown option.
  let listTaken = dashes < 0;
  for (const [key, option] of MODEL_FLAGS) {
    const value = flags[flagName(key)];
    if (option.cli.type === 'list') {
      if (value !== true) continue;
      if (list.length === 0) throw new UsageError(`--${flagName(key)} needs a program after --`, 'serve');
      options[key] = list;
      listTaken = true;
      continue;
    }
    if (typeof value !== 'string') continue;
    const spec = (MODEL_TABLE as Record<string, { spec: ModelSpec }>)[model].spec;
    const own = key in modelOptions(spec);
    const numeric = own && (option.cli.type === 'number' || (option.cli.type === 'count' && value !== 'auto'));
    options[key] = numeric ? intArg('serve', flagName(key), value) : value;
  }
  if (!listTaken) throw new UsageError(`unexpected arguments after --: ${list.join(' ')}`, 'serve');
  const handler = flags.handler as string | undefined;
  if (handler !== undefined && !isHandlerModule(handler)) options.handler = handler;
  if (handler !== undefined && isHandlerModule(handler) && MODEL_TABLE[model].spec.jsHandler === null) {
    throw new UsageError(
      `--handler ${handler}: the ${model} model serves in forked children, which cannot run JavaScript ` +
        '(use a built-in handler, or --exec -- PROGRAM with the fork model)',
      'serve',
    );
  }
  let server;
  try {
    // Validate every flag before loading a handler module (which runs its code).
    if (handler !== undefined && isHandlerModule(handler)) createServer(model, { ...options, handler: () => {} } as never);
    if (handler !== undefined && isHandlerModule(handler)) options.handler = await loadHandlerModule(handler);
    server = createServer(model, options as never);
  } catch (err) {
    throw flagError(err as Error & { code?: string }, model);
  }
  // The bench reads a server's counters from its own process this way; set
  // before the port is printed, since SIGUSR2's default action is to exit.
  const dumpStats = () => process.stdout.write(`STATS ${JSON.stringify(server.stats())}\n`);
  process.on('SIGUSR2', dumpStats);
  // Handled from before the port is printed: whoever reads the port may
  // signal at once, and the default action would skip stop().
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const address = await server.start();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`netmodels ${model} server listening on ${host}:${address.port}\n`);
  // A line a second, only when something changed: an idle server is quiet,
  // from the start too.
  let last = values.quiet ? '' : formatStats(server.stats());
  const timer = values.quiet
    ? undefined
    : setInterval(() => {
        const line = formatStats(server.stats());
        if (line !== last) process.stdout.write(`${line}\n`);
        last = line;
      }, 1000);
  process.stdout.write(`\n${await stopSignal}: stopping\n`);
  clearInterval(timer);
  process.off('SIGUSR2', dumpStats);
  await server.stop();
  process.stdout.write(`${formatStats(server.stats())}\nstopped\n`);
  return 0;
}
