#pragma once
// A small network in namespaces for the packet tests: a gateway with a LAN bridge and a WAN
// link, three devices on the bridge and a server namespace with several addresses. Probes and
// servers run in threads of the test process that enter the namespaces (setns), so a probe
// costs a connect, not a process.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mudguard/enforcer/Policy.h"

#include "CaseSupport.h"

namespace mudguard::test {

enum class Outcome {
    Connected, ///< TCP handshake completed / UDP answer received
    Refused, ///< TCP RST or ICMP port unreachable from the peer
    Unreachable, ///< an ICMP error on the way (e.g. administratively prohibited)
    Timeout, ///< nothing came back
};
const char* toString(Outcome o);

struct Host {
    std::string ns; ///< namespace name
    enforcer::MacAddress mac;
    enforcer::IpAddress v4, v6;
};

/// TCP and UDP listeners on every address of a namespace; UDP datagrams are echoed and
/// counted per source address.
class Servers {
public:
    Servers(const std::string& ns, std::vector<std::uint16_t> tcpPorts, std::vector<std::uint16_t> udpPorts);
    ~Servers();
    Servers(const Servers&) = delete;
    Servers& operator=(const Servers&) = delete;
    /// Datagrams received from `source` on local UDP port `port`.
    std::size_t udpFrom(const enforcer::IpAddress& source, std::uint16_t port) const;

private:
    void run(std::vector<int> fds);
    std::thread m_thread;
    int m_stop = -1;
    mutable std::atomic<bool> m_ready { false };
    struct Counts;
    std::unique_ptr<Counts> m_counts;
};

struct UdpOptions {
    int dscp = -1; ///< IP_TOS / IPV6_TCLASS = dscp << 2
    int ttl = -1; ///< IP_TTL / IPV6_UNICAST_HOPS
};

/// Sends UDP datagrams from a namespace to a list of targets, one round per millisecond, until
/// destroyed (a probe that runs while the enforcer changes or restarts).
class UdpStream {
public:
    UdpStream(const std::string& ns, std::vector<std::pair<enforcer::IpAddress, std::uint16_t>> targets);
    ~UdpStream();
    UdpStream(const UdpStream&) = delete;
    UdpStream& operator=(const UdpStream&) = delete;
    std::size_t rounds() const { return m_rounds; }

private:
    std::atomic<bool> m_stop { false };
    std::atomic<std::size_t> m_rounds { 0 };
    std::thread m_thread;
};

/// A packet copied to an nflog group.
struct LoggedPacket {
    std::string prefix;
    enforcer::IpAddress source, destination;
};

/// Listens on an nflog group in a namespace (NETLINK_NETFILTER, the NFULNL protocol).
class NflogReader {
public:
    NflogReader(const std::string& ns, std::uint16_t group);
    ~NflogReader();
    NflogReader(const NflogReader&) = delete;
    NflogReader& operator=(const NflogReader&) = delete;
    /// The packets received since the last call (does not block).
    std::vector<LoggedPacket> drain();

private:
    int m_fd = -1;
};

class Lab {
public:
    Lab();
    ~Lab();
    Lab(const Lab&) = delete;
    Lab& operator=(const Lab&) = delete;

    const NftNetns& gateway() const { return *m_gw; }
    const Host& device(int i) const { return m_devices.at(static_cast<std::size_t>(i)); }
    const std::string& serverNs() const { return m_srv->name(); }
    /// The server's addresses: index 0 = 198.51.100.10 / 2001:db8:100::10, 1 = .20, 2 = .30.
    enforcer::IpAddress server(int i, bool v6 = false) const;
    enforcer::IpAddress routerLan(bool v6 = false) const;
    std::vector<enforcer::Prefix> lanPrefixes() const;

    /// A TCP connection attempt from namespace `ns`.
    static Outcome tcp(const std::string& ns, const enforcer::IpAddress& to, std::uint16_t port,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));
    /// A UDP datagram and its echo.
    static Outcome udp(const std::string& ns, const enforcer::IpAddress& to, std::uint16_t port,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(700), UdpOptions options = {});
    /// One echo request with `ping` (IPv6: with `flowLabel` when given).
    static bool ping(const std::string& ns, const enforcer::IpAddress& to, int flowLabel = -1);

private:
    std::unique_ptr<NftNetns> m_gw, m_srv;
    std::vector<std::unique_ptr<NftNetns>> m_devNs;
    std::vector<Host> m_devices;
};

} // namespace mudguard::test
