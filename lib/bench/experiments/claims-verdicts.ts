// The claims report's sections: per claim, the figures read from the
// measurements, the verdict computed from them, and why.
import { fmt } from '../../format';
import { COARSE_TICKS } from '../proc';
import { compare, figure, figureText, type Figure } from '../rounds';
import { specOfRow } from '../targets';
import { firstReplyOf, type BlockingPoint } from './blocking';
import { wakeupsPerReq } from './busy';
import { connsOf, cpuOf as connCpuOf, type ChurnPoint } from './churn';
import type { Held, Reaping, Threads } from './claims-measure';
import { cpuOf, cpuRangeFigure, rpsOf, type LoadPoint } from './runner';
import type { SigioPoint } from './sigio';
import { perRequest } from './trigger';

export interface Section {
  n: number;
  claim: string;
  command: string;
  figures: string[];
  verdict: string;
  why: string;
}

const us = (v: number | undefined) => `${fmt(v, v !== undefined && v < 10 ? 1 : 0)} us`;
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const x = (r: number | undefined) => `${fmt(r, r !== undefined && r < 10 ? 1 : 0)}x`;
const digits = (f: Figure | undefined) => (f !== undefined && f.median < 10 ? 1 : 0);
/** A figure over the rounds in us: `12 us [11-14]`. */
const usF = (f: Figure | undefined) => `${figureText(f, digits(f))} us`;
/** A CPU figure over the rounds in us, `~` when it rests on few ticks. */
const cpuF = (f: Figure | undefined, ticks: number | undefined) => `${cpuRangeFigure(f, ticks, digits(f))} us`;
/** p50 over the rounds that served a request (a round that served none has no latency). */
const p50Of = (p: LoadPoint | undefined) => figure(p, (r) => (r.report && r.report.requests > 0 ? r.report.latencyUs.p50 : undefined));
/** A CPU figure to compare: undefined when coarse (a ratio of a few ticks says nothing). */
const cpuToCompare = (p: LoadPoint | undefined) => (p?.cpuTicks !== undefined && p.cpuTicks >= COARSE_TICKS ? cpuOf(p) : undefined);

export function claim1(points: BlockingPoint[]): Section {
  const ran = points.filter((p) => !p.skipped);
  // The serial model (iterative) serves one client at a time.
  const it = ran.find((p) => specOfRow(p.model).serial);
  const others = ran.filter((p) => !specOfRow(p.model).serial);
  const blockedOthers = others.filter((p) => p.firstReplyMs === null);
  const holds = it !== undefined && it.firstReplyMs === null && blockedOthers.length === 0;
  return {
    n: 1,
    claim: 'The basic iterative server cannot serve a second client while it serves one: accept and recv block each other.',
    command: '`netmodels bench --experiment blocking`',
    figures: [
      it ? `${it.model}: the second client's first reply: ${it.firstReplyMs === null ? `none within ${fmt(it.timeoutMs)} ms (blocked)` : `${fmt(it.firstReplyMs, 2)} ms`}${it.afterFirstLeftMs !== undefined ? `; it came ${it.afterFirstLeftMs === null ? 'never' : `${fmt(it.afterFirstLeftMs, 2)} ms`} after the first client left` : ''}` : 'iterative: not run',
      `every other model: ${others.map((p) => `${p.model} ${p.firstReplyMs === null ? 'blocked' : `${figureText(firstReplyOf(p), 2)} ms`}`).join(', ')}`,
    ],
    verdict: holds ? 'holds' : 'does not hold on this run',
    why:
      'The iterative server sits in recv() on the first, idle connection; the second one waits, connected, in the ' +
      "kernel's accept queue and is served only when the first leaves. Every other model gives each connection its own " +
      'process or thread, or watches all of them at once.',
  };
}

function churnAt(points: ChurnPoint[], model: string, clients: number) {
  return points.find((p) => (p.model === model || p.model.startsWith(`${model} `)) && p.clients === clients);
}

export function claim2(points: ChurnPoint[]): Section {
  const fork = churnAt(points, 'fork', 16);
  const prefork = churnAt(points, 'prefork', 16);
  const thread = churnAt(points, 'thread', 16);
  const epoll = churnAt(points, 'epoll level', 16);
  // Cost: CPU per connection decides, fork against a thread per
  // connection; the waste at peak load: a pool's connections/s against fork's.
  const costly = compare({ name: 'fork', figure: connCpuOf(fork) }, { name: 'thread', figure: connCpuOf(thread) }, 2);
  const poolGain = compare({ name: 'prefork', figure: connsOf(prefork) }, { name: 'fork', figure: connsOf(fork) }, 2);
  const holds = costly.side === 'higher' && poolGain.side === 'higher';
  const noise = [costly, poolGain].filter((c) => c.side === 'noise');
  return {
    n: 2,
    claim: 'Fork per connection: the workers grow with the users, so the cost is large; creating and destroying processes at peak load is wasted work.',
    command: '`netmodels bench --experiment churn` (connect, one 64 B request, close, at 1, 16 and 64 clients)',
    figures: [
      ...[...new Set(points.map((p) => p.clients))].map(
        (c) =>
          `${c} client${c > 1 ? 's' : ''}: ` +
          ['fork', 'prefork', 'thread', 'threadpool', 'epoll level']
            .map((m) => {
              const p = churnAt(points, m, c);
              return p?.report ? `${m} ${figureText(connsOf(p))} conn/s (${cpuF(connCpuOf(p), p.cpuTicks)} CPU/conn)` : `${m} -`;
            })
            .join(', '),
      ),
      `at 16 clients fork spends ${x(costly.ratio)} the CPU per connection of a thread per connection; the pre-forked pool serves ${x(poolGain.ratio)} fork's connections/s; epoll ${figureText(connsOf(epoll))} conn/s`,
    ],
    verdict: `${holds ? 'holds' : noise.length > 0 ? 'within noise' : 'does not hold on this run'}: the cost (CPU per connection decides, 2x counts) ${costly.text}; the waste (connections/s decides, 2x counts) ${poolGain.text}`,
    why:
      "The CPU per connection counts the server process and its reaped children (cutime/cstime in /proc/<pid>/stat): fork() copies the page tables " +
      'of a large process (a Node process here), the child faults in copy-on-write pages, exits, and is reaped. A pool (prefork, threadpool) pays that once, not per connection.',
  };
}

export function claim3(r: Reaping[]): Section {
  const holds = r.every((m) => m.zombies === 0 && m.accepted !== undefined && m.accepted > 0 && m.reaped === m.accepted);
  return {
    n: 3,
    claim: 'A child that nobody reaps stays a zombie; a reaper thread with SIGCHLD unmasked only in that thread reaps them without disturbing accept.',
    command: '`netmodels bench --experiment claims` (this section: the fork model under churn, `--reaper pidfd` and `--reaper sigchld`)',
    figures: r.map(
      (m) =>
        `reaper ${m.reaper} (in use: ${m.inUse ?? '?'}): ${fmt(m.report.requests)} connections served at ${fmt(m.report.rps)}/s, ` +
        `accepted ${fmt(m.accepted)}, reaped ${fmt(m.reaped)}, zombies in /proc afterwards ${m.zombies}, client errors ${m.report.errors}`,
    ),
    verdict: holds ? 'holds: with a reaper, reaped = accepted and no zombie is left, in both modes' : 'does not hold on this run',
    why:
      'An exited child keeps its process-table entry until its parent waits for it. The fork model waits for every child it forked (never waitpid(-1), ' +
      "so Node's child_process keeps its own): through one pidfd per child by default, or a SIGCHLD thread — the signal blocked everywhere else, so accept() is never interrupted.",
  };
}

export function claim4(t: Threads, churnPoints: ChurnPoint[]): Section {
  const fork = churnAt(churnPoints, 'fork', 16);
  const thread = churnAt(churnPoints, 'thread', 16);
  const holds = t.zombies === 0 && (t.reaped ?? 0) === 0;
  const cost = compare({ name: 'fork', figure: connCpuOf(fork) }, { name: 'thread', figure: connCpuOf(thread) });
  return {
    n: 4,
    claim: 'Threads need no reaping; otherwise the thread model is like the process model.',
    command: '`netmodels bench --experiment claims` (this section: the thread model under churn) and `netmodels bench --experiment churn`',
    figures: [
      `thread model, 16 clients churning: ${fmt(t.accepted)} connections accepted, ` +
        `${fmt(t.clone)} clone() calls (${fmt(ratio(t.clone, t.accepted), 2)} per connection), ` +
        `reaped ${t.reaped ?? 0}, zombies ${t.zombies}, threads left in the process afterwards ${t.threadsAfter}`,
      `CPU per connection at 16 clients: thread ${cpuF(connCpuOf(thread), thread?.cpuTicks)}, fork ${cpuF(connCpuOf(fork), fork?.cpuTicks)} (${x(cost.ratio)})`,
    ],
    verdict: !holds
      ? 'does not hold on this run'
      : cost.side === 'noise'
        ? `holds for reaping; the cost against fork is within noise: CPU per connection decides, ${cost.text}`
        : `holds for reaping; "otherwise alike" holds for the structure, not for the cost: CPU per connection decides, ${cost.text}`,
    why:
      'A detached thread releases its stack when it returns; nothing waits for it and no zombie appears. The structure is the process model\'s (one blocking worker per connection), ' +
      'but a thread shares the address space: no page tables to copy, so a connection costs a fraction of a fork.',
  };
}

function idleAt(points: LoadPoint[], model: string, n: number) {
  return points.find((p) => p.model === model && p.x === n && p.report);
}

/** `p50 a / b / c us, CPU b / c / d us per request` over the idle counts of one model. */
function idleLine(idle: LoadPoint[], model: string, counts: number[]): string {
  const pts = counts.map((n) => idleAt(idle, model, n));
  return `${model}, beside ${counts.join(' / ')} idle: p50 ${pts.map((p) => usF(p50Of(p))).join(' / ')}; server CPU per request ${pts.map((p) => cpuF(cpuOf(p), p?.cpuTicks)).join(' / ')}`;
}

/**
 * How a model's cost grows from 0 idle to `n`: p50 (waiting) and CPU per
 * request (cost), each `n` against 0; growing counts from half as much again.
 */
function growth(idle: LoadPoint[], model: string, n: number) {
  const a = idleAt(idle, model, 0);
  const b = idleAt(idle, model, n);
  const cpuA = cpuToCompare(a);
  const cpuB = cpuToCompare(b);
  return {
    p50: compare({ name: `p50 at ${n}`, figure: p50Of(b) }, { name: 'at 0', figure: p50Of(a) }, GROWS),
    cpu: cpuA && cpuB ? compare({ name: `CPU per request at ${n}`, figure: cpuB }, { name: 'at 0', figure: cpuA }, GROWS) : undefined,
  };
}

/** Half as much again: the margin of a claim that a cost grows. */
const GROWS = 1.5;

type Growth = ReturnType<typeof growth>;
/** A cost grew when either figure rose by half or more, outside the noise. */
const grew = (g: Growth) => g.p50.side === 'higher' || g.cpu?.side === 'higher';
const growthText = (g: Growth) => `${g.p50.text}; ${g.cpu === undefined ? 'CPU per request too coarse to compare' : g.cpu.text}`;

function svfAt(points: LoadPoint[], model: string, n: number) {
  return points.find((p) => p.model === model && p.x === n);
}

export function claim5(over: Held, idle: LoadPoint[], svf: LoadPoint[], big: number): Section {
  const counts = [...new Set(idle.filter((p) => p.model === 'select').map((p) => p.x))].sort((a, b) => a - b);
  const g = growth(idle, 'select', big);
  const sel = svfAt(svf, 'select', big);
  const fork = svfAt(svf, 'fork', big);
  const thread = svfAt(svf, 'thread', big);
  const limit = (over.rejected ?? 0) > 0;
  // Slower: latency decides; less efficient: CPU per request (where neither
  // figure is coarse); each by a fifth, outside the rounds' ranges.
  const p50Cmp = compare({ name: 'select p50', figure: p50Of(sel) }, { name: 'fork', figure: p50Of(fork) }, 1.2);
  const [cpuSel, cpuFork] = [cpuToCompare(sel), cpuToCompare(fork)];
  const cpuCmp = cpuSel && cpuFork ? compare({ name: 'select CPU per request', figure: cpuSel }, { name: 'fork', figure: cpuFork }, 1.2) : undefined;
  const measured = p50Of(sel) !== undefined && p50Of(fork) !== undefined;
  const slower = measured ? p50Cmp.side === 'higher' || cpuCmp?.side === 'higher' : undefined;
  const within = !slower && (p50Cmp.side === 'noise' || cpuCmp?.side === 'noise');
  const line = (m: string, p: LoadPoint | undefined) => `${m} p50 ${usF(p50Of(p))}, ${cpuF(cpuOf(p), p?.cpuTicks)} CPU/req`;
  const against = `${p50Cmp.text}; ${cpuCmp === undefined ? 'CPU per request too coarse to compare' : cpuCmp.text}`;
  const parts = [
    limit ? 'the 1024 limit holds' : 'the 1024 limit did not show',
    grew(g) ? `the cost grows with idle fds (${growthText(g)})` : `${big} idle fds did not raise the cost by half outside the noise (${growthText(g)})`,
    slower === undefined
      ? 'select against fork: not measured'
      : slower
        ? `beside ${big} idle select was slower or costlier than fork (${against})`
        : within
          ? `beside ${big} idle select against fork (latency decides slower, CPU per request costlier): ${against}`
          : `beside ${big} idle select was neither slower nor costlier than fork (${against})`,
  ];
  const verdict = limit && grew(g) && slower ? 'holds' : limit || grew(g) || slower ? 'holds only in part' : 'does not hold on this run';
  return {
    n: 5,
    claim:
      'select watches at most 1024 fds; it scans linearly, so its efficiency falls linearly with the number of fds — "it may even be slower than the multi-process model"; it copies the whole set into the kernel on every call.',
    command: '`netmodels bench --experiment idle` and `netmodels bench --experiment select-vs-fork`',
    figures: [
      `1100 idle connections offered to select: ${fmt(over.rejected)} refused (fd >= FD_SETSIZE), ${fmt(over.active)} held at most`,
      idleLine(idle, 'select', counts),
      `beside ${big} idle: ${[line('select', sel), line('fork', fork), line('thread', thread)].join('; ')}`,
    ],
    verdict: `${verdict}: ${parts.join('; ')}`,
    why:
      'fd_set is a bitmap of FD_SETSIZE (1024) bits: a larger fd cannot be watched, so the server refuses it. Each select() copies the three sets in and out and the kernel polls every fd below nfds, ' +
      'so the cost per wakeup grows with the idle ones — but polling an idle socket is a few tens of nanoseconds, so 1000 of them add tens of microseconds of CPU per wakeup at most, ' +
      'which shows in CPU per request before it shows in the latency of one client on loopback. A blocked child or thread costs nothing while its client is idle: the kernel wakes exactly the one whose socket has data.',
  };
}

export function claim6(idle: LoadPoint[]): Section {
  const counts = [...new Set(idle.filter((p) => p.model === 'poll').map((p) => p.x))].sort((a, b) => a - b);
  const max = counts.at(-1) ?? 0;
  const top = idleAt(idle, 'poll', max);
  const g = growth(idle, 'poll', max);
  const lifted = max > 1024 ? top?.report?.connected === max + 1 : undefined;
  const parts = [
    lifted === undefined ? 'the limit: not tested (no count above 1024)' : lifted ? `the limit is gone (${fmt(max + 1)} connections held)` : `poll did not hold ${fmt(max + 1)} connections`,
    grew(g) ? `the cost grows with idle fds (${growthText(g)})` : `${max} idle fds did not raise the cost by half outside the noise (${growthText(g)})`,
  ];
  return {
    n: 6,
    claim: 'poll lifts the 1024 limit but keeps the linear scan and the copies.',
    command: '`netmodels bench --experiment idle`',
    figures: [`poll held ${fmt(top?.report?.connected)} connections (${max} idle + 1 active)`, idleLine(idle, 'poll', counts)],
    verdict: `${lifted && grew(g) ? 'holds' : lifted || grew(g) ? 'holds only in part' : 'does not hold on this run'}: ${parts.join('; ')}`,
    why: "poll() takes an array of any length, so the limit is gone; but it is copied into the kernel and every entry polled on each call, exactly like select's bitmap.",
  };
}

export function claim7(idle: LoadPoint[]): Section {
  const counts = [...new Set(idle.filter((p) => p.model === 'epoll level').map((p) => p.x))].sort((a, b) => a - b);
  const max = counts.at(-1) ?? 0;
  const g = growth(idle, 'epoll level', max);
  const flat = g.p50.ratio !== undefined && !grew(g);
  return {
    n: 7,
    claim:
      'epoll has no limit and no scanning, is not slowed by many fds, returns only the ready fds, and has no copy overhead because the ready list is shared with user space through mmap.',
    command: '`netmodels bench --experiment idle` (and `--experiment trigger` for the events per wakeup)',
    figures: [`${idleLine(idle, 'epoll level', counts)} (${growthText(g)})`],
    verdict: flat
      ? `holds only in part: no limit, no scan, flat with ${max} idle fds (${growthText(g)}); the mmap part is folklore`
      : `holds only in part: the mmap part is folklore, and the flat curve did not show on this run (${growthText(g)})`,
    why:
      'The interest set lives in the kernel (a red-black tree, changed only by epoll_ctl), and a socket that becomes ready puts itself on the ready list from its wake-up callback, so epoll_wait() never looks at idle fds. ' +
      'But nothing is mmap\'d: in the kernel\'s fs/eventpoll.c, `ep_send_events()` walks the ready list and copies each ready event into the caller\'s array with `epoll_put_uevent()` ' +
      '(include/linux/eventpoll.h: two `__put_user()` stores, events and data), re-queueing level-triggered items for the next call; older kernels did the same in `ep_send_events_proc()`. ' +
      'The copy is of the ready events only, which is why it is cheap — not because it is absent. (A shared ring for epoll, EPOLL_USERPOLL, was proposed on the kernel list in 2019 and is not in mainline; io_uring is where shared rings exist — the uring model.)',
  };
}

export function claim8(points: LoadPoint[], churnPoints: ChurnPoint[]): Section {
  const at = (m: string, n: number) => points.find((p) => p.model === m && p.x === n);
  const counts = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const max = counts.at(-1) ?? 1000;
  const epoll = at('epoll level', max);
  // "Processes data faster" is a cost per request: CPU per request decides,
  // against the cheaper of select and poll; req/s (the load generator shares
  // the CPUs) is stated beside it.
  const others = ['select', 'poll'].map((m) => ({ m, p: at(m, max) })).filter((o) => cpuOf(o.p) !== undefined);
  const best = others.sort((a, b) => cpuOf(a.p)!.median - cpuOf(b.p)!.median)[0];
  const cost = compare({ name: 'epoll', figure: cpuToCompare(epoll) }, { name: best?.m ?? 'select/poll', figure: cpuToCompare(best?.p) });
  const fastest = ['select', 'poll'].map((m) => ({ m, p: at(m, max) })).sort((a, b) => (rpsOf(b.p)?.median ?? 0) - (rpsOf(a.p)?.median ?? 0))[0];
  const speed = compare({ name: 'epoll', figure: rpsOf(epoll) }, { name: fastest.m, figure: rpsOf(fastest.p) });
  const churnE = churnAt(churnPoints, 'epoll level', 64);
  const churnS = churnAt(churnPoints, 'select', 64);
  const churnP = churnAt(churnPoints, 'poll', 64);
  // Coarse CPU figures (a short run) cannot decide: req/s does, and says so.
  const coarse = cpuToCompare(epoll) === undefined || cpuToCompare(best?.p) === undefined;
  const better = coarse ? speed.side === 'higher' : cost.side === 'lower';
  const worse = coarse ? speed.side === 'lower' : cost.side === 'higher';
  const decided = coarse
    ? `at ${max} busy connections, req/s decides (CPU per request too coarse to compare): ${speed.text}`
    : `at ${max} busy connections, CPU per request decides: ${cost.text}; req/s: ${speed.text}`;
  const verdict =
    rpsOf(epoll) === undefined || best === undefined
      ? 'not measured'
      : better
        ? `does not hold: epoll was faster than ${coarse ? fastest.m : best.m} ${decided}`
        : worse
          ? `holds: epoll was slower than ${coarse ? fastest.m : best.m} ${decided}`
          : `within noise: epoll was neither faster nor slower than select and poll ${decided}`;
  return {
    n: 8,
    claim: "epoll processes data no faster than select/poll, and its red-black tree's rebalancing may make it slower than select and poll.",
    command: '`netmodels bench --experiment busy` (and `--experiment churn` for epoll_ctl on every connection)',
    figures: [
      ...counts.map(
        (n) =>
          `${n} busy connections: ${['select', 'poll', 'epoll level'].map((m) => `${m} ${figureText(rpsOf(at(m, n)))} req/s (${cpuF(cpuOf(at(m, n)), at(m, n)?.cpuTicks)} CPU/req, ${fmt(figure(at(m, n), wakeupsPerReq)?.median, 2)} wakeups/req)`).join(', ')}`,
      ),
      `churn at 64 clients (an epoll_ctl add and delete per connection): select ${figureText(connsOf(churnS))}, poll ${figureText(connsOf(churnP))}, epoll ${figureText(connsOf(churnE))} conn/s`,
    ],
    verdict,
    why:
      'When every fd is ready, select and poll find work in most of the fds they scan, so the scan is not wasted, and epoll has its own cost per event. ' +
      'The tree is touched only by epoll_ctl (add, modify, delete), never by epoll_wait, so rebalancing costs per connection, not per request: it can only show under churn.',
  };
}

export function claim9(points: LoadPoint[]): Section {
  const at = (m: string, n: number, size: number) => points.find((p) => p.model === m && p.x === n && p.size === size);
  const sizes = [...new Set(points.map((p) => p.size!))];
  const conns = [...new Set(points.map((p) => p.x))];
  const figures = sizes.flatMap((size) =>
    conns.map((n) => {
      const cell = (m: string) => {
        const p = at(m, n, size);
        const r = p ? perRequest(p) : undefined;
        return `${m.replace('epoll ', '')} ${figureText(rpsOf(p))} req/s, ${fmt(r?.wakeups, 2)} wakeups, ${fmt(r?.recv, 2)} recv, ${fmt(r?.send, 2)} send, ${fmt(r?.eagain, 2)} EAGAIN`;
      };
      return `${n} connection${n > 1 ? 's' : ''}, ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`}: ${cell('epoll level')}; ${cell('epoll edge')}`;
    }),
  );
  // Per case, level against edge: wakeups per request (the overhead the
  // claim names) and req/s (its "faster"), each a side only outside the noise.
  const pairs = sizes.flatMap((s) => conns.map((n) => [at('epoll level', n, s), at('epoll edge', n, s)] as const)).filter(([l, e]) => l?.report && e?.report);
  const tally = (what: (p: LoadPoint) => number | undefined) => {
    const sides = pairs.map(([l, e]) => compare({ name: 'level', figure: figure(l, what) }, { name: 'edge', figure: figure(e, what) }).side);
    return { level: sides.filter((s) => s === 'higher').length, edge: sides.filter((s) => s === 'lower').length, noise: sides.filter((s) => s === 'noise').length, of: sides.length };
  };
  const woke = tally((p) => perRequest(p).wakeups);
  const fast = tally((p) => p.report?.rps);
  return {
    n: 9,
    claim: 'Level-triggered notifies again and again until the data is read — more overhead; edge-triggered notifies once — less overhead, faster, but "may lose data".',
    command: '`netmodels bench --experiment trigger`; the `sys` example `node examples/lt-vs-et.js` shows the lost edge',
    figures: [...figures, 'per-request counts from stats().syscalls (every call, EAGAIN included)'],
    verdict:
      `holds only when a reader stops before the socket is empty: wakeups per request (the overhead) — level woke more often than edge in ${woke.level} of ${woke.of} cases, edge more often in ${woke.edge}, within noise in ${woke.noise}; ` +
      `req/s (faster) — edge was faster in ${fast.edge} of ${fast.of} cases, level in ${fast.level}, within noise in ${fast.noise}; "lose data" is folklore for "a loop that does not drain stalls"`,
    why:
      'A level-triggered fd is reported on every epoll_wait while data remains; a server that reads until EAGAIN sees one report per arrival either way, so the difference is small. ' +
      'Edge-triggered reports a new arrival only: nothing is lost — the bytes stay in the socket buffer — but a loop that reads part and waits for the next event waits forever. ' +
      'examples/lt-vs-et.js (docs/sys.md) shows it on a socketpair: 8 wakeups level-triggered, 1 edge-triggered with 56 bytes left unread, and 1 with nothing left when the edge loop drains to EAGAIN; draining need not cost a recv that finds EAGAIN: a short read, or the count of bytes left that the kernel returns (TCP_INQ) after a read that filled the buffer, says the socket is empty (the EAGAIN column).',
  };
}

export function claim10(m: Held, many: number): Section {
  const held = m.report.connected;
  const holds = held < many + 1 || m.report.requests === 0;
  return {
    n: 10,
    claim: 'A single-process model cannot achieve high concurrency.',
    command: `\`netmodels bench --experiment idle --idle-counts 0,${many}\` (this section: epoll level, one loop, ${many} idle connections beside one active one)`,
    figures: [
      `one epoll loop, one thread: ${fmt(held)} connections held (peak active ${fmt(m.active)}), the active one served ${fmt(m.report.requests)} requests at ${fmt(m.report.rps)} req/s, p50 ${us(m.report.latencyUs.p50)}, p99 ${us(m.report.latencyUs.p99)}; errors ${m.report.errors}`,
    ],
    verdict: holds ? 'holds on this run' : `does not hold: one process held ${fmt(held)} connections while serving`,
    why:
      'An event loop costs a few hundred bytes of kernel and user state per connection, not a process or a thread and its stack; the limit is the fd limit (ulimit -n), not the model. ' +
      'What one loop cannot do is use more than one core: for that, run N loops (`--loops`, `--experiment cores`).',
  };
}

export function claim11(points: SigioPoint[]): Section {
  const at = (m: string, load: string, n: number, limit?: number) => points.find((p) => p.model === m && p.load === load && p.x === n && p.limit === limit);
  const busyCounts = [...new Set(points.filter((p) => p.load === 'busy' && p.limit === undefined).map((p) => p.x))].sort((a, b) => a - b);
  const max = busyCounts.at(-1) ?? 1000;
  const models = ['sigio', 'sigio signalfd', 'epoll level', 'poll'];
  // CPU per request over the rounds: the figure the verdict compares.
  const cpuFig = (p: SigioPoint | undefined) => figure(p, (r) => r.cpuUsPerReq);
  const cpu = (p: SigioPoint | undefined) => cpuF(cpuFig(p), p?.cpuTicks);
  const cell = (p: SigioPoint | undefined, m: string) =>
    p?.report ? `${m} ${figureText(figure(p, (r) => r.report?.rps))} req/s (${cpu(p)} CPU/req, ${fmt(wakeupsPerReq(p), 2)} waits/req)` : `${m} -`;
  const limited = points.filter((p) => p.limit !== undefined);
  const ovf = (p: SigioPoint) => (p.counters?.overflows !== undefined && p.report?.requests ? (p.counters.overflows * 1000) / p.report.requests : undefined);
  const figures = [
    ...busyCounts.map((n) => `${n} busy: ${models.map((m) => cell(at(m, 'busy', n), m)).join(', ')}`),
    ...[...new Set(points.filter((p) => p.load === 'idle').map((p) => p.x))].map((n) => `1 active beside ${n} idle: ${models.map((m) => cell(at(m, 'idle', n), m)).join(', ')}`),
    ...limited.map((p) => {
      const base = at(p.model, 'busy', p.x);
      return `${p.model}, ${p.x} busy, RLIMIT_SIGPENDING ${p.limit}: ${fmt(p.counters?.overflows)} overflows (${fmt(ovf(p), 1)} per 1000 requests), ${fmt(p.report?.rps)} req/s, ${cpu(p)} CPU/req against ${cpu(base)} at the default limit`;
    }),
  ];
  const sigioRan = points.filter((p) => p.model.startsWith('sigio') && p.report && p.report.requests > 0 && p.report.errors + p.report.mismatches === 0);
  const served = sigioRan.length === points.filter((p) => p.model.startsWith('sigio')).length && sigioRan.length > 0;
  // The cheaper dequeue against epoll, by CPU per request (a claim about cost), outside the rounds' spread or within noise.
  const bestName = ['sigio', 'sigio signalfd'].reduce((a, b) => ((at(b, 'busy', max)?.cpuUsPerReq ?? Infinity) < (at(a, 'busy', max)?.cpuUsPerReq ?? Infinity) ? b : a));
  const cost = compare({ name: bestName, figure: cpuFig(at(bestName, 'busy', max)) }, { name: 'epoll level', figure: cpuFig(at('epoll level', 'busy', max)) });
  const overflowed = limited.filter((p) => (p.counters?.overflows ?? 0) > 0).length;
  const overflowCost = limited
    .map((p) => ratio(p.cpuUsPerReq, at(p.model, 'busy', p.x)?.cpuUsPerReq))
    .filter((v): v is number => v !== undefined);
  return {
    n: 11,
    claim: 'Signal-driven I/O: the kernel tells you when a descriptor is ready. A real-time signal per event names the fd, queued for the thread that waits.',
    command: '`netmodels bench --experiment sigio --rounds 3`',
    figures,
    verdict: served
      ? `holds: every request was answered through the signal queue (sigwait and signalfd), and at ${max} busy connections CPU per request decides the cost: ${cost.text}; ` +
        `with the queue bounded it overflowed in ${overflowed} of ${limited.length} runs and each overflow's drain and poll() rescan cost ${overflowCost.map((r) => x(r)).join(' and ')} the CPU per request of the same run at the default limit`
      : 'does not hold on this run: a sigio point failed or served nothing',
    why:
      'O_ASYNC with F_SETSIG makes each readiness change of a socket queue one real-time signal whose siginfo carries the fd (si_fd) and the event (si_band), so the ready fd is named as with epoll, without a scan. ' +
      'But the queue is per event, not per fd: every segment that arrives queues another signal, and a signal is a system call to dequeue (sigwaitinfo takes one per call; a signalfd read takes many and dedupes nothing, the loop does). ' +
      'The queue is bounded by RLIMIT_SIGPENDING, counted over all of the user\'s processes: when full the kernel sends a plain SIGIO with no fd, and the server must drain the queue and poll() every connection, which is select and poll\'s linear scan back at the worst moment. ' +
      'That is why epoll (2002), which keeps one entry per fd and cannot overflow, replaced the RT-signal servers (nginx, which had an rtsig method, later removed it).',
  };
}
