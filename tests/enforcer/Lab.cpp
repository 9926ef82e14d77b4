#include "Lab.h"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "TestSupport.h"

namespace mudguard::test {

using enforcer::Family;
using enforcer::IpAddress;

namespace {

void enter(const std::string& ns)
{
    int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0)
        throw std::runtime_error("cannot enter " + ns);
    ::close(fd);
}

/// Runs `f` in a thread inside namespace `ns` and returns its result.
template <class F> auto inNamespace(const std::string& ns, F f)
{
    decltype(f()) result {};
    std::exception_ptr error;
    std::thread t([&] {
        try {
            enter(ns);
            result = f();
        } catch (...) {
            error = std::current_exception();
        }
    });
    t.join();
    if (error)
        std::rethrow_exception(error);
    return result;
}

sockaddr_storage sockaddrOf(const IpAddress& a, std::uint16_t port, socklen_t& len)
{
    sockaddr_storage ss {};
    if (a.family == Family::Ipv6) {
        auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
        len = sizeof(sockaddr_in6);
    } else {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        std::memcpy(&s->sin_addr, a.bytes.data(), 4);
        len = sizeof(sockaddr_in);
    }
    return ss;
}

Outcome fromErrno(int err)
{
    switch (err) {
    case 0:
        return Outcome::Connected;
    case ECONNREFUSED:
        return Outcome::Refused;
    case ETIMEDOUT:
    case EAGAIN:
        return Outcome::Timeout;
    default:
        return Outcome::Unreachable; // EHOSTUNREACH, ENETUNREACH, EACCES, EPERM: an ICMP error
    }
}

void must(int rc, const char* what)
{
    if (rc < 0)
        throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

void cmd(const std::vector<std::string>& argv)
{
    auto r = runCommand(argv);
    if (r.exitCode != 0) {
        std::string c;
        for (const auto& a : argv)
            c += a + " ";
        throw std::runtime_error("lab setup: " + c + "failed: " + r.err);
    }
}

} // namespace

const char* toString(Outcome o)
{
    switch (o) {
    case Outcome::Connected:
        return "connected";
    case Outcome::Refused:
        return "refused";
    case Outcome::Unreachable:
        return "unreachable (ICMP error)";
    case Outcome::Timeout:
        return "timeout";
    }
    return "?";
}

struct Servers::Counts {
    mutable std::mutex mutex;
    std::map<std::pair<IpAddress, std::uint16_t>, std::size_t> udp;
};

Servers::Servers(const std::string& ns, std::vector<std::uint16_t> tcpPorts, std::vector<std::uint16_t> udpPorts)
    : m_counts(std::make_unique<Counts>())
{
    m_stop = eventfd(0, EFD_CLOEXEC);
    auto fds = inNamespace(ns, [&] {
        std::vector<int> out;
        for (int family : { AF_INET, AF_INET6 }) {
            for (auto port : tcpPorts) {
                int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                int one = 1;
                setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (family == AF_INET6)
                    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
                socklen_t len = 0;
                IpAddress any;
                any.family = family == AF_INET6 ? Family::Ipv6 : Family::Ipv4;
                auto sa = sockaddrOf(any, port, len);
                must(bind(s, reinterpret_cast<sockaddr*>(&sa), len), "bind tcp");
                must(listen(s, 64), "listen");
                out.push_back(s);
            }
            for (auto port : udpPorts) {
                int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                int one = 1;
                // Answer from the address the datagram was sent to (the namespace has several).
                if (family == AF_INET6) {
                    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
                    setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
                } else {
                    setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
                }
                socklen_t len = 0;
                IpAddress any;
                any.family = family == AF_INET6 ? Family::Ipv6 : Family::Ipv4;
                auto sa = sockaddrOf(any, port, len);
                must(bind(s, reinterpret_cast<sockaddr*>(&sa), len), "bind udp");
                out.push_back(-s - 1); // negative: a UDP socket
            }
        }
        return out;
    });
    m_thread = std::thread([this, fds] { run(fds); });
}

Servers::~Servers()
{
    std::uint64_t one = 1;
    if (write(m_stop, &one, sizeof one) < 0) { }
    m_thread.join();
    close(m_stop);
}

std::size_t Servers::udpFrom(const IpAddress& source, std::uint16_t port) const
{
    std::lock_guard lock(m_counts->mutex);
    auto it = m_counts->udp.find({ source, port });
    return it == m_counts->udp.end() ? 0 : it->second;
}

void Servers::run(std::vector<int> fds)
{
    std::vector<pollfd> pfds;
    pfds.push_back({ m_stop, POLLIN, 0 });
    for (int f : fds)
        pfds.push_back({ f < 0 ? -f - 1 : f, POLLIN, 0 });
    std::vector<int> accepted;
    while (true) {
        if (poll(pfds.data(), pfds.size(), -1) < 0 && errno != EINTR)
            break;
        if (pfds[0].revents)
            break;
        for (std::size_t i = 1; i < pfds.size(); ++i) {
            if (!(pfds[i].revents & POLLIN))
                continue;
            bool isUdp = fds[i - 1] < 0;
            if (!isUdp) {
                int c = accept4(pfds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0)
                    accepted.push_back(c); // kept open until the end: the client closes
                continue;
            }
            char buf[2048];
            sockaddr_storage from {};
            char control[256];
            iovec iov { buf, sizeof buf };
            msghdr msg {};
            msg.msg_name = &from;
            msg.msg_namelen = sizeof from;
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            ssize_t n = recvmsg(pfds[i].fd, &msg, 0);
            if (n < 0)
                continue;
            socklen_t len = msg.msg_namelen;
            IpAddress src;
            if (from.ss_family == AF_INET6) {
                src.family = Family::Ipv6;
                std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, 16);
            } else {
                std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, 4);
            }
            sockaddr_storage local {};
            socklen_t localLen = sizeof local;
            getsockname(pfds[i].fd, reinterpret_cast<sockaddr*>(&local), &localLen);
            std::uint16_t port = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                                                   : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
            {
                std::lock_guard lock(m_counts->mutex);
                ++m_counts->udp[{ src, port }];
            }
            // Echo with the same packet info (the local address it arrived on) as source.
            iov.iov_len = static_cast<std::size_t>(n);
            msg.msg_namelen = len;
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
                    reinterpret_cast<in_pktinfo*>(CMSG_DATA(c))->ipi_ifindex = 0;
            sendmsg(pfds[i].fd, &msg, 0);
        }
        if (accepted.size() > 256) {
            for (int c : accepted)
                close(c);
            accepted.clear();
        }
    }
    for (int c : accepted)
        close(c);
    for (std::size_t i = 1; i < pfds.size(); ++i)
        close(pfds[i].fd);
}

Lab::Lab()
{
    m_gw = std::make_unique<NftNetns>("gw");
    m_srv = std::make_unique<NftNetns>("srv");
    const std::string gw = m_gw->name(), srv = m_srv->name();
    auto sysctl = [](const std::string& ns, const std::string& key, const std::string& v) {
        runCommand({ "ip", "netns", "exec", ns, "sysctl", "-qw", key + "=" + v });
    };
    sysctl(gw, "net.ipv4.ip_forward", "1");
    // Rejections answer every probe (the kernel rate-limits ICMP errors per destination).
    sysctl(gw, "net.ipv4.icmp_ratelimit", "0");
    sysctl(gw, "net.ipv6.icmp.ratelimit", "0");
    sysctl(gw, "net.ipv6.conf.all.forwarding", "1");
    cmd({ "ip", "-n", gw, "link", "add", "br0", "type", "bridge", "stp_state", "0" });
    cmd({ "ip", "-n", gw, "link", "set", "br0", "address", "02:00:00:00:00:01", "up" });
    // Same-LAN traffic must be handled by the bridge table alone (no br_netfilter).
    sysctl(gw, "net.bridge.bridge-nf-call-iptables", "0");
    sysctl(gw, "net.bridge.bridge-nf-call-ip6tables", "0");
    cmd({ "ip", "-n", gw, "addr", "add", "192.168.50.1/24", "dev", "br0" });
    cmd({ "ip", "-n", gw, "addr", "add", "fd50::1/64", "dev", "br0", "nodad" });
    cmd({ "ip", "-n", gw, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", srv });
    cmd({ "ip", "-n", gw, "addr", "add", "198.51.100.1/24", "dev", "wan0" });
    cmd({ "ip", "-n", gw, "addr", "add", "2001:db8:100::1/64", "dev", "wan0", "nodad" });
    cmd({ "ip", "-n", gw, "link", "set", "wan0", "up" });
    for (int i : { 10, 20, 30 }) {
        cmd({ "ip", "-n", srv, "addr", "add", "198.51.100." + std::to_string(i) + "/24", "dev", "eth0" });
        cmd({ "ip", "-n", srv, "addr", "add", "2001:db8:100::" + std::to_string(i) + "/64", "dev", "eth0", "nodad" });
    }
    cmd({ "ip", "-n", srv, "link", "set", "eth0", "up" });
    cmd({ "ip", "-n", srv, "route", "add", "default", "via", "198.51.100.1" });
    cmd({ "ip", "-n", srv, "-6", "route", "add", "default", "via", "2001:db8:100::1" });
    for (int d = 1; d <= 3; ++d) {
        auto ns = std::make_unique<NftNetns>("dev" + std::to_string(d));
        std::string n = ns->name(), port = "d" + std::to_string(d), idx = std::to_string(10 + d);
        std::string macText = "02:00:00:00:00:" + idx;
        cmd({ "ip", "-n", gw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", n });
        cmd({ "ip", "-n", gw, "link", "set", port, "master", "br0", "up" });
        cmd({ "ip", "-n", n, "link", "set", "eth0", "address", macText, "up" });
        cmd({ "ip", "-n", n, "addr", "add", "192.168.50." + idx + "/24", "dev", "eth0" });
        cmd({ "ip", "-n", n, "addr", "add", "fd50::" + idx + "/64", "dev", "eth0", "nodad" });
        cmd({ "ip", "-n", n, "route", "add", "default", "via", "192.168.50.1" });
        cmd({ "ip", "-n", n, "-6", "route", "add", "default", "via", "fd50::1" });
        m_devices.push_back(Host { n, *enforcer::MacAddress::parse(macText), *IpAddress::parse("192.168.50." + idx),
            *IpAddress::parse("fd50::" + idx) });
        m_devNs.push_back(std::move(ns));
    }
}

Lab::~Lab() = default;

IpAddress Lab::server(int i, bool v6) const
{
    std::string last = std::to_string(10 * (i + 1));
    return *IpAddress::parse(v6 ? "2001:db8:100::" + last : "198.51.100." + last);
}

IpAddress Lab::routerLan(bool v6) const { return *IpAddress::parse(v6 ? "fd50::1" : "192.168.50.1"); }

std::vector<enforcer::Prefix> Lab::lanPrefixes() const
{
    return { *enforcer::Prefix::parse("192.168.50.0/24"), *enforcer::Prefix::parse("fd50::/64") };
}

Outcome Lab::tcp(const std::string& ns, const IpAddress& to, std::uint16_t port, std::chrono::milliseconds timeout)
{
    return inNamespace(ns, [&] {
        int s = socket(to.family == Family::Ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        socklen_t len = 0;
        auto sa = sockaddrOf(to, port, len);
        int rc = connect(s, reinterpret_cast<sockaddr*>(&sa), len);
        Outcome o;
        if (rc == 0) {
            o = Outcome::Connected;
        } else if (errno != EINPROGRESS) {
            o = fromErrno(errno);
        } else {
            pollfd p { s, POLLOUT, 0 };
            int n = poll(&p, 1, static_cast<int>(timeout.count()));
            if (n == 0) {
                o = Outcome::Timeout;
            } else {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
                o = fromErrno(err);
            }
        }
        close(s);
        return o;
    });
}

Outcome Lab::udp(const std::string& ns, const IpAddress& to, std::uint16_t port, std::chrono::milliseconds timeout,
    UdpOptions options)
{
    return inNamespace(ns, [&] {
        bool v6 = to.family == Family::Ipv6;
        int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (options.dscp >= 0) {
            int tos = options.dscp << 2;
            setsockopt(s, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TCLASS : IP_TOS, &tos, sizeof tos);
        }
        if (options.ttl >= 0)
            setsockopt(
                s, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &options.ttl, sizeof options.ttl);
        socklen_t len = 0;
        auto sa = sockaddrOf(to, port, len);
        connect(s, reinterpret_cast<sockaddr*>(&sa), len);
        const char msg[] = "probe";
        Outcome o = Outcome::Timeout;
        if (send(s, msg, sizeof msg, 0) < 0) {
            o = fromErrno(errno);
        } else {
            pollfd p { s, POLLIN, 0 };
            if (poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
                char buf[64];
                ssize_t n = recv(s, buf, sizeof buf, 0);
                o = n >= 0 ? Outcome::Connected : fromErrno(errno);
            }
        }
        close(s);
        return o;
    });
}

bool Lab::ping(const std::string& ns, const IpAddress& to, int flowLabel)
{
    std::vector<std::string> argv { "ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1" };
    if (flowLabel >= 0) {
        argv.push_back("-F");
        argv.push_back(fmt::format("0x{:x}", flowLabel));
    }
    argv.push_back(to.toString());
    return runCommand(argv).exitCode == 0;
}

UdpStream::UdpStream(const std::string& ns, std::vector<std::pair<IpAddress, std::uint16_t>> targets)
{
    m_thread = std::thread([this, ns, targets] {
        enter(ns);
        std::vector<int> socks;
        for (const auto& [addr, port] : targets) {
            int s = socket(
                addr.family == Family::Ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            socklen_t len = 0;
            auto sa = sockaddrOf(addr, port, len);
            connect(s, reinterpret_cast<sockaddr*>(&sa), len);
            socks.push_back(s);
        }
        const char msg[] = "stream";
        while (!m_stop) {
            for (int s : socks) {
                if (send(s, msg, sizeof msg, 0) < 0) {
                    // ICMP errors from earlier datagrams surface here; keep sending.
                }
                char buf[64];
                while (recv(s, buf, sizeof buf, 0) > 0) { }
            }
            ++m_rounds;
            std::this_thread::sleep_for(std::chrono::milliseconds(1)); // the probe's pace, not a wait for a condition
        }
        for (int s : socks)
            close(s);
    });
}

UdpStream::~UdpStream()
{
    m_stop = true;
    m_thread.join();
}

namespace {
IpAddress address(Family f, const std::uint8_t* bytes)
{
    IpAddress a;
    a.family = f;
    std::copy(bytes, bytes + a.size(), a.bytes.begin());
    return a;
}
} // namespace

NflogReader::NflogReader(const std::string& ns, std::uint16_t group)
{
    m_fd = inNamespace(
        ns, [] { return ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER); });
    if (m_fd < 0)
        throw std::runtime_error(fmt::format("nflog socket: {}", std::strerror(errno)));
    sockaddr_nl local {};
    local.nl_family = AF_NETLINK;
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
        throw std::runtime_error(fmt::format("nflog bind: {}", std::strerror(errno)));
    // One config message: bind the group (copy mode stays the default: the whole packet).
    struct {
        nlmsghdr nlh;
        nfgenmsg nfg;
        nlattr attr;
        nfulnl_msg_config_cmd cmd;
        std::uint8_t pad[3];
    } msg {};
    msg.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(nfgenmsg)) + NLA_ALIGN(NLA_HDRLEN + sizeof(nfulnl_msg_config_cmd));
    msg.nlh.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.nfg.nfgen_family = AF_UNSPEC;
    msg.nfg.version = NFNETLINK_V0;
    msg.nfg.res_id = htons(group);
    msg.attr.nla_len = NLA_HDRLEN + sizeof(nfulnl_msg_config_cmd);
    msg.attr.nla_type = NFULA_CFG_CMD;
    msg.cmd.command = NFULNL_CFG_CMD_BIND;
    sockaddr_nl kernel {};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(m_fd, &msg, msg.nlh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        throw std::runtime_error(fmt::format("nflog bind group {}: {}", group, std::strerror(errno)));
}

NflogReader::~NflogReader()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

std::vector<LoggedPacket> NflogReader::drain()
{
    std::vector<LoggedPacket> out;
    std::vector<char> buf(1 << 16);
    for (;;) {
        ssize_t n = ::recv(m_fd, buf.data(), buf.size(), 0);
        if (n <= 0)
            return out;
        int left = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
            if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
                continue;
            LoggedPacket p;
            const auto* payload = static_cast<const std::uint8_t*>(NLMSG_DATA(nlh));
            std::size_t len = nlh->nlmsg_len - NLMSG_LENGTH(0);
            for (std::size_t off = NLMSG_ALIGN(sizeof(nfgenmsg)); off + NLA_HDRLEN <= len;) {
                const auto* a = reinterpret_cast<const nlattr*>(payload + off);
                if (a->nla_len < NLA_HDRLEN || off + a->nla_len > len)
                    break;
                const auto* data = payload + off + NLA_HDRLEN;
                std::size_t dlen = a->nla_len - NLA_HDRLEN;
                int type = a->nla_type & NLA_TYPE_MASK;
                if (type == NFULA_PREFIX && dlen > 0) {
                    p.prefix.assign(reinterpret_cast<const char*>(data), dlen - 1);
                } else if (type == NFULA_PAYLOAD && dlen >= 40 && (data[0] >> 4) == 6) {
                    p.source = address(Family::Ipv6, data + 8);
                    p.destination = address(Family::Ipv6, data + 24);
                } else if (type == NFULA_PAYLOAD && dlen >= 20) {
                    p.source = address(Family::Ipv4, data + 12);
                    p.destination = address(Family::Ipv4, data + 16);
                }
                off += NLA_ALIGN(a->nla_len);
            }
            out.push_back(std::move(p));
        }
    }
}

} // namespace mudguard::test
