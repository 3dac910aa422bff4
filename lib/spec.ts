// What a model states about itself: its name, family, extra options and bench
// rows. Each model's class carries its spec (`static spec`); the model table
// (lib/models/index.ts) lists the classes, and MODELS, createServer, option
// validation, the CLI's flags and the bench's rows all derive from it.
import { availableParallelism } from 'node:os';

import { invalidArgType, outOfRange, validateInteger, validateOneOf } from './errors';

/** One option: how it is checked (with its default) and how the CLI spells its value. */
export interface OptionSpec<T = unknown> {
  /** Validates `value` (undefined: not given) and returns it with the default applied. */
  check(name: string, value: unknown): T;
  /**
   * The CLI flag's value type, and a hint for the usage text; absent: no flag.
   * A `'list'` flag takes no value: the words after `--` are its list;
   * a `'count'` flag takes a number or `auto`.
   */
  cli?: { type: 'string' | 'number' | 'count' | 'list'; hint: string };
}

/**
 * blocking: one accept loop on a blocking listener, in this process.
 * process: a blocking accept loop whose connections are served by child processes.
 * event: one readiness or completion loop per thread.
 * datagram: UDP, no connections; one socket per loop, each datagram answered to its sender.
 */
export type ModelFamily = 'blocking' | 'process' | 'event' | 'datagram';

export interface BenchVariant {
  /** Row label: 'epoll edge'. Also its `--models` name with '-' for ' '. */
  label: string;
  /** Options that make this row, passed to `netmodels serve` as flags. */
  options: Record<string, string | number>;
  /** The row runs the uppercase echo in JavaScript (lib/bench-handler.ts), as node:net does. */
  js?: boolean;
}

/**
 * What a model can do, stated by the model: tests, experiments and the CLI
 * ask these (and `family`), never a model's name, so a new model is picked
 * up everywhere, and one that does not say fails to compile.
 */
export interface ModelCapabilities {
  /** Serves one client at a time; the others wait in the listen backlog. */
  readonly serial: boolean;
  /**
   * What a function handler is called for: once per connection, once per
   * datagram, or null: refused (the connections are served in forked
   * children, which cannot run JavaScript).
   */
  readonly jsHandler: 'connection' | 'datagram' | null;
  /** Each connection is served by a child forked for it, and reaped (`stats().reaped`, `syscalls.fork`). */
  readonly childPerConnection: boolean;
  /** How it waits for work: in blocking accept/recv calls, for readiness (select, poll, epoll), for completions (io_uring), for queued signals. */
  readonly waits: 'blocking' | 'readiness' | 'completion' | 'signal';
  /** Descriptors it can watch at most (select: FD_SETSIZE); beyond it a connection is rejected. Absent: no limit of its own. */
  readonly maxFd?: number;
  /** `idleTimeoutMs` closes a connection idle that long. */
  readonly idleTimeout: boolean;
  /**
   * How an http reply that closes the connection ends: shut the write side,
   * then discard input until EOF (nginx's lingering close), by the loop's
   * timers (`'loop'`) or in the serving thread or child (`'blocking'`); null:
   * no connections.
   */
  readonly linger: 'loop' | 'blocking' | null;
  /**
   * What its accept does when this process is out of descriptors (EMFILE),
   * never spinning: `'reserve'`: sheds the connection with a reserve fd, and
   * pauses accepting when that cannot be reopened; `'armed'`: the same, but
   * an accept already armed (io_uring) is not reached by a lowered
   * RLIMIT_NOFILE, only by a full table; `'blocking'`: a blocking accept
   * takes its descriptor before it waits, so it fails only on the next
   * accept, and pauses; null: it accepts in other processes (their own
   * tables) or takes no connections.
   */
  readonly emfile: 'reserve' | 'armed' | 'blocking' | null;
}

export interface ModelSpec extends ModelCapabilities {
  readonly name: string;
  readonly family: ModelFamily;
  /** One line, for docs and the CLI's usage. */
  readonly summary: string;
  /** The model's own options beyond the common ones; absent: none. */
  readonly options?: Readonly<Record<string, OptionSpec>>;
  /** Rows in `netmodels bench`; default: one row named after the model. */
  readonly bench?: readonly BenchVariant[];
  /** Events the model emits beyond the common ones; the native side sends them only while someone listens. */
  readonly events?: readonly string[];
  /**
   * Checks across options, after each was checked on its own: may throw, and
   * may set derived keys in `native` (what the native side receives).
   * `given` holds the options as the user passed them.
   */
  readonly finish?: (native: Record<string, unknown>, given: Readonly<Record<string, unknown>>) => void;
  /**
   * A library the native part needs at build time ('liburing'): a build
   * without it leaves the model out, and says so.
   */
  readonly requires?: string;
}

/** What a model is: its family and capabilities. */
type Kind = Pick<ModelSpec, 'family' | keyof ModelCapabilities>;

/**
 * What a model of each kind is unless it says otherwise: a spec spreads one
 * and names only what differs (`{ ...EVENT_LOOP, waits: 'completion' }`).
 */
export const BLOCKING_LOOP = {
  family: 'blocking', serial: false, jsHandler: 'connection', childPerConnection: false,
  waits: 'blocking', idleTimeout: true, linger: 'blocking', emfile: 'blocking',
} as const satisfies Kind;
export const PROCESSES = {
  family: 'process', serial: false, jsHandler: null, childPerConnection: false,
  waits: 'blocking', idleTimeout: true, linger: 'blocking', emfile: null,
} as const satisfies Kind;
export const EVENT_LOOP = {
  family: 'event', serial: false, jsHandler: 'connection', childPerConnection: false,
  waits: 'readiness', idleTimeout: true, linger: 'loop', emfile: 'reserve',
} as const satisfies Kind;

export function integer(min: number, max: number, fallback: number): OptionSpec<number> {
  return { check: (name, value) => validateInteger(name, value, min, max, fallback), cli: { type: 'number', hint: 'N' } };
}

export function oneOf<T extends string>(choices: readonly T[], fallback: T): OptionSpec<T> {
  return { check: (name, value) => validateOneOf(name, value, choices, fallback), cli: { type: 'string', hint: choices.join('|') } };
}

/** A count of threads or processes: an integer in [min, max], or `'auto'`: the CPUs this process may use. */
export function countOrAuto(min: number, max: number, fallback: number | 'auto'): OptionSpec<number> {
  return {
    check(name, value) {
      const v = value === undefined ? fallback : value;
      if (v === 'auto') return Math.min(max, Math.max(min, availableParallelism()));
      if (typeof v !== 'number') throw invalidArgType(name, "of type number or 'auto'", v);
      if (!Number.isInteger(v)) throw outOfRange(name, "an integer or 'auto'", v);
      if (v < min || v > max) throw outOfRange(name, `>= ${min} && <= ${max}, or 'auto'`, v);
      return v;
    },
    cli: { type: 'count', hint: 'N|auto' },
  };
}

/**
 * For a spec's finish(): a pool's ceiling (`maxThreads`, `maxWorkers`) sent
 * as 0 becomes `fallback`, or the pool's size if that is more; one given must
 * be at least the size (ERR_OUT_OF_RANGE).
 */
export function poolCeiling(o: Record<string, unknown>, max: string, size: string, fallback: number): void {
  const n = o[size] as number;
  if (o[max] === 0) o[max] = Math.max(fallback, n);
  if ((o[max] as number) < n) throw outOfRange(`options.${max}`, `>= options.${size} (${n})`, o[max]);
}

/** Options every model of a family takes, beyond the common ones. */
export const FAMILY_OPTIONS: Readonly<Record<ModelFamily, Readonly<Record<string, OptionSpec>>>> = {
  blocking: {},
  process: {},
  event: {
    loops: countOrAuto(1, 1024, 1),
    balance: oneOf(['reuseport', 'handoff', 'shared'] as const, 'reuseport'),
  },
  datagram: {
    loops: countOrAuto(1, 1024, 1),
  },
};

/** A model's own options and its family's. */
export function modelOptions(spec: ModelSpec): Readonly<Record<string, OptionSpec>> {
  return { ...FAMILY_OPTIONS[spec.family], ...spec.options };
}

// Every model's spec, in table order, once lib/models/index.ts has loaded
// (it registers them; the classes cannot import the table that imports them).
const registered: ModelSpec[] = [];

/** Called once by the model table with every model's spec. */
export function registerSpecs(specs: readonly ModelSpec[]): void {
  registered.splice(0, registered.length, ...specs);
}

/** The models that take option `key` (for an error that names them). */
export function modelsTaking(key: string): string[] {
  return registered.filter((s) => key in modelOptions(s)).map((s) => s.name);
}

/** The bench rows of a spec. */
export function benchVariants(spec: ModelSpec): readonly BenchVariant[] {
  return spec.bench ?? [{ label: spec.name, options: {} }];
}

/** `maxChildren` -> `max-children`: the CLI's spelling of an option. */
export function flagName(option: string): string {
  return option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A CLI flag of a model option. */
export type CliOption = OptionSpec & { cli: NonNullable<OptionSpec['cli']> };

/** Every model option that has a CLI flag across `specs`, once each (by name). */
export function allModelOptions(specs: readonly ModelSpec[]): [string, CliOption][] {
  const seen = new Map<string, CliOption>();
  for (const spec of specs) {
    for (const [key, option] of Object.entries(modelOptions(spec))) {
      if (option.cli && !seen.has(key)) seen.set(key, option as CliOption);
    }
  }
  return [...seen];
}
