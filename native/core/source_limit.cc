#include "core/source_limit.h"

#include <netinet/in.h>
#include <sched.h>

#include <cerrno>
#include <cstring>

namespace nm {

bool SourceKeyOf(const sockaddr_storage& ss, SourceKey* key) {
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

bool SourceLimit::Admit(int fd, const sockaddr_storage& peer) {
  SourceKey key;
  if (!enabled() || fd < 0 || !SourceKeyOf(peer, &key)) return true;
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

int SourceSlots::Map(size_t count) {
  const int r = owner_.Map(1);
  return r < 0 ? r : slots_.Map(count);
}

bool SourceSlots::Admit(size_t i, const sockaddr_storage& peer, uint32_t max) {
  SourceKey key;
  if (!SourceKeyOf(peer, &key)) return true;
  const uint32_t me = static_cast<uint32_t>(i) + 1;
  // Held for a scan of the slots: a yield, not a sleep, while another has it.
  std::atomic<uint32_t>* owner = owner_.get();
  for (uint32_t free = 0; !owner->compare_exchange_weak(free, me, std::memory_order_acquire);
       free = 0) {
    sched_yield();
  }
  uint32_t open = 0;
  for (size_t j = 0; j < slots_.size(); j++) {
    const Slot* slot = slots_.get(j);
    if (slot->held.load(std::memory_order_relaxed) && slot->key == key) open++;
  }
  const bool admit = open < max;
  if (admit) {
    slots_.get(i)->key = key;
    slots_.get(i)->held.store(true, std::memory_order_relaxed);
  }
  owner->store(0, std::memory_order_release);
  return admit;
}

void SourceSlots::Clear(size_t i) {
  Release(i);
  uint32_t dead = static_cast<uint32_t>(i) + 1;
  owner_.get()->compare_exchange_strong(dead, 0, std::memory_order_release);
}

}  // namespace nm
