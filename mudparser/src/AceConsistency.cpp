#include "AceConsistency.h"

#include <optional>
#include <string>

#include <fmt/format.h>

#include "Codes.h"
#include "Ethertypes.h"
#include "MudRules.h"

namespace mudguard::mudparser {

using json::kNoNode;
using json::NodeId;

namespace {

std::string describeEthertype(std::uint16_t value)
{
    if (const Ethertype* e = findEthertype(value))
        return fmt::format("0x{:04x} ({})", value, e->name);
    return fmt::format("0x{:04x}", value);
}

std::string describeProtocol(unsigned protocol)
{
    switch (protocol) {
    case 1:
        return "1 (icmp)";
    case 6:
        return "6 (tcp)";
    case 17:
        return "17 (udp)";
    case 58:
        return "58 (ipv6-icmp)";
    }
    return std::to_string(protocol);
}

/// The IP version an ACL's declared type limits its entries to: 4 or 6, or 0 when the type
/// admits any frame (eth and mixed types) or is not declared.
unsigned typeVersion(const json::Document& doc, NodeId acl, std::string& typeName)
{
    auto type = doc.string(doc.memberLocal(acl, "type"));
    if (!type)
        return 0;
    typeName = std::string(json::localName(*type));
    return typeName == "ipv4-acl-type" ? 4 : typeName == "ipv6-acl-type" ? 6 : 0;
}

class AceChecker {
public:
    AceChecker(const json::Document& doc, Sink& sink, NodeId aclNode, const Acl& acl)
        : m_doc(doc)
        , m_sink(sink)
        , m_acl(acl)
    {
        m_aclVersion = typeVersion(doc, aclNode, m_typeName);
    }

    /// Reports the first contradiction of one entry (later ones would repeat it).
    void check(NodeId aceNode, const Ace& ace)
    {
        const Matches& m = ace.matches;
        NodeId matches = m_doc.memberLocal(aceNode, "matches");
        NodeId ipNode = m.ip ? m_doc.memberLocal(matches, m.ip->version == 4 ? "ipv4" : "ipv6") : kNoNode;

        // The ACL's type against the entry's IP match.
        if (m.ip && m_aclVersion && m.ip->version != m_aclVersion) {
            m_sink.at(ipNode, Severity::Error, codes::kAclTypeConflict,
                fmt::format("entry \"{}\" matches IPv{} packets, but ACL \"{}\" has type {}, which holds IPv{} entries "
                            "only; the entry can never match",
                    ace.name, m.ip->version, m_acl.name, m_typeName, m_aclVersion));
            return;
        }
        // The IP version the entry is about, and what says so.
        unsigned version = m.ip ? m.ip->version : m_aclVersion;
        std::string versionSource = m.ip ? fmt::format("its ipv{} match", m.ip->version)
                                         : fmt::format("the type of ACL \"{}\", {}", m_acl.name, m_typeName);
        // What makes the entry match IP packets only.
        std::string ipSource = m.ip ? versionSource
            : m.tcp                 ? "its tcp match"
            : m.udp                 ? "its udp match"
            : m.icmp                ? "its icmp match"
            : m_aclVersion          ? versionSource
                                    : "";

        if (m.eth && m.eth->ethertype) {
            NodeId et = m_doc.memberLocal(m_doc.memberLocal(matches, "eth"), "ethertype");
            const Ethertype* known = findEthertype(*m.eth->ethertype);
            Payload payload = known ? known->payload : Payload::Encapsulation; // unnamed numbers are not judged
            if (payload == Payload::Ipv4 || payload == Payload::Ipv6) {
                unsigned etVersion = payload == Payload::Ipv4 ? 4 : 6;
                if (version && version != etVersion) {
                    m_sink.at(et, Severity::Error, codes::kEthertypeConflict,
                        fmt::format("ethertype {} says the frame carries IPv{}, but entry \"{}\" matches IPv{} ({}); "
                                    "the entry can never match",
                            describeEthertype(*m.eth->ethertype), etVersion, ace.name, version, versionSource));
                    return;
                }
            } else if (payload == Payload::NotIp && !ipSource.empty()) {
                m_sink.at(et, Severity::Error, codes::kEthertypeConflict,
                    fmt::format("ethertype {} says the frame carries no IP packet, but entry \"{}\" matches IP ({}); "
                                "the entry can never match",
                        describeEthertype(*m.eth->ethertype), ace.name, ipSource));
                return;
            }
        }

        if (m.ip && m.ip->protocol) {
            NodeId protocolNode = m_doc.memberLocal(ipNode, "protocol");
            unsigned protocol = *m.ip->protocol;
            if ((protocol == 1 && version == 6) || (protocol == 58 && version == 4)) {
                m_sink.at(protocolNode, Severity::Error, codes::kProtocolConflict,
                    fmt::format("protocol {} is ICMP for IPv{}, but entry \"{}\" matches IPv{} (ICMP for IPv{} is "
                                "protocol {}); the entry can never match",
                        describeProtocol(protocol), protocol == 1 ? 4 : 6, ace.name, version, version,
                        version == 4 ? 1 : 58));
                return;
            }
            std::optional<unsigned> needed;
            const char* transport = "";
            if (m.tcp) {
                needed = 6;
                transport = "tcp";
            } else if (m.udp) {
                needed = 17;
                transport = "udp";
            } else if (m.icmp) {
                needed = version == 6 ? 58 : 1;
                transport = "icmp";
            }
            if (needed && protocol != *needed) {
                m_sink.at(protocolNode, Severity::Error, codes::kProtocolConflict,
                    fmt::format("protocol {} contradicts the {} match of entry \"{}\", which needs protocol {}; the "
                                "entry can never match",
                        describeProtocol(protocol), transport, ace.name, describeProtocol(*needed)));
                return;
            }
        }
    }

private:
    const json::Document& m_doc;
    Sink& m_sink;
    const Acl& m_acl;
    unsigned m_aclVersion = 0;
    std::string m_typeName;
};

} // namespace

void checkAceConsistency(const json::Document& doc, const Profile& profile, Sink& sink)
{
    // The profile holds one Acl per entry of the document's "acl" array and one Ace per entry
    // of each "ace" array, in document order.
    NodeId acls = doc.memberLocal(doc.member(doc.root(), kAclsContainer), "acl");
    std::size_t a = 0;
    for (NodeId aclNode = doc.isArray(acls) ? doc.firstChild(acls) : kNoNode;
         aclNode != kNoNode && a < profile.acls.size(); aclNode = doc.nextSibling(aclNode), ++a) {
        const Acl& acl = profile.acls[a];
        AceChecker checker(doc, sink, aclNode, acl);
        NodeId aces = doc.memberLocal(doc.memberLocal(aclNode, "aces"), "ace");
        std::size_t e = 0;
        for (NodeId aceNode = doc.isArray(aces) ? doc.firstChild(aces) : kNoNode;
             aceNode != kNoNode && e < acl.aces.size(); aceNode = doc.nextSibling(aceNode), ++e)
            checker.check(aceNode, acl.aces[e]);
    }
}

} // namespace mudguard::mudparser
