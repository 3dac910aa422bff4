// What the commands share: the usage text and the parsers for numeric flags.
import { MODEL_TABLE, MODELS } from '../index';
import { allModelOptions, flagName } from '../spec';

/** The flags of every model's own options, as `serve` takes them. */
export const MODEL_FLAGS = allModelOptions(Object.values(MODEL_TABLE).map((c) => c.spec));

// A list flag comes last: the words after `--` are its value.
const modelFlagUsage = [...MODEL_FLAGS]
  .sort(([, a], [, b]) => Number(a.cli.type === 'list') - Number(b.cli.type === 'list'))
  .map(([key, o]) => `[--${flagName(key)} ${o.cli.hint}]`)
  .join(' ');

export const USAGE = `Usage:
  netmodels serve  --model <${MODELS.join('|')}> [--host H] [--port P]
                   [--handler uppercase|echo|discard|http|./module.js] [--max-connections N] [--max-per-source N]
                   [--idle-timeout MS] [--backlog N] [--quiet]
                   ${modelFlagUsage}
  netmodels bench  [--models m1,m2,...] [--connections N] [--size BYTES] [--duration S]
                   [--warmup S] [--rounds N] [--json FILE] [--svg FILE] [--no-node] [--no-ceiling]
                   [--threads N] [--loops N|auto] [--experiment idle|cores]
  netmodels stress --port P [--host H] [--connections N] [--duration S]
`;

/** Prints `message` and the usage to stderr and exits with status 2. */
export function fail(message: string): never {
  process.stderr.write(`netmodels: ${message}\n\n${USAGE}`);
  process.exit(2);
}

/** A non-negative integer flag, or undefined when absent; anything else fails with the usage. */
export function intArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

/** A number flag >= `min`, or `fallback` when absent; anything else throws ERR_INVALID_ARG_VALUE. */
export function num(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    throw Object.assign(new RangeError(`--${name} must be a number >= ${min}, got '${value}'`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return n;
}
