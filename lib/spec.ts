// What a model states about itself: its name, family, extra options and bench
// rows. Each model's class carries its spec (`static spec`); the model table
// (lib/models/index.ts) lists the classes, and MODELS, createServer, option
// validation, the CLI's flags and the bench's rows all derive from it.
import { validateInteger, validateOneOf } from './errors';

/** One option: how it is checked (with its default) and how the CLI spells its value. */
export interface OptionSpec<T = unknown> {
  /** Validates `value` (undefined: not given) and returns it with the default applied. */
  check(name: string, value: unknown): T;
  /** The CLI flag's value type, and a hint for the usage text. */
  cli: { type: 'string' | 'number'; hint: string };
}

/**
 * blocking: one accept loop on a blocking listener, in this process.
 * process: a blocking accept loop whose connections are served by child processes.
 * event: one readiness or completion loop per thread.
 */
export type ModelFamily = 'blocking' | 'process' | 'event';

export interface BenchVariant {
  /** Row label: 'epoll edge'. Also its `--models` name with '-' for ' '. */
  label: string;
  /** Options that make this row, passed to `netmodels serve` as flags. */
  options: Record<string, string | number>;
}

export interface ModelSpec {
  readonly name: string;
  readonly family: ModelFamily;
  /** One line, for docs and the CLI's usage. */
  readonly summary: string;
  /** The model's own options beyond the common ones. */
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Rows in `netmodels bench`; default: one row named after the model. */
  readonly bench?: readonly BenchVariant[];
  /**
   * A library the native part needs at build time ('liburing'): a build
   * without it leaves the model out, and says so.
   */
  readonly requires?: string;
}

export function integer(min: number, max: number, fallback: number): OptionSpec<number> {
  return { check: (name, value) => validateInteger(name, value, min, max, fallback), cli: { type: 'number', hint: 'N' } };
}

export function oneOf<T extends string>(choices: readonly T[], fallback: T): OptionSpec<T> {
  return { check: (name, value) => validateOneOf(name, value, choices, fallback), cli: { type: 'string', hint: choices.join('|') } };
}

/** The bench rows of a spec. */
export function benchVariants(spec: ModelSpec): readonly BenchVariant[] {
  return spec.bench ?? [{ label: spec.name, options: {} }];
}

/** `maxChildren` -> `max-children`: the CLI's spelling of an option. */
export function flagName(option: string): string {
  return option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Every model option across `specs`, once each (by name), for the CLI. */
export function allModelOptions(specs: readonly ModelSpec[]): [string, OptionSpec][] {
  const seen = new Map<string, OptionSpec>();
  for (const spec of specs) for (const [key, option] of Object.entries(spec.options)) if (!seen.has(key)) seen.set(key, option);
  return [...seen];
}
