#include "daemon/SdNotify.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mudguard/controller/Fd.h"

namespace mudguard::controller {

bool sdNotify(std::string_view state)
{
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return false;
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path)
        return false;
    std::memcpy(addr.sun_path, path, len);
    // An abstract socket is written with a leading '@'.
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0';
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return false;
    auto sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
    return sent == static_cast<ssize_t>(state.size());
}

} // namespace mudguard::controller
