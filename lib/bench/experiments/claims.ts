// `netmodels bench --experiment claims`: every experiment with short
// durations, plus three measurements of its own (zombies and reaping, the
// thread model's clones, one epoll loop holding 10,000 connections), written
// as a Markdown report: per claim its statement, the command, this machine's
// figures, a verdict computed from them, and why.
import { COARSE_TICKS } from '../proc';
import { MARGIN } from '../rounds';
import { specOfRow } from '../targets';
import { blocking } from './blocking';
import { busy } from './busy';
import { churn } from './churn';
import { hold, idleSweep, reaping, threads, IDLE, QUICK_IDLE, MANY, QUICK_MANY } from './claims-measure';
import { claim1, claim2, claim3, claim4, claim5, claim6, claim7, claim8, claim9, claim10, claim11 } from './claims-verdicts';
import { sweepFailures, withRounds } from './runner';
import { runSvf, selectVsFork } from './select-vs-fork';
import { sigio } from './sigio';
import { trigger } from './trigger';
import { udpClaim } from './udp';

export interface ClaimsConfig {
  durationMs?: number;
  warmupMs?: number;
  messageSize: number;
  /** The fewest, smallest points: a smoke test of the report, not figures to publish. */
  quick?: boolean;
  /** Interleaved rounds of every experiment (default ROUNDS; --quick: 1). */
  rounds?: number;
}

/**
 * Rounds by default. Were two figures alike, the 5 rounds of one would all lie
 * above the 5 of the other with odds of 1 in 252 (2 in 252 either way): a
 * side told outside both ranges is noise at most 1% of the time. With 3
 * rounds it was 1 in 10, and claim 8's verdict at 1000 busy connections
 * flipped in 1 try of 3 on a loaded machine (none of 3 with 5).
 */
const ROUNDS = 5;

/**
 * Per run by default: long enough for the /proc CPU figures of a busy server
 * to mean something (live threads' time is exact, exited ones' in 10 ms
 * ticks), short enough for 5 rounds of every point in about 5 minutes on 2 cores.
 */
const DURATION_MS = 500;
const WARMUP_MS = 200;

/** n choose k. */
function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

export function runClaims(config: ClaimsConfig, machine: object, machineLine: string): Promise<{ markdown: string; failures: string[] }> {
  const rounds = config.rounds ?? (config.quick ? 1 : ROUNDS);
  return withRounds(rounds, () => claims(config, rounds, machine, machineLine));
}

async function claims(config: ClaimsConfig, rounds: number, machine: object, machineLine: string): Promise<{ markdown: string; failures: string[] }> {
  const quick = config.quick === true;
  const durationMs = config.durationMs ?? DURATION_MS;
  const warmupMs = config.warmupMs ?? WARMUP_MS;
  const o = { durationMs, warmupMs, messageSize: config.messageSize, scale: quick ? ('quick' as const) : ('claims' as const) };
  const idleCounts = quick ? QUICK_IDLE : IDLE;
  const many = quick ? QUICK_MANY : MANY;
  const started = Date.now();
  const failures: string[] = [];
  const step = (name: string) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}claims: ${name}\n`);

  step('blocking');
  const blk = await blocking.run({ ...o, durationMs: Math.max(durationMs, quick ? 100 : 500) });
  failures.push(...blocking.failures(blk));
  step('churn');
  const chn = await churn.run(o);
  failures.push(...churn.failures(chn));
  step('reaping (fork, both reapers)');
  const reapers = [await reaping('pidfd', 16, durationMs), await reaping('sigchld', 16, durationMs)];
  step('threads');
  const thr = await threads(16, durationMs);
  step('idle');
  const idle = await idleSweep(idleCounts, o);
  failures.push(...sweepFailures(idle, (p) => `${p.model} with ${p.x} idle`));
  step('select beyond FD_SETSIZE');
  const over = await hold('select', specOfRow('select').maxFd! + 76, Math.min(durationMs, 300));
  step('select-vs-fork');
  // select's points are the idle sweep's: one measurement, not two that may disagree.
  const svf = [...idle.filter((p) => p.model === 'select' && p.x <= 1000), ...(await runSvf(o, ['fork', 'thread']))];
  failures.push(...selectVsFork.failures(svf.filter((p) => p.model !== 'select')));
  step('busy');
  const bsy = await busy.run(o);
  failures.push(...busy.failures(bsy));
  step('trigger');
  const trg = await trigger.run(o);
  failures.push(...trigger.failures(trg));
  step('sigio');
  const sig = await sigio.run(o);
  failures.push(...sigio.failures(sig));
  step(`epoll holding ${many}`);
  const held = await hold('epoll-level', many, durationMs);
  step('udp');
  const udp = await udpClaim(o);

  const sections = [
    claim1(blk),
    claim2(chn),
    claim3(reapers),
    claim4(thr, chn),
    claim5(over, idle, svf, quick ? 16 : 1000),
    claim6(idle),
    claim7(idle),
    claim8(bsy, chn),
    claim9(trg),
    claim10(held, many),
    claim11(sig),
    udp,
  ];
  const tookS = Math.round((Date.now() - started) / 1000);
  const lines = [
    '# The classic claims, measured',
    '',
    `Generated by \`${generatedBy()}\``,
    `(${tookS} s on ${machineLine}; ${durationMs / 1000} s per run after ${warmupMs / 1000} s warm-up${quick ? '; --quick: the smallest points, a smoke test' : ''}).`,
    'The machine is shared: the load average above says how busy it was. Server CPU comes from /proc (schedstat for live',
    `threads, 10 ms ticks for exited threads and reaped children); a figure marked ~ rests on less than ${COARSE_TICKS * 10} ms of it: coarse.`,
    '',
    `How to read a figure and a verdict: every measured point ran in ${rounds} interleaved round${rounds > 1 ? 's' : ''} (each round runs every point once,`,
    'so a slow spell of the machine falls on all of them alike); a figure is the median round, with the lowest and highest',
    `round in brackets [min-max]. Two figures differ only when their ranges do not overlap and their medians are more than`,
    `${Math.round((MARGIN - 1) * 100)}% apart, or as far as a verdict names (a cost that grows: 1.5x; fork against a thread: 2x); otherwise the verdict says "within noise" and gives both ranges`,
    `instead of picking a side${rounds === 1 ? ' (one round has no range: this run tells a side by the margin alone)' : ''}. CPU per request (or per connection) decides where a`,
    'claim is about cost, req/s where it is about throughput, latency where it is about waiting; each verdict says which.',
    ...(rounds > 1 ? [`Were two figures alike, all ${rounds} rounds of one would lie above all ${rounds} of the other with odds of 1 in ${choose(2 * rounds, rounds)}: that is how often a side told here can be noise.`] : []),
    'Each experiment runs alone, longer, with the command given in its section.',
    '',
    '| # | Claim | Verdict |',
    '| ---: | :--- | :--- |',
    ...sections.map((s) => `| ${s.n} | ${s.claim.split('. ')[0].replace(/\|/g, '\\|')} | ${s.verdict.split(':')[0]} |`),
    '',
  ];
  for (const s of sections) {
    lines.push(`## ${s.n}. ${s.claim.split('. ')[0]}`, '', `> ${s.claim}`, '', `Command: ${s.command}`, '', ...s.figures.map((f) => `- ${f}`), '', `**Verdict: ${s.verdict}**`, '', s.why, '');
  }
  lines.push('<!-- machine: ' + JSON.stringify(machine) + ' -->', '');
  return { markdown: lines.join('\n'), failures };
}

/**
 * The command that made this report, as it was run: `netmodels` and its
 * arguments, quoted where a shell would need it.
 */
export function generatedBy(argv: readonly string[] = process.argv.slice(2)): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return ['netmodels', ...argv].map(quote).join(' ');
}
