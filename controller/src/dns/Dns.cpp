#include "mudguard/controller/Dns.h"

#include <algorithm>
#include <stdexcept>

#include <arpa/inet.h>
#include <fmt/format.h>

namespace mudguard::controller::dns {
namespace {

constexpr std::size_t kHeaderBytes = 12;
constexpr unsigned kMaxPointerHops = 127;

[[noreturn]] void malformed(std::string what) { throw ParseError("malformed DNS message: " + what); }

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> wire)
        : m_wire(wire)
    {
    }
    std::size_t pos() const { return m_pos; }
    std::size_t size() const { return m_wire.size(); }
    bool atEnd() const { return m_pos >= m_wire.size(); }
    std::size_t left() const { return m_wire.size() - m_pos; }

    void need(std::size_t n, const std::string& what) const
    {
        if (left() < n)
            malformed(fmt::format("{} runs past the end of the message (offset {})", what, m_pos));
    }
    std::uint8_t u8(const std::string& what)
    {
        need(1, what);
        return m_wire[m_pos++];
    }
    std::uint16_t u16(const std::string& what)
    {
        need(2, what);
        std::uint16_t v = static_cast<std::uint16_t>(m_wire[m_pos] << 8 | m_wire[m_pos + 1]);
        m_pos += 2;
        return v;
    }
    std::uint32_t u32(const std::string& what)
    {
        need(4, what);
        std::uint32_t v = static_cast<std::uint32_t>(m_wire[m_pos]) << 24
            | static_cast<std::uint32_t>(m_wire[m_pos + 1]) << 16 | static_cast<std::uint32_t>(m_wire[m_pos + 2]) << 8
            | m_wire[m_pos + 3];
        m_pos += 4;
        return v;
    }
    void skip(std::size_t n, const std::string& what)
    {
        need(n, what);
        m_pos += n;
    }
    void seek(std::size_t p) { m_pos = p; }

    // A possibly compressed name starting here; the reader ends up after its in-place part.
    std::string name(const std::string& what)
    {
        std::string out;
        std::size_t p = m_pos;
        std::size_t limit = m_pos; // every jump must land strictly before the previous one
        std::size_t wireOctets = 0;
        std::optional<std::size_t> resume; // where the in-place part ended
        unsigned hops = 0;
        while (true) {
            if (p >= m_wire.size())
                malformed(fmt::format("{}: name runs past the end of the message", what));
            std::uint8_t len = m_wire[p];
            if ((len & 0xc0) == 0xc0) {
                if (p + 1 >= m_wire.size())
                    malformed(fmt::format("{}: compression pointer runs past the end of the message", what));
                std::size_t target = static_cast<std::size_t>(len & 0x3f) << 8 | m_wire[p + 1];
                if (target >= limit)
                    malformed(fmt::format(
                        "{}: compression pointer at offset {} does not point backwards (to {})", what, p, target));
                if (++hops > kMaxPointerHops)
                    malformed(fmt::format("{}: too many compression pointers", what));
                if (!resume)
                    resume = p + 2;
                limit = target;
                p = target;
                continue;
            }
            if ((len & 0xc0) != 0)
                malformed(fmt::format("{}: unsupported label type 0x{:02x} at offset {}", what, len & 0xc0, p));
            wireOctets += 1 + len;
            if (wireOctets > kMaxNameOctets)
                malformed(fmt::format("{}: name longer than {} octets", what, kMaxNameOctets));
            if (len == 0) {
                m_pos = resume ? *resume : p + 1;
                return out;
            }
            if (p + 1 + len > m_wire.size())
                malformed(fmt::format("{}: label runs past the end of the message", what));
            if (!out.empty())
                out += '.';
            appendLabel(out, m_wire.subspan(p + 1, len));
            p += 1 + len;
        }
    }

private:
    static void appendLabel(std::string& out, std::span<const std::uint8_t> label)
    {
        for (std::uint8_t c : label) {
            if (c >= 'A' && c <= 'Z')
                c = static_cast<std::uint8_t>(c - 'A' + 'a');
            bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (plain)
                out += static_cast<char>(c);
            else
                fmt::format_to(std::back_inserter(out), "\\{:03d}", c);
        }
    }

    std::span<const std::uint8_t> m_wire;
    std::size_t m_pos = 0;
};

std::uint32_t clampTtl(std::uint32_t ttl) { return ttl > kMaxTtl ? 0 : ttl; }

Record readRecord(Reader& r, const std::string& what)
{
    Record rec;
    rec.name = r.name(what);
    rec.type = r.u16(what + " type");
    rec.rclass = r.u16(what + " class");
    rec.ttl = clampTtl(r.u32(what + " TTL"));
    std::uint16_t rdlength = r.u16(what + " rdata length");
    r.need(rdlength, what + " rdata");
    std::size_t start = r.pos();
    std::size_t end = start + rdlength;
    switch (static_cast<Type>(rec.type)) {
    case Type::A:
    case Type::Aaaa: {
        bool v4 = rec.type == static_cast<std::uint16_t>(Type::A);
        std::size_t want = v4 ? 4 : 16;
        if (rec.rclass == kClassIn) {
            if (rdlength != want)
                malformed(fmt::format("{}: {} rdata of {} octets", what, v4 ? "A" : "AAAA", rdlength));
            IpAddress a;
            a.family = v4 ? 4 : 6;
            for (std::size_t i = 0; i < want; ++i)
                a.bytes[i] = r.u8(what);
            rec.address = a;
        }
        break;
    }
    case Type::Cname:
        rec.target = r.name(what + " CNAME target");
        if (r.pos() != end)
            malformed(fmt::format("{}: CNAME target does not fill its rdata", what));
        break;
    case Type::Soa: {
        r.name(what + " SOA mname");
        r.name(what + " SOA rname");
        if (r.pos() + 20 != end)
            malformed(fmt::format("{}: SOA rdata has the wrong length", what));
        r.skip(16, what);
        rec.soaMinimum = clampTtl(r.u32(what + " SOA minimum"));
        break;
    }
    default:
        break;
    }
    if (r.pos() > end)
        malformed(fmt::format("{}: rdata overruns its length", what));
    r.seek(end);
    return rec;
}

void appendU16(std::vector<std::uint8_t>& out, std::uint16_t v)
{
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

} // namespace

std::string IpAddress::toString() const
{
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf))
        return "?";
    return buf;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text)
{
    if (text.size() >= INET6_ADDRSTRLEN)
        return std::nullopt;
    std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

Message parseMessage(std::span<const std::uint8_t> wire)
{
    if (wire.size() < kHeaderBytes)
        malformed(fmt::format("{} octets, shorter than a header", wire.size()));
    if (wire.size() > 65535)
        malformed("longer than 65535 octets");
    Reader r(wire);
    Message m;
    m.id = r.u16("header");
    std::uint16_t flags = r.u16("header");
    m.response = flags & 0x8000;
    m.opcode = static_cast<std::uint8_t>((flags >> 11) & 0x0f);
    m.authoritative = flags & 0x0400;
    m.truncated = flags & 0x0200;
    m.recursionDesired = flags & 0x0100;
    m.recursionAvailable = flags & 0x0080;
    m.rcode = static_cast<std::uint8_t>(flags & 0x000f);
    std::uint16_t qd = r.u16("header"), an = r.u16("header"), ns = r.u16("header"), ar = r.u16("header");

    // A truncated response may end early; keep what is complete.
    auto guarded = [&](auto&& parse) {
        if (!m.truncated) {
            parse();
            return true;
        }
        auto before = r.pos();
        try {
            parse();
            return true;
        } catch (const ParseError&) {
            r.seek(before);
            m.incomplete = true;
            return false;
        }
    };

    for (unsigned i = 0; i < qd; ++i) {
        std::string what = fmt::format("question {}", i + 1);
        bool ok = guarded([&] {
            Question q;
            q.name = r.name(what);
            q.type = r.u16(what + " type");
            q.qclass = r.u16(what + " class");
            m.questions.push_back(std::move(q));
        });
        if (!ok)
            return m;
    }
    for (unsigned i = 0; i < an; ++i) {
        std::string what = fmt::format("answer {}", i + 1);
        if (!guarded([&] { m.answers.push_back(readRecord(r, what)); }))
            return m;
    }
    for (unsigned i = 0; i < ns; ++i) {
        std::string what = fmt::format("authority record {}", i + 1);
        if (!guarded([&] { m.authority.push_back(readRecord(r, what)); }))
            return m;
    }
    for (unsigned i = 0; i < ar; ++i) {
        std::string what = fmt::format("additional record {}", i + 1);
        if (!guarded([&] { (void)readRecord(r, what); }))
            return m;
    }
    return m;
}

bool isValidHostName(std::string_view name) noexcept
{
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty() || name.size() > 253)
        return false;
    std::size_t labelLen = 0;
    for (char c : name) {
        if (c == '.') {
            if (labelLen == 0)
                return false;
            labelLen = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++labelLen > kMaxLabelOctets)
            return false;
    }
    return labelLen > 0;
}

std::string normalizeName(std::string_view name)
{
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    std::string out(name);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::vector<std::uint8_t> buildQuery(std::uint16_t id, std::string_view name, Type type, std::uint16_t ednsUdpSize)
{
    if (!isValidHostName(name))
        throw std::invalid_argument(fmt::format("not a valid host name: \"{}\"", name));
    std::vector<std::uint8_t> out;
    out.reserve(kHeaderBytes + name.size() + 2 + 4 + 11);
    appendU16(out, id);
    appendU16(out, 0x0100); // QUERY, RD
    appendU16(out, 1);
    appendU16(out, 0);
    appendU16(out, 0);
    appendU16(out, ednsUdpSize ? 1 : 0);
    std::string n = normalizeName(name);
    std::size_t start = 0;
    while (start <= n.size()) {
        auto dot = n.find('.', start);
        auto label = std::string_view(n).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        if (dot == std::string::npos)
            break;
        start = dot + 1;
    }
    out.push_back(0);
    appendU16(out, static_cast<std::uint16_t>(type));
    appendU16(out, kClassIn);
    if (ednsUdpSize) {
        // RFC 6891 6.1.2: root owner, type OPT, class = UDP payload size, TTL = 0, no options.
        out.push_back(0);
        appendU16(out, static_cast<std::uint16_t>(Type::Opt));
        appendU16(out, ednsUdpSize);
        appendU16(out, 0);
        appendU16(out, 0);
        appendU16(out, 0);
    }
    return out;
}

Answer extractAnswer(const Message& m, std::string_view name, Type type)
{
    Answer a;
    a.name = normalizeName(name);
    std::string current = a.name;
    std::uint32_t chainTtl = kMaxTtl;
    // Follow CNAMEs: at most one per owner name is meaningful (RFC 2181 10.1).
    for (unsigned links = 0; links < kMaxCnameChain; ++links) {
        auto it = std::find_if(m.answers.begin(), m.answers.end(), [&](const Record& r) {
            return r.rclass == kClassIn && r.type == static_cast<std::uint16_t>(Type::Cname) && r.name == current;
        });
        if (it == m.answers.end())
            break;
        if (it->target == a.name
            || std::find(a.cnameChain.begin(), a.cnameChain.end(), it->target) != a.cnameChain.end())
            break; // a loop
        chainTtl = std::min(chainTtl, it->ttl);
        a.cnameChain.push_back(it->target);
        current = it->target;
    }
    std::uint32_t minTtl = kMaxTtl;
    for (const auto& r : m.answers) {
        if (r.rclass != kClassIn || r.type != static_cast<std::uint16_t>(type) || !r.address || r.name != current)
            continue;
        AnswerAddress aa { *r.address, std::min(chainTtl, r.ttl) };
        auto dup = std::find_if(
            a.addresses.begin(), a.addresses.end(), [&](const AnswerAddress& x) { return x.address == aa.address; });
        if (dup != a.addresses.end()) {
            dup->ttl = std::min(dup->ttl, aa.ttl);
        } else {
            a.addresses.push_back(aa);
        }
        minTtl = std::min(minTtl, aa.ttl);
    }
    a.ttl = a.addresses.empty() ? 0 : minTtl;
    return a;
}

std::optional<std::uint32_t> negativeTtl(const Message& m)
{
    for (const auto& r : m.authority)
        if (r.type == static_cast<std::uint16_t>(Type::Soa) && r.rclass == kClassIn)
            return std::min(r.ttl, r.soaMinimum);
    return std::nullopt;
}

std::optional<ObservedAnswer> parseObservedPacket(std::span<const std::uint8_t> packet)
{
    if (packet.empty())
        throw ParseError("malformed packet: empty");
    ObservedAnswer out;
    std::span<const std::uint8_t> udp;
    unsigned version = packet[0] >> 4;
    if (version == 4) {
        if (packet.size() < 20)
            throw ParseError("malformed packet: IPv4 header truncated");
        std::size_t ihl = static_cast<std::size_t>(packet[0] & 0x0f) * 4;
        std::size_t total = static_cast<std::size_t>(packet[2]) << 8 | packet[3];
        if (ihl < 20 || total < ihl || total > packet.size())
            throw ParseError(fmt::format("malformed packet: IPv4 lengths (header {}, total {}) do not fit {} octets",
                ihl, total, packet.size()));
        std::uint16_t frag = static_cast<std::uint16_t>(packet[6] << 8 | packet[7]);
        if ((frag & 0x2000) || (frag & 0x1fff))
            return std::nullopt; // a fragment: the DNS message is not whole here
        if (packet[9] != 17)
            return std::nullopt;
        out.server.family = out.client.family = 4;
        std::copy_n(packet.begin() + 12, 4, out.server.bytes.begin());
        std::copy_n(packet.begin() + 16, 4, out.client.bytes.begin());
        udp = packet.subspan(ihl, total - ihl);
    } else if (version == 6) {
        if (packet.size() < 40)
            throw ParseError("malformed packet: IPv6 header truncated");
        std::size_t payload = static_cast<std::size_t>(packet[4]) << 8 | packet[5];
        if (40 + payload > packet.size())
            throw ParseError(
                fmt::format("malformed packet: IPv6 payload length {} does not fit {} octets", payload, packet.size()));
        out.server.family = out.client.family = 6;
        std::copy_n(packet.begin() + 8, 16, out.server.bytes.begin());
        std::copy_n(packet.begin() + 24, 16, out.client.bytes.begin());
        std::uint8_t next = packet[6];
        std::size_t off = 40, end = 40 + payload;
        // Skip hop-by-hop, routing and destination options headers; give up on anything else.
        for (unsigned n = 0; next != 17; ++n) {
            if (next == 44)
                return std::nullopt; // a fragment
            if ((next != 0 && next != 43 && next != 60) || n >= 8)
                return std::nullopt;
            if (off + 8 > end)
                throw ParseError("malformed packet: IPv6 extension header truncated");
            std::size_t len = (static_cast<std::size_t>(packet[off + 1]) + 1) * 8;
            if (off + len > end)
                throw ParseError("malformed packet: IPv6 extension header truncated");
            next = packet[off];
            off += len;
        }
        udp = packet.subspan(off, end - off);
    } else {
        throw ParseError(fmt::format("malformed packet: IP version {}", version));
    }
    if (udp.size() < 8)
        throw ParseError("malformed packet: UDP header truncated");
    std::uint16_t srcPort = static_cast<std::uint16_t>(udp[0] << 8 | udp[1]);
    out.clientPort = static_cast<std::uint16_t>(udp[2] << 8 | udp[3]);
    std::size_t udpLen = static_cast<std::size_t>(udp[4]) << 8 | udp[5];
    if (udpLen < 8 || udpLen > udp.size())
        throw ParseError(fmt::format("malformed packet: UDP length {} does not fit {} octets", udpLen, udp.size()));
    if (srcPort != 53)
        return std::nullopt;
    Message m = parseMessage(udp.subspan(8, udpLen - 8));
    if (!m.response || m.opcode != 0 || m.rcode != static_cast<std::uint8_t>(Rcode::NoError) || m.questions.size() != 1
        || m.questions[0].qclass != kClassIn)
        return std::nullopt;
    const auto& q = m.questions[0];
    if (q.type != static_cast<std::uint16_t>(Type::A) && q.type != static_cast<std::uint16_t>(Type::Aaaa))
        return std::nullopt;
    out.type = static_cast<Type>(q.type);
    out.answer = extractAnswer(m, q.name, out.type);
    return out;
}

} // namespace mudguard::controller::dns
