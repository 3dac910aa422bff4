// Numeric IPv4/IPv6 literals to socket addresses and back; no name lookups.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace nm {

// 0, or -EINVAL when `host` is not an IP literal or `port` is out of range.
int ParseIp(const std::string& host, int port, sockaddr_storage* ss, socklen_t* len);

// The numeric address and port of `sa`; family 4 or 6 (0 if neither).
void FormatIp(const sockaddr* sa, std::string* address, int* port, int* family);

}  // namespace nm
