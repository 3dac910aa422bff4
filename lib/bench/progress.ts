// Progress of a bench run on stderr: which run of how many, and the time left.
import type { LoadProgress } from '../loadgen';

/** A run takes about this long beside its load: starting and stopping the server. */
export const START_STOP_MS = 300;

/** `41 s`, `2 min 5 s`. */
function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Where a run is in the whole bench: `target 7/13, round 2/3, ETA 41 s`. */
export function progressPrefix(target: number, targets: number, round: number, rounds: number, etaMs: number): string {
  return `target ${target}/${targets}, round ${round}/${rounds}, ETA ${duration(etaMs)}`;
}

/**
 * Progress on stderr: which run of how many, and the time left, estimated
 * from the runs so far (from the configured times before the first one
 * ends). On a terminal one line rewritten as the run goes; elsewhere (a
 * pipe, a CI log) one line per run as it starts, so a long run is never
 * silent.
 */
export class Progress {
  readonly #enabled = process.stderr.isTTY === true;
  readonly #lines = !this.#enabled && process.env.NETMODELS_PROGRESS !== '0';
  readonly #total: number;
  #done = 0;
  #spentMs = 0;
  readonly #guessMs: number;
  #runStart = 0;
  #prefix = '';

  /** `runs` in all, each expected to take about `runMs` (the guess until one has run). */
  constructor(runs: number, runMs: number) {
    this.#total = runs;
    this.#guessMs = runMs;
  }

  /** The runs in all. */
  get total(): number {
    return this.#total;
  }

  /** A run starts: `label`, target i of n, round r of rs. */
  begin(label: string, target: number, targets: number, round: number, rounds: number): void {
    this.#runStart = Date.now();
    const perRun = this.#done > 0 ? this.#spentMs / this.#done : this.#guessMs;
    this.#prefix = `${progressPrefix(target, targets, round, rounds, perRun * (this.#total - this.#done))}  ${label}`;
    if (this.#lines) process.stderr.write(`  ${this.#prefix}\n`);
    this.#write('');
  }

  /** The load generator's progress during the run. */
  readonly update = (p: LoadProgress): void => {
    this.#write(`: ${(p.elapsedMs / 1000).toFixed(1)} s  ${Math.round(p.rps).toLocaleString('en-US')} req/s`);
  };

  /** The run is over (measured or not). */
  end(): void {
    this.#done++;
    this.#spentMs += Date.now() - this.#runStart;
    if (this.#enabled) process.stderr.write('\r\x1b[K');
  }

  #write(detail: string): void {
    if (this.#enabled) process.stderr.write(`\r\x1b[K  ${this.#prefix}${detail}`);
  }
}
