#include "ProfileBuilder.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

#include <arpa/inet.h>
#include <fmt/format.h>

#include "Codes.h"
#include "Ethertypes.h"
#include "MudRules.h"

namespace mudguard::mudparser {

using json::kNoNode;
using json::NodeId;

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

class Builder {
public:
    Builder(const json::Document& doc, Sink& sink)
        : m_doc(doc)
        , m_sink(sink)
    {
    }

    Profile build(std::vector<OpaqueExtension> opaque)
    {
        Profile p;
        NodeId mud = m_doc.member(m_doc.root(), kMudContainer);
        p.mudUrl = str(mud, "mud-url").value_or("");
        p.mudVersion = static_cast<std::uint8_t>(num(mud, "mud-version").value_or(1));
        p.lastUpdate = str(mud, "last-update").value_or("");
        p.cacheValidity = static_cast<std::uint8_t>(num(mud, "cache-validity").value_or(48));
        p.isSupported = m_doc[m_doc.memberLocal(mud, "is-supported")].type == json::Type::True;
        p.systeminfo = str(mud, "systeminfo");
        p.mfgName = str(mud, "mfg-name");
        p.modelName = str(mud, "model-name");
        p.firmwareRev = str(mud, "firmware-rev");
        p.softwareRev = str(mud, "software-rev");
        p.documentation = str(mud, "documentation");
        p.mudSignature = str(mud, "mud-signature");
        NodeId ext = m_doc.memberLocal(mud, "extensions");
        for (NodeId e = m_doc.isArray(ext) ? m_doc.firstChild(ext) : kNoNode; e != kNoNode; e = m_doc.nextSibling(e))
            if (auto s = m_doc.string(e))
                p.extensions.emplace_back(*s);
        p.fromDevicePolicy = policy(mud, "from-device-policy");
        p.toDevicePolicy = policy(mud, "to-device-policy");

        NodeId acls = m_doc.memberLocal(m_doc.member(m_doc.root(), kAclsContainer), "acl");
        if (m_doc.isArray(acls))
            p.acls.reserve(m_doc.childCount(acls));
        for (NodeId a = m_doc.isArray(acls) ? m_doc.firstChild(acls) : kNoNode; a != kNoNode; a = m_doc.nextSibling(a))
            p.acls.push_back(acl(a));

        NodeId tx = m_doc.member(mud, "ietf-mud-transparency:transparency");
        if (m_doc.isObject(tx))
            p.transparency = transparency(tx);
        p.opaqueExtensions = std::move(opaque);
        return p;
    }

private:
    std::optional<std::string> str(NodeId obj, std::string_view name) const
    {
        if (auto s = m_doc.string(m_doc.memberLocal(obj, name)))
            return std::string(*s);
        return std::nullopt;
    }

    std::optional<std::uint64_t> num(NodeId obj, std::string_view name) const
    {
        return m_doc.unsignedValue(m_doc.memberLocal(obj, name));
    }

    bool present(NodeId obj, std::string_view name) const { return m_doc.memberLocal(obj, name) != kNoNode; }

    std::vector<std::string> policy(NodeId mud, std::string_view direction) const
    {
        std::vector<std::string> names;
        NodeId list
            = m_doc.memberLocal(m_doc.memberLocal(m_doc.memberLocal(mud, direction), "access-lists"), "access-list");
        for (NodeId e = m_doc.isArray(list) ? m_doc.firstChild(list) : kNoNode; e != kNoNode; e = m_doc.nextSibling(e))
            if (auto n = str(e, "name"))
                names.push_back(*n);
        return names;
    }

    Acl acl(NodeId node)
    {
        Acl a;
        a.name = str(node, "name").value_or("");
        NodeId aces = m_doc.memberLocal(m_doc.memberLocal(node, "aces"), "ace");
        if (m_doc.isArray(aces))
            a.aces.reserve(m_doc.childCount(aces));
        for (NodeId e = m_doc.isArray(aces) ? m_doc.firstChild(aces) : kNoNode; e != kNoNode; e = m_doc.nextSibling(e))
            a.aces.push_back(ace(e));
        auto type = str(node, "type");
        std::string_view t = type ? json::localName(*type) : std::string_view();
        if (t == "ipv6-acl-type")
            a.type = AclType::Ipv6;
        else if (t == "eth-acl-type")
            a.type = AclType::Eth;
        else if (t == "mixed-eth-ipv4-acl-type")
            a.type = AclType::MixedEthIpv4;
        else if (t == "mixed-eth-ipv6-acl-type")
            a.type = AclType::MixedEthIpv6;
        else if (t == "mixed-eth-ipv4-ipv6-acl-type")
            a.type = AclType::MixedEthIpv4Ipv6;
        else if (t.empty()) // an unreferenced ACL may leave its type out: take it from the entries
            a.type = std::any_of(a.aces.begin(), a.aces.end(),
                         [](const Ace& e) { return e.matches.ip && e.matches.ip->version == 6; })
                ? AclType::Ipv6
                : AclType::Ipv4;
        else
            a.type = AclType::Ipv4;
        return a;
    }

    Ace ace(NodeId node)
    {
        Ace e;
        e.name = str(node, "name").value_or("");
        NodeId actions = m_doc.memberLocal(node, "actions");
        std::string forwarding = str(actions, "forwarding").value_or("drop");
        std::string_view fwd = json::localName(forwarding);
        e.action = fwd == "accept" ? Action::Accept : fwd == "reject" ? Action::Reject : Action::Drop;
        e.logSyslog = json::localName(str(actions, "logging").value_or("")) == "log-syslog";
        m_aceName = e.name;
        NodeId m = m_doc.memberLocal(node, "matches");
        if (m_doc.isObject(m))
            e.matches = matches(m);
        return e;
    }

    void unsupported(Matches& m, NodeId node)
    {
        m.unsupported.push_back(m_doc.pathOf(node));
        m_sink.at(node, Severity::Warning, codes::kMatchUnsupported,
            fmt::format("\"{}\" is a valid match that mudguard does not enforce; ACE \"{}\" will be refused when "
                        "the policy is applied",
                json::localName(m_doc[node].key), m_aceName));
    }

    /// Reports the members of `obj` that the model does not carry.
    void unsupportedMembers(Matches& m, NodeId obj, std::initializer_list<std::string_view> names)
    {
        for (NodeId c = m_doc.firstChild(obj); c != kNoNode; c = m_doc.nextSibling(c))
            if (std::find(names.begin(), names.end(), json::localName(m_doc[c].key)) != names.end())
                unsupported(m, c);
    }

    Matches matches(NodeId node)
    {
        Matches m;
        if (NodeId v4 = m_doc.memberLocal(node, "ipv4"); m_doc.isObject(v4))
            m.ip = ip(m, v4, 4);
        if (NodeId v6 = m_doc.memberLocal(node, "ipv6"); m_doc.isObject(v6))
            m.ip = ip(m, v6, 6);
        if (NodeId tcp = m_doc.memberLocal(node, "tcp"); m_doc.isObject(tcp)) {
            TcpMatch t;
            t.srcPort = port(m_doc.memberLocal(tcp, "source-port"));
            t.dstPort = port(m_doc.memberLocal(tcp, "destination-port"));
            if (auto flags = str(tcp, "flags"))
                t.flags = tcpFlags(*flags);
            if (auto dir = str(tcp, "direction-initiated"))
                t.directionInitiated = *dir == "to-device" ? Initiator::ToDevice : Initiator::FromDevice;
            unsupportedMembers(m, tcp,
                { "sequence-number", "acknowledgement-number", "data-offset", "reserved", "window-size",
                    "urgent-pointer", "options" });
            m.tcp = t;
        }
        if (NodeId udp = m_doc.memberLocal(node, "udp"); m_doc.isObject(udp)) {
            UdpMatch u;
            u.srcPort = port(m_doc.memberLocal(udp, "source-port"));
            u.dstPort = port(m_doc.memberLocal(udp, "destination-port"));
            unsupportedMembers(m, udp, { "length" });
            m.udp = u;
        }
        if (NodeId icmp = m_doc.memberLocal(node, "icmp"); m_doc.isObject(icmp)) {
            IcmpMatch i;
            if (auto v = num(icmp, "type"))
                i.type = static_cast<std::uint8_t>(*v);
            if (auto v = num(icmp, "code"))
                i.code = static_cast<std::uint8_t>(*v);
            unsupportedMembers(m, icmp, { "rest-of-header" });
            m.icmp = i;
        }
        if (NodeId eth = m_doc.memberLocal(node, "eth"); m_doc.isObject(eth))
            m.eth = ethernet(eth);
        if (NodeId mud = m_doc.member(node, "ietf-mud:mud"); m_doc.isObject(mud)) {
            MudMatch u;
            u.manufacturer = str(mud, "manufacturer");
            u.sameManufacturer = present(mud, "same-manufacturer");
            u.model = str(mud, "model");
            u.localNetworks = present(mud, "local-networks");
            u.controller = str(mud, "controller");
            u.myController = present(mud, "my-controller");
            m.mud = u;
        }
        unsupportedMembers(m, node, { "egress-interface", "ingress-interface" });
        return m;
    }

    IpMatch ip(Matches& m, NodeId node, unsigned version)
    {
        IpMatch r;
        r.version = version;
        if (auto v = num(node, "protocol"))
            r.protocol = static_cast<std::uint8_t>(*v);
        if (auto v = num(node, "dscp"))
            r.dscp = static_cast<std::uint8_t>(*v);
        if (auto v = num(node, "ttl"))
            r.ttl = static_cast<std::uint8_t>(*v);
        if (auto v = num(node, "flow-label"))
            r.flowLabel = static_cast<std::uint32_t>(*v);
        r.srcNetwork
            = network(m_doc.memberLocal(node, version == 4 ? "source-ipv4-network" : "source-ipv6-network"), version);
        r.dstNetwork = network(
            m_doc.memberLocal(node, version == 4 ? "destination-ipv4-network" : "destination-ipv6-network"), version);
        r.srcDnsName = str(node, "src-dnsname");
        r.dstDnsName = str(node, "dst-dnsname");
        if (version == 4)
            unsupportedMembers(m, node, { "ecn", "length", "ihl", "flags", "offset", "identification" });
        else
            unsupportedMembers(m, node, { "ecn", "length" });
        return r;
    }

    /// The prefix in canonical form (host bits cleared), warning when host bits were set.
    std::optional<Network> network(NodeId node, unsigned version)
    {
        auto text = m_doc.string(node);
        if (!text)
            return std::nullopt;
        auto slash = text->find('/');
        std::string addr(text->substr(0, slash));
        unsigned len = version == 4 ? 32 : 128;
        if (slash != std::string_view::npos) {
            std::string_view digits = text->substr(slash + 1);
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
            if (ec != std::errc() || end != digits.data() + digits.size() || len > (version == 4 ? 32u : 128u))
                return Network { std::string(*text) };
        }
        unsigned char bytes[16] = {};
        int family = version == 4 ? AF_INET : AF_INET6;
        if (inet_pton(family, addr.c_str(), bytes) != 1)
            return Network { std::string(*text) };
        std::size_t n = version == 4 ? 4 : 16;
        bool hostBits = false;
        for (std::size_t i = 0; i < n; ++i) {
            unsigned keep = len >= (i + 1) * 8 ? 8 : (len > i * 8 ? len - i * 8 : 0);
            auto mask = static_cast<unsigned char>(keep == 0 ? 0 : (0xFF << (8 - keep)) & 0xFF);
            if (bytes[i] & ~mask)
                hostBits = true;
            bytes[i] &= mask;
        }
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(family, bytes, buf, sizeof buf);
        std::string canonical = fmt::format("{}/{}", buf, len);
        if (hostBits)
            m_sink.at(node, Severity::Warning, codes::kNetworkHostBits,
                fmt::format("\"{}\" has host bits set; it is read as the network {}", *text, canonical));
        return Network { canonical };
    }

    std::optional<PortMatch> port(NodeId node) const
    {
        if (!m_doc.isObject(node))
            return std::nullopt;
        PortMatch p;
        if (auto lower = num(node, "lower-port")) {
            p.op = PortOp::Range;
            p.port = static_cast<std::uint16_t>(*lower);
            p.upper = static_cast<std::uint16_t>(num(node, "upper-port").value_or(*lower));
            return p;
        }
        auto port = num(node, "port");
        if (!port)
            return std::nullopt;
        p.port = static_cast<std::uint16_t>(*port);
        std::string op = str(node, "operator").value_or("eq");
        p.op = op == "lte" ? PortOp::Lte : op == "gte" ? PortOp::Gte : op == "neq" ? PortOp::Neq : PortOp::Eq;
        return p;
    }

    static std::uint8_t tcpFlags(std::string_view bits)
    {
        static constexpr std::array<std::string_view, 8> kNames
            = { "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr" };
        std::uint8_t v = 0;
        std::size_t i = 0;
        while (i < bits.size()) {
            while (i < bits.size() && bits[i] == ' ')
                ++i;
            std::size_t start = i;
            while (i < bits.size() && bits[i] != ' ')
                ++i;
            std::string_view word = bits.substr(start, i - start);
            for (std::size_t b = 0; b < kNames.size(); ++b)
                if (word == kNames[b])
                    v = static_cast<std::uint8_t>(v | (1u << b));
        }
        return v;
    }

    EthMatch ethernet(NodeId node) const
    {
        EthMatch e;
        auto mac = [&](std::string_view addr, std::string_view mask) -> std::optional<MacMatch> {
            auto a = str(node, addr);
            if (!a)
                return std::nullopt;
            MacMatch m { lower(*a), std::nullopt };
            if (auto k = str(node, mask))
                m.mask = lower(*k);
            return m;
        };
        e.src = mac("source-mac-address", "source-mac-address-mask");
        e.dst = mac("destination-mac-address", "destination-mac-address-mask");
        NodeId et = m_doc.memberLocal(node, "ethertype");
        if (auto v = m_doc.unsignedValue(et)) {
            e.ethertype = static_cast<std::uint16_t>(*v);
        } else if (auto name = m_doc.string(et)) {
            if (const Ethertype* known = findEthertype(json::localName(*name)))
                e.ethertype = known->value;
        }
        return e;
    }

    Transparency transparency(NodeId node) const
    {
        Transparency t;
        NodeId sboms = m_doc.memberLocal(node, "sboms");
        for (NodeId s = m_doc.isArray(sboms) ? m_doc.firstChild(sboms) : kNoNode; s != kNoNode;
             s = m_doc.nextSibling(s))
            t.sboms.push_back(Transparency::Sbom { str(s, "version-info"), str(s, "sbom-url").value_or("") });
        if (auto v = str(node, "sbom-local-well-known"))
            t.sbomLocalWellKnown = std::string(json::localName(*v));
        t.sbomContactUri = str(node, "sbom-contact-uri");
        t.sbomArchiveList = str(node, "sbom-archive-list");
        NodeId vulns = m_doc.memberLocal(node, "vuln-url");
        for (NodeId v = m_doc.isArray(vulns) ? m_doc.firstChild(vulns) : kNoNode; v != kNoNode;
             v = m_doc.nextSibling(v))
            if (auto s = m_doc.string(v))
                t.vulnUrls.emplace_back(*s);
        t.vulnContactUri = str(node, "vuln-contact-uri");
        return t;
    }

    const json::Document& m_doc;
    Sink& m_sink;
    std::string m_aceName;
};

} // namespace

Profile buildProfile(const json::Document& doc, Sink& sink, std::vector<OpaqueExtension> opaque)
{
    return Builder(doc, sink).build(std::move(opaque));
}

} // namespace mudguard::mudparser
