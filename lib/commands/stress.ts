// netmodels stress: the stress client (../stress) against a running server,
// one line per phase.
import { parseArgs } from 'node:util';

import { stress } from '../stress';
import { num } from './args';

export async function stressCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      connections: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '1' },
    },
    strict: true,
  });
  if (values.port === undefined) throw Object.assign(new TypeError('--port is required'), { code: 'ERR_INVALID_ARG_TYPE' });
  const port = num('port', values.port, 0, 1);
  const connections = num('connections', values.connections, 1000, 1);
  const holdMs = num('duration', values.duration, 1, 0) * 1000;
  const host = values.host;

  const report = await stress({ host, port, connections, holdMs }, (h) => {
    const codes = Object.entries(h.errorCodes).map(([k, v]) => `${k} ${v}`).join(', ');
    process.stdout.write(
      `stress ${host}:${port}: ${h.attempted} attempted, ${h.connected} connected in ${h.connectMs} ms, ` +
        `${h.failed} failed${h.failed ? ` (${codes})` : ''}, ` +
        `${h.held} held after ${holdMs} ms (${h.connected - h.held} closed by the server)\n`,
    );
  });
  process.stdout.write(`request round: ${report.answered} of ${report.held} answered correctly, ${report.unanswered} failed\n`);
  return 0;
}
