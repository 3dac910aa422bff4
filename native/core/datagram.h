// Datagram sockets for the UDP model: bound, never listening, never
// accepting. Every call returns 0 or -errno and fills *error on failure;
// nothing here throws or touches N-API.
#pragma once

#include <cstdint>
#include <string>

#include "core/fd.h"
#include "core/listener.h"

namespace nm {

// socket/bind of a non-blocking UDP socket on an IPv4 or IPv6 literal.
// With reuse_port it joins (or starts) an SO_REUSEPORT group on the port:
// the kernel then spreads datagrams over the group by a hash of the sender's
// address and port. A bind failure is reported as "bind", as node:dgram does.
int BindUdp(const std::string& host, int port, bool reuse_port, Fd* out, Endpoint* bound,
            SysError* error);

// Takes a duplicate of a bound UDP socket someone else opened (options.fd):
// -EINVAL when it is not a datagram socket of IPv4 or IPv6. The duplicate's
// open file (shared with `fd`) is made non-blocking.
int AdoptUdp(int fd, Fd* out, Endpoint* bound, SysError* error);

// Asks for a receive queue of `bytes` (SO_RCVBUF, which the kernel caps at
// net.core.rmem_max; then SO_RCVBUFFORCE, which passes the cap where the
// process may, CAP_NET_ADMIN, and fails quietly where it may not). The queue
// absorbs what senders keep in flight while the loop is off the CPU: at the
// default (212,992 bytes) it holds 256 small datagrams, fewer while the
// reader's freed memory waits to be given back, so 64 clients with 4 in
// flight overflow it at the first pause. 0 or -errno.
int GrowReceiveBuffer(int fd, int bytes, SysError* error);

// The receive queue's size as the kernel keeps it (SO_RCVBUF read back:
// twice what was asked, for the kernel's bookkeeping). 0 when it cannot be read.
uint64_t ReceiveBuffer(int fd);

// Datagrams the kernel dropped on `fd`'s receive side since it was created
// (its receive queue was full, or its memory accounting refused them):
// sk_drops, the counter SO_RXQ_OVFL reports with each datagram, read with
// SO_MEMINFO so it is exact at any moment, not only when the next datagram
// arrives. 0 when it cannot be read.
uint64_t KernelDrops(int fd);

}  // namespace nm
