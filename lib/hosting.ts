// Hosting a node server (`handler: server`): an http, https, http2, tls or
// net server takes the model's connections by its 'connection' event, and
// is made to behave as if it had listened itself. Node arms its own
// defences (connection tracking, headersTimeout, requestTimeout,
// closeIdleConnections()) on the server's 'listening' event, so that event
// is emitted once when the netmodels server starts.
//
// While hosted, the server's own methods are answered by the netmodels
// server: `address()` is the real listener's, `listening` is true, `close()`
// stops the netmodels server, and `listen()` throws
// ERR_SERVER_ALREADY_LISTEN (a second, silent listener is never what was
// meant). They are the server's own again once it is no longer hosted.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { codedError } from './errors';
import { Connection } from './connection';

/** A server that takes connections by its `'connection'` event: node:http, https, http2, tls, net (Express, Koa, ws behind http). */
export type HostableServer = net.Server;

/** Whether `value` is a server `handler` can host. */
export function isHostable(value: unknown): value is HostableServer {
  return value instanceof net.Server;
}

// A server is hosted by one netmodels server at a time.
const hosts = new WeakSet<net.Server>();

interface Owner {
  address(): { address: string; family: string; port: number } | null;
  stop(): Promise<void>;
}

interface Patched {
  listen?: unknown;
  close?: unknown;
  address?: unknown;
  listening?: unknown;
}

/** The hosted side of one netmodels server: the handler it runs, and what start and stop do to the hosted server. */
export class Hosting {
  readonly server: HostableServer;
  readonly #owner: Owner;
  #open = 0;
  #started = false;

  constructor(server: HostableServer, owner: Owner) {
    this.server = server;
    this.#owner = owner;
  }

  /** The JS handler: one connection handed to the hosted server, with its own options applied as net.Server would. */
  readonly handler = (conn: Connection): void => {
    const server = this.server as net.Server & { noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number };
    const max = server.maxConnections;
    if (typeof max === 'number' && max > 0 && this.#open >= max) {
      // As net.Server: over maxConnections a connection is closed at once
      // and reported by 'drop'.
      conn.destroy();
      server.emit('drop', {
        localAddress: conn.localAddress,
        localPort: conn.localPort,
        localFamily: conn.remoteFamily,
        remoteAddress: conn.remoteAddress,
        remotePort: conn.remotePort,
        remoteFamily: conn.remoteFamily,
      });
      return;
    }
    this.#open++;
    conn.once('close', () => this.#open--);
    // net.Server keeps keepAliveInitialDelay in seconds; setKeepAlive takes ms.
    if (server.keepAlive) conn.setKeepAlive(true, (server.keepAliveInitialDelay ?? 0) * 1000);
    if (server.noDelay === false) conn.setNoDelay(false);
    server.emit('connection', conn);
  };

  /** Before the netmodels server starts: the hosted server must be free. */
  claim(): void {
    const server = this.server;
    if (hosts.has(server)) {
      throw codedError('ERR_SERVER_ALREADY_LISTEN', 'The hosted server is already hosted by another running netmodels server.');
    }
    if (server.listening) {
      throw codedError('ERR_SERVER_ALREADY_LISTEN', 'The hosted server is listening on its own: close it first, or host a server that does not listen.');
    }
    hosts.add(server);
  }

  /** The netmodels server started: the hosted one answers as if it listened there. */
  started(): void {
    const server = this.server;
    const own = server as unknown as Patched;
    const owner = this.#owner;
    Object.defineProperty(own, 'listening', { configurable: true, get: () => true });
    own.address = () => owner.address();
    own.listen = () => {
      throw codedError('ERR_SERVER_ALREADY_LISTEN', 'The server is hosted by a netmodels server (its stop() or this close() ends that); it cannot also listen.');
    };
    own.close = (callback?: (err?: Error) => void) => {
      owner.stop().then(() => callback?.(), (err: Error) => callback?.(err));
      return server;
    };
    if (server instanceof tls.Server) {
      server.prependListener('secureConnection', this.#keepPeer);
    }
    this.#started = true;
    process.nextTick(() => server.emit('listening'));
  }

  /**
   * The netmodels server stopped (its connections are closed), or did not
   * start after claim(): the hosted
   * server's own close() runs (node's idle-connection sweep and its timers
   * end, 'close' fires) and its own methods are back.
   */
  stopped(): void {
    const server = this.server;
    if (!hosts.has(server)) return;
    hosts.delete(server);
    if (!this.#started) return;
    this.#started = false;
    const own = server as unknown as Patched;
    delete own.listening;
    delete own.address;
    delete own.listen;
    delete own.close;
    server.removeListener('secureConnection', this.#keepPeer);
    server.close();
  }

  // A TLSSocket over a Connection asks its handle for the peer's address,
  // and the stream wrapper under it has none: it is given the Connection's.
  readonly #keepPeer = (socket: tls.TLSSocket): void => {
    const under = (socket as unknown as { _handle?: { _parentWrap?: { stream?: unknown } } })._handle?._parentWrap?.stream;
    if (!(under instanceof Connection)) return;
    Object.assign(socket, {
      _peername: { address: under.remoteAddress, family: under.remoteFamily, port: under.remotePort },
      _sockname: { address: under.localAddress, family: under.remoteFamily, port: under.localPort },
    });
  };
}
