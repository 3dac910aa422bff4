// The client sockets blocking models are serving, so stop() can wake every
// thread blocked in recv/send with shutdown(). A socket is shut down under the
// same lock that guards its removal, so a closed (and possibly reused) number
// is never touched.
#pragma once

#include <sys/socket.h>

#include <mutex>
#include <unordered_set>

namespace nm {

class ShutdownSet {
 public:
  // False once stopping: the caller must not serve `fd`.
  bool Add(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    fds_.insert(fd);
    return true;
  }
  // Call before closing `fd`.
  void Remove(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.erase(fd);
  }
  void ShutdownAll() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  bool stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

 private:
  std::mutex mu_;
  std::unordered_set<int> fds_;
  bool stopping_ = false;
};

}  // namespace nm
