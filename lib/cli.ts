#!/usr/bin/env node
// netmodels CLI: serve | bench | stress. Each command is a module under
// commands/ that parses its own arguments and returns an exit code; it is
// loaded only when it runs. Exit status: 0 done, 1 the work failed, 2 a
// usage error (the message and the usage on stderr).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { USAGE, USAGES, UsageError, usageErrorText, wantsHelp, type CommandName } from './commands/args';

const COMMANDS: Record<CommandName, () => Promise<(argv: string[]) => Promise<number>>> = {
  serve: async () => (await import('./commands/serve')).serveCommand,
  bench: async () => (await import('./commands/bench')).benchCommand,
  stress: async () => (await import('./commands/stress')).stressCommand,
};

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined) throw new UsageError('a command is required');
  if (command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (!Object.hasOwn(USAGES, topic)) throw new UsageError(`unknown command '${topic}'`);
    process.stdout.write(USAGES[topic as CommandName]);
    return 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    throw new UsageError(command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`);
  }
  const name = command as CommandName;
  if (wantsHelp(rest)) {
    process.stdout.write(USAGES[name]);
    return 0;
  }
  return (await COMMANDS[name]())(rest);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error & { code?: string }) => {
    if (err instanceof UsageError) {
      process.stderr.write(usageErrorText(err));
      process.exitCode = 2;
      return;
    }
    // A system error names its code in its message already ('listen EADDRINUSE: ...').
    const prefix = err.code && !err.message.includes(err.code) ? `${err.code}: ` : '';
    process.stderr.write(`netmodels: ${prefix}${err.message}\n`);
    process.exitCode = 1;
  },
);
