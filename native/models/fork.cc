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
//
// With `exec` the child runs a program instead (inetd / tcpserver style,
// core/exec.h); the parent then knows the connection only by the child's pid,
// so what it must remember of it until the child is reaped (its per-source
// count, its address for 'childExit') is kept by pid. Each program leads a
// process group of its own, so stop() also reaches what it started in the
// background (a grandchild holding the client's socket would keep the
// client waiting for EOF); so does idleTimeoutMs, which the parent watches
// on a copy of each client socket (ChildGroup::EndWhenIdle): only a process
// that leaves that group (setsid, setpgid) escapes the signals, though not
// the idle timeout's shutdown of the socket.
#include <sys/socket.h>

#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/child.h"
#include "core/clock.h"
#include "core/connection.h"
#include "core/exec.h"
#include "core/sockaddr.h"
#include "models/blocking_model.h"

namespace nm {

namespace {

class ForkModel final : public BlockingModel {
 public:
  explicit ForkModel(const ModelOptions& options)
      : BlockingModel(options), children_([this](const Reaper::Exit& e) { OnExit(e); }) {}

 private:
  int Prepare(SysError* error) override {
    // The counters live in memory shared with every child, so the bytes a
    // child moves show up in the parent's stats() at once. Before the
    // acceptor is opened: it counts into this block.
    const char* syscall = "";
    if (!opt_.String("execPath").empty()) children_.EndWhenIdle(opt_.idle_timeout_ms);
    int r = children_.Open(1, opt_.String("reaper"), &syscall);
    if (r < 0) return error->set(r, syscall);
    stats_ = children_.stats();
    if ((r = BlockingModel::Prepare(error)) < 0) return r;
    if (!opt_.String("execPath").empty()) {
      exec_.Init(opt_.String("execPath"), opt_.List("exec"), opt_.List("env"), endpoint_);
    }
    return 0;
  }

  // What the parent remembers of a live child.
  struct ChildInfo {
    uint64_t started_ms;
    sockaddr_storage peer;
    SourceHold source;
  };

  // Runs on the reaper thread (its lock held) when one of our children is gone.
  void OnExit(const Reaper::Exit& exit) {
    ChildInfo child{};
    {
      std::lock_guard<std::mutex> lock(live_mu_);
      auto it = live_.find(exit.pid);
      if (it != live_.end()) {
        child = it->second;
        live_.erase(it);
      }
    }
    // A status the kernel kept from us (ECHILD) counts as neither.
    if (exit.exit_code == 0) Stats::add(exited_ok_, 1);
    if (exit.exit_code > 0 || exit.signal > 0) Stats::add(exited_failed_, 1);
    if (exec_.enabled()) children_.Outlived(exit.pid);
    sources_->Release(child.source);
    Stats::add(stats_->reaped, 1);
    stats_->finished();
    if (!WantsEvents()) return;
    std::string address;
    int port = 0, family = 0;
    FormatIp(reinterpret_cast<const sockaddr*>(&child.peer), &address, &port, &family);
    ModelEvent event("childExit");
    event.Number("pid", exit.pid);
    exit.exit_code >= 0 ? event.Number("code", exit.exit_code) : event.Null("code");
    exit.signal > 0 ? event.Number("signal", exit.signal) : event.Null("signal");
    event.Number("durationMs", static_cast<double>(MonotonicMs() - child.started_ms));
    event.String("remoteAddress", address).Number("remotePort", port);
    Emit(std::move(event));
  }

  void Dispatch(int fd) override {
    if (stats_->active.load(std::memory_order_relaxed) >= max_children_) {
      Reject(fd);
      return;
    }
    if (AtCapacity()) {
      Drop(fd);
      return;
    }
    ApplyIdleTimeout(fd);
    if (exec_.enabled() && exec_.SetConnection(fd, peer()) < 0) Stats::add(stats_->errors, 1);
    const ChildInfo info{MonotonicMs(), peer(), {}};
    // Counted before the fork: the child may answer its client before fork()
    // returns here (a parent with a large address space takes long to copy
    // its page tables), and a client that got its answer must find its
    // connection open in stats(). Also before the reaper knows the pid, so
    // it can never finish() a child that was not yet opened().
    stats_->opened();
    // With every signal blocked in the child until it has reset the
    // dispositions, no handler of the parent's (libuv's, which writes to a
    // pipe the child shares) can run in it, and a child's exit never
    // interrupts accept().
    const pid_t pid = children_.Fork([&](pid_t parent) { Child(fd, parent); });
    if (pid < 0) {
      Reject(fd, /*counted_open=*/true);
      ReportError(pid, "fork");
      return;
    }
    // The child makes its group too; whichever runs first wins, so the
    // group exists before either goes on (EACCES once it has exec'd).
    if (exec_.enabled()) {
      setpgid(pid, pid);
      if (children_.WatchIdle(pid, fd) < 0) Stats::add(stats_->errors, 1);
    }
    // Recorded before the reaper knows the pid.
    {
      std::lock_guard<std::mutex> lock(live_mu_);
      ChildInfo& child = live_[pid] = info;
      child.source = sources_->Detach(fd);
    }
    ::close(fd);  // the child has its own copy
    children_.Watch(pid);
  }

  // The child: async-signal-safe code only, and it never returns.
  [[noreturn]] void Child(int fd, pid_t parent) {
    const int r = PrepareChild(parent, fd, listener_.get());
    if (r != 0) Leave(r);
    if (exec_.enabled()) {
      // Failing, the program stays in the server's group: stop() still
      // reaches it by its pid, only not what it starts.
      setpgid(0, 0);
      exec_.Run(fd);
    }
    ServeBlocking(fd, opt_.handler, stats_, buf_.get(), kReadBufferSize);
    _exit(0);
  }

  // A child that could not be set up: a syscall failure is counted.
  [[noreturn]] void Leave(int r) {
    if (r < 0) Stats::add(stats_->errors, 1);
    _exit(r < 0 ? 1 : 0);
  }

  // The accept loop is over, so nothing forks any more.
  void Finish() override { children_.StopAll(exec_.enabled()); }

  void Describe(std::vector<std::pair<const char*, std::string>>* out) override {
    out->emplace_back("reaper", children_.mode());
  }

  void Counters(std::vector<std::pair<const char*, uint64_t>>* out) override {
    out->emplace_back("exitedOk", exited_ok_.load(std::memory_order_relaxed));
    out->emplace_back("exitedFailed", exited_failed_.load(std::memory_order_relaxed));
  }

  const uint64_t max_children_ = static_cast<uint64_t>(opt_.Number("maxChildren"));
  ExecPlan exec_;
  Stats::Counter exited_ok_{0}, exited_failed_{0};  // counted in this process
  std::mutex live_mu_;
  std::unordered_map<pid_t, ChildInfo> live_;
  // Allocated before any fork(): each child reads into its own copy.
  std::unique_ptr<char[]> buf_{new char[kReadBufferSize]};
  // Last: its reaper thread, which runs OnExit(), stops before the members
  // above go away.
  ChildGroup children_;
};

}  // namespace

NM_REGISTER_MODEL("fork", ForkModel);

}  // namespace nm
