// sys: sockets, select, poll and Epoll on real fds (socketpairs, pipes and
// loopback sockets). Every test must close what it opens: afterEach compares
// the process's open fds with the count before the test.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { sys } from '../lib/index';
import { binding } from '../lib/binding';

const openFds = (): number => readdirSync('/proc/self/fd').length;

let fdsBefore = 0;
beforeEach(() => {
  fdsBefore = openFds();
});
afterEach(() => {
  expect(openFds()).toBe(fdsBefore);
});

// Opens fds and closes them however the body ends.
function withFds<T>(fds: number[], body: () => T): T {
  try {
    return body();
  } finally {
    for (const fd of fds) {
      try {
        sys.close(fd);
      } catch {
        // already closed by the test itself
      }
    }
  }
}

function pair(nonBlocking = true): [number, number] {
  return sys.socketpair({ nonBlocking });
}

const bytes = (s: string): Buffer => Buffer.from(s);

function expectErrno(fn: () => unknown, code: string, syscall: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(Error);
  expect(caught).toMatchObject({ code, syscall });
  expect((caught as { errno: number }).errno).toBeLessThan(0);
  expect((caught as Error).message).toMatch(new RegExp(`^${syscall} ${code}: `));
}

// A listening loopback socket on a kernel-picked port.
function listener(options: { nonBlocking?: boolean } = {}): { fd: number; port: number } {
  const fd = sys.socket('ipv4', 'stream', options);
  try {
    sys.setsockopt(fd, 'SO_REUSEADDR', true);
    sys.bind(fd, '127.0.0.1', 0);
    sys.listen(fd, 16);
    return { fd, port: sys.getsockname(fd).port };
  } catch (error) {
    sys.close(fd);
    throw error;
  }
}

describe('sys sockets', () => {
  it('socketpair carries bytes both ways; non-blocking recv gives null when empty and 0 at EOF', () => {
    const [a, b] = pair();
    withFds([a, b], () => {
      const buf = Buffer.alloc(16);
      expect(sys.recv(a, buf)).toBeNull();
      expect(sys.send(b, bytes('hello'))).toBe(5);
      expect(sys.recv(a, buf)).toBe(5);
      expect(buf.subarray(0, 5).toString()).toBe('hello');
      expect(sys.write(a, new Uint16Array([0x6968]))).toBe(2); // any ArrayBufferView
      expect(sys.read(b, buf)).toBe(2);
      expect(buf.subarray(0, 2).toString()).toBe('hi');
      sys.shutdown(b, 'write');
      expect(sys.recv(a, buf)).toBe(0);
    });
  });

  it('pipe: read/write, EOF after the write end closes, EPIPE (not SIGPIPE) without a reader', () => {
    const [r, w] = sys.pipe({ nonBlocking: true });
    withFds([r, w], () => {
      const buf = Buffer.alloc(8);
      expect(sys.read(r, buf)).toBeNull();
      expect(sys.write(w, bytes('abc'))).toBe(3);
      expect(sys.read(r, buf)).toBe(3);
      expectErrno(() => sys.recv(r, buf), 'ENOTSOCK', 'recv');
      sys.close(r);
      expectErrno(() => sys.write(w, bytes('x')), 'EPIPE', 'write');
    });
  });

  it('send to a closed peer gives EPIPE thanks to MSG_NOSIGNAL', () => {
    const [a, b] = pair();
    withFds([a], () => {
      sys.close(b);
      expectErrno(() => sys.send(a, bytes('x')), 'EPIPE', 'send');
    });
  });

  it('loopback TCP: bind, listen, accept (null when nothing pending), connect, addresses, options', () => {
    const server = listener({ nonBlocking: true });
    const client = sys.socket('ipv4', 'stream');
    const fds = [server.fd, client];
    withFds(fds, () => {
      expect(server.port).toBeGreaterThan(0);
      expect(sys.getsockname(server.fd)).toEqual({ address: '127.0.0.1', port: server.port, family: 'IPv4' });
      expect(sys.accept(server.fd)).toBeNull();

      expect(sys.connect(client, '127.0.0.1', server.port)).toBe(true);
      const conn = sys.accept(server.fd, { nonBlocking: true });
      expect(conn).not.toBeNull();
      fds.push(conn!.fd);
      expect(conn).toMatchObject({ address: '127.0.0.1', family: 'IPv4', port: sys.getsockname(client).port });
      expect(sys.getpeername(client).port).toBe(server.port);

      expect(sys.send(client, bytes('ping'))).toBe(4);
      const buf = Buffer.alloc(8);
      // The bytes are on loopback already; wait for them without spinning.
      expect(sys.poll([{ fd: conn!.fd, events: sys.POLLIN }], 5000)).toHaveLength(1);
      expect(sys.recv(conn!.fd, buf)).toBe(4);

      sys.setsockopt(client, 'TCP_NODELAY', true);
      expect(sys.getsockopt(client, 'TCP_NODELAY')).toBe(1);
      sys.setsockopt(client, 'TCP_NODELAY', false);
      expect(sys.getsockopt(client, 'TCP_NODELAY')).toBe(0);
      sys.setsockopt(client, 'SO_RCVBUF', 65536);
      expect(sys.getsockopt(client, 'SO_RCVBUF')).toBeGreaterThanOrEqual(65536);
      sys.setsockopt(client, 'SO_SNDBUF', 65536);
      expect(sys.getsockopt(client, 'SO_SNDBUF')).toBeGreaterThanOrEqual(65536);
      expect(sys.getsockopt(server.fd, 'SO_REUSEADDR')).toBe(1);
      sys.setsockopt(server.fd, 'SO_REUSEPORT', true);
      expect(sys.getsockopt(server.fd, 'SO_REUSEPORT')).toBe(1);
      expect(sys.getsockopt(client, 'SO_ERROR')).toBe(0);
    });
  });

  it('non-blocking connect: in progress, then writable with SO_ERROR 0', () => {
    const server = listener();
    const client = sys.socket('ipv4', 'stream', { nonBlocking: true });
    const fds = [server.fd, client];
    withFds(fds, () => {
      const done = sys.connect(client, '127.0.0.1', server.port);
      if (!done) {
        expect(sys.poll([{ fd: client, events: sys.POLLOUT }], 5000)).toHaveLength(1);
      }
      expect(sys.getsockopt(client, 'SO_ERROR')).toBe(0);
      const conn = sys.accept(server.fd);
      fds.push(conn!.fd);
      expect(conn!.port).toBe(sys.getsockname(client).port);
    });
  });

  it('IPv6 loopback works when the host has it', () => {
    let fd: number;
    try {
      fd = sys.socket('ipv6');
    } catch (error) {
      expect((error as { code: string }).code).toBe('EAFNOSUPPORT');
      return;
    }
    withFds([fd], () => {
      try {
        sys.bind(fd, '::1', 0);
      } catch (error) {
        expect((error as { code: string }).code).toBe('EADDRNOTAVAIL'); // no ::1 configured
        return;
      }
      expect(sys.getsockname(fd)).toMatchObject({ address: '::1', family: 'IPv6' });
    });
  });

  it('bind and connect errors carry address and port, Node-style', () => {
    const server = listener();
    const other = sys.socket();
    withFds([server.fd, other], () => {
      let caught: unknown;
      try {
        sys.bind(other, '127.0.0.1', server.port);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', address: '127.0.0.1', port: server.port });
      expect((caught as Error).message).toBe(`bind EADDRINUSE: address already in use 127.0.0.1:${server.port}`);
    });
    // The port was just freed: nobody listens there now.
    const late = sys.socket();
    withFds([late], () => {
      expect(() => sys.connect(late, '127.0.0.1', server.port)).toThrow(
        expect.objectContaining({ code: 'ECONNREFUSED', syscall: 'connect', port: server.port }),
      );
    });
  });

  it('a closed or invalid fd gives EBADF, never a crash', () => {
    const [a, b] = pair();
    sys.close(a);
    sys.close(b);
    const buf = Buffer.alloc(4);
    expectErrno(() => sys.close(a), 'EBADF', 'close');
    expectErrno(() => sys.recv(a, buf), 'EBADF', 'recv');
    expectErrno(() => sys.send(a, buf), 'EBADF', 'send');
    expectErrno(() => sys.read(-1, buf), 'EBADF', 'read');
    expectErrno(() => sys.write(123456, buf), 'EBADF', 'write');
    expectErrno(() => sys.accept(a), 'EBADF', 'accept');
    expectErrno(() => sys.listen(a), 'EBADF', 'listen');
    expectErrno(() => sys.bind(a, '127.0.0.1', 0), 'EBADF', 'bind');
    expectErrno(() => sys.connect(a, '127.0.0.1', 1), 'EBADF', 'connect');
    expectErrno(() => sys.shutdown(a), 'EBADF', 'shutdown');
    expectErrno(() => sys.setNonBlocking(a), 'EBADF', 'fcntl');
    expectErrno(() => sys.setsockopt(a, 'TCP_NODELAY', true), 'EBADF', 'setsockopt');
    expectErrno(() => sys.getsockopt(a, 'SO_ERROR'), 'EBADF', 'getsockopt');
    expectErrno(() => sys.getsockname(a), 'EBADF', 'getsockname');
    expectErrno(() => sys.getpeername(-5), 'EBADF', 'getpeername');
  });

  it('bad arguments give Node-style TypeError / RangeError codes', () => {
    const type = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
    const range = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };
    const value = { name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' };
    const call = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const s = sys as any;
    expect(call(() => s.close('3'))).toMatchObject(type);
    expect(call(() => s.close(1.5))).toMatchObject(range);
    expect(call(() => s.close(2 ** 40))).toMatchObject(range);
    expect(call(() => s.recv(0, 'not a buffer'))).toMatchObject(type);
    expect(call(() => s.socket('ipx'))).toMatchObject(value);
    expect(call(() => s.socket('ipv4', 'raw'))).toMatchObject(value);
    expect(call(() => s.socket('ipv4', 'stream', { nonblocking: true }))).toMatchObject(value);
    expect(call(() => s.socketpair({ nonBlocking: 'yes' }))).toMatchObject(type);
    expect(call(() => s.bind(0, 'localhost', 0))).toMatchObject(value);
    expect(call(() => s.bind(0, '127.0.0.1', 70000))).toMatchObject(range);
    expect(call(() => s.setsockopt(0, 'SO_LINGER', 1))).toMatchObject(value);
    expect(call(() => s.setsockopt(0, 'TCP_NODELAY', 'on'))).toMatchObject(type);
    expect(call(() => s.setsockopt(0, 'SO_ERROR', 1))).toMatchObject(value);
    expect(call(() => s.shutdown(0, 'sideways'))).toMatchObject(value);
    expect(call(() => s.listen(0, -1))).toMatchObject(range);
    // The raw binding checks types too, so even a direct call cannot crash.
    expect(call(() => binding.sys.close('x' as never))).toMatchObject(type);
    expect(call(() => binding.sys.recv(0, {} as never))).toMatchObject(type);
  });
});

describe('sys.select', () => {
  it('reports readable and writable fds, and nothing readable until data arrives', () => {
    const [a, b] = pair();
    withFds([a, b], () => {
      expect(sys.select([a, b], [a], [], 0)).toEqual({ readable: [], writable: [a], exceptional: [] });
      sys.send(b, bytes('x'));
      expect(sys.select([a, b], [], [], 0)).toEqual({ readable: [a], writable: [], exceptional: [] });
      // Level-triggered: still readable until read.
      expect(sys.select([a], [], [], 0).readable).toEqual([a]);
      sys.recv(a, Buffer.alloc(4));
      expect(sys.select([a], [], [], 0).readable).toEqual([]);
    });
  });

  it('reports EOF as readable and times out with empty lists', () => {
    const [r, w] = sys.pipe();
    withFds([r, w], () => {
      expect(sys.select([r], [], [], 10)).toEqual({ readable: [], writable: [], exceptional: [] });
      sys.close(w);
      expect(sys.select([r], [], [], 0).readable).toEqual([r]);
    });
  });

  it('watches exceptFds: ordinary data and EOF are not exceptional', () => {
    const server = listener();
    const client = sys.socket();
    const fds = [server.fd, client];
    withFds(fds, () => {
      sys.connect(client, '127.0.0.1', server.port);
      const conn = sys.accept(server.fd)!;
      fds.push(conn.fd);
      expect(sys.select([], [], [conn.fd], 0).exceptional).toEqual([]);
      // Only urgent (MSG_OOB) data is exceptional, and sys.send does not send it.
      sys.send(client, bytes('x'));
      sys.shutdown(client, 'write');
      expect(sys.select([conn.fd], [], [conn.fd], 5000)).toMatchObject({ readable: [conn.fd], exceptional: [] });
    });
  });

  it('a closed fd gives EBADF', () => {
    const [a, b] = pair();
    sys.close(a);
    sys.close(b);
    expectErrno(() => sys.select([a], [], [], 0), 'EBADF', 'select');
    // Linux ignores fds above its fd table's size in select(); sys checks
    // that they are open so such an fd is EBADF too, not "ready".
    expect(existsSync('/proc/self/fd/1000')).toBe(false);
    expectErrno(() => sys.select([1000], [], [], 0), 'EBADF', 'select');
  });

  it('an fd >= FD_SETSIZE or < 0 is a RangeError before any FD_SET', () => {
    expect(sys.FD_SETSIZE).toBe(1024);
    for (const args of [[[sys.FD_SETSIZE]], [[], [5000]], [[], [], [-1]]] as number[][][]) {
      let caught: unknown;
      try {
        sys.select(args[0], args[1], args[2], 0);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(RangeError);
      expect(caught).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      expect((caught as Error).message).toMatch(/FD_SETSIZE/);
    }
    // The native layer refuses too, for a caller that skips lib/sys.ts.
    expect(() => binding.sys.select([0], [], [70000], 0)).toThrow(RangeError);
    expect(() => binding.sys.select([-3], [], [], 0)).toThrow(/FD_SETSIZE/);
  });
});

describe('sys.poll', () => {
  it('reports POLLIN/POLLOUT readiness and returns only entries with events', () => {
    const [a, b] = pair();
    withFds([a, b], () => {
      expect(sys.poll([{ fd: a, events: sys.POLLIN }], 0)).toEqual([]);
      expect(sys.poll([{ fd: a, events: sys.POLLIN | sys.POLLOUT }], 0)).toEqual([
        { fd: a, events: sys.POLLIN | sys.POLLOUT, revents: sys.POLLOUT },
      ]);
      sys.send(b, bytes('x'));
      expect(sys.poll([{ fd: b, events: sys.POLLIN }, { fd: a, events: sys.POLLIN }], 0)).toEqual([
        { fd: a, events: sys.POLLIN, revents: sys.POLLIN },
      ]);
    });
  });

  it('reports a hang-up, ignores negative fds, and reports a closed fd as POLLNVAL like the kernel', () => {
    const [a, b] = pair();
    const [c, d] = pair();
    sys.close(c);
    sys.close(d);
    withFds([a, b], () => {
      sys.close(b);
      const [ready] = sys.poll([{ fd: a, events: sys.POLLIN | sys.POLLRDHUP }], 0);
      expect(ready.revents & sys.POLLIN).toBe(sys.POLLIN);
      expect(ready.revents & sys.POLLRDHUP).toBe(sys.POLLRDHUP);
      expect(ready.revents & sys.POLLHUP).toBe(sys.POLLHUP);
      expect(sys.poll([{ fd: -1, events: sys.POLLIN }], 0)).toEqual([]);
      expect(sys.poll([{ fd: c, events: sys.POLLIN }], 0)).toEqual([{ fd: c, events: sys.POLLIN, revents: sys.POLLNVAL }]);
    });
  });

  it('validates entries', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const p = sys.poll as any;
    expect(() => p({ fd: 0 }, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => p([{ fd: 0, events: 'in' }], 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => p([{ fd: 0, events: 0x10000 }], 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => p([], -2)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('sys.Epoll', () => {
  function withEpoll<T>(fds: number[], body: (ep: sys.Epoll) => T): T {
    const ep = new sys.Epoll();
    try {
      return withFds(fds, () => body(ep));
    } finally {
      ep.close();
    }
  }

  it('reports readiness with the fd and the event mask', () => {
    const [a, b] = pair();
    withEpoll([a, b], (ep) => {
      expect(ep.fd).toBeGreaterThanOrEqual(0);
      ep.add(a, sys.EPOLLIN);
      ep.add(b, sys.EPOLLOUT);
      expect(ep.wait(8, 0)).toEqual([{ fd: b, events: sys.EPOLLOUT }]);
      sys.send(b, bytes('x'));
      const events = ep.wait(8, 0);
      expect(events).toHaveLength(2);
      expect(events).toContainEqual({ fd: a, events: sys.EPOLLIN });
      ep.remove(b);
      expect(ep.wait(8, 0)).toEqual([{ fd: a, events: sys.EPOLLIN }]);
    });
  });

  it('level-triggered fires again while data remains', () => {
    const [a, b] = pair();
    withEpoll([a, b], (ep) => {
      ep.add(a, sys.EPOLLIN);
      sys.send(b, bytes('abcdef'));
      const buf = Buffer.alloc(2);
      for (let i = 0; i < 3; i++) {
        expect(ep.wait(8, 0)).toEqual([{ fd: a, events: sys.EPOLLIN }]);
        expect(sys.recv(a, buf)).toBe(2); // leaves data behind until the last round
      }
      expect(ep.wait(8, 0)).toEqual([]);
    });
  });

  it("edge-triggered fires once per arrival, not again while data remains", () => {
    const [a, b] = pair();
    withEpoll([a, b], (ep) => {
      ep.add(a, sys.EPOLLIN | sys.EPOLLET); // bit 31: a negative number in JS
      sys.send(b, bytes('abcdef'));
      expect(ep.wait(8, 0)).toEqual([{ fd: a, events: sys.EPOLLIN }]);
      sys.recv(a, Buffer.alloc(2)); // 4 bytes remain
      expect(ep.wait(8, 0)).toEqual([]);
      expect(ep.wait(8, 10)).toEqual([]);
      sys.send(b, bytes('g')); // new data: a new edge
      expect(ep.wait(8, 0)).toEqual([{ fd: a, events: sys.EPOLLIN }]);
      expect(ep.wait(8, 0)).toEqual([]);
    });
  });

  it('one-shot fires once and needs modify() to re-arm', () => {
    const [a, b] = pair();
    withEpoll([a, b], (ep) => {
      ep.add(a, sys.EPOLLIN | sys.EPOLLONESHOT);
      sys.send(b, bytes('x'));
      expect(ep.wait(8, 0)).toEqual([{ fd: a, events: sys.EPOLLIN }]);
      expect(ep.wait(8, 0)).toEqual([]); // disabled, though still readable
      sys.send(b, bytes('y'));
      expect(ep.wait(8, 0)).toEqual([]); // even new data does not wake it
      ep.modify(a, sys.EPOLLIN | sys.EPOLLONESHOT);
      expect(ep.wait(8, 0)).toEqual([{ fd: a, events: sys.EPOLLIN }]);
      expect(ep.wait(8, 0)).toEqual([]);
    });
  });

  it('reports EPOLLRDHUP and EPOLLHUP when the peer goes away; maxEvents caps the batch', () => {
    const [a, b] = pair();
    const [c, d] = pair();
    withEpoll([a, b, c, d], (ep) => {
      ep.add(a, sys.EPOLLIN | sys.EPOLLRDHUP);
      ep.add(c, sys.EPOLLOUT);
      sys.shutdown(b, 'write');
      expect(ep.wait(1, 0)).toHaveLength(1);
      const [ev] = ep.wait(8, 0).filter((e) => e.fd === a);
      expect(ev.events & sys.EPOLLRDHUP).toBe(sys.EPOLLRDHUP);
      sys.close(b);
      const [hup] = ep.wait(8, 0).filter((e) => e.fd === a);
      expect(hup.events & sys.EPOLLHUP).toBe(sys.EPOLLHUP);
    });
  });

  it('epoll_ctl errors: EEXIST, ENOENT, EBADF, EINVAL for itself; EBADF after close', () => {
    const [a, b] = pair();
    const ep = new sys.Epoll();
    withFds([a, b], () => {
      ep.add(a, sys.EPOLLIN);
      expectErrno(() => ep.add(a, sys.EPOLLIN), 'EEXIST', 'epoll_ctl');
      expectErrno(() => ep.modify(b, sys.EPOLLIN), 'ENOENT', 'epoll_ctl');
      expectErrno(() => ep.remove(b), 'ENOENT', 'epoll_ctl');
      expectErrno(() => ep.add(-1, sys.EPOLLIN), 'EBADF', 'epoll_ctl');
      expectErrno(() => ep.add(ep.fd, sys.EPOLLIN), 'EINVAL', 'epoll_ctl');
      expect(ep.closed).toBe(false);
      ep.close();
      expect(ep.closed).toBe(true);
      expect(ep.fd).toBe(-1);
      ep.close(); // idempotent
      expectErrno(() => ep.add(b, sys.EPOLLIN), 'EBADF', 'epoll_ctl');
      expectErrno(() => ep.wait(8, 0), 'EBADF', 'epoll_wait');
    });
  });

  it('validates arguments', () => {
    const ep = new sys.Epoll();
    try {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const e = ep as any;
      expect(() => e.add(0, 'in')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => e.add(0, 2 ** 32)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => e.wait(0, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => e.wait(8, 1.5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => e.wait(8, '0')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    } finally {
      ep.close();
    }
  });
});

describe('EINTR', () => {
  it('sync waits resume after a signal, with the time that remains, instead of failing', async () => {
    const [a, b] = pair();
    const ep = new sys.Epoll();
    let handled = 0;
    const onSignal = (): void => {
      handled += 1;
    };
    process.on('SIGUSR2', onSignal);
    try {
      ep.add(a, sys.EPOLLIN);
      // A shell sends five signals while the main thread sits in the waits.
      const killer = spawn('sh', ['-c', `for i in 1 2 3 4 5; do sleep 0.03; kill -USR2 ${process.pid}; done`], {
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => killer.once('close', resolve));
      // Lower bounds only: an interrupted wait must not return early.
      let t = Date.now();
      expect(ep.wait(8, 200)).toEqual([]);
      expect(Date.now() - t).toBeGreaterThanOrEqual(180);
      t = Date.now();
      expect(sys.select([a], [], [], 100)).toEqual({ readable: [], writable: [], exceptional: [] });
      expect(Date.now() - t).toBeGreaterThanOrEqual(80);
      expect(sys.poll([{ fd: a, events: sys.POLLIN }], 100)).toEqual([]);
      await exited;
      await new Promise((resolve) => setImmediate(resolve));
      expect(handled).toBeGreaterThan(0);
    } finally {
      process.off('SIGUSR2', onSignal);
      ep.close();
      sys.close(a);
      sys.close(b);
    }
  });
});
