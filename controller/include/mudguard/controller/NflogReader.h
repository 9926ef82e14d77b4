#pragma once
// Packets logged by nftables rules (`log group N prefix "..."`), read from one nfnetlink_log
// group with libmnl. The daemon uses one group for rate-limited drop logs (violations) and one
// for copies of DNS answers sent to managed devices.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/controller/Discovery.h"

namespace mudguard::controller {

/// Longest prefix the kernel stores for a log rule (NF_LOG_PREFIXLEN, including the NUL).
inline constexpr std::size_t kMaxNflogPrefix = 128;

struct NflogPacket {
    std::uint16_t group = 0;
    std::uint8_t family = 0; ///< NFPROTO_* of the logging rule's table (inet rules report IPv4/IPv6)
    std::uint16_t hwProtocol = 0; ///< ethertype, host order (0x0800 IPv4, 0x86dd IPv6)
    std::uint8_t hook = 0; ///< netfilter hook number
    std::string prefix; ///< the rule's prefix, at most kMaxNflogPrefix - 1 bytes
    std::optional<MacAddress> hwaddr; ///< link-layer source address (input and forward paths)
    std::uint32_t inIfindex = 0, outIfindex = 0;
    std::uint32_t physInIfindex = 0, physOutIfindex = 0; ///< bridge ports, when bridged
    std::uint32_t mark = 0;
    /// Kernel timestamp when the packet had one, otherwise the time it was read.
    std::chrono::system_clock::time_point timestamp;
    bool kernelTimestamp = false;
    /// The packet from its network header on, cut at the snaplen.
    std::vector<std::uint8_t> payload;
};

struct NflogReaderOptions {
    std::uint16_t group = 0;
    /// Bytes of each packet copied to user space (NFULNL_COPY_PACKET range).
    std::uint32_t snaplen = 256;
    /// Deliver after this many packets or this timeout (NFULA_CFG_QTHRESH / NFULA_CFG_TIMEOUT).
    /// The defaults deliver at once, which DNS-answer learning needs.
    std::uint32_t queueThreshold = 1;
    std::chrono::milliseconds flushTimeout { 10 };
    /// Socket receive buffer; overruns are counted in stats().
    int receiveBuffer = 4 << 20;
    /// Packets returned per handleReadable() call at most; the rest wait for the next call.
    std::size_t maxPerCall = 1024;
};

struct NflogReaderStats {
    std::uint64_t packets = 0; ///< packets returned
    std::uint64_t malformed = 0; ///< messages or attributes that failed validation
    std::uint64_t overruns = 0; ///< receive buffer overruns (ENOBUFS): packets lost by the kernel
};

/// Binds one nflog group (NFULNL_CFG_CMD_PF_BIND for IPv4/IPv6/bridge, then
/// NFULNL_CFG_CMD_BIND, copy mode packet). Needs CAP_NET_ADMIN in the namespace; a group can be
/// bound by one socket at a time.
class NflogReader {
public:
    /// Throws DiscoveryError when the group cannot be bound (e.g. EBUSY: someone else has it).
    explicit NflogReader(NflogReaderOptions options);
    ~NflogReader();
    NflogReader(const NflogReader&) = delete;
    NflogReader& operator=(const NflogReader&) = delete;

    /// Non-blocking netlink socket; watch for EPOLLIN.
    int fd() const;
    /// Reads what is queued (at most maxPerCall packets). Never throws for kernel data.
    std::vector<NflogPacket> handleReadable();
    const NflogReaderStats& stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::controller
