#include "Translate.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Layout.h"

namespace mudguard::controller {

using enforcer::CompileError;
using enforcer::Family;
using enforcer::PortSpec;
using enforcer::SetRef;

namespace {

enum class Side { FromDevice, ToDevice };

PortSpec portSpec(const mudparser::PortMatch& m, const std::string& ace)
{
    switch (m.op) {
    case mudparser::PortOp::Eq:
        return PortSpec::eq(m.port);
    case mudparser::PortOp::Neq:
        return PortSpec::neq(m.port);
    // ietf-packet-fields' operators are lte and gte (RFC 8519 section 4.2): inclusive bounds.
    case mudparser::PortOp::Lte:
        return PortSpec::lte(m.port);
    case mudparser::PortOp::Gte:
        return PortSpec::gte(m.port);
    case mudparser::PortOp::Range:
        if (m.upper < m.port)
            throw CompileError(ace, fmt::format("port range {}-{} is empty", m.port, m.upper));
        return PortSpec::range(m.port, m.upper);
    }
    throw CompileError(ace, "unknown port operator");
}

enforcer::MacSpec macSpec(const mudparser::MacMatch& m, const std::string& ace)
{
    enforcer::MacSpec spec;
    auto addr = enforcer::MacAddress::parse(m.address);
    if (!addr)
        throw CompileError(ace, fmt::format("'{}' is not a MAC address", m.address));
    spec.address = *addr;
    if (m.mask) {
        auto mask = enforcer::MacAddress::parse(*m.mask);
        if (!mask)
            throw CompileError(ace, fmt::format("'{}' is not a MAC mask", *m.mask));
        spec.mask = *mask;
    }
    return spec;
}

enforcer::Prefix prefix(const mudparser::Network& n, unsigned version, const std::string& ace)
{
    auto p = enforcer::Prefix::parse(n.prefix);
    if (!p)
        throw CompileError(ace, fmt::format("'{}' is not a network prefix", n.prefix));
    if ((p->family() == Family::Ipv6) != (version == 6))
        throw CompileError(ace, fmt::format("'{}' is not an ipv{} network", n.prefix, version));
    return *p;
}

void setPeer(std::optional<SetRef>& slot, SetRef ref, const std::string& ace)
{
    if (slot && *slot != ref)
        throw CompileError(ace,
            fmt::format("an ACE that names both {} and {} for the same peer cannot be enforced",
                enforcer::toString(slot->kind), enforcer::toString(ref.kind)));
    slot = std::move(ref);
}

void setProtocol(enforcer::Rule& r, std::uint8_t proto, const std::string& ace)
{
    if (r.protocol && *r.protocol != proto)
        throw CompileError(ace,
            fmt::format("protocol {} contradicts the ACE's {} matches", *r.protocol,
                proto == 6        ? "tcp"
                    : proto == 17 ? "udp"
                                  : "icmp"));
    r.protocol = proto;
}

enforcer::Rule translateAce(
    const mudparser::Profile& profile, const mudparser::Acl& acl, const mudparser::Ace& ace, Side side)
{
    enforcer::Rule r;
    r.name = acl.name + "/" + ace.name;
    const auto& m = ace.matches;
    const std::string& n = r.name;
    if (!m.unsupported.empty())
        throw CompileError(n, fmt::format("unsupported match {}", fmt::join(m.unsupported, ", ")));

    switch (acl.type) {
    case mudparser::AclType::Ipv4:
        r.family = Family::Ipv4;
        break;
    case mudparser::AclType::Ipv6:
        r.family = Family::Ipv6;
        break;
    default:
        r.family = Family::Any;
        break;
    }

    // The remote peer: destination in a from-device ACL, source in a to-device ACL; the MUD
    // classes name the peer (RFC 8520 section 8).
    auto& peer = side == Side::FromDevice ? r.dstSet : r.srcSet;

    if (m.ip) {
        const auto& ip = *m.ip;
        Family f = ip.version == 6 ? Family::Ipv6 : Family::Ipv4;
        if (r.family != Family::Any && r.family != f)
            throw CompileError(n, fmt::format("an ipv{} match in an ACL of another address family", ip.version));
        r.family = f;
        r.protocol = ip.protocol;
        r.dscp = ip.dscp;
        r.ttl = ip.ttl;
        r.flowLabel = ip.flowLabel;
        if (ip.srcNetwork)
            r.srcNet = prefix(*ip.srcNetwork, ip.version, n);
        if (ip.dstNetwork)
            r.dstNet = prefix(*ip.dstNetwork, ip.version, n);
        if (ip.srcDnsName)
            setPeer(r.srcSet, SetRef { SetRef::Kind::DnsName, canonicalDnsName(*ip.srcDnsName) }, n);
        if (ip.dstDnsName)
            setPeer(r.dstSet, SetRef { SetRef::Kind::DnsName, canonicalDnsName(*ip.dstDnsName) }, n);
    }
    if (m.tcp) {
        setProtocol(r, 6, n);
        if (m.tcp->srcPort)
            r.srcPort = portSpec(*m.tcp->srcPort, n);
        if (m.tcp->dstPort)
            r.dstPort = portSpec(*m.tcp->dstPort, n);
        r.tcpFlags = m.tcp->flags;
        if (m.tcp->directionInitiated)
            r.initiatedBy = *m.tcp->directionInitiated == mudparser::Initiator::FromDevice
                ? enforcer::Initiator::Device
                : enforcer::Initiator::Remote;
    }
    if (m.udp) {
        setProtocol(r, 17, n);
        if (m.udp->srcPort)
            r.srcPort = portSpec(*m.udp->srcPort, n);
        if (m.udp->dstPort)
            r.dstPort = portSpec(*m.udp->dstPort, n);
    }
    if (m.icmp) {
        if (r.family == Family::Any)
            throw CompileError(n, "an icmp match needs an ipv4 or ipv6 ACL");
        setProtocol(r, r.family == Family::Ipv6 ? 58 : 1, n);
        r.icmpType = m.icmp->type;
        r.icmpCode = m.icmp->code;
    }
    if (m.eth) {
        if (m.eth->src)
            r.srcMac = macSpec(*m.eth->src, n);
        if (m.eth->dst)
            r.dstMac = macSpec(*m.eth->dst, n);
        r.ethertype = m.eth->ethertype;
    }
    if (m.mud) {
        const auto& mud = *m.mud;
        if (mud.manufacturer)
            setPeer(peer, SetRef { SetRef::Kind::Manufacturer, canonicalDnsName(*mud.manufacturer) }, n);
        if (mud.sameManufacturer) {
            std::string own = urlAuthority(profile.mudUrl);
            if (own.empty())
                throw CompileError(n, "same-manufacturer needs the MUD URL's authority");
            setPeer(peer, SetRef { SetRef::Kind::Manufacturer, own }, n);
        }
        if (mud.model)
            setPeer(peer, SetRef { SetRef::Kind::Model, *mud.model }, n);
        if (mud.localNetworks)
            setPeer(peer, SetRef { SetRef::Kind::LocalNetworks, {} }, n);
        if (mud.controller)
            setPeer(peer, SetRef { SetRef::Kind::Controller, *mud.controller }, n);
        if (mud.myController)
            setPeer(peer, SetRef { SetRef::Kind::MyController, profile.mudUrl }, n);
    }
    // A peer class on the device's own side would describe the device itself, which the
    // dispatch already fixes; refuse rather than silently ignore.
    const auto& ownSide = side == Side::FromDevice ? r.srcSet : r.dstSet;
    if (ownSide)
        throw CompileError(n,
            fmt::format("a {} match on the device's own side ({}) cannot be enforced",
                enforcer::toString(ownSide->kind),
                side == Side::FromDevice ? "source of a from-device ACE" : "destination of a to-device ACE"));

    r.log = ace.logSyslog;
    switch (ace.action) {
    case mudparser::Action::Accept:
        r.verdict = enforcer::Verdict::Accept;
        break;
    case mudparser::Action::Drop:
        r.verdict = enforcer::Verdict::Drop;
        break;
    case mudparser::Action::Reject:
        r.verdict = enforcer::Verdict::Reject;
        break;
    }
    return r;
}

std::vector<enforcer::Rule> translateList(
    const mudparser::Profile& profile, const std::vector<std::string>& aclNames, Side side)
{
    std::vector<enforcer::Rule> out;
    for (const auto& name : aclNames) {
        const mudparser::Acl* acl = profile.findAcl(name);
        if (!acl)
            throw CompileError(name, "the policy names an ACL the file does not define");
        for (const auto& ace : acl->aces)
            out.push_back(translateAce(profile, *acl, ace, side));
    }
    return out;
}

} // namespace

enforcer::Policy translate(const mudparser::Profile& profile, const std::string& policyId)
{
    enforcer::Policy p;
    p.id = policyId;
    p.source = profile.mudUrl;
    p.fromDevice = translateList(profile, profile.fromDevicePolicy, Side::FromDevice);
    p.toDevice = translateList(profile, profile.toDevicePolicy, Side::ToDevice);
    enforcer::checkPolicy(p);
    return p;
}

std::string policyIdFor(std::string_view mudUrl)
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : mudUrl) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return fmt::format("{:016x}", h);
}

std::string urlAuthority(std::string_view url)
{
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos)
        return {};
    auto rest = url.substr(scheme + 3);
    auto authority = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
        authority = authority.substr(at + 1);
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        authority = authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1);
    } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
        authority = authority.substr(0, colon);
    }
    return canonicalDnsName(authority);
}

std::string canonicalDnsName(std::string_view name)
{
    std::string out(name);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    while (!out.empty() && out.back() == '.')
        out.pop_back();
    return out;
}

} // namespace mudguard::controller
