#include "Encoder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
// linux/netfilter.h after the libc network headers (struct in_addr).
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_bridge.h>
#include <net/if_arp.h>

namespace mudguard::enforcer::netlink {

using ir::Field;
using ir::Op;

namespace {

/// nft's datatype ids for set keys (listing only).
constexpr std::uint32_t kTypeIpAddr = 7, kTypeIp6Addr = 8, kTypeEtherAddr = 9;
constexpr std::uint32_t kByteorderBigEndian = 2;
constexpr std::size_t kIfnameSize = 16;
constexpr std::size_t kRegisterSize = 16;

enum class Proto { None, Link, Ip4, Ip6, Tcp, Udp, Icmp, Icmp6 };

struct FieldLayout {
    std::uint32_t base = 0, offset = 0, len = 0;
    std::vector<std::uint8_t> mask; ///< for sub-byte fields
    unsigned shift = 0;
    Proto proto = Proto::None;
};

FieldLayout layoutOf(Field f)
{
    constexpr auto LL = NFT_PAYLOAD_LL_HEADER, NH = NFT_PAYLOAD_NETWORK_HEADER, TH = NFT_PAYLOAD_TRANSPORT_HEADER;
    switch (f) {
    case Field::EtherDaddr:
        return { LL, 0, 6, {}, 0, Proto::Link };
    case Field::EtherSaddr:
        return { LL, 6, 6, {}, 0, Proto::Link };
    case Field::EtherType:
        return { LL, 12, 2, {}, 0, Proto::Link };
    case Field::IpDscp:
        return { NH, 1, 1, { 0xfc }, 2, Proto::Ip4 };
    case Field::IpTtl:
        return { NH, 8, 1, {}, 0, Proto::Ip4 };
    case Field::IpProtocol:
        return { NH, 9, 1, {}, 0, Proto::Ip4 };
    case Field::IpSaddr:
        return { NH, 12, 4, {}, 0, Proto::Ip4 };
    case Field::IpDaddr:
        return { NH, 16, 4, {}, 0, Proto::Ip4 };
    case Field::Ip6Dscp:
        return { NH, 0, 2, { 0x0f, 0xc0 }, 6, Proto::Ip6 };
    case Field::Ip6Flowlabel:
        return { NH, 1, 3, { 0x0f, 0xff, 0xff }, 0, Proto::Ip6 };
    case Field::Ip6Hoplimit:
        return { NH, 7, 1, {}, 0, Proto::Ip6 };
    case Field::Ip6Saddr:
        return { NH, 8, 16, {}, 0, Proto::Ip6 };
    case Field::Ip6Daddr:
        return { NH, 24, 16, {}, 0, Proto::Ip6 };
    case Field::TcpSport:
        return { TH, 0, 2, {}, 0, Proto::Tcp };
    case Field::TcpDport:
        return { TH, 2, 2, {}, 0, Proto::Tcp };
    case Field::TcpFlags:
        return { TH, 13, 1, {}, 0, Proto::Tcp };
    case Field::UdpSport:
        return { TH, 0, 2, {}, 0, Proto::Udp };
    case Field::UdpDport:
        return { TH, 2, 2, {}, 0, Proto::Udp };
    case Field::IcmpType:
        return { TH, 0, 1, {}, 0, Proto::Icmp };
    case Field::IcmpCode:
        return { TH, 1, 1, {}, 0, Proto::Icmp };
    case Field::Icmpv6Type:
        return { TH, 0, 1, {}, 0, Proto::Icmp6 };
    case Field::Icmpv6Code:
        return { TH, 1, 1, {}, 0, Proto::Icmp6 };
    default:
        throw std::logic_error("not a payload field");
    }
}

bool isIpAddress(Field f)
{
    return f == Field::IpSaddr || f == Field::IpDaddr || f == Field::Ip6Saddr || f == Field::Ip6Daddr;
}

std::vector<std::uint8_t> bigEndian(std::uint32_t v, std::size_t len)
{
    std::vector<std::uint8_t> out(len);
    for (std::size_t i = 0; i < len; ++i)
        out[len - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return out;
}

template <class T> std::vector<std::uint8_t> hostBytes(T v)
{
    std::vector<std::uint8_t> out(sizeof(T));
    std::memcpy(out.data(), &v, sizeof(T));
    return out;
}

/// One expression of the bytecode before it becomes a libnftnl object.
struct Low {
    enum class Kind { Payload, Meta, Cmp, Bitwise, Range, Lookup, Ct, Counter, Dynset, Limit, Log, Immediate, Reject };
    Kind kind;
    std::uint32_t base = 0, offset = 0, len = 0;
    std::uint32_t key = 0;
    std::uint32_t op = 0;
    std::vector<std::uint8_t> data, data2;
    std::string name;
    std::int32_t verdict = 0;
    std::uint32_t num = 0;
    bool mergeable = false;
};

class RuleEncoder {
public:
    explicit RuleEncoder(ir::TableFamily t)
        : m_inet(t == ir::TableFamily::Inet)
    {
    }

    std::vector<Low> encode(const ir::Rule& rule)
    {
        for (const auto& s : rule.stmts)
            std::visit([this](const auto& v) { stmt(v); }, s);
        merge();
        return std::move(m_out);
    }

private:
    void push(Low l) { m_out.push_back(std::move(l)); }

    void payload(std::uint32_t base, std::uint32_t offset, std::uint32_t len)
    {
        Low l { Low::Kind::Payload };
        l.base = base;
        l.offset = offset;
        l.len = len;
        push(l);
    }

    void meta(std::uint32_t key)
    {
        Low l { Low::Kind::Meta };
        l.key = key;
        push(l);
    }

    void cmp(std::uint32_t op, std::vector<std::uint8_t> data, bool mergeable = false)
    {
        Low l { Low::Kind::Cmp };
        l.op = op;
        l.data = std::move(data);
        l.mergeable = mergeable;
        push(l);
    }

    void bitwise(std::vector<std::uint8_t> mask)
    {
        Low l { Low::Kind::Bitwise };
        l.len = static_cast<std::uint32_t>(mask.size());
        l.data = std::move(mask);
        push(l);
    }

    // Dependencies, as nft inserts them.
    void linkDependency()
    {
        if (m_inet && !m_iifEther) {
            meta(NFT_META_IIFTYPE);
            cmp(NFT_CMP_EQ, hostBytes<std::uint16_t>(ARPHRD_ETHER));
            m_iifEther = true;
        }
    }

    void etherTypeDependency(Proto p)
    {
        linkDependency();
        payload(NFT_PAYLOAD_LL_HEADER, 12, 2);
        cmp(NFT_CMP_EQ, bigEndian(p == Proto::Ip4 ? ir::kEthIp : ir::kEthIp6, 2), true);
        m_linkPayload = true;
    }

    void networkDependency(Proto p, bool icmp)
    {
        if (m_net == p)
            return;
        if (m_inet) {
            if (m_linkPayload) {
                etherTypeDependency(p);
            } else {
                meta(NFT_META_NFPROTO);
                cmp(NFT_CMP_EQ, { static_cast<std::uint8_t>(p == Proto::Ip4 ? NFPROTO_IPV4 : NFPROTO_IPV6) });
            }
        } else if (icmp) {
            etherTypeDependency(p);
        } else {
            meta(NFT_META_PROTOCOL);
            cmp(NFT_CMP_EQ, bigEndian(p == Proto::Ip4 ? ir::kEthIp : ir::kEthIp6, 2));
        }
        m_net = p;
    }

    void l4Dependency(std::uint8_t proto)
    {
        if (m_l4 == proto)
            return;
        meta(NFT_META_L4PROTO);
        cmp(NFT_CMP_EQ, { proto });
        m_l4 = proto;
    }

    void dependencies(Proto p)
    {
        switch (p) {
        case Proto::Link:
            linkDependency();
            break;
        case Proto::Ip4:
        case Proto::Ip6:
            networkDependency(p, false);
            break;
        case Proto::Tcp:
            l4Dependency(IPPROTO_TCP);
            break;
        case Proto::Udp:
            l4Dependency(IPPROTO_UDP);
            break;
        case Proto::Icmp:
            networkDependency(Proto::Ip4, true);
            l4Dependency(IPPROTO_ICMP);
            break;
        case Proto::Icmp6:
            networkDependency(Proto::Ip6, true);
            l4Dependency(IPPROTO_ICMPV6);
            break;
        case Proto::None:
            break;
        }
    }

    void loadField(Field f)
    {
        FieldLayout lay = layoutOf(f);
        dependencies(lay.proto);
        payload(lay.base, lay.offset, lay.len);
        if (lay.proto == Proto::Link)
            m_linkPayload = true;
    }

    void stmt(const ir::Match& m)
    {
        switch (m.field) {
        case Field::MetaNfproto:
            meta(NFT_META_NFPROTO);
            cmp(cmpOp(m.op), { static_cast<std::uint8_t>(m.value) });
            m_net = m.value == ir::kNfprotoIpv4 ? Proto::Ip4 : Proto::Ip6;
            return;
        case Field::MetaProtocol:
            meta(NFT_META_PROTOCOL);
            cmp(cmpOp(m.op), bigEndian(m.value, 2));
            m_net = m.value == ir::kEthIp ? Proto::Ip4 : Proto::Ip6;
            return;
        case Field::MetaL4proto:
            meta(NFT_META_L4PROTO);
            cmp(cmpOp(m.op), { static_cast<std::uint8_t>(m.value) });
            m_l4 = static_cast<std::uint8_t>(m.value);
            return;
        case Field::MetaIifname: {
            meta(NFT_META_IIFNAME);
            std::vector<std::uint8_t> name(kIfnameSize, 0);
            std::memcpy(name.data(), m.text.data(), std::min(m.text.size(), kIfnameSize - 1));
            cmp(cmpOp(m.op), std::move(name));
            return;
        }
        case Field::CtState: {
            Low l { Low::Kind::Ct };
            l.key = NFT_CT_STATE;
            push(l);
            bitwise(hostBytes<std::uint32_t>(m.value));
            cmp(NFT_CMP_NEQ, hostBytes<std::uint32_t>(0));
            return;
        }
        case Field::CtDirection: {
            Low l { Low::Kind::Ct };
            l.key = NFT_CT_DIRECTION;
            push(l);
            cmp(cmpOp(m.op), { static_cast<std::uint8_t>(m.value) });
            return;
        }
        default:
            break;
        }

        FieldLayout lay = layoutOf(m.field);
        if (m.op == Op::InSet || m.op == Op::NotInSet) {
            loadField(m.field);
            Low l { Low::Kind::Lookup };
            l.name = m.text;
            l.op = m.op == Op::NotInSet ? NFT_LOOKUP_F_INV : 0;
            push(l);
            return;
        }
        if (m.field == Field::EtherDaddr || m.field == Field::EtherSaddr) {
            loadField(m.field);
            if (!m.addrMask.empty())
                bitwise(m.addrMask);
            cmp(cmpOp(m.op), m.addr, m.op == Op::Eq && m.addrMask.empty());
            return;
        }
        if (isIpAddress(m.field)) {
            std::uint32_t full = lay.len * 8;
            dependencies(lay.proto);
            if (m.prefix == full || m.prefix % 8 == 0) {
                std::uint32_t bytes = m.prefix / 8;
                payload(lay.base, lay.offset, bytes);
                cmp(cmpOp(m.op), std::vector<std::uint8_t>(m.addr.begin(), m.addr.begin() + bytes));
            } else {
                payload(lay.base, lay.offset, lay.len);
                std::vector<std::uint8_t> mask(lay.len, 0);
                for (std::uint32_t bit = 0; bit < m.prefix; ++bit)
                    mask[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
                bitwise(mask);
                cmp(cmpOp(m.op), m.addr);
            }
            return;
        }

        // Integer fields.
        loadField(m.field);
        std::vector<std::uint8_t> mask = lay.mask;
        if (m.mask)
            mask = bigEndian(*m.mask, lay.len);
        if (!mask.empty())
            bitwise(mask);
        auto value = [&](std::uint32_t v) { return bigEndian(v << lay.shift, lay.len); };
        switch (m.op) {
        case Op::Range:
            cmp(NFT_CMP_GTE, value(m.value));
            cmp(NFT_CMP_LTE, value(m.value2));
            break;
        case Op::NotRange: {
            Low l { Low::Kind::Range };
            l.op = NFT_RANGE_NEQ;
            l.data = value(m.value);
            l.data2 = value(m.value2);
            push(l);
            break;
        }
        default:
            cmp(cmpOp(m.op), value(m.value), m.op == Op::Eq && mask.empty());
            break;
        }
    }

    static std::uint32_t cmpOp(Op op)
    {
        switch (op) {
        case Op::Neq:
            return NFT_CMP_NEQ;
        case Op::Lte:
            return NFT_CMP_LTE;
        case Op::Gte:
            return NFT_CMP_GTE;
        default:
            return NFT_CMP_EQ;
        }
    }

    void stmt(const ir::Counter&) { push(Low { Low::Kind::Counter }); }

    void stmt(const ir::Update& u)
    {
        FieldLayout lay = layoutOf(u.key);
        dependencies(lay.proto);
        payload(lay.base, lay.offset, lay.len);
        Low l { Low::Kind::Dynset };
        l.name = u.set;
        push(l);
    }

    void stmt(const ir::Limit& lim)
    {
        Low l { Low::Kind::Limit };
        l.num = lim.perSecond;
        push(l);
    }

    void stmt(const ir::Log& log)
    {
        Low l { Low::Kind::Log };
        l.name = log.prefix;
        l.num = log.group;
        push(l);
    }

    void stmt(const ir::Verdict& v)
    {
        if (v.kind == ir::Verdict::Kind::Reject) {
            push(Low { Low::Kind::Reject });
            return;
        }
        Low l { Low::Kind::Immediate };
        switch (v.kind) {
        case ir::Verdict::Kind::Accept:
            l.verdict = NF_ACCEPT;
            break;
        case ir::Verdict::Kind::Drop:
            l.verdict = NF_DROP;
            break;
        case ir::Verdict::Kind::Return:
            l.verdict = NFT_RETURN;
            break;
        case ir::Verdict::Kind::Jump:
            l.verdict = NFT_JUMP;
            break;
        case ir::Verdict::Kind::Goto:
            l.verdict = NFT_GOTO;
            break;
        case ir::Verdict::Kind::Reject:
            break;
        }
        l.name = v.chain;
        push(l);
    }

    /// nft merges adjacent exact matches on contiguous bytes of one header into one load and
    /// one compare (IP addresses excepted); so do we, to produce the same bytecode.
    void merge()
    {
        bool changed = true;
        while (changed) {
            changed = false;
            for (std::size_t i = 0; i + 3 < m_out.size(); ++i) {
                Low &p1 = m_out[i], &c1 = m_out[i + 1], &p2 = m_out[i + 2], &c2 = m_out[i + 3];
                if (p1.kind != Low::Kind::Payload || c1.kind != Low::Kind::Cmp || !c1.mergeable
                    || p2.kind != Low::Kind::Payload || c2.kind != Low::Kind::Cmp || !c2.mergeable)
                    continue;
                if (p1.base != p2.base || p1.offset + p1.len != p2.offset || p1.len + p2.len > kRegisterSize)
                    continue;
                p1.len += p2.len;
                c1.data.insert(c1.data.end(), c2.data.begin(), c2.data.end());
                m_out.erase(m_out.begin() + static_cast<long>(i) + 2, m_out.begin() + static_cast<long>(i) + 4);
                changed = true;
                break;
            }
        }
    }

    bool m_inet;
    bool m_iifEther = false, m_linkPayload = false;
    Proto m_net = Proto::None;
    std::uint8_t m_l4 = 0;
    std::vector<Low> m_out;
};

nftnl_expr* build(const Low& l)
{
    auto fail = [] { throw std::bad_alloc(); };
    auto make = [&](const char* name) {
        nftnl_expr* e = nftnl_expr_alloc(name);
        if (!e)
            fail();
        return e;
    };
    nftnl_expr* e = nullptr;
    switch (l.kind) {
    case Low::Kind::Payload:
        e = make("payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, l.base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, l.offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, l.len);
        break;
    case Low::Kind::Meta:
        e = make("meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, l.key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
        break;
    case Low::Kind::Ct:
        e = make("ct");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, l.key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
        break;
    case Low::Kind::Cmp:
        e = make("cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, l.op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, l.data.data(), static_cast<std::uint32_t>(l.data.size()));
        break;
    case Low::Kind::Bitwise: {
        e = make("bitwise");
        std::vector<std::uint8_t> zero(l.data.size(), 0);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, l.len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, l.data.data(), static_cast<std::uint32_t>(l.data.size()));
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero.data(), static_cast<std::uint32_t>(zero.size()));
        break;
    }
    case Low::Kind::Range:
        e = make("range");
        nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, l.op);
        nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, l.data.data(), static_cast<std::uint32_t>(l.data.size()));
        nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, l.data2.data(), static_cast<std::uint32_t>(l.data2.size()));
        break;
    case Low::Kind::Lookup:
        e = make("lookup");
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, l.name.c_str());
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, l.op);
        break;
    case Low::Kind::Counter:
        e = make("counter");
        break;
    case Low::Kind::Dynset:
        e = make("dynset");
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
        nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, l.name.c_str());
        break;
    case Low::Kind::Limit:
        e = make("limit");
        nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, l.num);
        nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, 5);
        nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
        break;
    case Low::Kind::Log:
        e = make("log");
        nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, l.name.c_str());
        nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, static_cast<std::uint16_t>(l.num));
        break;
    case Low::Kind::Immediate:
        e = make("immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(l.verdict));
        if (!l.name.empty())
            nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, l.name.c_str());
        break;
    case Low::Kind::Reject:
        e = make("reject");
        nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
        nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
        break;
    }
    return e;
}

void setComment(auto* obj, auto setData, std::uint16_t attr, std::uint8_t type, const std::string& comment)
{
    if (comment.empty())
        return;
    UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    if (!buf)
        throw std::bad_alloc();
    nftnl_udata_put_strz(buf.get(), type, comment.substr(0, NFTNL_UDATA_COMMENT_MAXLEN - 1).c_str());
    setData(obj, attr, nftnl_udata_buf_data(buf.get()), nftnl_udata_buf_len(buf.get()));
}

std::string commentFrom(const void* data, std::uint32_t len, std::uint8_t type)
{
    if (!data || len == 0)
        return {};
    struct Ctx {
        std::uint8_t type;
        std::string out;
    } ctx { type, {} };
    nftnl_udata_parse(
        data, len,
        [](const nftnl_udata* attr, void* arg) -> int {
            auto* c = static_cast<Ctx*>(arg);
            if (nftnl_udata_type(attr) == c->type && nftnl_udata_len(attr) > 0) {
                const char* s = static_cast<const char*>(nftnl_udata_get(attr));
                c->out.assign(s, strnlen(s, nftnl_udata_len(attr)));
            }
            return 0;
        },
        &ctx);
    return ctx.out;
}

std::uint32_t keyType(ir::KeyType k)
{
    switch (k) {
    case ir::KeyType::EtherAddr:
        return kTypeEtherAddr;
    case ir::KeyType::Ipv4Addr:
        return kTypeIpAddr;
    case ir::KeyType::Ipv6Addr:
        return kTypeIp6Addr;
    }
    return 0;
}

/// key + 2^(width - bits): the first address after the prefix; false on overflow (the prefix
/// reaches the end of the address space).
bool prefixEnd(const ir::Element& e, std::vector<std::uint8_t>& end)
{
    end = e.key;
    std::size_t width = e.key.size() * 8;
    if (e.bits == 0)
        return false;
    std::size_t bit = e.bits - 1; // the last prefix bit: add one there
    for (std::size_t b = width - 1; b > bit; --b)
        end[b / 8] &= static_cast<std::uint8_t>(~(0x80 >> (b % 8)));
    std::size_t byte = bit / 8;
    unsigned add = 0x80u >> (bit % 8);
    while (true) {
        unsigned v = end[byte] + add;
        end[byte] = static_cast<std::uint8_t>(v);
        if (v < 0x100)
            return true;
        if (byte == 0)
            return false;
        --byte;
        add = 1;
    }
}

} // namespace

std::uint16_t nfproto(ir::TableFamily f) { return f == ir::TableFamily::Inet ? NFPROTO_INET : NFPROTO_BRIDGE; }

TablePtr makeTable(ir::TableFamily f)
{
    TablePtr t(nftnl_table_alloc());
    if (!t)
        throw std::bad_alloc();
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, std::string(ir::kTableName).c_str());
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, nfproto(f));
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, 0);
    return t;
}

SetPtr makeSet(ir::TableFamily f, const ir::SetDef& s, std::uint32_t setId)
{
    SetPtr set(nftnl_set_alloc());
    if (!set)
        throw std::bad_alloc();
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, std::string(ir::kTableName).c_str());
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, s.name.c_str());
    nftnl_set_set_u32(set.get(), NFTNL_SET_FAMILY, nfproto(f));
    std::uint32_t flags = 0;
    if (s.interval)
        flags |= NFT_SET_INTERVAL;
    if (s.timeout)
        flags |= NFT_SET_TIMEOUT;
    if (s.dynamic)
        flags |= NFT_SET_EVAL;
    nftnl_set_set_u32(set.get(), NFTNL_SET_FLAGS, flags);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, keyType(s.key));
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, static_cast<std::uint32_t>(ir::keyLength(s.key)));
    nftnl_set_set_u32(set.get(), NFTNL_SET_ID, setId);
    if (s.size)
        nftnl_set_set_u32(set.get(), NFTNL_SET_DESC_SIZE, *s.size);
    if (s.counter) {
        nftnl_expr* counter = nftnl_expr_alloc("counter");
        if (!counter)
            throw std::bad_alloc();
        nftnl_set_add_expr(set.get(), counter); // the set owns it now
    }
    UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    if (!buf)
        throw std::bad_alloc();
    nftnl_udata_put_u32(buf.get(), NFTNL_UDATA_SET_KEYBYTEORDER, kByteorderBigEndian);
    if (!s.comment.empty())
        nftnl_udata_put_strz(
            buf.get(), NFTNL_UDATA_SET_COMMENT, s.comment.substr(0, NFTNL_UDATA_COMMENT_MAXLEN - 1).c_str());
    nftnl_set_set_data(set.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(buf.get()), nftnl_udata_buf_len(buf.get()));
    return set;
}

SetPtr makeElements(ir::TableFamily f, const std::string& name, ir::KeyType key, bool interval,
    const std::vector<ir::Element>& elements)
{
    SetPtr set(nftnl_set_alloc());
    if (!set)
        throw std::bad_alloc();
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, std::string(ir::kTableName).c_str());
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, name.c_str());
    nftnl_set_set_u32(set.get(), NFTNL_SET_FAMILY, nfproto(f));
    std::size_t width = ir::keyLength(key);
    auto add = [&](const std::vector<std::uint8_t>& k, bool end, std::optional<std::uint64_t> timeout) {
        nftnl_set_elem* e = nftnl_set_elem_alloc();
        if (!e)
            throw std::bad_alloc();
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k.data(), static_cast<std::uint32_t>(k.size()));
        if (end)
            nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        if (timeout)
            nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, *timeout);
        nftnl_set_elem_add(set.get(), e);
    };
    // Like nft, close the gap below the lowest range with an end element at zero.
    if (interval && !elements.empty()) {
        auto lowest = std::min_element(elements.begin(), elements.end());
        if (std::any_of(lowest->key.begin(), lowest->key.end(), [](std::uint8_t b) { return b != 0; }))
            add(std::vector<std::uint8_t>(width, 0), true, std::nullopt);
    }
    for (const auto& el : elements) {
        if (el.key.size() != width)
            throw std::invalid_argument(fmt::format("element of {} bytes for set {}", el.key.size(), name));
        add(el.key, false, el.timeoutMs);
        if (interval) {
            std::vector<std::uint8_t> end;
            if (prefixEnd(el, end))
                add(end, true, std::nullopt);
        }
    }
    return set;
}

ChainPtr makeChain(ir::TableFamily f, const ir::Chain& c)
{
    ChainPtr chain(nftnl_chain_alloc());
    if (!chain)
        throw std::bad_alloc();
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, std::string(ir::kTableName).c_str());
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, c.name.c_str());
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, nfproto(f));
    if (c.hook) {
        std::uint32_t hook = NF_INET_LOCAL_IN;
        if (*c.hook == ir::Hook::Forward)
            hook = f == ir::TableFamily::Inet ? NF_INET_FORWARD : NF_BR_FORWARD;
        else if (*c.hook == ir::Hook::Output)
            hook = NF_INET_LOCAL_OUT;
        nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, hook);
        // "priority filter": 0 in inet, -200 (NF_BR_PRI_FILTER_BRIDGED) in bridge.
        nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, f == ir::TableFamily::Inet ? 0 : NF_BR_PRI_FILTER_BRIDGED);
        nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, "filter");
        nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    setComment(chain.get(), nftnl_chain_set_data, NFTNL_CHAIN_USERDATA, NFTNL_UDATA_CHAIN_COMMENT, c.comment);
    return chain;
}

RulePtr makeRule(ir::TableFamily f, const std::string& chain, const ir::Rule& r)
{
    RulePtr rule(nftnl_rule_alloc());
    if (!rule)
        throw std::bad_alloc();
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, std::string(ir::kTableName).c_str());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nftnl_rule_set_u32(rule.get(), NFTNL_RULE_FAMILY, nfproto(f));
    for (const auto& low : RuleEncoder(f).encode(r))
        nftnl_rule_add_expr(rule.get(), build(low));
    setComment(rule.get(), nftnl_rule_set_data, NFTNL_RULE_USERDATA, NFTNL_UDATA_RULE_COMMENT, r.comment);
    return rule;
}

std::string fingerprint(nftnl_rule* r)
{
    std::string out;
    nftnl_expr_iter* it = nftnl_expr_iter_create(r);
    if (!it)
        throw std::bad_alloc();
    for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
        const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        out += "[";
        out += name ? name : "?";
        if (name && std::strcmp(name, "counter") != 0) {
            char buf[1024];
            nftnl_expr_snprintf(buf, sizeof buf, e, NFTNL_OUTPUT_DEFAULT, 0);
            std::string text = buf;
            // The kernel reports a dynset's timeout even when none was given (0).
            if (std::strcmp(name, "dynset") == 0)
                if (auto pos = text.find(" timeout 0ms"); pos != std::string::npos)
                    text.erase(pos, 12);
            out += " " + text;
        }
        out += "]";
    }
    nftnl_expr_iter_destroy(it);
    std::string comment = ruleComment(r);
    if (!comment.empty())
        out += " comment " + comment;
    return out;
}

std::string ruleComment(nftnl_rule* r)
{
    if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA))
        return {};
    std::uint32_t len = 0;
    const void* data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
    return commentFrom(data, len, NFTNL_UDATA_RULE_COMMENT);
}

std::string chainComment(nftnl_chain* c)
{
    if (!nftnl_chain_is_set(c, NFTNL_CHAIN_USERDATA))
        return {};
    std::uint32_t len = 0;
    const void* data = nftnl_chain_get_data(c, NFTNL_CHAIN_USERDATA, &len);
    return commentFrom(data, len, NFTNL_UDATA_CHAIN_COMMENT);
}

std::string setComment(nftnl_set* s)
{
    if (!nftnl_set_is_set(s, NFTNL_SET_USERDATA))
        return {};
    std::uint32_t len = 0;
    const void* data = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
    return commentFrom(data, len, NFTNL_UDATA_SET_COMMENT);
}

std::vector<ir::Element> intervalsToPrefixes(const std::vector<std::pair<std::vector<std::uint8_t>, bool>>& keys)
{
    std::vector<std::vector<std::uint8_t>> starts, ends;
    for (const auto& [k, end] : keys)
        (end ? ends : starts).push_back(k);
    std::sort(ends.begin(), ends.end());
    std::vector<ir::Element> out;
    for (const auto& s : starts) {
        auto next = std::upper_bound(ends.begin(), ends.end(), s);
        // The prefix length whose end matches: the longest prefix starting at s that ends
        // exactly there (or reaches the top of the address space when there is no end).
        std::size_t width = s.size() * 8;
        ir::Element found;
        bool ok = false;
        for (std::size_t bits = width; bits + 1 > 0; --bits) {
            ir::Element e { s, static_cast<std::uint8_t>(bits), {} };
            bool aligned = true;
            for (std::size_t b = bits; b < width; ++b)
                if (s[b / 8] & (0x80 >> (b % 8)))
                    aligned = false;
            if (!aligned)
                break;
            std::vector<std::uint8_t> end;
            bool hasEnd = prefixEnd(e, end);
            if ((next == ends.end() && !hasEnd) || (next != ends.end() && hasEnd && end == *next)) {
                found = e;
                ok = true;
                break;
            }
            if (bits == 0)
                break;
        }
        if (!ok)
            found = ir::Element { s, 255, {} }; // not a prefix: never equal to a desired element
        out.push_back(found);
    }
    return out;
}

} // namespace mudguard::enforcer::netlink
