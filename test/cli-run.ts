// Runs the CLI as a user does: a real `node dist/cli.js` process. dist/ is
// built by `npm install` (the prepare script). Shared by cli.test.ts (the
// bench, which measures) and cli-serve.test.ts (serve, usage, the package).
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { waitFor } from './helpers';

export const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

export const PACKAGE = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };

/** `netmodels serve <args> --port 0` in a child, once it listens: its stdout so far (`out()`), its exit, its port. */
export async function serve(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 'serve to listen', 15_000))![1]);
  return { child, exited, port, out: () => out };
}

/** `netmodels serve --handler <module>` in a child, once it listens. */
export function serveHandler(model: string, handler: string) {
  return serve(['--model', model, '--handler', handler, '--quiet']);
}

/** `netmodels <args>` to its exit: the exit code (1 for a signal or a timeout), stdout and stderr. */
export function run(
  args: string[],
  timeoutMs = 120_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
