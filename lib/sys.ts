// Raw syscalls for experiments: sockets on plain fds, select, poll and epoll,
// with the kernel's semantics and Node-style errors. See docs/sys.md.
//
// Arguments are validated here, Node-style, before anything reaches the
// kernel; a failing syscall throws (or rejects with) an Error carrying `code`
// ('EBADF'), negative `errno` and `syscall`, built by native/errors.cc.
import { isIP } from 'node:net';

import { binding, type NativeEpoll } from './binding';
import {
  AbortError,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  rejectUnknownOptions,
  validateInteger,
  validateOneOf,
  validateOptionsObject,
} from './errors';

const native = binding.sys;
const C: Record<string, number> = native.constants;

/** Readable (epoll_ctl / epoll_wait event bit). */
export const EPOLLIN: number = C.EPOLLIN;
/** Writable. */
export const EPOLLOUT: number = C.EPOLLOUT;
/** Urgent (out-of-band) data. */
export const EPOLLPRI: number = C.EPOLLPRI;
/** Error condition; always reported, no need to ask for it. */
export const EPOLLERR: number = C.EPOLLERR;
/** Hang-up; always reported, no need to ask for it. */
export const EPOLLHUP: number = C.EPOLLHUP;
/** The peer closed its writing half (or the whole connection). */
export const EPOLLRDHUP: number = C.EPOLLRDHUP;
/**
 * Edge-triggered: report a change once, not the state on every wait. It is
 * bit 31, so `EPOLLIN | EPOLLET` is a negative number in JavaScript; the
 * Epoll methods accept it either way.
 */
export const EPOLLET: number = C.EPOLLET;
/** Report once, then disable the fd until it is re-armed with `modify()`. */
export const EPOLLONESHOT: number = C.EPOLLONESHOT;
/** Wake only one of several epoll instances waiting on the same fd (add only). */
export const EPOLLEXCLUSIVE: number = C.EPOLLEXCLUSIVE;
/** poll(): readable. */
export const POLLIN: number = C.POLLIN;
/** poll(): urgent data. */
export const POLLPRI: number = C.POLLPRI;
/** poll(): writable. */
export const POLLOUT: number = C.POLLOUT;
/** poll(): error (revents only). */
export const POLLERR: number = C.POLLERR;
/** poll(): hang-up (revents only). */
export const POLLHUP: number = C.POLLHUP;
/** poll(): the fd is not open (revents only): poll reports a bad fd here instead of failing. */
export const POLLNVAL: number = C.POLLNVAL;
/** poll(): the peer closed its writing half. */
export const POLLRDHUP: number = C.POLLRDHUP;
/** The size of an fd_set: select() can only watch fds below this (1024 on Linux). */
export const FD_SETSIZE: number = C.FD_SETSIZE;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export { AbortError };

/** `family` of {@link socket}. */
export type SocketFamily = 'ipv4' | 'ipv6';
/** `type` of {@link socket}. */
export type SocketType = 'stream' | 'dgram';
/** Options that create an fd in non-blocking mode (`SOCK_NONBLOCK` / `O_NONBLOCK`). */
export interface NonBlockingOptions {
  /** Default `false`. */
  nonBlocking?: boolean;
}
/** An address as `getsockname`/`getpeername`/`accept` report it. */
export interface SocketAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6' | 'unix';
}
/** What {@link accept} returns: the new fd and the peer's address. */
export interface AcceptResult extends SocketAddress {
  fd: number;
}
/** The socket options {@link setsockopt} and {@link getsockopt} know. */
export type SocketOption = 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'TCP_NODELAY' | 'SO_RCVBUF' | 'SO_SNDBUF';
/** Options of every async wait. */
export interface WaitOptions {
  /** Aborting it cancels the wait: the Promise rejects with an {@link AbortError}. */
  signal?: AbortSignal;
}
/** What {@link select} and {@link selectAsync} return: the ready fds of each list. */
export interface SelectResult {
  readable: number[];
  writable: number[];
  exceptional: number[];
}
/** One fd of interest for {@link poll}: `events` is a mask of `POLL*` bits. */
export interface PollEntry {
  fd: number;
  events: number;
}
/** An entry of {@link poll}'s result: the entry as given plus `revents`. */
export interface PollResult extends PollEntry {
  revents: number;
}
/** One event from {@link Epoll.wait}: the fd and a mask of `EPOLL*` bits. */
export interface EpollEvent {
  fd: number;
  events: number;
}

// --- validation ------------------------------------------------------------

function validateFd(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  // Any int32 reaches the kernel, so a negative or closed fd gives EBADF.
  return validateInteger(name, value, INT32_MIN, INT32_MAX, 0);
}

function validateBuffer(name: string, value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', value);
}

function validateTimeout(value: unknown): number {
  return validateInteger('timeoutMs', value, -1, INT32_MAX, -1);
}

function validateEvents(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  // Epoll masks are uint32, but EPOLLET is bit 31 and `|` yields an int32.
  const min = max > 0xffff ? INT32_MIN : 0;
  return validateInteger(name, value, min, max, 0) >>> 0;
}

function nonBlockingOption(options: unknown, owner: string): boolean {
  const opts = validateOptionsObject('options', options);
  rejectUnknownOptions('options', opts, ['nonBlocking'], owner);
  if (opts.nonBlocking !== undefined && typeof opts.nonBlocking !== 'boolean') {
    throw invalidArgType('options.nonBlocking', 'of type boolean', opts.nonBlocking);
  }
  return opts.nonBlocking === true;
}

function signalOption(options: unknown, owner: string): AbortSignal | undefined {
  const opts = validateOptionsObject('options', options);
  rejectUnknownOptions('options', opts, ['signal'], owner);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', opts.signal);
  }
  return opts.signal as AbortSignal | undefined;
}

function validateAddress(value: unknown): string {
  if (typeof value !== 'string') throw invalidArgType('address', 'of type string', value);
  if (isIP(value) === 0) throw invalidArgValue('address', value, 'must be an IPv4 or IPv6 literal');
  return value;
}

function validatePort(value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType('port', 'of type number', value);
  return validateInteger('port', value, 0, 65535, 0);
}

function validateSelectList(name: string, value: unknown): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value);
  return value.map((fd, i) => {
    const n = validateFd(`${name}[${i}]`, fd);
    // Checked before anything reaches FD_SET, which would write past the
    // end of the fd_set (and the native layer checks again).
    if (n < 0 || n >= FD_SETSIZE) {
      throw outOfRange(
        `${name}[${i}]`,
        `>= 0 && < ${FD_SETSIZE} (FD_SETSIZE: select() cannot watch higher fds; use poll() or Epoll)`,
        n,
      );
    }
    return n;
  });
}

function validatePollEntries(value: unknown): { fds: number[]; events: number[] } {
  if (!Array.isArray(value)) throw invalidArgType('entries', 'an instance of Array', value);
  const fds: number[] = [];
  const events: number[] = [];
  value.forEach((entry, i) => {
    if (entry === null || typeof entry !== 'object') {
      throw invalidArgType(`entries[${i}]`, 'of type object', entry);
    }
    const e = entry as Record<string, unknown>;
    fds.push(validateFd(`entries[${i}].fd`, e.fd));
    events.push(validateEvents(`entries[${i}].events`, e.events, 0xffff));
  });
  return { fds, events };
}

function validateMaxEvents(value: unknown): number {
  return validateInteger('maxEvents', value, 1, 65536, 64);
}

// --- async waits -----------------------------------------------------------

type NativeCallback = (err: Error | null, result: unknown, cancelReason: number) => void;

// Runs a native wait and adapts it to a Promise. The native side calls back
// exactly once, after its thread has been joined and its eventfd closed.
function runWait<T>(
  start: (callback: NativeCallback) => () => void,
  convert: (raw: unknown) => T,
  signal: AbortSignal | undefined,
  whenClosed: () => T,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    let onAbort: (() => void) | undefined;
    const cancel = start((err, result, cancelReason) => {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else if (cancelReason === C.kClosed) resolve(whenClosed());
      else if (cancelReason === C.kAborted) reject(new AbortError(undefined, { cause: signal?.reason }));
      else resolve(convert(result));
    });
    if (signal) {
      onAbort = () => cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

// --- sockets ---------------------------------------------------------------

/**
 * Creates a socket (`socket(2)`), always close-on-exec. Returns its fd.
 * @param family 'ipv4' (default) or 'ipv6'.
 * @param type 'stream' (TCP, default) or 'dgram' (UDP).
 */
export function socket(family: SocketFamily = 'ipv4', type: SocketType = 'stream', options?: NonBlockingOptions): number {
  const fam = validateOneOf('family', family, ['ipv4', 'ipv6'] as const, 'ipv4');
  const typ = validateOneOf('type', type, ['stream', 'dgram'] as const, 'stream');
  const nonBlocking = nonBlockingOption(options, 'socket');
  return native.socket(fam === 'ipv6' ? C.AF_INET6 : C.AF_INET, typ === 'dgram' ? C.SOCK_DGRAM : C.SOCK_STREAM, nonBlocking);
}

/** Binds `fd` to an IPv4 or IPv6 literal and a port (0: the kernel picks; see {@link getsockname}). */
export function bind(fd: number, address: string, port: number): void {
  native.bind(validateFd('fd', fd), validateAddress(address), validatePort(port));
}

/** Marks `fd` as listening (`listen(2)`); `backlog` defaults to 511, as in Node. */
export function listen(fd: number, backlog = 511): void {
  native.listen(validateFd('fd', fd), validateInteger('backlog', backlog, 0, INT32_MAX, 511));
}

/**
 * Accepts one connection (`accept4(2)`, close-on-exec). Returns the new fd and
 * the peer's address, or `null` when `fd` is non-blocking and nothing is
 * pending (EAGAIN). On a blocking fd this blocks the calling thread.
 */
export function accept(fd: number, options?: NonBlockingOptions): AcceptResult | null {
  const nonBlocking = nonBlockingOption(options, 'accept');
  return native.accept(validateFd('fd', fd), nonBlocking);
}

/**
 * Connects `fd` to an IP literal and port. Returns `true` once connected, or
 * `false` when `fd` is non-blocking and the connect is in progress
 * (EINPROGRESS): wait until it is writable, then read
 * `getsockopt(fd, 'SO_ERROR')` (0 = connected, else an errno).
 */
export function connect(fd: number, address: string, port: number): boolean {
  return native.connect(validateFd('fd', fd), validateAddress(address), validatePort(port));
}

/** The local address of a socket (`getsockname(2)`). */
export function getsockname(fd: number): SocketAddress {
  return native.getsockname(validateFd('fd', fd));
}

/** The peer's address of a connected socket (`getpeername(2)`). */
export function getpeername(fd: number): SocketAddress {
  return native.getpeername(validateFd('fd', fd));
}

/**
 * Receives into `buffer` (`recv(2)`). Returns the byte count (0 at EOF), or
 * `null` when `fd` is non-blocking and no data is there (EAGAIN).
 */
export function recv(fd: number, buffer: ArrayBufferView): number | null {
  return native.recv(validateFd('fd', fd), validateBuffer('buffer', buffer));
}

/**
 * Sends `buffer` (`send(2)` with `MSG_NOSIGNAL`: a closed peer gives EPIPE,
 * never SIGPIPE). Returns the bytes sent (maybe fewer than given), or `null`
 * when `fd` is non-blocking and its send buffer is full (EAGAIN).
 */
export function send(fd: number, buffer: ArrayBufferView): number | null {
  return native.send(validateFd('fd', fd), validateBuffer('buffer', buffer));
}

/** `read(2)` for any fd (pipes too); same results as {@link recv}. */
export function read(fd: number, buffer: ArrayBufferView): number | null {
  return native.read(validateFd('fd', fd), validateBuffer('buffer', buffer));
}

/** `write(2)` for any fd (pipes too); same results as {@link send}. */
export function write(fd: number, buffer: ArrayBufferView): number | null {
  return native.write(validateFd('fd', fd), validateBuffer('buffer', buffer));
}

/** Shuts down one or both directions of a socket (`shutdown(2)`); default 'both'. */
export function shutdown(fd: number, how: 'read' | 'write' | 'both' = 'both'): void {
  const h = validateOneOf('how', how, ['read', 'write', 'both'] as const, 'both');
  native.shutdown(validateFd('fd', fd), h === 'read' ? C.SHUT_RD : h === 'write' ? C.SHUT_WR : C.SHUT_RDWR);
}

/**
 * Closes `fd`. A second close gives EBADF. EINTR counts as closed (Linux
 * releases the fd anyway), so it is never retried.
 */
export function close(fd: number): void {
  native.close(validateFd('fd', fd));
}

/** Sets or clears `O_NONBLOCK` on `fd` (default: sets it). */
export function setNonBlocking(fd: number, nonBlocking = true): void {
  if (typeof nonBlocking !== 'boolean') throw invalidArgType('nonBlocking', 'of type boolean', nonBlocking);
  native.setNonBlocking(validateFd('fd', fd), nonBlocking);
}

/** A connected pair of AF_UNIX stream sockets (`socketpair(2)`), close-on-exec. */
export function socketpair(options?: NonBlockingOptions): [number, number] {
  return native.socketpair(nonBlockingOption(options, 'socketpair'));
}

/** A pipe (`pipe2(2)`), close-on-exec: `[readFd, writeFd]`. */
export function pipe(options?: NonBlockingOptions): [number, number] {
  return native.pipe(nonBlockingOption(options, 'pipe'));
}

const SOCKET_OPTIONS = ['SO_REUSEADDR', 'SO_REUSEPORT', 'TCP_NODELAY', 'SO_RCVBUF', 'SO_SNDBUF'] as const;
/** Options that can only be read. */
const READ_ONLY_OPTIONS = ['SO_ERROR', 'SO_ACCEPTCONN', 'SO_TYPE'] as const;

/**
 * Sets a socket option. Flags take a boolean (or 0/1); SO_RCVBUF and
 * SO_SNDBUF take a byte count (the kernel doubles it and applies its limits).
 */
export function setsockopt(fd: number, option: SocketOption, value: boolean | number): void {
  if (typeof option !== 'string') throw invalidArgType('option', 'of type string', option);
  const opt = validateOneOf('option', option, SOCKET_OPTIONS, 'SO_REUSEADDR');
  let v: number;
  if (typeof value === 'boolean') v = value ? 1 : 0;
  else if (typeof value === 'number') v = validateInteger('value', value, 0, INT32_MAX, 0);
  else throw invalidArgType('value', 'of type boolean or number', value);
  native.setsockopt(validateFd('fd', fd), opt, v);
}

/**
 * Reads a socket option as a number (flags: 0 or 1). 'SO_ERROR' reads and
 * clears the socket's pending error: 0, or a positive errno (as after a
 * non-blocking connect); 'SO_ACCEPTCONN' is 1 on a listening socket;
 * 'SO_TYPE' is the socket type (1: SOCK_STREAM, 2: SOCK_DGRAM).
 */
export function getsockopt(fd: number, option: SocketOption | (typeof READ_ONLY_OPTIONS)[number]): number {
  if (typeof option !== 'string') throw invalidArgType('option', 'of type string', option);
  const opt = validateOneOf('option', option, [...SOCKET_OPTIONS, ...READ_ONLY_OPTIONS] as const, 'SO_ERROR');
  return native.getsockopt(validateFd('fd', fd), opt);
}

// --- select ----------------------------------------------------------------

/**
 * `select(2)`: which of these fds are ready. Blocks the calling thread for up
 * to `timeoutMs` (-1, the default, waits forever): use a timeout of 0 on the
 * main thread, or {@link selectAsync}, or call it from a worker thread.
 *
 * Every fd must be >= 0 and < {@link FD_SETSIZE}: anything else throws a
 * RangeError (ERR_OUT_OF_RANGE) before any fd_set is touched. A closed fd
 * throws EBADF.
 */
export function select(
  readFds: readonly number[],
  writeFds: readonly number[] = [],
  exceptFds: readonly number[] = [],
  timeoutMs = -1,
): SelectResult {
  const r = validateSelectList('readFds', readFds);
  const w = validateSelectList('writeFds', writeFds);
  const e = validateSelectList('exceptFds', exceptFds);
  return native.select(r, w, e, validateTimeout(timeoutMs));
}

/**
 * {@link select} on a native thread: resolves with the ready fds without
 * blocking the event loop (an empty result on timeout). `options.signal`
 * cancels it (rejects with an {@link AbortError}). It also needs one internal
 * eventfd below FD_SETSIZE for the cancellation: when every fd below it is
 * taken, it rejects with EMFILE.
 */
export async function selectAsync(
  readFds: readonly number[],
  writeFds: readonly number[] = [],
  exceptFds: readonly number[] = [],
  timeoutMs = -1,
  options?: WaitOptions,
): Promise<SelectResult> {
  const r = validateSelectList('readFds', readFds);
  const w = validateSelectList('writeFds', writeFds);
  const e = validateSelectList('exceptFds', exceptFds);
  const timeout = validateTimeout(timeoutMs);
  const signal = signalOption(options, 'selectAsync');
  return runWait(
    (cb) => native.selectAsync(r, w, e, timeout, cb),
    (raw) => raw as SelectResult,
    signal,
    () => ({ readable: [], writable: [], exceptional: [] }),
  );
}

// --- poll ------------------------------------------------------------------

function pollResults(entries: { fds: number[]; events: number[] }, revents: number[]): PollResult[] {
  const out: PollResult[] = [];
  revents.forEach((rev, i) => {
    if (rev !== 0) out.push({ fd: entries.fds[i], events: entries.events[i], revents: rev });
  });
  return out;
}

/**
 * `poll(2)`: returns the entries that have events (`revents !== 0`), in the
 * order given; an empty array on timeout. As in the kernel, a closed fd is
 * reported with `POLLNVAL` in its `revents` rather than as an error, and a
 * negative fd is ignored. Blocks the calling thread like {@link select}
 * (timeoutMs -1, the default, waits forever).
 */
export function poll(entries: readonly PollEntry[], timeoutMs = -1): PollResult[] {
  const e = validatePollEntries(entries);
  return pollResults(e, native.poll(e.fds, e.events, validateTimeout(timeoutMs)));
}

/** {@link poll} on a native thread; cancellable with `options.signal`. */
export async function pollAsync(
  entries: readonly PollEntry[],
  timeoutMs = -1,
  options?: WaitOptions,
): Promise<PollResult[]> {
  const e = validatePollEntries(entries);
  const timeout = validateTimeout(timeoutMs);
  const signal = signalOption(options, 'pollAsync');
  return runWait(
    (cb) => native.pollAsync(e.fds, e.events, timeout, cb),
    (raw) => pollResults(e, raw as number[]),
    signal,
    () => [],
  );
}

// --- epoll -----------------------------------------------------------------

/**
 * An epoll instance (`epoll_create1(EPOLL_CLOEXEC)`). Each registered fd is
 * reported back as `{ fd, events }`. After `close()` every method throws
 * EBADF, except `close()` itself, which may be called again.
 */
export class Epoll {
  readonly #native: NativeEpoll;

  constructor() {
    this.#native = new native.Epoll();
  }

  /** The epoll fd, or -1 once closed. */
  get fd(): number {
    return this.#native.fd;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#native.fd < 0;
  }

  /** Registers `fd` (`EPOLL_CTL_ADD`) for `events`, a mask of `EPOLL*` bits. */
  add(fd: number, events: number): void {
    this.#native.add(validateFd('fd', fd), validateEvents('events', events, 0xffffffff));
  }

  /** Changes the events of a registered fd (`EPOLL_CTL_MOD`); re-arms an `EPOLLONESHOT` fd. */
  modify(fd: number, events: number): void {
    this.#native.modify(validateFd('fd', fd), validateEvents('events', events, 0xffffffff));
  }

  /** Unregisters `fd` (`EPOLL_CTL_DEL`). Closing an fd also removes it. */
  remove(fd: number): void {
    this.#native.remove(validateFd('fd', fd));
  }

  /**
   * `epoll_wait(2)`: up to `maxEvents` (default 64) events; an empty array on
   * timeout. Blocks the calling thread for up to `timeoutMs` (-1, the
   * default, waits forever): use 0 on the main thread, or {@link waitAsync}.
   */
  wait(maxEvents = 64, timeoutMs = -1): EpollEvent[] {
    return this.#native.wait(validateMaxEvents(maxEvents), validateTimeout(timeoutMs));
  }

  /**
   * {@link wait} on a native thread, without blocking the event loop.
   * - `options.signal` aborts it: the Promise rejects with an {@link AbortError}.
   * - `close()` while it waits makes it resolve at once with `[]`.
   * A cancelled wait consumes no event, so no edge-triggered or one-shot
   * notification is lost. A wait that already returned events before the
   * cancel reached it resolves with them.
   */
  async waitAsync(maxEvents = 64, timeoutMs = -1, options?: WaitOptions): Promise<EpollEvent[]> {
    const max = validateMaxEvents(maxEvents);
    const timeout = validateTimeout(timeoutMs);
    const signal = signalOption(options, 'Epoll#waitAsync');
    return runWait(
      (cb) => this.#native.waitAsync(max, timeout, cb),
      (raw) => raw as EpollEvent[],
      signal,
      () => [],
    );
  }

  /**
   * Closes the epoll fd. Idempotent. Waits in flight are woken and resolve
   * with `[]`; the fd itself is closed once the last of them has stopped
   * waiting on it (before their Promises settle), never under a running
   * `epoll_wait`.
   */
  close(): void {
    this.#native.close();
  }
}
