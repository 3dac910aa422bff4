// netmodels stress: the stress client (../stress) against a running server,
// one line per phase.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

import { loadgenReport as loadgen } from '../loadgen';
import { stress, STRESS_EXPECTS } from '../stress';
import { choice, num, joinNegativeValues, parseFlags, UsageError } from './args';

export async function stressCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('stress', () =>
    parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        connections: { type: 'string', default: '1000' },
        duration: { type: 'string', default: '1' },
        expect: { type: 'string' },
        udp: { type: 'boolean', default: false },
      },
    }),
  );
  if (values.port === undefined) throw new UsageError('--port is required', 'stress');
  const port = num('stress', 'port', values.port, 0, 1, true);
  if (port > 65535) throw new UsageError(`--port must be an integer >= 1 and <= 65535, got '${values.port}'`, 'stress');
  const connections = num('stress', 'connections', values.connections, 1000, 1, true);
  const holdMs = num('stress', 'duration', values.duration, 1, 0) * 1000;
  if (values.udp) return stressUdp(values.host, port, connections, holdMs, choice('stress', 'expect', values.expect, ['uppercase', 'echo'] as const, 'uppercase'));
  const expect = choice('stress', 'expect', values.expect, STRESS_EXPECTS, 'uppercase');
  const host = values.host;
  if (isIP(host) === 0) throw new UsageError(`--host must be an IPv4 or IPv6 address, got '${host}'`, 'stress');

  const report = await stress({ host, port, connections, holdMs, expect }, (h) => {
    const codes = Object.entries(h.errorCodes).map(([k, v]) => `${k} ${v}`).join(', ');
    process.stdout.write(
      `stress ${host}:${port}: ${h.attempted} attempted, ${h.connected} connected in ${h.connectMs} ms, ` +
        `${h.failed} failed${h.failed ? ` (${codes})` : ''}, ` +
        `${h.held} held after ${holdMs} ms (${h.connected - h.held} closed by the server)\n`,
    );
  });
  const why = Object.entries(report.failures).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(
    `request round (${expect}): ${report.answered} of ${report.held} answered correctly, ${report.unanswered} failed` +
      `${report.unanswered ? ` (${why})` : ''}\n`,
  );
  if (report.held === 0) {
    process.stderr.write('netmodels stress: no connection was held, so nothing was tested\n');
    return 1;
  }
  if (report.answered === 0 && (report.failures.MISMATCH || Object.keys(report.failures).some((k) => k.startsWith('STATUS')))) {
    const others = STRESS_EXPECTS.filter((e) => e !== expect).join('|');
    process.stderr.write(`netmodels stress: no reply matched --expect ${expect}: does the server speak another protocol? (--expect ${others})\n`);
  }
  return report.unanswered > 0 ? 1 : 0;
}

/**
 * --udp: `connections` clients, one datagram in flight each, for the
 * duration; every reply verified, a datagram unanswered within 200 ms lost.
 * Exit 1 when nothing was answered or a reply was wrong.
 */
async function stressUdp(host: string, port: number, clients: number, durationMs: number, expect: 'uppercase' | 'echo'): Promise<number> {
  if (isIP(host) === 0) throw new UsageError(`--host must be an IPv4 or IPv6 address, got '${host}'`, 'stress');
  const r = await loadgen({ mode: 'udp', host, port, connections: clients, durationMs: Math.max(1, Math.round(durationMs)), expect });
  const codes = Object.entries(r.errorCodes).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(
    `stress udp ${host}:${port}: ${clients} clients, ${r.requests} datagrams answered correctly in ${Math.round(r.durationMs)} ms ` +
      `(${Math.round(r.rps)}/s, p50 ${Math.round(r.latencyUs.p50)} us, p99 ${Math.round(r.latencyUs.p99)} us), ` +
      `${r.lost} lost, ${r.late} late, ${r.mismatches} wrong, ${r.errors} errors${r.errors ? ` (${codes})` : ''}\n`,
  );
  return r.requests === 0 || r.mismatches > 0 ? 1 : 0;
}
