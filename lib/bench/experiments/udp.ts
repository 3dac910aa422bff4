// The classic texts' UDP claim, for the claims report: the basic UDP server
// (one socket, recvfrom/sendto, batch 1) serves many clients at once from one
// process and one thread. Measured with the udp bench's pieces.
import { fmt } from '../../format';
import { loadgenReport as loadgen } from '../../loadgen';
import { readStats, startUdp, udpTargets, kernelDrops } from '../udp';

/** Clients the claim's run serves at once. */
const CLIENTS = 64;

export async function udpClaim(o: { durationMs: number; warmupMs: number; messageSize: number }) {
  const classic = udpTargets(1).find((t) => t.kind === 'model' && t.args?.join(' ') === '--batch 1')!;
  const server = await startUdp(classic);
  let report;
  let stats;
  let drops = 0;
  try {
    report = await loadgen({ mode: 'udp', port: server.port, connections: CLIENTS, messageSize: o.messageSize, durationMs: o.durationMs, warmupMs: o.warmupMs });
    stats = await readStats(server);
    drops = kernelDrops(server.port);
  } finally {
    await server.stop();
  }
  // One thread for the model (the one start() runs it on), no process.
  const oneThread = stats !== null && stats.syscalls.clone === 1 && stats.syscalls.fork === 0;
  const holds = oneThread && report.requests > 0 && report.mismatches === 0 && report.errors === 0;
  return {
    n: 12,
    claim:
      'Some concurrency models need no multithreading or multiprocessing: the basic UDP model serves one-to-many in a single process.',
    command: '`netmodels bench --udp` (this section: `udp`, batch 1: one recvfrom() and one sendto() per datagram)',
    figures: [
      `${CLIENTS} clients, one ${o.messageSize} B datagram in flight each: ${fmt(report.requests)} answered correctly at ${fmt(report.rps)}/s ` +
        `(p50 ${fmt(report.latencyUs.p50)} us, p99 ${fmt(report.latencyUs.p99)} us), ${fmt(report.lost)} lost, ${fmt(drops)} kernel drops, ${report.mismatches} wrong`,
      stats
        ? `the server: ${fmt(stats.datagramsIn)} datagrams in, ${fmt(stats.datagramsOut)} out, threads started ${stats.syscalls.clone} (its one loop), processes forked ${stats.syscalls.fork}`
        : 'the server: its counters could not be read',
    ],
    verdict: holds ? `holds: ${CLIENTS} clients served at once by one loop on one thread, no fork` : 'does not hold on this run',
    why:
      'A datagram carries its sender: recvfrom() returns it with the address, sendto() answers it, and nothing per client lives between ' +
      'two datagrams, so nothing blocks on one client while another waits. A TCP server needs an accept and a connection per client, hence ' +
      'the processes, threads or readiness loops of the other claims.',
  };
}
