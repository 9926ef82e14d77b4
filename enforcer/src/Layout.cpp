#include "mudguard/enforcer/Layout.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "mudguard/enforcer/Error.h"

namespace mudguard::enforcer {

using ir::Field;
using ir::KeyType;
using ir::Match;
using ir::Op;
using ir::TableFamily;

namespace {

constexpr std::uint32_t kDropSetSize = 262144;

std::string keySuffix(KeyType k)
{
    switch (k) {
    case KeyType::EtherAddr:
        return "mac";
    case KeyType::Ipv4Addr:
        return "ip4";
    case KeyType::Ipv6Addr:
        return "ip6";
    }
    return "?";
}

/// FNV-1a, 64 bits: stable across runs and builds, so set names survive a restart.
std::uint64_t fnv1a(std::string_view s)
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

const char* dirSuffix(Direction d) { return d == Direction::FromDevice ? "from" : "to"; }

Match field(Field f, std::uint32_t value, Op op = Op::Eq)
{
    Match m;
    m.field = f;
    m.op = op;
    m.value = value;
    return m;
}

Match setLookup(Field f, std::string set, bool negate = false)
{
    Match m;
    m.field = f;
    m.op = negate ? Op::NotInSet : Op::InSet;
    m.text = std::move(set);
    return m;
}

Match address(Field f, const Prefix& p)
{
    Match m;
    m.field = f;
    m.addr.assign(p.address.bytes.begin(), p.address.bytes.begin() + static_cast<long>(p.address.size()));
    m.prefix = p.length;
    return m;
}

Match mac(Field f, const MacSpec& spec)
{
    Match m;
    m.field = f;
    m.addr.assign(spec.address.bytes.begin(), spec.address.bytes.end());
    if (spec.mask.bytes != std::array<std::uint8_t, 6> { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }) {
        m.addrMask.assign(spec.mask.bytes.begin(), spec.mask.bytes.end());
        for (std::size_t i = 0; i < 6; ++i)
            m.addr[i] &= m.addrMask[i];
    }
    return m;
}

Match port(Field f, const PortSpec& p)
{
    Match m;
    m.field = f;
    if (p.lo == p.hi) {
        m.op = p.negate ? Op::Neq : Op::Eq;
        m.value = p.lo;
    } else if (!p.negate && p.lo == 0) {
        m.op = Op::Lte;
        m.value = p.hi;
    } else if (!p.negate && p.hi == 65535) {
        m.op = Op::Gte;
        m.value = p.lo;
    } else {
        m.op = p.negate ? Op::NotRange : Op::Range;
        m.value = p.lo;
        m.value2 = p.hi;
    }
    return m;
}

/// A MAC match with an all-zero mask matches every frame: it is left out.
bool zeroMask(const MacSpec& m) { return m.mask == MacAddress {}; }

ir::Rule rule(std::vector<ir::Stmt> stmts, std::string comment = {})
{
    return ir::Rule { std::move(stmts), std::move(comment) };
}

ir::Verdict verdict(ir::Verdict::Kind k, std::string chain = {}) { return ir::Verdict { k, std::move(chain) }; }

/// The address family a rule is about, once its fields are taken into account; throws when the
/// fields contradict each other.
Family effectiveFamily(const Rule& r)
{
    Family f = r.family;
    auto require = [&](Family want, const char* what) {
        if (f == Family::Any)
            f = want;
        else if (f != want)
            throw CompileError(r.name, fmt::format("{} contradicts the rule's address family", what));
    };
    if (r.srcNet)
        require(r.srcNet->family(), "the source network");
    if (r.dstNet)
        require(r.dstNet->family(), "the destination network");
    if (r.flowLabel)
        require(Family::Ipv6, "a flow label");
    if (r.protocol == 1)
        require(Family::Ipv4, "protocol icmp");
    if (r.protocol == 58)
        require(Family::Ipv6, "protocol ipv6-icmp");
    return f;
}

/// Validates one rule; returns its effective family.
Family checkRule(const Rule& r)
{
    const std::string& n = r.name;
    Family fam = effectiveFamily(r);
    if ((r.dscp || r.ttl) && fam == Family::Any)
        throw CompileError(n, "dscp and ttl need an ipv4 or ipv6 match");
    if (r.dscp && *r.dscp > 63)
        throw CompileError(n, fmt::format("dscp {} is out of range (0..63)", *r.dscp));
    if (r.flowLabel && *r.flowLabel > 0xfffff)
        throw CompileError(n, fmt::format("flow label {} is out of range (20 bits)", *r.flowLabel));
    for (const auto* p : { &r.srcPort, &r.dstPort }) {
        if (!*p)
            continue;
        if (r.protocol != 6 && r.protocol != 17)
            throw CompileError(n, "port matches need protocol tcp or udp");
        if ((*p)->lo > (*p)->hi)
            throw CompileError(n, fmt::format("port range {}-{} is empty", (*p)->lo, (*p)->hi));
    }
    if (r.tcpFlags && r.protocol != 6)
        throw CompileError(n, "tcp flags need protocol tcp");
    if (r.tcpFlags && *r.tcpFlags == 0)
        throw CompileError(n, "tcp flags without any flag set");
    if (r.initiatedBy && r.protocol != 6)
        throw CompileError(n, "direction-initiated applies to tcp only");
    if (r.icmpType || r.icmpCode) {
        if (r.protocol && *r.protocol != 1 && *r.protocol != 58)
            throw CompileError(n, "icmp type and code need protocol icmp or ipv6-icmp");
        if (fam == Family::Any)
            throw CompileError(n, "icmp type and code need an ipv4 or ipv6 match");
    }
    for (const auto* s : { &r.srcSet, &r.dstSet }) {
        if (!*s)
            continue;
        if ((*s)->kind != SetRef::Kind::LocalNetworks && (*s)->key.empty())
            throw CompileError(n, fmt::format("a {} match without a name", toString((*s)->kind)));
    }
    if (r.ethertype) {
        bool ip4 = *r.ethertype == ir::kEthIp, ip6 = *r.ethertype == ir::kEthIp6;
        // A non-IP ethertype (EAPOL, ARP) can still name its peer by MAC (manufacturer, model)
        // or as local (every frame the bridge forwards is); IP matches cannot apply.
        auto ipOnly = [](const std::optional<SetRef>& ref) {
            return ref && ref->kind != SetRef::Kind::Manufacturer && ref->kind != SetRef::Kind::Model
                && ref->kind != SetRef::Kind::LocalNetworks;
        };
        bool ipFields = fam != Family::Any || r.protocol || ipOnly(r.srcSet) || ipOnly(r.dstSet);
        // Other ethertypes carry no IP header, or (802.1Q, PPPoE, MPLS) not right after the
        // Ethernet header, where the IP matches look.
        if (!ip4 && !ip6 && ipFields)
            throw CompileError(n,
                fmt::format("the ACE's IP matches (addresses, protocol, a class known by its addresses) apply to "
                            "frames of ethertype ipv4 or ipv6 only, not 0x{:04x}",
                    *r.ethertype));
        if ((ip4 && fam == Family::Ipv6) || (ip6 && fam == Family::Ipv4))
            throw CompileError(
                n, fmt::format("ethertype 0x{:04x} contradicts the rule's address family", *r.ethertype));
    }
    return fam;
}

/// Builds the statements of one rule for one address family (Any: no network-layer match).
class RuleBuilder {
public:
    RuleBuilder(TableFamily table, Direction dir, const KernelFeatures& features)
        : m_table(table)
        , m_dir(dir)
        , m_features(features)
    {
    }

    /// Frames of a non-IP ethertype never reach the inet hooks.
    bool appliesTo(const Rule& r) const { return m_table == TableFamily::Bridge || !nonIpEthertype(r); }

    static bool nonIpEthertype(const Rule& r)
    {
        return r.ethertype && *r.ethertype != ir::kEthIp && *r.ethertype != ir::kEthIp6;
    }

    std::vector<ir::Stmt> matches(const Rule& r, Family fam) const
    {
        std::vector<ir::Stmt> out;
        bool inet = m_table == TableFamily::Inet;

        // Link layer, in header order: destination, source, type.
        if (r.dstMac && !zeroMask(*r.dstMac))
            out.push_back(mac(Field::EtherDaddr, *r.dstMac));
        if (r.dstSet && isMacSet(*r.dstSet))
            out.push_back(setLookup(Field::EtherDaddr, names::classSet(*r.dstSet, KeyType::EtherAddr)));
        if (r.srcMac && !zeroMask(*r.srcMac))
            out.push_back(mac(Field::EtherSaddr, *r.srcMac));
        if (r.srcSet && isMacSet(*r.srcSet))
            out.push_back(setLookup(Field::EtherSaddr, names::classSet(*r.srcSet, KeyType::EtherAddr)));
        // Network layer, in header order.
        std::uint8_t proto = l4proto(r, fam);
        // icmp implies the address family (and nft drops an explicit guard before it).
        bool icmp = r.icmpType || r.icmpCode || proto == 1 || proto == 58;
        bool networkFields = icmp || (fam != Family::Any && hasNetworkFields(r));
        // An IP ethertype is implied by network-layer fields (nft would list it as their
        // dependency); without them it stands for the family guard.
        bool ethertypeImpliesFamily = r.ethertype
            && ((*r.ethertype == ir::kEthIp && fam == Family::Ipv4)
                || (*r.ethertype == ir::kEthIp6 && fam == Family::Ipv6));
        if (r.ethertype && !(networkFields && ethertypeImpliesFamily))
            out.push_back(field(Field::EtherType, *r.ethertype));
        std::size_t before = out.size();
        if (fam == Family::Ipv4) {
            if (r.dscp)
                out.push_back(field(Field::IpDscp, *r.dscp));
            if (r.ttl)
                out.push_back(field(Field::IpTtl, *r.ttl));
            addPeer(out, r.srcNet, r.srcSet, Field::IpSaddr, KeyType::Ipv4Addr);
            addPeer(out, r.dstNet, r.dstSet, Field::IpDaddr, KeyType::Ipv4Addr);
        } else if (fam == Family::Ipv6) {
            if (r.dscp)
                out.push_back(field(Field::Ip6Dscp, *r.dscp));
            if (r.flowLabel)
                out.push_back(field(Field::Ip6Flowlabel, *r.flowLabel));
            if (r.ttl)
                out.push_back(field(Field::Ip6Hoplimit, *r.ttl));
            addPeer(out, r.srcNet, r.srcSet, Field::Ip6Saddr, KeyType::Ipv6Addr);
            addPeer(out, r.dstNet, r.dstSet, Field::Ip6Daddr, KeyType::Ipv6Addr);
        }
        // A family-specific rule with nothing that implies the family says so explicitly.
        if (fam != Family::Any && out.size() == before && !icmp && !ethertypeImpliesFamily) {
            if (inet)
                out.insert(out.begin() + static_cast<long>(before),
                    field(Field::MetaNfproto, fam == Family::Ipv4 ? ir::kNfprotoIpv4 : ir::kNfprotoIpv6));
            else
                out.insert(out.begin() + static_cast<long>(before),
                    field(Field::MetaProtocol, fam == Family::Ipv4 ? ir::kEthIp : ir::kEthIp6));
        }

        // Transport layer.
        bool l4Header = false;
        if (proto == 6) {
            if (r.srcPort)
                out.push_back(port(Field::TcpSport, *r.srcPort)), l4Header = true;
            if (r.dstPort)
                out.push_back(port(Field::TcpDport, *r.dstPort)), l4Header = true;
            if (r.initiatedBy && !inet && !initiatorSide(*r.initiatedBy)) {
                // Stateless bridge: the responder side may not open a connection, so a bare
                // SYN (SYN without ACK) is refused here.
                Match m = field(Field::TcpFlags, ir::kCtOriginal, Op::Neq);
                m.value = kTcpSyn;
                m.mask = kTcpSyn | kTcpAck;
                out.push_back(m);
                l4Header = true;
            }
            if (r.tcpFlags) {
                Match m = field(Field::TcpFlags, *r.tcpFlags);
                m.mask = *r.tcpFlags;
                out.push_back(m);
                l4Header = true;
            }
        } else if (proto == 17) {
            if (r.srcPort)
                out.push_back(port(Field::UdpSport, *r.srcPort)), l4Header = true;
            if (r.dstPort)
                out.push_back(port(Field::UdpDport, *r.dstPort)), l4Header = true;
        } else if (proto == 1 || proto == 58) {
            bool v6 = proto == 58;
            if (r.icmpType)
                out.push_back(field(v6 ? Field::Icmpv6Type : Field::IcmpType, *r.icmpType)), l4Header = true;
            if (r.icmpCode)
                out.push_back(field(v6 ? Field::Icmpv6Code : Field::IcmpCode, *r.icmpCode)), l4Header = true;
        }
        if (r.protocol && !l4Header)
            out.push_back(field(Field::MetaL4proto, *r.protocol));

        // Connection tracking (inet): who may open the connection.
        if (r.initiatedBy && inet) {
            if (initiatorSide(*r.initiatedBy))
                out.push_back(field(Field::CtState, ir::kCtNew));
            else
                out.push_back(field(Field::CtDirection, ir::kCtReply));
        }
        return out;
    }

    /// The families a rule is emitted for in this table.
    std::vector<Family> families(const Rule& r, Family fam) const
    {
        if (fam != Family::Any)
            return { fam };
        if (nonIpEthertype(r))
            return { Family::Any }; // local-networks holds for every bridged frame
        bool ipSet = (r.srcSet && !isMacSet(*r.srcSet)) || (r.dstSet && !isMacSet(*r.dstSet));
        if (ipSet)
            return { Family::Ipv4, Family::Ipv6 };
        return { Family::Any };
    }

    bool isMacSet(const SetRef& s) const
    {
        auto keys = classSetKeys(s.kind, m_table);
        return keys.size() == 1 && keys[0] == KeyType::EtherAddr;
    }

private:
    bool initiatorSide(Initiator by) const { return (m_dir == Direction::FromDevice) == (by == Initiator::Device); }

    bool hasNetworkFields(const Rule& r) const
    {
        return r.dscp || r.ttl || r.flowLabel || r.srcNet || r.dstNet || (r.srcSet && !isMacSet(*r.srcSet))
            || (r.dstSet && !isMacSet(*r.dstSet));
    }

    static std::uint8_t l4proto(const Rule& r, Family fam)
    {
        if (r.protocol)
            return *r.protocol;
        if (r.icmpType || r.icmpCode)
            return fam == Family::Ipv6 ? 58 : 1;
        return 0;
    }

    void addPeer(std::vector<ir::Stmt>& out, const std::optional<Prefix>& net, const std::optional<SetRef>& set,
        Field f, KeyType k) const
    {
        if (net)
            out.push_back(address(f, *net));
        if (set && !isMacSet(*set))
            out.push_back(setLookup(f, names::classSet(*set, k)));
    }

    TableFamily m_table;
    Direction m_dir;
    const KernelFeatures& m_features;
};

bool rejectAvailable(TableFamily t, const KernelFeatures& f) { return t == TableFamily::Inet || f.bridgeReject; }

/// The statements that end a rule with the policy verdict.
void appendVerdict(
    std::vector<ir::Stmt>& stmts, const Rule& r, Direction dir, TableFamily t, const KernelFeatures& f, const Config& c)
{
    stmts.push_back(ir::Counter {});
    if (r.log && c.logGroup)
        stmts.push_back(ir::Log { ir::sanitize(std::string(names::kLogPrefixAce) + r.name, 127), *c.logGroup });
    switch (r.verdict) {
    case Verdict::Accept:
        // Return to the base chain: a device-to-device flow must pass the receiver's policy too.
        stmts.push_back(verdict(ir::Verdict::Kind::Return));
        break;
    case Verdict::Drop:
        stmts.push_back(verdict(ir::Verdict::Kind::Goto, names::denyChain(dir, false)));
        break;
    case Verdict::Reject:
        stmts.push_back(verdict(ir::Verdict::Kind::Goto, names::denyChain(dir, rejectAvailable(t, f))));
        break;
    }
}

std::vector<ir::Rule> compileRuleList(const std::vector<Rule>& rules, Direction dir, TableFamily t,
    const KernelFeatures& f, const Config& c, bool infrastructure)
{
    std::vector<ir::Rule> out;
    RuleBuilder b(t, dir, f);
    for (const auto& r : rules) {
        Family fam = checkRule(r);
        if (!b.appliesTo(r))
            continue;
        for (Family emit : b.families(r, fam)) {
            auto stmts = b.matches(r, emit);
            if (infrastructure) {
                stmts.push_back(verdict(ir::Verdict::Kind::Accept));
            } else {
                appendVerdict(stmts, r, dir, t, f, c);
            }
            out.push_back(rule(std::move(stmts), ir::sanitize(infrastructure ? "infrastructure: " + r.name : r.name)));
        }
    }
    return out;
}

std::vector<ir::Rule> infrastructureRules(TableFamily t, const Config& c, const KernelFeatures& f, bool input)
{
    std::vector<ir::Rule> out;
    const auto& infra = c.infrastructure;
    auto accept = [](std::vector<ir::Stmt> s, std::string comment) {
        s.push_back(verdict(ir::Verdict::Kind::Accept));
        return rule(std::move(s), std::move(comment));
    };
    auto udpPorts = [](std::uint32_t sport, std::uint32_t dport) {
        return std::vector<ir::Stmt> { field(Field::UdpSport, sport), field(Field::UdpDport, dport) };
    };
    bool bridge = t == TableFamily::Bridge;
    if (infra.ndp && bridge)
        out.push_back(accept({ field(Field::EtherType, ir::kEthArp) }, "infrastructure: arp"));
    if (infra.dhcp && (input || bridge)) {
        out.push_back(accept(udpPorts(68, 67), "infrastructure: dhcp"));
        out.push_back(accept(udpPorts(546, 547), "infrastructure: dhcpv6"));
    }
    if (infra.dns && input) {
        out.push_back(accept({ field(Field::UdpDport, 53) }, "infrastructure: dns"));
        out.push_back(accept({ field(Field::TcpDport, 53) }, "infrastructure: dns"));
    }
    if (infra.ntp && input)
        out.push_back(accept({ field(Field::UdpDport, 123) }, "infrastructure: ntp"));
    if (infra.ndp && (input || bridge)) {
        // Solicitations and advertisements a host sends, and MLD reports (multicast snooping).
        std::vector<std::uint32_t> types = input ? std::vector<std::uint32_t> { 133, 135, 136, 131, 132, 143 }
                                                 : std::vector<std::uint32_t> { 135, 136, 131, 132, 143 };
        for (auto type : types)
            out.push_back(accept({ field(Field::Icmpv6Type, type) }, "infrastructure: ndp"));
    }
    auto extra = compileRuleList(infra.extra, Direction::FromDevice, t, f, c, true);
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
}

ir::Chain denyChain(TableFamily t, Direction dir, bool reject, const Config& c)
{
    ir::Chain ch;
    ch.name = names::denyChain(dir, reject);
    bool from = dir == Direction::FromDevice;
    // Count per device: the dynamic set's element for this device (created on first drop).
    std::vector<ir::Update> updates;
    if (t == TableFamily::Inet) {
        if (from) {
            updates.push_back({ names::dropSet(t, dir, KeyType::EtherAddr), Field::EtherSaddr });
        } else {
            updates.push_back({ names::dropSet(t, dir, KeyType::Ipv4Addr), Field::IpDaddr });
            updates.push_back({ names::dropSet(t, dir, KeyType::Ipv6Addr), Field::Ip6Daddr });
        }
    } else {
        updates.push_back({ names::dropSet(t, dir, KeyType::EtherAddr), from ? Field::EtherSaddr : Field::EtherDaddr });
    }
    std::vector<ir::Stmt> logStmts;
    if (c.logGroup) {
        logStmts.push_back(ir::Limit { c.logRatePerSecond });
        logStmts.push_back(ir::Log { std::string(from ? names::kLogPrefixFrom : names::kLogPrefixTo), *c.logGroup });
    }
    if (updates.size() == 1) {
        std::vector<ir::Stmt> s { updates[0] };
        s.insert(s.end(), logStmts.begin(), logStmts.end());
        ch.rules.push_back(rule(std::move(s)));
    } else {
        for (const auto& u : updates)
            ch.rules.push_back(rule({ u }));
        if (!logStmts.empty())
            ch.rules.push_back(rule(logStmts));
    }
    ch.rules.push_back(rule({ verdict(reject ? ir::Verdict::Kind::Reject : ir::Verdict::Kind::Drop) }));
    return ch;
}

ir::SetDef setDef(std::string name, KeyType k, std::string comment = {})
{
    ir::SetDef s;
    s.name = std::move(name);
    s.key = k;
    s.comment = std::move(comment);
    return s;
}

ir::SetDef classSetDef(const SetRef& ref, KeyType k)
{
    auto s = setDef(names::classSet(ref, k), k);
    s.comment = ir::sanitize(ref.kind == SetRef::Kind::LocalNetworks ? std::string("local-networks")
                                                                     : std::string(toString(ref.kind)) + " " + ref.key);
    switch (ref.kind) {
    case SetRef::Kind::DnsName:
        s.timeout = k != KeyType::EtherAddr;
        break;
    case SetRef::Kind::LocalNetworks:
    case SetRef::Kind::Controller:
    case SetRef::Kind::MyController:
        s.interval = k != KeyType::EtherAddr;
        break;
    case SetRef::Kind::Manufacturer:
    case SetRef::Kind::Model:
        break;
    }
    return s;
}

ir::SetDef dropSetDef(TableFamily t, Direction d, KeyType k)
{
    auto s = setDef(names::dropSet(t, d, k), k);
    s.dynamic = true;
    s.counter = true;
    s.size = kDropSetSize;
    return s;
}

std::vector<KeyType> memberKeys(TableFamily t)
{
    if (t == TableFamily::Inet)
        return { KeyType::EtherAddr, KeyType::Ipv4Addr, KeyType::Ipv6Addr };
    return { KeyType::EtherAddr };
}

ir::Table compileTable(TableFamily t, const std::vector<const Policy*>& policies, const std::set<SetRef>& refs,
    const Config& c, const KernelFeatures& f)
{
    ir::Table table;
    table.family = t;
    bool inet = t == TableFamily::Inet;
    bool reject = rejectAvailable(t, f);
    bool rejectDefault = c.denyAction == DenyAction::Reject && reject;
    std::string denyFrom = names::denyChain(Direction::FromDevice, rejectDefault);
    std::string denyTo = names::denyChain(Direction::ToDevice, rejectDefault);

    // Sets: every managed device, membership (dispatch) sets, held devices, drop counters, then
    // the shared classes.
    for (KeyType k : memberKeys(t))
        table.sets.push_back(setDef(names::managedSet(k), k, "managed devices"));
    for (const Policy* p : policies)
        for (KeyType k : memberKeys(t))
            table.sets.push_back(setDef(names::memberSet(p->id, k), k, ir::sanitize(p->source)));
    for (Hold h : { Hold::Pending, Hold::Quarantine })
        for (KeyType k : memberKeys(t))
            table.sets.push_back(setDef(names::holdSet(h, k), k));
    if (inet) {
        table.sets.push_back(dropSetDef(t, Direction::FromDevice, KeyType::EtherAddr));
        table.sets.push_back(dropSetDef(t, Direction::ToDevice, KeyType::Ipv4Addr));
        table.sets.push_back(dropSetDef(t, Direction::ToDevice, KeyType::Ipv6Addr));
    } else {
        table.sets.push_back(dropSetDef(t, Direction::FromDevice, KeyType::EtherAddr));
        table.sets.push_back(dropSetDef(t, Direction::ToDevice, KeyType::EtherAddr));
    }
    for (const auto& ref : refs)
        for (KeyType k : classSetKeys(ref.kind, t))
            table.sets.push_back(classSetDef(ref, k));

    // Base chains. DNS answers are copied to the controller before anything else: they are
    // replies, which the established rule would accept first.
    bool dnsLog = inet && c.dnsLogGroup != 0;
    auto dnsLogJumps = [&](ir::Chain& ch) {
        if (!dnsLog)
            return;
        for (Field sport : { Field::UdpSport, Field::TcpSport })
            ch.rules.push_back(
                rule({ field(sport, 53), verdict(ir::Verdict::Kind::Jump, std::string(names::kDnsLogChain)) }));
    };
    auto baseChain = [&](const char* name, ir::Hook hook, bool input) {
        ir::Chain ch;
        ch.name = name;
        ch.hook = hook;
        if (!input)
            dnsLogJumps(ch);
        if (inet) {
            Match m = field(Field::CtState, ir::kCtEstablished | ir::kCtRelated);
            ch.rules.push_back(rule({ m, verdict(ir::Verdict::Kind::Accept) }));
        }
        auto infra = infrastructureRules(t, c, f, input);
        ch.rules.insert(ch.rules.end(), infra.begin(), infra.end());
        ch.rules.push_back(rule({ verdict(ir::Verdict::Kind::Jump, "from_dev") }));
        if (!input)
            ch.rules.push_back(rule({ verdict(ir::Verdict::Kind::Jump, "to_dev") }));
        return ch;
    };
    if (inet)
        table.chains.push_back(baseChain("input", ir::Hook::Input, true));
    table.chains.push_back(baseChain("forward", ir::Hook::Forward, false));
    if (dnsLog) {
        // The router's own resolver answers from the output path.
        ir::Chain out { "output", ir::Hook::Output, {}, {} };
        dnsLogJumps(out);
        table.chains.push_back(std::move(out));
    }

    // Dispatch. A packet whose sender (receiver) is no managed device leaves after one lookup;
    // a managed device's packet then finds its policy with one set lookup per policy. The sets
    // hold no verdicts, so a join never makes the kernel re-validate the jump graph (see
    // docs/nftables-layout.md).
    ir::Chain from { "from_dev", std::nullopt, {}, {} }, to { "to_dev", std::nullopt, {}, {} };
    if (c.holdUnmanaged && inet) {
        for (const auto& ifname : c.lanInterfaces) {
            Match m;
            m.field = Field::MetaIifname;
            m.text = ifname;
            from.rules.push_back(rule({ m, setLookup(Field::EtherSaddr, names::managedSet(KeyType::EtherAddr), true),
                                          verdict(ir::Verdict::Kind::Goto, denyFrom) },
                "unmanaged"));
        }
    }
    from.rules.push_back(rule({ setLookup(Field::EtherSaddr, names::managedSet(KeyType::EtherAddr), true),
        verdict(ir::Verdict::Kind::Return) }));
    if (inet) {
        to.rules.push_back(rule({ setLookup(Field::IpDaddr, names::managedSet(KeyType::Ipv4Addr), true),
            verdict(ir::Verdict::Kind::Return) }));
        to.rules.push_back(rule({ setLookup(Field::Ip6Daddr, names::managedSet(KeyType::Ipv6Addr), true),
            verdict(ir::Verdict::Kind::Return) }));
    } else {
        to.rules.push_back(rule({ setLookup(Field::EtherDaddr, names::managedSet(KeyType::EtherAddr), true),
            verdict(ir::Verdict::Kind::Return) }));
    }
    auto dispatch = [&](const std::string& set, KeyType k, Direction d, const std::string& target) {
        Field fieldFor = Field::EtherSaddr;
        if (d == Direction::FromDevice)
            fieldFor = Field::EtherSaddr;
        else if (!inet)
            fieldFor = Field::EtherDaddr;
        else
            fieldFor = k == KeyType::Ipv4Addr ? Field::IpDaddr : Field::Ip6Daddr;
        (d == Direction::FromDevice ? from : to)
            .rules.push_back(rule({ setLookup(fieldFor, set), verdict(ir::Verdict::Kind::Goto, target) }));
    };
    auto toKeys = inet ? std::vector<KeyType> { KeyType::Ipv4Addr, KeyType::Ipv6Addr }
                       : std::vector<KeyType> { KeyType::EtherAddr };
    for (const Policy* p : policies) {
        dispatch(names::memberSet(p->id, KeyType::EtherAddr), KeyType::EtherAddr, Direction::FromDevice,
            names::policyChain(p->id, Direction::FromDevice));
        for (KeyType k : toKeys)
            dispatch(
                names::memberSet(p->id, k), k, Direction::ToDevice, names::policyChain(p->id, Direction::ToDevice));
    }
    for (Hold h : { Hold::Pending, Hold::Quarantine }) {
        dispatch(names::holdSet(h, KeyType::EtherAddr), KeyType::EtherAddr, Direction::FromDevice, denyFrom);
        for (KeyType k : toKeys)
            dispatch(names::holdSet(h, k), k, Direction::ToDevice, denyTo);
    }
    table.chains.push_back(std::move(from));
    table.chains.push_back(std::move(to));

    // DNS answers to managed devices (any policy, pending or quarantined): logged, then the
    // packet continues where it came from.
    if (dnsLog) {
        ir::Chain dns { std::string(names::kDnsLogChain), std::nullopt, {}, {} };
        for (KeyType k : toKeys)
            dns.rules.push_back(rule({ setLookup(k == KeyType::Ipv4Addr ? Field::IpDaddr : Field::Ip6Daddr,
                                           names::managedSet(k)),
                ir::Log { std::string(names::kLogPrefixDns), c.dnsLogGroup }, verdict(ir::Verdict::Kind::Return) }));
        table.chains.push_back(std::move(dns));
    }

    // Policy chains.
    for (const Policy* p : policies) {
        for (Direction d : { Direction::FromDevice, Direction::ToDevice }) {
            ir::Chain ch;
            ch.name = names::policyChain(p->id, d);
            ch.comment = ir::sanitize(p->source);
            ch.rules = compileRules(*p, d, t, c, f);
            table.chains.push_back(std::move(ch));
        }
    }

    // Deny chains: count per device, log (rate limited), then drop or reject.
    for (Direction d : { Direction::FromDevice, Direction::ToDevice }) {
        table.chains.push_back(denyChain(t, d, false, c));
        if (reject)
            table.chains.push_back(denyChain(t, d, true, c));
    }
    return table;
}

} // namespace

namespace names {

std::string policyChain(std::string_view policyId, Direction d)
{
    return fmt::format("p_{}_{}", policyId, dirSuffix(d));
}

std::string memberSet(std::string_view policyId, KeyType k) { return fmt::format("p_{}_{}", policyId, keySuffix(k)); }

std::string managedSet(KeyType k) { return fmt::format("managed_{}", keySuffix(k)); }

std::string holdSet(Hold h, KeyType k)
{
    return fmt::format("{}_{}", h == Hold::Pending ? "pending" : "quarantine", keySuffix(k));
}

std::string classSet(const SetRef& ref, KeyType k)
{
    const char* prefix = "";
    switch (ref.kind) {
    case SetRef::Kind::DnsName:
        prefix = "dns";
        break;
    case SetRef::Kind::LocalNetworks:
        return fmt::format("lan_{}", keySuffix(k));
    case SetRef::Kind::Controller:
        prefix = "ctl";
        break;
    case SetRef::Kind::MyController:
        prefix = "myc";
        break;
    case SetRef::Kind::Manufacturer:
        prefix = "mfr";
        break;
    case SetRef::Kind::Model:
        prefix = "mdl";
        break;
    }
    return fmt::format("{}_{:016x}_{}", prefix, fnv1a(ref.key), keySuffix(k));
}

std::string dropSet(TableFamily t, Direction d, KeyType k)
{
    if (t == TableFamily::Inet)
        return fmt::format("drop_{}", keySuffix(k));
    return fmt::format("drop_{}", dirSuffix(d));
}

std::string denyChain(Direction d, bool reject)
{
    return fmt::format("{}_{}", reject ? "reject" : "drop", dirSuffix(d));
}

} // namespace names

ir::Element elementOf(const Prefix& p, std::optional<std::uint64_t> timeoutMs)
{
    ir::Element e;
    e.key.assign(p.address.bytes.begin(), p.address.bytes.begin() + static_cast<long>(p.address.size()));
    e.bits = p.length;
    e.timeoutMs = timeoutMs;
    return e;
}

ir::Element elementOf(const IpAddress& a, std::optional<std::uint64_t> timeoutMs)
{
    return elementOf(Prefix::host(a), timeoutMs);
}

ir::Element elementOf(const MacAddress& m)
{
    ir::Element e;
    e.key.assign(m.bytes.begin(), m.bytes.end());
    e.bits = 48;
    return e;
}

void addClassElements(ir::ElementMap& out, const SetRef& ref, TableFamily table, const std::vector<Prefix>& nets,
    const std::vector<MacAddress>& macs, std::optional<std::uint64_t> timeoutMs)
{
    for (KeyType k : classSetKeys(ref.kind, table)) {
        auto& list = out[names::classSet(ref, k)];
        if (k == KeyType::EtherAddr) {
            for (const auto& m : macs)
                list.push_back(elementOf(m));
            continue;
        }
        bool interval = classSetDef(ref, k).interval;
        Family want = k == KeyType::Ipv4Addr ? Family::Ipv4 : Family::Ipv6;
        for (const auto& n : nets) {
            if (n.family() != want || (!interval && !n.isHost()))
                continue;
            list.push_back(elementOf(n, classSetDef(ref, k).timeout ? timeoutMs : std::nullopt));
        }
    }
}

std::vector<KeyType> classSetKeys(SetRef::Kind kind, TableFamily table)
{
    if (table == TableFamily::Bridge && (kind == SetRef::Kind::Manufacturer || kind == SetRef::Kind::Model))
        return { KeyType::EtherAddr };
    return { KeyType::Ipv4Addr, KeyType::Ipv6Addr };
}

std::vector<SetRef> referencedSets(const Policy& policy)
{
    std::set<SetRef> refs;
    for (const auto* list : { &policy.fromDevice, &policy.toDevice })
        for (const auto& r : *list) {
            if (r.srcSet)
                refs.insert(*r.srcSet);
            if (r.dstSet)
                refs.insert(*r.dstSet);
        }
    return { refs.begin(), refs.end() };
}

void checkPolicy(const Policy& policy)
{
    if (!isValidPolicyId(policy.id))
        throw CompileError(policy.id, "a policy id must be 1 to 16 characters a-z, 0-9");
    for (const auto* list : { &policy.fromDevice, &policy.toDevice })
        for (const auto& r : *list)
            checkRule(r);
}

std::vector<ir::Rule> compileRules(
    const Policy& policy, Direction direction, TableFamily table, const Config& config, const KernelFeatures& features)
{
    const auto& list = direction == Direction::FromDevice ? policy.fromDevice : policy.toDevice;
    auto rules = compileRuleList(list, direction, table, features, config, false);
    bool reject = config.denyAction == DenyAction::Reject && rejectAvailable(table, features);
    rules.push_back(rule(
        { ir::Counter {}, verdict(ir::Verdict::Kind::Goto, names::denyChain(direction, reject)) }, "default deny"));
    return rules;
}

Layout compileLayout(const std::vector<const Policy*>& policies, const Config& config, const KernelFeatures& features)
{
    validate(config);
    std::vector<const Policy*> sorted = policies;
    std::sort(sorted.begin(), sorted.end(), [](const Policy* a, const Policy* b) { return a->id < b->id; });
    std::set<SetRef> refs;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        checkPolicy(*sorted[i]);
        if (i > 0 && sorted[i - 1]->id == sorted[i]->id)
            throw CompileError(sorted[i]->id, "two policies with the same id");
        auto r = referencedSets(*sorted[i]);
        refs.insert(r.begin(), r.end());
    }
    Layout out;
    out.inet = compileTable(TableFamily::Inet, sorted, refs, config, features);
    out.bridge = compileTable(TableFamily::Bridge, sorted, refs, config, features);
    return out;
}

} // namespace mudguard::enforcer
