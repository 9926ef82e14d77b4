#include "mudguard/controller/NflogReader.h"

// <arpa/inet.h> and <netinet/in.h> before the netfilter headers (struct in_addr otherwise clashes).
#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>

#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>

#include "discovery/Fd.h"
#include "discovery/Handles.h"

namespace mudguard::controller {

using discovery::MnlSocketPtr;
using discovery::systemError;

namespace {

// One netlink datagram holds many logged packets (up to the instance's buffer size).
constexpr std::size_t kReceiveBuffer = 256 * 1024;

} // namespace

struct NflogReader::Impl {
    NflogReaderOptions options;
    MnlSocketPtr nl;
    unsigned portid = 0;
    unsigned seq = 0;
    std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(kReceiveBuffer);
    std::vector<NflogPacket> out;
    NflogReaderStats stats;

    /// Sends one NFULNL_MSG_CONFIG message and waits for the kernel's acknowledgement.
    int configure(std::uint8_t family, std::uint16_t resId, const std::function<void(nlmsghdr*)>& addAttributes)
    {
        std::vector<std::uint8_t> msg(MNL_SOCKET_BUFFER_SIZE);
        auto* nlh = mnl_nlmsg_put_header(msg.data());
        nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = ++seq;
        auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
        nfg->nfgen_family = family;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = htons(resId);
        addAttributes(nlh);
        if (mnl_socket_sendto(nl.get(), nlh, nlh->nlmsg_len) < 0)
            return -errno;
        // Logged packets may already be queued before the acknowledgement: skip them.
        while (true) {
            ssize_t n = mnl_socket_recvfrom(nl.get(), buffer.data(), buffer.size());
            if (n < 0)
                return -errno;
            int r = mnl_cb_run(buffer.data(), static_cast<std::size_t>(n), seq, portid, nullptr, nullptr);
            if (r < 0)
                return -errno;
            if (r == MNL_CB_STOP)
                return 0;
        }
    }

    static void putCommand(nlmsghdr* nlh, std::uint8_t command)
    {
        nfulnl_msg_config_cmd cmd { command };
        mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof cmd, &cmd);
    }

    static int attributeCallback(const nlattr* attr, void* data) noexcept
    {
        auto** tb = static_cast<const nlattr**>(data);
        int type = mnl_attr_get_type(attr);
        // Unknown attributes (newer kernels) are skipped, known ones must have their exact sizes.
        if (mnl_attr_type_valid(attr, NFULA_MAX) < 0)
            return MNL_CB_OK;
        std::size_t len = mnl_attr_get_payload_len(attr);
        switch (type) {
        case NFULA_PACKET_HDR:
            if (len < sizeof(nfulnl_msg_packet_hdr))
                return MNL_CB_ERROR;
            break;
        case NFULA_TIMESTAMP:
            if (len < sizeof(nfulnl_msg_packet_timestamp))
                return MNL_CB_ERROR;
            break;
        case NFULA_HWADDR:
            if (len < sizeof(nfulnl_msg_packet_hw))
                return MNL_CB_ERROR;
            break;
        case NFULA_MARK:
        case NFULA_IFINDEX_INDEV:
        case NFULA_IFINDEX_OUTDEV:
        case NFULA_IFINDEX_PHYSINDEV:
        case NFULA_IFINDEX_PHYSOUTDEV:
            if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                return MNL_CB_ERROR;
            break;
        default:
            break;
        }
        tb[type] = attr;
        return MNL_CB_OK;
    }

    static int messageCallback(const nlmsghdr* nlh, void* data) noexcept
    {
        auto* self = static_cast<Impl*>(data);
        try {
            self->parsePacket(nlh);
        } catch (...) {
            ++self->stats.malformed; // e.g. allocation failure: drop this packet, keep the reader alive
        }
        return MNL_CB_OK;
    }

    void parsePacket(const nlmsghdr* nlh)
    {
        if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_ULOG || (nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET)
            return;
        if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg))) {
            ++stats.malformed;
            return;
        }
        const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
        const nlattr* tb[NFULA_MAX + 1] = {};
        if (mnl_attr_parse(nlh, sizeof(nfgenmsg), attributeCallback, tb) < 0) {
            ++stats.malformed;
            return;
        }
        NflogPacket p;
        p.group = ntohs(nfg->res_id);
        p.family = nfg->nfgen_family;
        if (tb[NFULA_PACKET_HDR]) {
            nfulnl_msg_packet_hdr h;
            std::memcpy(&h, mnl_attr_get_payload(tb[NFULA_PACKET_HDR]), sizeof h);
            p.hwProtocol = ntohs(h.hw_protocol);
            p.hook = h.hook;
        }
        if (tb[NFULA_PREFIX]) {
            const auto* s = static_cast<const char*>(mnl_attr_get_payload(tb[NFULA_PREFIX]));
            std::size_t len
                = ::strnlen(s, std::min<std::size_t>(mnl_attr_get_payload_len(tb[NFULA_PREFIX]), kMaxNflogPrefix - 1));
            p.prefix.assign(s, len);
        }
        if (tb[NFULA_HWADDR]) {
            nfulnl_msg_packet_hw hw;
            std::memcpy(&hw, mnl_attr_get_payload(tb[NFULA_HWADDR]), sizeof hw);
            if (ntohs(hw.hw_addrlen) == 6) {
                MacAddress mac;
                std::memcpy(mac.bytes.data(), hw.hw_addr, 6);
                p.hwaddr = mac;
            }
        }
        auto u32 = [&](int type) { return tb[type] ? ntohl(mnl_attr_get_u32(tb[type])) : 0u; };
        p.inIfindex = u32(NFULA_IFINDEX_INDEV);
        p.outIfindex = u32(NFULA_IFINDEX_OUTDEV);
        p.physInIfindex = u32(NFULA_IFINDEX_PHYSINDEV);
        p.physOutIfindex = u32(NFULA_IFINDEX_PHYSOUTDEV);
        p.mark = u32(NFULA_MARK);
        if (tb[NFULA_TIMESTAMP]) {
            nfulnl_msg_packet_timestamp ts;
            std::memcpy(&ts, mnl_attr_get_payload(tb[NFULA_TIMESTAMP]), sizeof ts);
            std::uint64_t sec = be64toh(ts.sec), usec = be64toh(ts.usec);
            if (sec < (std::uint64_t(1) << 40) && usec < 1000000) {
                p.timestamp = std::chrono::system_clock::time_point(
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::seconds(sec) + std::chrono::microseconds(usec)));
                p.kernelTimestamp = true;
            }
        }
        if (!p.kernelTimestamp)
            p.timestamp = std::chrono::system_clock::now();
        if (tb[NFULA_PAYLOAD]) {
            const auto* b = static_cast<const std::uint8_t*>(mnl_attr_get_payload(tb[NFULA_PAYLOAD]));
            std::size_t len = std::min<std::size_t>(mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]), options.snaplen);
            p.payload.assign(b, b + len);
        }
        ++stats.packets;
        out.push_back(std::move(p));
    }
};

NflogReader::NflogReader(NflogReaderOptions options)
    : m_impl(std::make_unique<Impl>())
{
    auto& d = *m_impl;
    d.options = options;
    if (d.options.snaplen == 0 || d.options.snaplen > 0xffff)
        throw DiscoveryError("nflog snaplen must be between 1 and 65535");
    d.nl.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
    if (!d.nl)
        throw DiscoveryError(systemError("netlink socket (NETLINK_NETFILTER)"));
    if (mnl_socket_bind(d.nl.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        throw DiscoveryError(systemError("netlink bind"));
    d.portid = mnl_socket_get_portid(d.nl.get());
    int fd = mnl_socket_get_fd(d.nl.get());
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN, which binding a log group needs anyway.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &d.options.receiveBuffer, sizeof d.options.receiveBuffer) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &d.options.receiveBuffer, sizeof d.options.receiveBuffer);

    // Protocol-family binding is a no-op on current kernels but required by old ones; its
    // result is ignored on purpose.
    for (std::uint8_t family : { std::uint8_t(AF_INET), std::uint8_t(AF_INET6), std::uint8_t(AF_BRIDGE) })
        d.configure(family, 0, [](nlmsghdr* nlh) { Impl::putCommand(nlh, NFULNL_CFG_CMD_PF_BIND); });

    if (int err
        = d.configure(AF_UNSPEC, d.options.group, [](nlmsghdr* nlh) { Impl::putCommand(nlh, NFULNL_CFG_CMD_BIND); });
        err < 0) {
        errno = -err;
        throw DiscoveryError(systemError("binding nflog group " + std::to_string(d.options.group)));
    }
    int err = d.configure(AF_UNSPEC, d.options.group, [&](nlmsghdr* nlh) {
        nfulnl_msg_config_mode mode {};
        mode.copy_range = htonl(d.options.snaplen);
        mode.copy_mode = NFULNL_COPY_PACKET;
        mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof mode, &mode);
        mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(std::max<std::uint32_t>(1, d.options.queueThreshold)));
        auto hundredths = static_cast<std::uint32_t>((d.options.flushTimeout.count() + 9) / 10);
        mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(hundredths));
    });
    if (err < 0) {
        errno = -err;
        throw DiscoveryError(systemError("configuring nflog group " + std::to_string(d.options.group)));
    }
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        throw DiscoveryError(systemError("fcntl(O_NONBLOCK)"));
}

NflogReader::~NflogReader()
{
    // Closing the socket unbinds the group in the kernel.
}

int NflogReader::fd() const { return mnl_socket_get_fd(m_impl->nl.get()); }

std::vector<NflogPacket> NflogReader::handleReadable()
{
    auto& d = *m_impl;
    while (d.out.size() < d.options.maxPerCall) {
        ssize_t n = mnl_socket_recvfrom(d.nl.get(), d.buffer.data(), d.buffer.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) {
                ++d.stats.overruns; // the kernel dropped packets; the socket keeps working
                continue;
            }
            break; // EAGAIN: drained
        }
        if (mnl_cb_run(d.buffer.data(), static_cast<std::size_t>(n), 0, 0, &Impl::messageCallback, &d) < 0)
            ++d.stats.malformed;
    }
    return std::exchange(d.out, {});
}

const NflogReaderStats& NflogReader::stats() const { return m_impl->stats; }

} // namespace mudguard::controller
