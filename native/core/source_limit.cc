#include "core/source_limit.h"

#include <netinet/in.h>

#include <cstring>

namespace nm {

namespace {

bool KeyOf(const sockaddr_storage& ss, SourceKey* key) {
  if (ss.ss_family == AF_INET) {
    uint32_t v4;
    std::memcpy(&v4, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, sizeof v4);
    key->hi = 0;
    key->lo = (uint64_t{0xffff} << 32) | v4;
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    std::memcpy(&key->hi, a.s6_addr, 8);
    std::memcpy(&key->lo, a.s6_addr + 8, 8);
    return true;
  }
  return false;
}

}  // namespace

bool SourceLimit::Admit(int fd, const sockaddr_storage& peer) {
  SourceKey key;
  if (!enabled() || fd < 0 || !KeyOf(peer, &key)) return true;
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t& open = open_[key];
  if (open >= max_) return false;  // max_ > 0, so the entry existed: nothing to erase
  open++;
  if (by_fd_.size() <= static_cast<size_t>(fd)) by_fd_.resize(static_cast<size_t>(fd) + 1);
  by_fd_[fd] = Slot{true, key};
  return true;
}

void SourceLimit::Release(int fd) {
  if (!enabled() || fd < 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<size_t>(fd) >= by_fd_.size() || !by_fd_[fd].held) return;
  by_fd_[fd].held = false;
  Drop(by_fd_[fd].key);
}

SourceHold SourceLimit::Detach(int fd) {
  if (!enabled() || fd < 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<size_t>(fd) >= by_fd_.size() || !by_fd_[fd].held) return {};
  by_fd_[fd].held = false;
  return {true, by_fd_[fd].key};
}

void SourceLimit::Release(const SourceHold& hold) {
  if (!hold.held) return;
  std::lock_guard<std::mutex> lock(mu_);
  Drop(hold.key);
}

void SourceLimit::Drop(const SourceKey& key) {
  auto it = open_.find(key);
  if (it != open_.end() && --it->second == 0) open_.erase(it);
}

}  // namespace nm
