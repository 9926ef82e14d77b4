#include "daemon/Violations.h"

#include <algorithm>

#include <arpa/inet.h>
#include <fmt/format.h>

namespace mudguard::controller {

namespace {

struct Flow {
    std::string src, dst, protocol;
    std::optional<std::uint16_t> sport, dport;
};

/// Reads the network and transport headers of a logged packet (bounded by its length).
std::optional<Flow> readFlow(const std::vector<std::uint8_t>& p)
{
    if (p.empty())
        return std::nullopt;
    Flow f;
    std::uint8_t proto = 0;
    std::size_t l4 = 0;
    char buf[INET6_ADDRSTRLEN];
    unsigned version = p[0] >> 4;
    if (version == 4 && p.size() >= 20) {
        std::size_t ihl = (p[0] & 0x0f) * 4u;
        if (ihl < 20 || p.size() < ihl)
            return std::nullopt;
        proto = p[9];
        f.src = inet_ntop(AF_INET, &p[12], buf, sizeof buf);
        f.dst = inet_ntop(AF_INET, &p[16], buf, sizeof buf);
        // A later fragment has no transport header.
        bool laterFragment = ((p[6] & 0x1f) | p[7]) != 0;
        l4 = laterFragment ? 0 : ihl;
    } else if (version == 6 && p.size() >= 40) {
        proto = p[6];
        f.src = inet_ntop(AF_INET6, &p[8], buf, sizeof buf);
        f.dst = inet_ntop(AF_INET6, &p[24], buf, sizeof buf);
        l4 = 40; // extension headers are not followed: the protocol then names the first one
    } else {
        return std::nullopt;
    }
    switch (proto) {
    case 6:
        f.protocol = "tcp";
        break;
    case 17:
        f.protocol = "udp";
        break;
    case 1:
        f.protocol = "icmp";
        break;
    case 58:
        f.protocol = "icmpv6";
        break;
    default:
        f.protocol = fmt::format("ip protocol {}", proto);
    }
    if ((proto == 6 || proto == 17) && l4 && p.size() >= l4 + 4) {
        f.sport = static_cast<std::uint16_t>(p[l4] << 8 | p[l4 + 1]);
        f.dport = static_cast<std::uint16_t>(p[l4 + 2] << 8 | p[l4 + 3]);
    }
    return f;
}

} // namespace

void Violations::record(
    const NflogPacket& packet, bool fromDevice, const std::function<std::string(const std::string&)>& ownerOf)
{
    auto flow = readFlow(packet.payload);
    if (!flow)
        return;
    std::string mac;
    if (fromDevice && packet.hwaddr)
        mac = packet.hwaddr->toString();
    else if (fromDevice)
        mac = ownerOf(flow->src);
    else
        mac = ownerOf(flow->dst);
    if (mac.empty())
        return;
    Entry e;
    e.last = packet.timestamp;
    e.direction = fromDevice ? "from-device" : "to-device";
    e.peer = fromDevice ? flow->dst : flow->src;
    e.protocol = flow->protocol;
    e.port = fromDevice ? flow->dport : flow->sport;

    std::lock_guard lock(m_mutex);
    ++m_total;
    Device& d = m_devices[mac];
    d.packets++;
    d.lastDirection = e.direction;
    d.sinceSummary[fmt::format("{}{}/{}", e.peer, e.port ? fmt::format(":{}", *e.port) : "", e.protocol)]++;
    auto same = std::find_if(d.recent.begin(), d.recent.end(), [&](const Entry& o) {
        return o.direction == e.direction && o.peer == e.peer && o.protocol == e.protocol && o.port == e.port;
    });
    if (same != d.recent.end()) {
        same->count++;
        same->last = e.last;
        return;
    }
    e.count = 1;
    if (d.recent.size() >= kRecentPerDevice) {
        auto oldest = std::min_element(
            d.recent.begin(), d.recent.end(), [](const Entry& a, const Entry& b) { return a.last < b.last; });
        *oldest = std::move(e);
    } else {
        d.recent.push_back(std::move(e));
    }
}

std::vector<Violations::Summary> Violations::takeSummaries()
{
    std::lock_guard lock(m_mutex);
    std::vector<Summary> out;
    for (auto& [mac, d] : m_devices) {
        if (d.packets == 0)
            continue;
        std::vector<std::pair<std::string, std::uint64_t>> peers(d.sinceSummary.begin(), d.sinceSummary.end());
        std::sort(peers.begin(), peers.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
        std::string text;
        for (std::size_t i = 0; i < peers.size() && i < 5; ++i)
            text += fmt::format("{}{} x{}", i ? ", " : "", peers[i].first, peers[i].second);
        if (peers.size() > 5)
            text += fmt::format(", and {} more", peers.size() - 5);
        out.push_back({ mac, d.lastDirection, std::move(text), d.packets });
        d.packets = 0;
        d.sinceSummary.clear();
    }
    return out;
}

std::vector<Violations::Entry> Violations::recent(const std::string& mac) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_devices.find(mac);
    if (it == m_devices.end())
        return {};
    auto out = it->second.recent;
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.last > b.last; });
    return out;
}

void Violations::forget(const std::string& mac)
{
    std::lock_guard lock(m_mutex);
    m_devices.erase(mac);
}

std::uint64_t Violations::total() const
{
    std::lock_guard lock(m_mutex);
    return m_total;
}

} // namespace mudguard::controller
