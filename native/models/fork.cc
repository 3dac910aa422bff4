// ForkServer: the classic fork-per-connection server. The accept thread
// fork()s a child for each client and closes its own copy of the socket; the
// child serves that one client and leaves with _exit(). A Reaper waits for
// exactly the children forked here, never with waitpid(-1).
//
// The parent is a multi-threaded Node process, so between fork() and _exit()
// the child may only run async-signal-safe code: another thread may have held
// the malloc lock, a V8 lock or a stdio lock at the moment of the fork, and
// that lock stays held forever in the child. The child therefore touches only
// memory that existed before fork() (the read buffer, the options, the shared
// counters) and makes only raw syscalls.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <climits>
#include <memory>
#include <new>

#include "core/clock.h"
#include "core/connection.h"
#include "core/reaper.h"
#include "models/blocking_model.h"

namespace nm {

namespace {

// How long stop() lets children leave after SIGTERM before SIGKILL.
constexpr int kGraceMs = 500;

// After fork() fails (EAGAIN: RLIMIT_NPROC or pid_max; ENOMEM), wait a
// little so a persistent shortage cannot spin the accept thread.
constexpr uint64_t kForkBackOffMs = 20;

// Closes every descriptor from 3 up except `keep`: the child must not hold
// the listener (or stop() would leave the port open), nor the parent's other
// sockets, eventfds and pidfds. close_range (Linux 5.9) is one syscall and
// async-signal-safe; returns -errno if the kernel lacks it.
int CloseAllExcept(int keep) {
  if (keep > 3 && syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u) < 0) {
    return -errno;
  }
  if (syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u) < 0) return -errno;
  return 0;
}

class ForkModel final : public BlockingModel {
 public:
  explicit ForkModel(const ModelOptions& options)
      : BlockingModel(options), reaper_([this](const Reaper::Exit&) { OnExit(); }) {}

  ~ForkModel() override {
    reaper_.Close();  // before the counters it reports into go away
    if (shared_ != nullptr) {
      shared_->~Stats();
      munmap(shared_, sizeof(Stats));
      stats_ = &own_stats_;
    }
  }

 private:
  int Prepare(SysError* error) override {
    int r = BlockingModel::Prepare(error);
    if (r < 0) return r;
    // The counters live in memory shared with every child, so the bytes a
    // child moves show up in the parent's stats() at once.
    void* p = mmap(nullptr, sizeof(Stats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      error->err = -errno;
      error->syscall = "mmap";
      return error->err;
    }
    shared_ = new (p) Stats();
    stats_ = shared_;
    const char* syscall = "";
    r = reaper_.Open(opt_.String("reaper") == "sigchld" ? Reaper::Mode::kSigchld
                                                        : Reaper::Mode::kPidfd,
                     &syscall);
    if (r < 0) {
      error->err = r;
      error->syscall = syscall;
    }
    return r;
  }

  // Runs on the reaper thread when one of our children is gone.
  void OnExit() {
    Stats::add(stats_->reaped, 1);
    stats_->finished();
  }

  void Dispatch(int fd) override {
    if (stats_->active.load(std::memory_order_relaxed) >= max_children_ || AtCapacity()) {
      Reject(fd);
      return;
    }
    ApplyIdleTimeout(fd);
    // Model threads run with every signal blocked (the binding starts them
    // so), and so does the child until it has reset the dispositions: no
    // handler of the parent's (libuv's, which writes to a pipe the child
    // shares) can run in the child, and a child's exit never interrupts
    // accept().
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) Child(fd, parent);
    const int err = errno;
    if (pid < 0) {
      Reject(fd);
      ReportError(-err, "fork");
      PauseMs(kForkBackOffMs);
      return;
    }
    // Counted before the reaper knows the pid, so it can never finish()
    // a child that was not yet opened().
    stats_->opened();
    ::close(fd);  // the child has its own copy
    if (reaper_.Watch(pid) < 0) {
      Stats::add(stats_->errors, 1);  // no pidfd: the child is swept instead
    }
  }

  // The child: async-signal-safe code only, and it never returns.
  [[noreturn]] void Child(int fd, pid_t parent) {
    // Handlers are reset to the default and ignored signals stay ignored,
    // as execve() would do. Signals 32 and 33 belong to glibc (EINVAL).
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      struct sigaction current;
      if (sigaction(sig, nullptr, &current) < 0) continue;
      if (!(current.sa_flags & SA_SIGINFO) &&
          (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) {
        continue;
      }
      struct sigaction dfl = {};
      dfl.sa_handler = SIG_DFL;
      if (sigaction(sig, &dfl, nullptr) < 0) Fail();
    }
    // Die with the thread that forked us: if the Node process is killed
    // outright, its children do not linger serving clients. The accept
    // thread outlives every child (Finish() reaps them all first).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) Fail();
    if (getppid() != parent) _exit(0);  // the parent died before prctl
    if (CloseAllExcept(fd) < 0) {
      // Kernels before 5.9: close at least the listener, which would keep
      // the port open after stop().
      ::close(listener_.get());
    }
    sigset_t none;
    sigemptyset(&none);
    if (pthread_sigmask(SIG_SETMASK, &none, nullptr) != 0) Fail();
    ServeBlocking(fd, opt_.handler, stats_, buf_.get(), kReadBufferSize);
    _exit(0);
  }

  [[noreturn]] void Fail() {
    Stats::add(stats_->errors, 1);
    _exit(1);
  }

  // The accept loop is over, so nothing forks any more: ask every child to
  // leave, insist after the grace period, and return once all are reaped.
  void Finish() override {
    if (reaper_.Live() > 0) {
      reaper_.SignalAll(SIGTERM);
      while (!reaper_.WaitNone(kGraceMs)) reaper_.SignalAll(SIGKILL);
    }
    reaper_.Close();
  }

  void Describe(std::vector<std::pair<const char*, std::string>>* out) override {
    // After a pidfd -> sigchld fallback this differs from what was asked.
    out->emplace_back("reaper", reaper_.mode() == Reaper::Mode::kPidfd ? "pidfd" : "sigchld");
  }

  const uint64_t max_children_ = static_cast<uint64_t>(opt_.Number("maxChildren"));
  Stats* shared_ = nullptr;
  Reaper reaper_;
  // Allocated before any fork(): each child reads into its own copy.
  std::unique_ptr<char[]> buf_{new char[kReadBufferSize]};
};

}  // namespace

NM_REGISTER_MODEL("fork", ForkModel);

}  // namespace nm
