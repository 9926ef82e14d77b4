#include "mudguard/enforcer/Render.h"

#include <algorithm>

#include <arpa/inet.h>
#include <fmt/format.h>

#include "Names.h"

namespace mudguard::enforcer {

using ir::Field;
using ir::Op;

namespace {

const char* fieldName(Field f)
{
    switch (f) {
    case Field::EtherDaddr:
        return "ether daddr";
    case Field::EtherSaddr:
        return "ether saddr";
    case Field::EtherType:
        return "ether type";
    case Field::IpDscp:
        return "ip dscp";
    case Field::IpTtl:
        return "ip ttl";
    case Field::IpProtocol:
        return "ip protocol";
    case Field::IpSaddr:
        return "ip saddr";
    case Field::IpDaddr:
        return "ip daddr";
    case Field::Ip6Dscp:
        return "ip6 dscp";
    case Field::Ip6Flowlabel:
        return "ip6 flowlabel";
    case Field::Ip6Hoplimit:
        return "ip6 hoplimit";
    case Field::Ip6Saddr:
        return "ip6 saddr";
    case Field::Ip6Daddr:
        return "ip6 daddr";
    case Field::TcpSport:
        return "tcp sport";
    case Field::TcpDport:
        return "tcp dport";
    case Field::TcpFlags:
        return "tcp flags";
    case Field::UdpSport:
        return "udp sport";
    case Field::UdpDport:
        return "udp dport";
    case Field::IcmpType:
        return "icmp type";
    case Field::IcmpCode:
        return "icmp code";
    case Field::Icmpv6Type:
        return "icmpv6 type";
    case Field::Icmpv6Code:
        return "icmpv6 code";
    case Field::MetaNfproto:
        return "meta nfproto";
    case Field::MetaProtocol:
        return "meta protocol";
    case Field::MetaL4proto:
        return "meta l4proto";
    case Field::MetaIifname:
        return "iifname";
    case Field::CtState:
        return "ct state";
    case Field::CtDirection:
        return "ct direction";
    }
    return "?";
}

std::string named(std::optional<std::string_view> name, std::uint32_t v)
{
    return name ? std::string(*name) : fmt::format("{}", v);
}

std::string tcpFlags(std::uint32_t bits)
{
    std::string out;
    for (unsigned b = 0; b < 8; ++b)
        if (bits & (1u << b)) {
            if (!out.empty())
                out += ',';
            out += nftnames::tcpFlag(b);
        }
    return out;
}

std::string ctState(std::uint32_t bits)
{
    static const std::pair<std::uint32_t, const char*> kNames[]
        = { { ir::kCtInvalid, "invalid" }, { ir::kCtEstablished, "established" }, { ir::kCtRelated, "related" },
              { ir::kCtNew, "new" }, { ir::kCtUntracked, "untracked" } };
    std::string out;
    for (const auto& [bit, name] : kNames)
        if (bits & bit) {
            if (!out.empty())
                out += ',';
            out += name;
        }
    return out;
}

/// An integer value as nft prints it for this field.
std::string value(Field f, std::uint32_t v)
{
    switch (f) {
    case Field::EtherType:
    case Field::MetaProtocol:
        return nftnames::etherType(v) ? std::string(*nftnames::etherType(v)) : fmt::format("0x{:04x}", v);
    case Field::IpDscp:
    case Field::Ip6Dscp:
        return nftnames::dscp(v) ? std::string(*nftnames::dscp(v)) : fmt::format("0x{:02x}", v);
    case Field::IpProtocol:
    case Field::MetaL4proto:
        return named(nftnames::protocol(v), v);
    case Field::IcmpType:
        return named(nftnames::icmpType(v), v);
    case Field::IcmpCode:
        return named(nftnames::icmpCode(v), v);
    case Field::Icmpv6Type:
        return named(nftnames::icmpv6Type(v), v);
    case Field::Icmpv6Code:
        return named(nftnames::icmpv6Code(v), v);
    case Field::MetaNfproto:
        return v == ir::kNfprotoIpv4 ? "ipv4" : v == ir::kNfprotoIpv6 ? "ipv6" : fmt::format("{}", v);
    case Field::CtState:
        return ctState(v);
    case Field::CtDirection:
        return v == ir::kCtOriginal ? "original" : v == ir::kCtReply ? "reply" : fmt::format("{}", v);
    case Field::TcpFlags:
        return tcpFlags(v);
    default:
        return fmt::format("{}", v);
    }
}

bool isAddress(Field f)
{
    switch (f) {
    case Field::EtherDaddr:
    case Field::EtherSaddr:
    case Field::IpSaddr:
    case Field::IpDaddr:
    case Field::Ip6Saddr:
    case Field::Ip6Daddr:
        return true;
    default:
        return false;
    }
}

std::string formatBytes(const std::vector<std::uint8_t>& b, std::uint8_t prefix)
{
    if (b.size() == 6) {
        std::string out;
        for (std::size_t i = 0; i < 6; ++i)
            out += fmt::format("{}{:02x}", i ? ":" : "", b[i]);
        return out;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(b.size() == 16 ? AF_INET6 : AF_INET, b.data(), buf, sizeof buf);
    if (prefix == b.size() * 8)
        return buf;
    return fmt::format("{}/{}", buf, prefix);
}

std::string opPrefix(Op op)
{
    switch (op) {
    case Op::Neq:
    case Op::NotRange:
    case Op::NotInSet:
        return "!= ";
    case Op::Lte:
        return "<= ";
    case Op::Gte:
        return ">= ";
    default:
        return "";
    }
}

std::string renderMatch(const ir::Match& m)
{
    std::string f = fieldName(m.field);
    if (m.op == Op::InSet || m.op == Op::NotInSet)
        return fmt::format("{} {}@{}", f, opPrefix(m.op), m.text);
    if (m.field == Field::MetaIifname)
        return fmt::format("{} {}\"{}\"", f, opPrefix(m.op), m.text);
    if (isAddress(m.field)) {
        std::uint8_t prefix = static_cast<std::uint8_t>(m.addr.size() == 6 ? 48 : m.prefix);
        if (!m.addrMask.empty())
            return fmt::format("{} & {} {} {}", f, formatBytes(m.addrMask, 48),
                m.op == Op::Neq ? "!=" : "==", formatBytes(m.addr, 48));
        return fmt::format("{} {}{}", f, opPrefix(m.op), formatBytes(m.addr, prefix));
    }
    if (m.field == Field::TcpFlags && m.mask) {
        std::uint32_t mask = *m.mask;
        bool singleBit = (mask & (mask - 1)) == 0;
        if (singleBit && m.value == mask)
            return fmt::format("{} & {} {} {}", f, tcpFlags(mask), m.op == Op::Neq ? "!=" : "==", tcpFlags(mask));
        return fmt::format("{} {}{} / {}", f, opPrefix(m.op), tcpFlags(m.value), tcpFlags(mask));
    }
    if (m.op == Op::Range || m.op == Op::NotRange)
        return fmt::format("{} {}{}-{}", f, opPrefix(m.op), value(m.field, m.value), value(m.field, m.value2));
    return fmt::format("{} {}{}", f, opPrefix(m.op), value(m.field, m.value));
}

std::string renderStmt(const ir::Stmt& s)
{
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, ir::Match>) {
                return renderMatch(v);
            } else if constexpr (std::is_same_v<T, ir::Counter>) {
                return "counter";
            } else if constexpr (std::is_same_v<T, ir::Update>) {
                return fmt::format("update @{} {{ {} }}", v.set, fieldName(v.key));
            } else if constexpr (std::is_same_v<T, ir::Limit>) {
                return fmt::format("limit rate {}/second", v.perSecond);
            } else if constexpr (std::is_same_v<T, ir::Log>) {
                return fmt::format("log prefix \"{}\" group {}", v.prefix, v.group);
            } else {
                switch (v.kind) {
                case ir::Verdict::Kind::Accept:
                    return "accept";
                case ir::Verdict::Kind::Drop:
                    return "drop";
                case ir::Verdict::Kind::Return:
                    return "return";
                case ir::Verdict::Kind::Jump:
                    return "jump " + v.chain;
                case ir::Verdict::Kind::Goto:
                    return "goto " + v.chain;
                case ir::Verdict::Kind::Reject:
                    return "reject with icmpx admin-prohibited";
                }
                return "?";
            }
        },
        s);
}

const char* typeName(ir::KeyType k)
{
    switch (k) {
    case ir::KeyType::EtherAddr:
        return "ether_addr";
    case ir::KeyType::Ipv4Addr:
        return "ipv4_addr";
    case ir::KeyType::Ipv6Addr:
        return "ipv6_addr";
    }
    return "?";
}

std::string renderSet(const ir::SetDef& s, const std::vector<ir::Element>* elements)
{
    std::string out = fmt::format("\tset {} {{\n\t\ttype {}\n", s.name, typeName(s.key));
    if (s.size)
        out += fmt::format("\t\tsize {}\n", *s.size);
    std::vector<const char*> flags;
    if (s.dynamic)
        flags.push_back("dynamic");
    if (s.interval)
        flags.push_back("interval");
    if (s.timeout)
        flags.push_back("timeout");
    if (!flags.empty())
        out += fmt::format("\t\tflags {}\n", fmt::join(flags, ","));
    if (s.counter)
        out += "\t\tcounter\n";
    if (!s.comment.empty())
        out += fmt::format("\t\tcomment \"{}\"\n", s.comment);
    if (elements && !elements->empty()) {
        std::vector<ir::Element> sorted = *elements;
        std::sort(sorted.begin(), sorted.end());
        // nft puts two IPv4 elements on a line and every other type on a line of its own.
        std::size_t perLine = s.key == ir::KeyType::Ipv4Addr ? 2 : 1;
        out += "\t\telements = { ";
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            if (i > 0)
                out += (i % perLine == 0) ? ",\n\t\t\t     " : ", ";
            out += renderElement(s, sorted[i]);
        }
        out += " }\n";
    }
    out += "\t}\n";
    return out;
}

} // namespace

std::string renderDuration(std::uint64_t ms)
{
    std::uint64_t d = ms / 86400000, h = ms / 3600000 % 24, m = ms / 60000 % 60, s = ms / 1000 % 60, r = ms % 1000;
    std::string out;
    if (d)
        out += fmt::format("{}d", d);
    if (h)
        out += fmt::format("{}h", h);
    if (m)
        out += fmt::format("{}m", m);
    if (s)
        out += fmt::format("{}s", s);
    if (r || out.empty())
        out += fmt::format("{}ms", r);
    return out;
}

std::string renderElement(const ir::SetDef& set, const ir::Element& e)
{
    std::string out = formatBytes(e.key, e.bits ? e.bits : static_cast<std::uint8_t>(e.key.size() * 8));
    if (set.timeout && e.timeoutMs)
        out += " timeout " + renderDuration(*e.timeoutMs);
    return out;
}

std::string renderRule(const ir::Rule& rule)
{
    std::string out;
    for (const auto& s : rule.stmts) {
        if (!out.empty())
            out += ' ';
        out += renderStmt(s);
    }
    if (!rule.comment.empty())
        out += fmt::format(" comment \"{}\"", rule.comment);
    return out;
}

std::string renderChain(const ir::Chain& chain)
{
    std::string out = fmt::format("\tchain {} {{\n", chain.name);
    if (!chain.comment.empty())
        out += fmt::format("\t\tcomment \"{}\"\n", chain.comment);
    if (chain.hook)
        out += fmt::format("\t\ttype filter hook {} priority filter; policy accept;\n", ir::toString(*chain.hook));
    for (const auto& r : chain.rules)
        out += "\t\t" + renderRule(r) + "\n";
    out += "\t}\n";
    return out;
}

std::string render(const ir::Table& table, const ElementMap& elements)
{
    std::string out = fmt::format("table {} {} {{\n", ir::toString(table.family), ir::kTableName);
    bool first = true;
    for (const auto& s : table.sets) {
        if (!first)
            out += "\n";
        first = false;
        auto it = elements.find(s.name);
        out += renderSet(s, it == elements.end() ? nullptr : &it->second);
    }
    for (const auto& c : table.chains) {
        if (!first)
            out += "\n";
        first = false;
        out += renderChain(c);
    }
    out += "}\n";
    return out;
}

} // namespace mudguard::enforcer
