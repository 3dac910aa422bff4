// Force-included (-include) in every C++ file of a prebuild (scripts/prebuildify.sh).
//
// The sysroot's libstdc++ (GCC 10) was configured against glibc 2.31, so its
// headers call pthread_cond_clockwait, pthread_mutex_clocklock and
// pthread_rwlock_clock*lock (GLIBC_2.30) from inline code: a timed wait on a
// steady clock would bind the addon to glibc 2.30. Without them libstdc++
// waits with the glibc 2.2.5 calls on the system clock it converts to, and
// the addon loads on glibc 2.28. c++config.h has an include guard: what is
// undefined here stays undefined.
#include <bits/c++config.h>
#undef _GLIBCXX_USE_PTHREAD_COND_CLOCKWAIT
#undef _GLIBCXX_USE_PTHREAD_MUTEX_CLOCKLOCK
#undef _GLIBCXX_USE_PTHREAD_RWLOCK_CLOCKLOCK
