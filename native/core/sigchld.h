// The process-wide SIGCHLD handler shared by every Reaper in kSigchld mode.
//
// One disposition exists per process, so every Reaper in kSigchld mode shares
// one installation: the first installs it, the last restores what was there
// before (if ours is still the one installed). The handler writes to the
// eventfd of each registered reaper, then chains to the previous handler so
// whoever installed it (libuv, for Node's child_process) still hears of its
// own children.
//
// libuv (Node 20) installs its own handler, without chaining, when a process
// spawns while it has no live child, and resets SIGCHLD to SIG_DFL when its
// last child is gone; either wipes ours out. Reaping then goes on through the
// periodic sweep, and ours is reinstalled when the next reaper starts. Ours is
// never reinstalled from the reaper thread: that would race with libuv
// installing its own on another thread and could lose Node's exit events.
//
// A slot holds fd + 1 (0 = free), so the zero-initialised array starts empty.
// A slot is freed and the fd closed only once no handler is running
// (g_in_handler == 0): with sequentially consistent atomics, a handler either
// sees the cleared slot or is seen by the releasing thread, which then waits.
#pragma once

namespace nm {

// Registers `fd` (an eventfd the handler writes to on every SIGCHLD) and makes
// sure the handler is installed. 0 or -errno; *slot is -1 when all slots are
// taken (that reaper then relies on its sweep alone).
int AcquireSigchld(int fd, int* slot);
// Unregisters a slot from AcquireSigchld (-1: none); once it returns no
// handler writes to that fd any more. The last user restores the previous
// handler if ours is still installed.
void ReleaseSigchld(int slot);

}  // namespace nm
