#include "text/ProfileText.h"

#include <algorithm>

#include <fmt/format.h>

namespace mudguard::controller::text {

using namespace mudguard::mudparser;

const char* actionName(Action a)
{
    switch (a) {
    case Action::Accept:
        return "accept";
    case Action::Drop:
        return "drop";
    case Action::Reject:
        return "reject";
    }
    return "?";
}

namespace {

enum class Direction { FromDevice, ToDevice };

const char* aclTypeName(AclType t)
{
    switch (t) {
    case AclType::Ipv4:
        return "ipv4";
    case AclType::Ipv6:
        return "ipv6";
    case AclType::Eth:
        return "eth";
    case AclType::MixedEthIpv4:
        return "eth+ipv4";
    case AclType::MixedEthIpv6:
        return "eth+ipv6";
    case AclType::MixedEthIpv4Ipv6:
        return "eth+ipv4+ipv6";
    }
    return "?";
}

std::string portText(const PortMatch& p)
{
    switch (p.op) {
    case PortOp::Eq:
        return fmt::format("{}", p.port);
    case PortOp::Lte:
        return fmt::format("<={}", p.port);
    case PortOp::Gte:
        return fmt::format(">={}", p.port);
    case PortOp::Neq:
        return fmt::format("!={}", p.port);
    case PortOp::Range:
        return fmt::format("{}-{}", p.port, p.upper);
    }
    return "?";
}

std::string protocolText(const Matches& m)
{
    if (m.tcp)
        return "tcp";
    if (m.udp)
        return "udp";
    if (m.icmp)
        return m.ip && m.ip->version == 6 ? "icmpv6" : "icmp";
    if (m.ip && m.ip->protocol) {
        switch (*m.ip->protocol) {
        case 1:
            return "icmp";
        case 6:
            return "tcp";
        case 17:
            return "udp";
        case 58:
            return "icmpv6";
        default:
            return fmt::format("ip protocol {}", *m.ip->protocol);
        }
    }
    if (m.ip)
        return m.ip->version == 6 ? "any ipv6" : "any ipv4";
    if (m.eth && m.eth->ethertype)
        return fmt::format("ethertype 0x{:04x}", *m.eth->ethertype);
    if (m.eth)
        return "any ethernet";
    return "any";
}

/// The other end of the traffic, as seen from the device.
std::vector<std::string> peers(const Matches& m, Direction dir)
{
    std::vector<std::string> out;
    bool from = dir == Direction::FromDevice;
    if (m.ip) {
        const auto& name = from ? m.ip->dstDnsName : m.ip->srcDnsName;
        const auto& net = from ? m.ip->dstNetwork : m.ip->srcNetwork;
        if (name)
            out.push_back(*name);
        if (net)
            out.push_back(net->prefix);
    }
    if (m.eth) {
        const auto& mac = from ? m.eth->dst : m.eth->src;
        if (mac)
            out.push_back(mac->mask ? fmt::format("MAC {}/{}", mac->address, *mac->mask) : "MAC " + mac->address);
    }
    if (m.mud) {
        if (m.mud->manufacturer)
            out.push_back(fmt::format("devices of manufacturer {}", *m.mud->manufacturer));
        if (m.mud->sameManufacturer)
            out.push_back("devices of the same manufacturer");
        if (m.mud->model)
            out.push_back(fmt::format("devices of model {}", *m.mud->model));
        if (m.mud->localNetworks)
            out.push_back("local networks");
        if (m.mud->controller)
            out.push_back(fmt::format("controller {}", *m.mud->controller));
        if (m.mud->myController)
            out.push_back("my controller");
    }
    return out;
}

std::string join(const std::vector<std::string>& v, std::string_view sep)
{
    std::string out;
    for (const auto& s : v) {
        if (!out.empty())
            out += sep;
        out += s;
    }
    return out;
}

void addUnique(std::vector<std::string>& v, const std::string& s)
{
    if (std::find(v.begin(), v.end(), s) == v.end())
        v.push_back(s);
}

struct Summary {
    std::vector<std::string> peers, protocols, ports, initiation;
};

std::string aceText(const Ace& ace, Direction dir, Summary& sum)
{
    const Matches& m = ace.matches;
    bool from = dir == Direction::FromDevice;
    std::string proto = protocolText(m);
    addUnique(sum.protocols, proto);
    std::vector<std::string> who = peers(m, dir);
    for (const auto& p : who)
        addUnique(sum.peers, p);
    if (who.empty())
        addUnique(sum.peers, "any host");
    std::vector<std::string> parts;
    parts.push_back(fmt::format("{} {}", actionName(ace.action), proto));
    parts.push_back(fmt::format("{} {}", from ? "to" : "from", who.empty() ? "any host" : join(who, " or ")));
    auto l4ports = [&](const std::optional<PortMatch>& src, const std::optional<PortMatch>& dst) {
        const auto& remote = from ? dst : src;
        const auto& local = from ? src : dst;
        if (remote) {
            parts.push_back(fmt::format("port {}", portText(*remote)));
            addUnique(sum.ports, fmt::format("{} {}", proto, portText(*remote)));
        }
        if (local) {
            parts.push_back(fmt::format("device port {}", portText(*local)));
            addUnique(sum.ports, fmt::format("{} {} on the device", proto, portText(*local)));
        }
    };
    if (m.tcp)
        l4ports(m.tcp->srcPort, m.tcp->dstPort);
    if (m.udp)
        l4ports(m.udp->srcPort, m.udp->dstPort);
    if (m.icmp) {
        if (m.icmp->type)
            parts.push_back(fmt::format("type {}", *m.icmp->type));
        if (m.icmp->code)
            parts.push_back(fmt::format("code {}", *m.icmp->code));
    }
    if (m.ip) {
        if (m.ip->dscp)
            parts.push_back(fmt::format("dscp {}", *m.ip->dscp));
        if (m.ip->ttl)
            parts.push_back(fmt::format("{} {}", m.ip->version == 6 ? "hop limit" : "ttl", *m.ip->ttl));
        if (m.ip->flowLabel)
            parts.push_back(fmt::format("flow label {}", *m.ip->flowLabel));
    }
    if (m.eth && m.eth->ethertype && (m.ip || m.tcp || m.udp))
        parts.push_back(fmt::format("ethertype 0x{:04x}", *m.eth->ethertype));
    if (m.tcp && m.tcp->flags)
        parts.push_back(fmt::format("tcp flags 0x{:02x}", *m.tcp->flags));
    if (m.tcp && m.tcp->directionInitiated) {
        bool byDevice = *m.tcp->directionInitiated == Initiator::FromDevice;
        std::string who1 = byDevice ? "the device opens the connection" : "the peer opens the connection";
        parts.push_back(who1);
        addUnique(sum.initiation,
            fmt::format(
                "{} ({})", byDevice ? "by the device" : "by the peer", who.empty() ? "any host" : join(who, " or ")));
    }
    if (!m.unsupported.empty())
        parts.push_back(fmt::format("NOT ENFORCEABLE: {}", join(m.unsupported, ", ")));
    return join(parts, ", ");
}

ProfileText::Direction describeDirection(const Profile& p, Direction dir)
{
    ProfileText::Direction out;
    out.title = dir == Direction::FromDevice ? "From the device" : "To the device";
    const auto& names = dir == Direction::FromDevice ? p.fromDevicePolicy : p.toDevicePolicy;
    Summary sum;
    for (const auto& name : names) {
        const Acl* acl = p.findAcl(name);
        if (!acl)
            continue;
        ProfileText::Acl a;
        a.name = acl->name;
        a.type = aclTypeName(acl->type);
        for (const auto& ace : acl->aces)
            a.aces.emplace_back(ace.name, aceText(ace, dir, sum));
        out.acls.push_back(std::move(a));
    }
    out.peers = std::move(sum.peers);
    out.protocols = std::move(sum.protocols);
    out.ports = std::move(sum.ports);
    out.initiated = std::move(sum.initiation);
    return out;
}

} // namespace

std::string describeAce(const mudparser::Ace& ace, bool fromDevice)
{
    Summary unused;
    return aceText(ace, fromDevice ? Direction::FromDevice : Direction::ToDevice, unused);
}

ProfileText describeProfile(const Profile& p)
{
    ProfileText t;
    auto fact = [&](std::string label, std::string value) { t.facts.emplace_back(std::move(label), std::move(value)); };
    auto optional = [&](const char* label, const std::optional<std::string>& value) {
        if (value)
            fact(label, *value);
    };
    fact("MUD URL", p.mudUrl);
    optional("Device", p.systeminfo);
    optional("Maker", p.mfgName);
    optional("Model", p.modelName);
    optional("Firmware", p.firmwareRev);
    optional("Software", p.softwareRev);
    optional("Documentation", p.documentation);
    optional("Signature", p.mudSignature);
    fact("Last update", fmt::format("{} (refresh after {} hours)", p.lastUpdate, p.cacheValidity));
    fact("Supported", p.isSupported ? "yes" : "no, the maker no longer supports this device");
    if (!p.extensions.empty())
        fact("Extensions", join(p.extensions, ", "));
    if (p.transparency) {
        const auto& tr = *p.transparency;
        for (const auto& s : tr.sboms)
            fact("SBOM", s.versionInfo ? fmt::format("{} (version {})", s.url, *s.versionInfo) : s.url);
        if (tr.sbomLocalWellKnown)
            fact("SBOM", fmt::format("on the device, over {}", *tr.sbomLocalWellKnown));
        optional("SBOM contact", tr.sbomContactUri);
        optional("SBOM archive", tr.sbomArchiveList);
        for (const auto& v : tr.vulnUrls)
            fact("Vulnerabilities", v);
        optional("Vuln. contact", tr.vulnContactUri);
    }
    for (const auto& o : p.opaqueExtensions)
        fact("Not enforced", fmt::format("{} = {}", o.path, o.json));
    t.fromDevice = describeDirection(p, Direction::FromDevice);
    t.toDevice = describeDirection(p, Direction::ToDevice);
    return t;
}

std::vector<std::string> lines(const ProfileText& t)
{
    std::vector<std::string> out;
    for (const auto& [label, value] : t.facts)
        out.push_back(fmt::format("{:<15} {}", label, value));
    for (const auto* d : { &t.fromDevice, &t.toDevice }) {
        out.emplace_back();
        if (d->acls.empty()) {
            out.push_back(d->title + ": no policy");
            continue;
        }
        out.push_back(d->title);
        for (const auto& acl : d->acls) {
            out.push_back(fmt::format("  ACL {} ({}):", acl.name, acl.type));
            for (const auto& [name, words] : acl.aces)
                out.push_back(fmt::format("    {:<16} {}", name, words));
        }
        out.push_back(fmt::format("  Peers:      {}", join(d->peers, "; ")));
        out.push_back(fmt::format("  Protocols:  {}", join(d->protocols, ", ")));
        out.push_back(fmt::format("  Ports:      {}", d->ports.empty() ? "any" : join(d->ports, ", ")));
        if (!d->initiated.empty())
            out.push_back(fmt::format("  Initiated:  {}", join(d->initiated, "; ")));
    }
    return out;
}

} // namespace mudguard::controller::text
