import { invalidArgValue } from '../errors';
import { Server, type HandlerLink, type ServerEvents, type ServerOptions, type ServerStats } from '../server';
import { integer, type ModelSpec } from '../spec';
import { UdpLink, type DatagramHandler } from '../udp-link';

export type { DatagramHandler, RemoteInfo, Reply } from '../udp-link';

/** The receive queue asked for each socket the server binds (bytes): see {@link UdpServerOptions.receiveBuffer}. */
export const UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

// Common options that are about connections: a UDP server has none.
const CONNECTION_OPTIONS = ['backlog', 'maxConnections', 'maxConnectionsPerSource', 'idleTimeoutMs'] as const;

export interface UdpServerOptions
  extends Omit<ServerOptions, 'handler' | 'fd' | (typeof CONNECTION_OPTIONS)[number]> {
  /**
   * Serve on this inherited bound UDP socket instead of binding one on
   * `host`:`port` (not given with them). The server works on duplicates:
   * `stop()` closes only those.
   */
  fd?: number;
  /**
   * `'uppercase'` (default), `'echo'`, `'discard'` (never answers), run
   * natively; or your JavaScript, `(msg, rinfo, reply) => void`, called once
   * per datagram on the JS thread, as node:dgram's `'message'`.
   */
  handler?: 'uppercase' | 'echo' | 'discard' | DatagramHandler;
  /**
   * Datagrams per system call: 1, the classic loop (one `recvfrom()` and one
   * `sendto()` per datagram); N <= 1024, `recvmmsg()`/`sendmmsg()` with up to
   * N datagrams each. Default 64.
   */
  batch?: number;
  /** N loops on N threads, each with its own SO_REUSEPORT socket. Default 1; `'auto'`: one per CPU. */
  loops?: number | 'auto';
  /** Largest datagram served (default 65,507); a larger one is truncated, counted, never answered. */
  maxDatagram?: number;
  /**
   * Bytes of receive queue asked for each socket the server binds (default
   * 4 MiB; 0: the kernel's default, 208 KiB, which holds 256 small
   * datagrams): what senders keep in flight while a loop is off the CPU
   * waits there instead of being dropped. `SO_RCVBUF`, capped by
   * `net.core.rmem_max`, then `SO_RCVBUFFORCE` where the process may; the
   * size granted is `stats().receiveBuffer`. Not with `fd`: an inherited
   * socket keeps its own.
   */
  receiveBuffer?: number;
  /**
   * Microseconds a round under load sleeps before it reads, so that one
   * `recvmmsg()` and one `sendmmsg()` serve what came meanwhile (default
   * 10; 0: never), as a NIC's interrupt moderation. With `batch` > 1 and a
   * built-in handler: once a `recvmmsg()` finds 8 or more datagrams queued,
   * each round sleeps this long, then takes what is queued without
   * waiting, until one finds fewer than 4. Fewer system calls and less CPU
   * per datagram under load; a reply can wait this much longer. The naps
   * count as `syscalls.wait`. Ignored with a JS handler or `fd` (those
   * loops wait in `poll()`).
   */
  coalesceUs?: number;
}

/**
 * The common stats, and what only UDP counts. Once quiescent:
 * `datagramsIn === datagramsOut + truncated + dropped + unanswered + pending`.
 * The connection fields mean nothing here and stay 0: `accepted`, `active`,
 * `peakActive`, `closed`, `rejected`, `reaped`; `syscalls.accept`, `ctl`
 * and `eagain` beyond the `recv` that found the queue empty.
 * `reads`/`writes` count successful receive/send calls (one per batch).
 */
export interface UdpServerStats extends ServerStats {
  /** Datagrams read from the socket(s), truncated ones included. */
  datagramsIn: number;
  /** Replies sent. */
  datagramsOut: number;
  /** Datagrams larger than `maxDatagram`: never answered. */
  truncated: number;
  /** Dropped by the server: JS behind (4,096 datagrams or `highWaterMark` bytes handed over and not taken, per loop), or a reply the kernel refused. */
  dropped: number;
  /** Dropped by the kernel before the server read them (its receive queue full): the socket's `sk_drops`, which `SO_RXQ_OVFL` reports. */
  kernelDrops: number;
  /** Not answered by choice: `'discard'`, or a JS handler that never replied. */
  unanswered: number;
  /** Handed to a JS handler that may still reply. */
  pending: number;
  /** JS replies that came too late to find their sender (see {@link Reply}). */
  lateReplies: number;
  /** The first socket's receive queue in bytes, as the kernel reports it (`SO_RCVBUF`: twice what it granted, since it counts each datagram's memory, not its payload). */
  receiveBuffer: number;
  /** (recv + send + wait calls) / datagramsIn: 2 or more for the classic loop, under 1 once batches fill. */
  syscallsPerDatagram: number;
}

/** UDP: one socket, one-to-many; `recvfrom`/`sendto` (batch 1) or `recvmmsg`/`sendmmsg` batches. */
export class UdpServer extends Server<ServerEvents, UdpServerOptions> {
  static readonly spec: ModelSpec = {
    name: 'udp',
    family: 'datagram',
    serial: false, jsHandler: 'datagram', childPerConnection: false, waits: 'readiness', idleTimeout: false, linger: null, emfile: null,
    summary: 'UDP, one socket per loop, one-to-many: recvfrom/sendto (batch 1) or recvmmsg/sendmmsg batches',
    options: {
      batch: integer(1, 1024, 64),
      maxDatagram: integer(1, 65535, 65507),
      receiveBuffer: integer(0, 2 ** 31 - 1, UDP_RECEIVE_BUFFER),
      coalesceUs: integer(0, 1000, 10),
    },
    bench: [
      { label: 'udp', options: { batch: 1 } },
      { label: 'udp batch 64', options: { batch: 64 } },
      { label: 'udp loops', options: { batch: 64, loops: 'auto' } },
    ],
    finish(native, given) {
      for (const key of CONNECTION_OPTIONS) {
        if (given[key] !== undefined) throw invalidArgValue(`options.${key}`, given[key], 'is for connections: a UDP server has none');
      }
      if (given.receiveBuffer !== undefined && given.fd !== undefined) {
        throw invalidArgValue('options.receiveBuffer', given.receiveBuffer, 'sizes the sockets the server binds: an inherited socket (fd) keeps its own');
      }
      if (native.handler === 'http') throw invalidArgValue('options.handler', 'http', "is a TCP protocol (use 'uppercase', 'echo', 'discard' or a function)");
      // The loops are this model's own (a socket each, nothing to accept or
      // hand over), not the TCP models' composite: sent under its own name.
      native.sockets = native.loops;
      native.loops = 1;
    },
  };

  protected override handlerLink(handler: Function): HandlerLink {
    return new UdpLink(handler as DatagramHandler);
  }

  override stats(): UdpServerStats {
    const s = super.stats() as UdpServerStats;
    const calls = s.syscalls.recv + s.syscalls.send + s.syscalls.wait;
    s.syscallsPerDatagram = s.datagramsIn > 0 ? calls / s.datagramsIn : 0;
    return s;
  }
}
