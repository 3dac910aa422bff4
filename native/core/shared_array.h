// Objects in a MAP_SHARED anonymous mapping, constructed in place by Map()
// before any fork(): every process forked after it reads and writes the same
// objects, which is how children count into their parent and coordinate
// with one another without a syscall. Unmapped with this object; a child
// never destroys its copy (it leaves with _exit()).
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <new>

namespace nm {

template <typename T>
class SharedArray {
 public:
  SharedArray() = default;
  ~SharedArray() {
    if (items_ == nullptr) return;
    for (size_t i = 0; i < count_; i++) items_[i].~T();
    munmap(items_, count_ * sizeof(T));
  }
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;

  // `count` value-initialised objects. 0 or -errno (mmap).
  int Map(size_t count) {
    void* p = mmap(nullptr, count * sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -errno;
    items_ = static_cast<T*>(p);
    count_ = count;
    for (size_t i = 0; i < count; i++) new (items_ + i) T();
    return 0;
  }
  T* get(size_t i = 0) const { return items_ + i; }
  size_t size() const { return count_; }

 private:
  T* items_ = nullptr;
  size_t count_ = 0;
};

}  // namespace nm
