// What the commands share: their usage texts, the one rule for usage errors
// (UsageError: the message and the command's usage on stderr, exit status 2),
// and the parsers for flags.
import { MODEL_TABLE, MODELS } from '../index';
import { COMMON_OPTIONS, type CommonOption } from '../options';
import { allModelOptions, flagName, modelOptions, type ModelSpec } from '../spec';

export type CommandName = 'serve' | 'bench' | 'stress';

/** `serve`'s model when none is given. */
export const SERVE_MODEL = 'epoll';

/** A common option's `serve` flag, its name filled in. */
export type CommonFlag = Required<Pick<NonNullable<CommonOption['flag']>, 'name'>> & NonNullable<CommonOption['flag']>;

/** The flags of the options every model takes, as `serve` takes them: [option, flag]. */
export const COMMON_FLAGS: [string, CommonFlag][] = Object.entries(COMMON_OPTIONS).flatMap(([key, o]) =>
  o.flag ? [[key, { ...o.flag, name: o.flag.name ?? flagName(key) }] as [string, CommonFlag]] : [],
);

/** `serve`'s flag of an option: `--max-per-source` for maxConnectionsPerSource. */
export function serveFlag(option: string): string {
  return `--${COMMON_FLAGS.find(([key]) => key === option)?.[1].name ?? flagName(option)}`;
}

/** The flags of every model's own options, as `serve` takes them. */
export const MODEL_FLAGS = allModelOptions(Object.values(MODEL_TABLE).map((c) => c.spec));

const SPECS: ModelSpec[] = Object.values(MODEL_TABLE).map((c) => c.spec);

/** The models that take option `key`, for the usage text. */
function takenBy(key: string): string {
  const models = SPECS.filter((s) => key in modelOptions(s)).map((s) => s.name);
  return models.length === SPECS.length ? 'every model' : models.join(', ');
}

function flagLines(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`).join('\n');
}

// A list flag comes last: the words after `--` are its value.
const modelFlagRows: [string, string][] = [...MODEL_FLAGS]
  .sort(([, a], [, b]) => Number(a.cli.type === 'list') - Number(b.cli.type === 'list'))
  .map(([key, o]) => [
    `--${flagName(key)} ${o.cli.hint}`,
    `${key} (${takenBy(key)})`,
  ]);

export const USAGES: Record<CommandName, string> = {
  serve: `Usage: netmodels serve [--model M] [options]

Runs one model's server in the foreground, printing a stats line every second,
until Ctrl-C or SIGTERM. On SIGUSR2 it prints one line, \`STATS \` and
stats() as JSON, to stdout (with --quiet too): how the bench reads a server's
counters.

${flagLines([
  ['--model M', `${MODELS.join('|')} (default ${SERVE_MODEL})`],
  ...COMMON_FLAGS.map(([, f]): [string, string] => [`--${f.name}${f.hint ? ` ${f.hint}` : ''}`, f.help]),
  ['--quiet', 'no stats lines'],
  ['-h, --help', 'this text'],
])}

Model options (the models that take each in parentheses):
${flagLines(modelFlagRows)}
`,
  bench: `Usage: netmodels bench [options]

Runs every model, node:net and a C epoll server (the ceiling) under the same
request/reply load, in interleaved rounds, and prints a table.

${flagLines([
  ['--models m1,m2,...', 'models or rows to run (default: all): epoll, epoll-edge, epoll+js, ...'],
  ['--host H --port P', 'bench a server already running there instead of the models'],
  ['--expect E', 'uppercase|echo|none: how that server\'s replies are checked (default uppercase)'],
  ['--connections N', 'concurrent connections (default 64; --experiment cores: 1000)'],
  ['--size BYTES', 'message size (default 64)'],
  ['--duration S', 'measured seconds per run (default 1)'],
  ['--warmup S', 'unmeasured seconds before each run (default 0.25)'],
  ['--rounds N', 'every target N times, interleaved; rows show the median (default 3; an --experiment: its points, default 1; claims: 5, --quick 1)'],
  ['--threads N', 'load-generator threads (default: 1 per 4 CPUs, at least 1)'],
  ['--loops N|auto', 'event models and the ceiling run N loops (default 1)'],
  ['--no-node', 'leave out the node:net row'],
  ['--no-ceiling', 'leave out the C ceiling row'],
  ['--http', 'instead: the same node:http app hosted by epoll (and epoll xN with --loops) and on its own listen(), HTTP keep-alive load'],
  ['--format F', 'table|md|csv|json on stdout (default table)'],
  ['--json FILE', 'also write the results as JSON'],
  ['--svg FILE', 'also write a chart (req/s and ratios; the experiments: their curves)'],
  ['--experiment E', 'one experiment instead of the table (below)'],
  ['--idle-counts N,N,...', 'idle: the idle connection counts (default 0,250,500,1000,5000)'],
  ['--out FILE', 'claims: write the Markdown report there (default: stdout)'],
  ['--quick', 'the experiments below: the fewest, smallest points (a smoke test; claims: not a report to publish)'],
  ['--udp', 'the UDP table instead: the udp rows, node:dgram and a C recvmmsg server (--loops: the loops row, default auto)'],
  ['--pipeline N', 'with --udp: datagrams each client keeps in flight (default 4)'],
  ['-h, --help', 'this text'],
])}

Experiments (each a table; --json and --svg as above):
${flagLines([
  ['idle', 'one active connection beside N idle ones: select, poll, epoll, uring'],
  ['cores', 'req/s against event loops: epoll and the C ceiling'],
  ['blocking', 'one client connected and idle, a second one sends: its first reply per model (--duration: how long it waits)'],
  ['churn', 'connect, one request, close at 1/16/64 clients: connections/s and server CPU per connection'],
  ['busy', '16 ... 1000 connections, all active: req/s and CPU per request for select, poll, epoll'],
  ['select-vs-fork', 'one active client beside 0 ... 1000 idle ones: select against fork and thread'],
  ['trigger', 'epoll level vs edge at 1/64/1000 connections, 64 B and 64 KiB: syscalls per request'],
  ['sigio', 'signal-driven I/O (sigwait, signalfd) against epoll and poll, busy and beside idle; queue overflows at a lowered RLIMIT_SIGPENDING (--rounds N)'],
  ['claims', 'all of them, short, and a Markdown report of the classic claims (--out FILE)'],
])}

Exits 1 when a target could not run or had errors.
`,
  stress: `Usage: netmodels stress --port P [options]

Opens N connections to a running server (beyond its limits too), holds them,
reports how many were accepted and are still held, then sends one request on
every held connection and checks the reply.

${flagLines([
  ['--port P', 'the server\'s port (required)'],
  ['--host H', 'the server\'s address (default 127.0.0.1)'],
  ['--connections N', 'connections to open (default 1000)'],
  ['--duration S', 'seconds to hold them before the request round (default 1)'],
  ['--expect E', 'uppercase|echo|http|none: the server\'s protocol (default uppercase)'],
  ['--udp', 'a UDP server instead: N clients (default 1000), one datagram in flight each, for the duration; lost ones counted'],
  ['-h, --help', 'this text'],
])}

Exits 1 when a request failed or no connection was held.
`,
};

export const USAGE = `Usage: netmodels <command> [options]

Commands:
  serve    run one model's server in the foreground
  bench    every model side by side with node:net and a C ceiling
  stress   open N connections to a server, then one request on each

  netmodels <command> --help   that command's options
  netmodels --version          the package version
`;

/**
 * A mistake in the command line: main() prints the message and the
 * command's usage to stderr and exits with status 2.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The text main() prints for a usage error. */
export function usageErrorText(err: UsageError): string {
  const prefix = err.command ? `netmodels ${err.command}` : 'netmodels';
  return `${prefix}: ${err.message}\n\n${err.command ? USAGES[err.command] : USAGE}`;
}

/** Whether `argv` asks for help (before a `--`, after which words are a program's). */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Runs `parse` (node:util parseArgs, strict, at the call site so that its
 * types are inferred there) and turns its errors into usage errors of
 * `command`, worded shorter than Node's.
 */
export function parseFlags<T>(command: CommandName, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!e.code?.startsWith('ERR_PARSE_ARGS_')) throw err;
    const unknown = /^Unknown option '([^']+)'/.exec(e.message);
    const positional = /^Unexpected argument '([^']+)'/.exec(e.message);
    const message = unknown
      ? `unknown option '${unknown[1]}'`
      : positional
        ? `unexpected argument '${positional[1]}'`
        : e.message.replace(/^Option '([^']+)' argument missing$/, "option '$1' needs a value");
    throw new UsageError(message, command);
  }
}

/** A non-negative integer flag, or undefined when absent. */
export function intArg(command: CommandName, name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new UsageError(`--${name} must be a non-negative integer, got '${value}'`, command);
  }
  return n;
}

/** A number flag in `min`..`max` (an integer with `integer`), or `fallback` when absent. */
export function num(
  command: CommandName,
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
  integer = false,
  max = Infinity,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = max === Infinity ? `>= ${min}` : `>= ${min} and <= ${max}`;
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} ${range}, got '${value}'`, command);
  }
  return n;
}

/**
 * `argv` with each `--flag -N` written `--flag=-N`: parseArgs takes a value
 * that starts with '-' only in that form, and says "argument is ambiguous"
 * otherwise, where the user should hear that the value is out of range.
 * Words after `--` are a program's and are left alone.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return out.concat(argv.slice(i));
    const next = argv[i + 1];
    if (/^--[^=]+$/.test(a) && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** The name in `known` closest to `name` (by edit distance), when close enough to be a typo. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length];
}

/** One of `choices`, or `fallback` when absent. */
export function choice<T extends string>(command: CommandName, name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${value}'`, command);
  }
  return value as T;
}
