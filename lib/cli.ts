#!/usr/bin/env node
// netmodels CLI: serve | bench | stress. Each command is a module under
// commands/ that parses its own arguments with node:util parseArgs and
// returns an exit code; it is loaded only when it runs.
import { fail, USAGE } from './commands/args';

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return (await import('./commands/serve')).serveCommand(rest);
    case 'bench':
      return (await import('./commands/bench')).benchCommand(rest);
    case 'stress':
      return (await import('./commands/stress')).stressCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      return fail(`unknown command '${command}'`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error & { code?: string }) => {
    process.stderr.write(`netmodels: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    process.exitCode = 1;
  },
);
