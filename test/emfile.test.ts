// Rule 7: running out of descriptors on accept never spins the CPU. The
// server shares this process's fd table, so the test exhausts it here, while
// a helper process (spawned beforehand, since spawning needs descriptors)
// plays the client and adjusts this process's RLIMIT_NOFILE with prlimit.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as readline from 'node:readline';

import { afterEach, describe, expect, it } from 'vitest';

import { MODEL_TABLE, createServer } from '../lib/index';
import { CONFIGS } from './configs';
import { cleanup, trackServer, waitFor, waitForStats } from './helpers';

// Commands on stdin, one JSON reply per line on stdout, matched by id:
//   {"id", "connect": port} -> {"id", "result": "closed" | "answered" | error code}
//   {"id", "nofile": n, "hard"} -> {"id", "result": "ok"} after prlimit on the parent
const HELPER = `
const net = require('node:net');
const { execFileSync } = require('node:child_process');
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line);
  const reply = (result) => process.stdout.write(JSON.stringify({ id: cmd.id, result }) + '\\n');
  if (cmd.nofile) {
    execFileSync('prlimit', ['--pid', String(process.ppid), '--nofile=' + cmd.nofile + ':' + cmd.hard]);
    return reply('ok');
  }
  const s = net.connect(cmd.connect, '127.0.0.1');
  let done = false;
  const finish = (r) => { if (!done) { done = true; s.destroy(); reply(r); } };
  s.on('connect', () => s.write('ping'));
  s.on('data', (d) => finish(d.toString() === 'PING' ? 'answered' : 'wrong'));
  s.on('end', () => finish('closed'));
  s.on('error', (e) => finish(e.code === 'ECONNRESET' ? 'closed' : e.code));
  s.setTimeout(20000, () => finish('timeout'));
});
`;

class Helper {
  private readonly replies = new Map<number, string>();
  private nextId = 1;
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const { id, result } = JSON.parse(line) as { id: number; result: string };
      this.replies.set(id, result);
    });
  }
  async ask(cmd: object): Promise<string> {
    const id = this.nextId++;
    this.child.stdin.write(`${JSON.stringify({ id, ...cmd })}\n`);
    await waitFor(() => this.replies.has(id), `helper reply to ${JSON.stringify(cmd)}`, 30_000);
    const result = this.replies.get(id)!;
    this.replies.delete(id);
    return result;
  }
}

function hardLimit(): number {
  const line = fs.readFileSync('/proc/self/limits', 'latin1').split('\n').find((l) => l.startsWith('Max open files'))!;
  return Number(line.split(/\s+/)[4]);
}

function softLimit(): number {
  const line = fs.readFileSync('/proc/self/limits', 'latin1').split('\n').find((l) => l.startsWith('Max open files'))!;
  return Number(line.split(/\s+/)[3]);
}

// One config of test/configs.ts per model whose accept runs in this process
// (its spec's `emfile`) and per way its loop waits (epoll's trigger, sigio's
// dequeue: edge mode once never returned to its wait); one loop, a built-in
// handler (sizes, receive modes, reapers and JS handlers accept alike).
// `'blocking'`: a blocking accept4() takes its descriptor before it waits, so
// the accept already in progress when the table fills still succeeds; only
// the next ones meet EMFILE, and they meet it at once, with or without a
// client queued. `'armed'`: an io_uring accept reads RLIMIT_NOFILE when it is
// submitted, so a lower limit does not reach the multishot accept already
// armed; a full table does.
const WAIT_OPTIONS = ['trigger', 'dequeue'];
const seen = new Set<string>();
const EMFILE_CONFIGS = CONFIGS.filter((c) => {
  const o = c.options ?? {};
  const key = JSON.stringify([c.model, ...WAIT_OPTIONS.map((k) => o[k])]);
  if (MODEL_TABLE[c.model].spec.emfile === null || o.loops !== undefined || typeof o.handler === 'function' || seen.has(key)) return false;
  seen.add(key);
  return true;
});

it('some config accepts in this process', () => expect(EMFILE_CONFIGS.length).toBeGreaterThan(0));

describe.each(EMFILE_CONFIGS)('EMFILE on accept: $label', ({ model, options }) => {
  const blocking = MODEL_TABLE[model].spec.emfile === 'blocking';
  const armed = MODEL_TABLE[model].spec.emfile === 'armed';
  let helper: Helper | null = null;
  const fillers: number[] = [];
  const soft = softLimit();
  const hard = hardLimit();

  afterEach(async () => {
    for (const fd of fillers.splice(0)) fs.closeSync(fd);
    if (helper) {
      await helper.ask({ nofile: soft, hard });
      // Wait for its pipes to be closed here too, or the next test's
      // exhausted fd table would get three descriptors back later.
      const closed = once(helper.child, 'close');
      helper.child.kill();
      await closed;
      helper = null;
    }
    await cleanup();
  });

  // See `blocking` above: there the accept in flight has its descriptor already.
  if (!blocking) it('sheds the connection with the reserve fd, counts it, and serves again once fds are free', async () => {
    helper = new Helper(spawn(process.execPath, ['-e', HELPER]));
    const server = trackServer(createServer(model, options as never));
    const { port } = await server.start();
    // Leave this process no free descriptor at all.
    for (;;) {
      try {
        fillers.push(fs.openSync('/dev/null', 'r'));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('EMFILE');
        break;
      }
    }
    for (let i = 0; i < 3; i++) expect(await helper.ask({ connect: port })).toBe('closed');
    const s = await waitForStats(server, (x) => x.rejected === 3, 'three connections shed');
    expect(s.errors).toBe(3);
    expect(s.active).toBe(0);
    for (const fd of fillers.splice(0)) fs.closeSync(fd);
    expect(await helper.ask({ connect: port })).toBe('answered');
    await server.stop();
  });

  it('pauses accepting instead of spinning when even the reserve cannot be reopened', async () => {
    helper = new Helper(spawn(process.execPath, ['-e', HELPER]));
    const server = trackServer(createServer(model, options as never));
    const { port } = await server.start();
    if (armed) {
      for (;;) {
        try {
          fillers.push(fs.openSync('/dev/null', 'r'));
        } catch {
          break;
        }
      }
    }
    // With a limit of 3 no descriptor above stdio can be allocated: accept()
    // fails, and the reserve fd, once given up, cannot be reopened.
    expect(await helper.ask({ nofile: 3, hard })).toBe('ok');
    const pending = helper.ask({ connect: port });
    await waitForStats(server, (x) => x.errors >= 2, 'the failed accepts counted');
    const before = server.stats();
    await new Promise((r) => setTimeout(r, 1000));
    const after = server.stats();
    // A spinning loop makes thousands of attempts a second; a paused one a handful.
    expect(after.errors - before.errors).toBeLessThan(50);
    expect(after.wakeups - before.wakeups).toBeLessThan(50);
    // stop() still works while starved (edge mode used to never return to its wait).
    const stopped = server.stop();
    await stopped;
    expect(await helper.ask({ nofile: soft, hard })).toBe('ok');
    // The event models shed the queued client; a blocking accept that was
    // already waiting had its descriptor and serves it, unless serving needs
    // descriptors of its own (fork's child per connection: it is closed).
    expect(await pending).toMatch(blocking && !MODEL_TABLE[model].spec.childPerConnection ? /answered/ : /closed|ECONNREFUSED/);
  });
});
