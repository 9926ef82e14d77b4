#pragma once
// RAII for the C handles of the discovery sources (libnl, libmnl).

#include <memory>

#include <libmnl/libmnl.h>
#include <netlink/cache.h>
#include <netlink/socket.h>

namespace mudguard::controller::discovery {

template <auto Free> struct CDeleter {
    void operator()(auto* p) const noexcept { Free(p); }
};

using NlSockPtr = std::unique_ptr<nl_sock, CDeleter<nl_socket_free>>;
using NlCacheMngrPtr = std::unique_ptr<nl_cache_mngr, CDeleter<nl_cache_mngr_free>>;
using MnlSocketPtr = std::unique_ptr<mnl_socket, CDeleter<mnl_socket_close>>;

} // namespace mudguard::controller::discovery
