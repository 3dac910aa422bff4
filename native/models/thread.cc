// ThreadServer: the accept thread blocks in accept() and gives each
// connection a thread of its own running a blocking read -> handler -> write
// loop. Threads get a small stack (stackSize, default 256 KiB) so thousands
// fit; every one is joined: finished threads by the accept thread as it goes,
// the rest by Finish() after stop() has shut their sockets down.
#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "models/blocking_model.h"

namespace nm {

namespace {

// Each connection thread reads into a buffer on its own stack; it must leave
// room for the handler and libc, so it is a fraction of the smallest stack.
constexpr size_t kThreadBufferSize = 16 << 10;

class ThreadModel final : public BlockingModel {
 public:
  using BlockingModel::BlockingModel;

 private:
  struct Job {
    ThreadModel* self;
    int fd;
  };

  void Dispatch(int fd) override {
    JoinFinished();
    {
      std::lock_guard<std::mutex> lock(mu_);
      const uint64_t max = MaxConnections();
      if (max == kRefuseAll || (max != 0 && live_ >= max)) {
        Drop(fd);
        return;
      }
      live_++;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, static_cast<size_t>(opt_.Number("stackSize")));
    pthread_t tid;
    auto* job = new Job{this, fd};
    const int err = pthread_create(&tid, &attr, &ThreadModel::Main, job);
    pthread_attr_destroy(&attr);
    if (err == 0) Stats::add(stats_->sys.clone, 1);
    if (err != 0) {
      delete job;
      Reject(fd);
      ReportError(-err, "pthread_create");
      std::lock_guard<std::mutex> lock(mu_);
      live_--;
    }
  }

  static void* Main(void* arg) {
    Job job = *static_cast<Job*>(arg);
    delete static_cast<Job*>(arg);
    char buf[kThreadBufferSize];
    job.self->ServeClient(job.fd, buf, sizeof buf);
    std::lock_guard<std::mutex> lock(job.self->mu_);
    job.self->finished_.push_back(pthread_self());
    job.self->live_--;
    job.self->idle_.notify_all();
    return nullptr;
  }

  // Joins the threads that have finished serving (they are exiting already).
  void JoinFinished() {
    std::vector<pthread_t> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done.swap(finished_);
    }
    for (pthread_t t : done) pthread_join(t, nullptr);
  }

  void Finish() override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      idle_.wait(lock, [this] { return live_ == 0; });
    }
    JoinFinished();
  }

  std::mutex mu_;
  std::condition_variable idle_;
  uint64_t live_ = 0;                // connection threads not yet finished
  std::vector<pthread_t> finished_;  // finished, not yet joined
};

}  // namespace

NM_REGISTER_MODEL("thread", ThreadModel);

}  // namespace nm
