#include "mudguard/mudparser/AddressGuard.h"

#include <array>

#include <fmt/format.h>
#include <ifaddrs.h>
#include <netinet/in.h>

namespace mudguard::mudparser {

namespace {

struct ClassRange {
    const char* prefix;
    AddressClass cls;
};

// Special-purpose ranges (RFC 6890). Private-use ranges yield to the router's own addresses and LAN
// networks, which describe such an address better.
constexpr std::array<ClassRange, 17> kRanges { {
    { "0.0.0.0/8", AddressClass::Unspecified }, { "127.0.0.0/8", AddressClass::Loopback },
    { "169.254.0.0/16", AddressClass::LinkLocal }, { "224.0.0.0/4", AddressClass::Multicast },
    { "240.0.0.0/4", AddressClass::Reserved }, { "10.0.0.0/8", AddressClass::Private },
    { "172.16.0.0/12", AddressClass::Private }, { "192.168.0.0/16", AddressClass::Private },
    { "100.64.0.0/10", AddressClass::Private }, { "::/128", AddressClass::Unspecified },
    { "::1/128", AddressClass::Loopback }, { "fe80::/10", AddressClass::LinkLocal },
    { "ff00::/8", AddressClass::Multicast }, { "fc00::/7", AddressClass::Private },
    { "fec0::/10", AddressClass::Private }, { "::/96", AddressClass::Reserved }, // deprecated IPv4-compatible addresses
    { "100::/64", AddressClass::Reserved }, // discard-only (RFC 6666)
} };

const std::vector<std::pair<IpPrefix, AddressClass>>& ranges()
{
    static const auto table = [] {
        std::vector<std::pair<IpPrefix, AddressClass>> t;
        for (const auto& r : kRanges)
            t.emplace_back(*IpPrefix::parse(r.prefix), r.cls);
        return t;
    }();
    return table;
}

bool refused(AddressClass c, const AddressPolicy& p)
{
    return c != AddressClass::Public && (c != AddressClass::Private || p.refusePrivate);
}

} // namespace

const char* toString(AddressClass c)
{
    switch (c) {
    case AddressClass::Public:
        return "public";
    case AddressClass::Unspecified:
        return "unspecified";
    case AddressClass::Loopback:
        return "loopback";
    case AddressClass::LinkLocal:
        return "link-local";
    case AddressClass::Multicast:
        return "multicast";
    case AddressClass::Reserved:
        return "reserved";
    case AddressClass::Private:
        return "private-use";
    case AddressClass::OwnAddress:
        return "router's own";
    case AddressClass::LanNetwork:
        return "LAN";
    }
    return "?";
}

LocalNetworks LocalNetworks::fromInterfaces()
{
    LocalNetworks out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return out;
    for (auto* i = list; i; i = i->ifa_next) {
        auto a = IpAddress::fromSockaddr(i->ifa_addr);
        if (!a)
            continue;
        out.ownAddresses.push_back(*a);
        if (auto mask = IpAddress::fromSockaddr(i->ifa_netmask)) {
            unsigned len = 0;
            for (auto b : mask->bytes())
                len += static_cast<unsigned>(__builtin_popcount(b));
            out.lanNetworks.emplace_back(*a, len);
        }
    }
    freeifaddrs(list);
    return out;
}

AddressGuard::AddressGuard(AddressPolicy policy, LocalNetworks local)
    : m_state(std::make_shared<const State>(State { std::move(policy), std::move(local) }))
{
}

std::shared_ptr<const AddressGuard::State> AddressGuard::state() const
{
    std::lock_guard lock(m_mutex);
    return m_state;
}

void AddressGuard::setLocalNetworks(LocalNetworks local)
{
    std::lock_guard lock(m_mutex);
    m_state = std::make_shared<const State>(State { m_state->policy, std::move(local) });
}

void AddressGuard::setPolicy(AddressPolicy policy)
{
    std::lock_guard lock(m_mutex);
    m_state = std::make_shared<const State>(State { std::move(policy), m_state->local });
}

namespace {

AddressClass classifyWith(const IpAddress& a, const LocalNetworks& local)
{
    // An IPv4-mapped or NAT64 address reaches its embedded IPv4 address.
    if (auto v4 = a.embeddedV4())
        return classifyWith(*v4, local);
    std::optional<AddressClass> privateUse;
    for (const auto& [prefix, cls] : ranges()) {
        if (!prefix.contains(a))
            continue;
        if (cls != AddressClass::Private)
            return cls;
        privateUse = cls;
        break;
    }
    // The router's own addresses and LAN networks name the problem better than "private-use".
    for (const auto& own : local.ownAddresses)
        if (own == a)
            return AddressClass::OwnAddress;
    for (const auto& lan : local.lanNetworks)
        if (lan.contains(a))
            return AddressClass::LanNetwork;
    if (privateUse)
        return *privateUse;
    return AddressClass::Public;
}

} // namespace

AddressClass AddressGuard::classify(const IpAddress& a) const { return classifyWith(a, state()->local); }

std::optional<std::string> AddressGuard::check(const IpAddress& a) const
{
    auto s = state();
    if (s->policy.allowAll)
        return std::nullopt;
    auto cls = classifyWith(a, s->local);
    if (!refused(cls, s->policy))
        return std::nullopt;
    auto candidate = a.embeddedV4().value_or(a);
    for (const auto& p : s->policy.allow)
        if (p.contains(candidate) || p.contains(a))
            return std::nullopt;
    if (cls == AddressClass::OwnAddress)
        return fmt::format("{} is one of the router's own addresses", a.str());
    if (cls == AddressClass::LanNetwork)
        return fmt::format("{} is inside one of the router's LAN networks", a.str());
    return fmt::format("{} is a {} address", a.str(), toString(cls));
}

} // namespace mudguard::mudparser
