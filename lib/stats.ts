// The shape of stats(): every model's counters, its system calls by kind,
// and each part's share (\`workers\`). lib/stats-keys.ts holds the keys the
// addon fills against these types.
import type { ModelName } from './models/index';

/** One shape for every model. Counters are exact. `accepted === active + closed + rejected` once quiescent. */
export interface ServerStats {
  model: ModelName;
  running: boolean;
  address: string;
  port: number;
  /** Connections accepted from the kernel (including the ones then rejected). */
  accepted: number;
  /** Open now. */
  active: number;
  /** Most open at once. */
  peakActive: number;
  /** Served and closed. */
  closed: number;
  /** Accepted then refused (maxConnections, fd >= FD_SETSIZE, maxChildren...). */
  rejected: number;
  bytesIn: number;
  bytesOut: number;
  /** Per part of the model (loop, pool thread, prefork child); absent for a model of one part. */
  workers?: WorkerStats[];
  /** Successful recv syscalls. */
  reads: number;
  /** Successful send syscalls. */
  writes: number;
  /** Returns from select/poll/epoll_wait, or from accept in blocking models. */
  wakeups: number;
  /** The reaper really in use (process models): `'pidfd'`, or `'sigchld'` after a fallback. */
  reaper?: 'pidfd' | 'sigchld';
  /**
   * The io_uring each loop runs (uring): the kernel features in use (`bundle`:
   * receive bundles; `incremental`: incrementally consumed buffers;
   * `defer-taskrun`; `registered-fd`; `single-mmap`), then the provided buffers,
   * e.g. `'bundle incremental defer-taskrun registered-fd single-mmap; 32 buffers of 65536 B'`.
   */
  ring?: string;
  /** Children reaped (fork; 0 elsewhere). */
  reaped: number;
  /** Children that exited with status 0 (fork only). */
  exitedOk?: number;
  /** Children that exited with a non-zero status or were killed by a signal (fork only). */
  exitedFailed?: number;
  /** Children that failed within a second of their fork (prefork only): each delays the next forks. */
  diedYoung?: number;
  /** How long forks wait now after children died young: 10 ms doubling to 1000; 0 once they live on (prefork only). */
  respawnDelayMs?: number;
  /**
   * Connections the children refused whose `'drop'` was lost (prefork only):
   * a child hands each refusal to the parent over a bounded pipe and never
   * waits for it, so a burst beyond what it holds (about 1,100) is counted
   * here instead; every refusal is in `rejected` all the same.
   */
  dropEventsLost?: number;
  /**
   * Times the real-time signal queue overflowed and the loop rescanned
   * every connection with one poll() (sigio only).
   */
  overflows?: number;
  /** Unexpected syscall failures survived. */
  errors: number;
  /** System calls the server made, by kind: see {@link SyscallStats}. */
  syscalls: SyscallStats;
  uptimeMs: number;
}

/**
 * System calls a server made, counted where each is made (one relaxed atomic
 * increment, in the processes of fork and prefork too), for every model.
 * Every call counts whatever it returned: EAGAIN, 0, an error (a call
 * interrupted by a signal and retried at once counts once). A
 * composite (`loops`) reports the sum over its loops, and each loop its own
 * in `workers`.
 *
 * For `uring` the kernel does the accepts, receives and sends itself:
 * `accept`, `recv` and `send` count the completions of such requests (a
 * multishot receive completes once per chunk of data, as one `recv()` would
 * return it, and once more at its end), none of them a system call; `wait`
 * is the only one of them that is.
 */
export interface SyscallStats {
  /**
   * `accept4()` calls, including the one that finds the queue empty
   * (EAGAIN: every wakeup of an event loop on its listener ends with one in
   * edge mode, and in level mode when it accepts fewer than its batch of
   * 128) and the one that sheds a connection when out of descriptors.
   * A blocking model's accept is counted when it returns.
   */
  accept: number;
  /** `recv()` calls, including those that return 0 (EOF) or EAGAIN; `reads` counts those that returned data. */
  recv: number;
  /** `send()` calls, including those that return EAGAIN; `writes` counts those that sent bytes. */
  send: number;
  /**
   * Calls of the wait syscall: `select()`, `poll()`, `epoll_wait()`, or for
   * `uring` each `io_uring_submit*` call (`io_uring_enter`); for `sigio`
   * each dequeue call (`sigwaitinfo()`/`sigtimedwait()`, or a signalfd
   * `read()` and the `poll()` before a timed one), and on a queue overflow
   * each call that drains it and the one `poll()` rescan. Blocking
   * models wait in `accept()` and `recv()` instead, so 0, except a `poll()`
   * per wait on an inherited (`fd`) listener or for a JS handler's
   * connection, and the `poll()` of a `handoff` composite's acceptor.
   */
  wait: number;
  /**
   * Changes of the interest set the kernel is told of, one per watch,
   * change or forget of a descriptor: `epoll_ctl()` calls; for `select`
   * the updates of its master fd_sets, for `poll` the pollfd entries added,
   * changed and removed (these two hand the whole set to every wait
   * instead); for `uring` every request queued except sends (a multishot
   * accept or receive armed, the inbox read, a cancel); for `sigio` its
   * `fcntl()` calls (owner, signal and `O_ASYNC`: three per connection).
   * 0 in blocking models.
   */
  ctl: number;
  /** `accept4()`, `recv()` and `send()` calls (for `uring`, completions) that failed with EAGAIN. */
  eagain: number;
  /** `fork()` calls: one per connection (fork), one per child started (prefork). */
  fork: number;
  /**
   * Threads started for the server: the one `start()` runs the model on,
   * plus those the model starts: a thread per connection (thread), each
   * pool thread started, at start or when the pool grows (threadpool), the
   * loops beyond the first (`loops`; `handoff`: every loop, its acceptor
   * runs on the first thread), the reaper's thread (fork, prefork).
   */
  clone: number;
}

/** One part of a model in `stats().workers`: a loop, a pool thread, a prefork child. */
export interface WorkerStats {
  /** The child's pid (process models). */
  pid?: number;
  /** Whether the part is serving a client now (pool models). */
  state?: 'idle' | 'busy';
  accepted: number;
  active: number;
  /** Connections it finished serving. */
  served: number;
  bytesIn: number;
  bytesOut: number;
  wakeups: number;
  /** This part's system calls; prefork and pool threads count only the serving ones (accept, recv, send). */
  syscalls: SyscallStats;
}
