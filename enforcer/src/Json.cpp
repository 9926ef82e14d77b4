#include "mudguard/enforcer/Json.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "mudguard/enforcer/Error.h"

namespace mudguard::enforcer::json {

namespace {

using rapidjson::Value;

constexpr std::size_t kMaxBytes = 1 << 20;
constexpr unsigned kMaxDepth = 32;

/// Nesting depth of a JSON text (outside strings): checked before parsing so that no recursive
/// walk ever sees a deeper document.
unsigned depthOf(std::string_view text)
{
    unsigned depth = 0, maxDepth = 0;
    bool inString = false, escaped = false;
    for (char c : text) {
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
            continue;
        }
        if (c == '"')
            inString = true;
        else if (c == '[' || c == '{')
            maxDepth = std::max(maxDepth, ++depth);
        else if ((c == ']' || c == '}') && depth > 0)
            --depth;
    }
    return maxDepth;
}

rapidjson::Document parseBounded(std::string_view text)
{
    if (text.size() > kMaxBytes)
        throw Error(fmt::format("JSON input is larger than {} bytes", kMaxBytes));
    if (depthOf(text) > kMaxDepth)
        throw Error(fmt::format("JSON input is nested deeper than {} levels", kMaxDepth));
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
    if (doc.HasParseError())
        throw Error(fmt::format("JSON syntax error at offset {}: {}", doc.GetErrorOffset(),
            rapidjson::GetParseError_En(doc.GetParseError())));
    return doc;
}

[[noreturn]] void fail(const std::string& path, const std::string& what)
{
    throw Error(fmt::format("{}: {}", path, what));
}

const Value& object(const Value& v, const std::string& path)
{
    if (!v.IsObject())
        fail(path, "expected an object");
    return v;
}

std::string str(const Value& v, const std::string& path)
{
    if (!v.IsString())
        fail(path, "expected a string");
    return std::string(v.GetString(), v.GetStringLength());
}

std::uint32_t uint(const Value& v, const std::string& path, std::uint32_t max)
{
    if (!v.IsUint() || v.GetUint() > max)
        fail(path, fmt::format("expected an integer 0..{}", max));
    return v.GetUint();
}

bool boolean(const Value& v, const std::string& path)
{
    if (!v.IsBool())
        fail(path, "expected true or false");
    return v.GetBool();
}

/// Calls f(name, value, path) for every member; unknown names must be rejected by f.
template <class F> void members(const Value& v, const std::string& path, F f)
{
    object(v, path);
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        std::string name(it->name.GetString(), it->name.GetStringLength());
        f(name, it->value, path + "/" + name);
    }
}

Prefix prefix(const Value& v, const std::string& path)
{
    auto p = Prefix::parse(str(v, path));
    if (!p)
        fail(path, "expected an IP prefix such as 192.0.2.0/24");
    return *p;
}

PortSpec portSpec(const Value& v, const std::string& path)
{
    object(v, path);
    if (v.MemberCount() != 1)
        fail(path, "expected exactly one of eq, neq, lte, gte, range");
    const auto& m = *v.MemberBegin();
    std::string op = m.name.GetString();
    std::string p = path + "/" + op;
    if (op == "range") {
        if (!m.value.IsArray() || m.value.Size() != 2)
            fail(p, "expected [lower, upper]");
        return PortSpec::range(static_cast<std::uint16_t>(uint(m.value[0], p, 65535)),
            static_cast<std::uint16_t>(uint(m.value[1], p, 65535)));
    }
    auto port = static_cast<std::uint16_t>(uint(m.value, p, 65535));
    if (op == "eq")
        return PortSpec::eq(port);
    if (op == "neq")
        return PortSpec::neq(port);
    if (op == "lte")
        return PortSpec::lte(port);
    if (op == "gte")
        return PortSpec::gte(port);
    fail(p, "unknown port operator");
}

SetRef setRef(const Value& v, const std::string& path)
{
    SetRef ref;
    bool haveKind = false;
    members(v, path, [&](const std::string& name, const Value& m, const std::string& p) {
        if (name == "kind") {
            std::string k = str(m, p);
            haveKind = true;
            if (k == "dns-name")
                ref.kind = SetRef::Kind::DnsName;
            else if (k == "local-networks")
                ref.kind = SetRef::Kind::LocalNetworks;
            else if (k == "controller")
                ref.kind = SetRef::Kind::Controller;
            else if (k == "my-controller")
                ref.kind = SetRef::Kind::MyController;
            else if (k == "manufacturer")
                ref.kind = SetRef::Kind::Manufacturer;
            else if (k == "model")
                ref.kind = SetRef::Kind::Model;
            else
                fail(p, "unknown set kind");
        } else if (name == "key") {
            ref.key = str(m, p);
        } else {
            fail(p, "unknown member");
        }
    });
    if (!haveKind)
        fail(path, "missing kind");
    return ref;
}

MacAddress macAddress(const Value& v, const std::string& path)
{
    auto m = MacAddress::parse(str(v, path));
    if (!m)
        fail(path, "expected a MAC address");
    return *m;
}

Rule rule(const Value& v, const std::string& path)
{
    Rule r;
    std::optional<MacAddress> srcMask, dstMask;
    members(v, path, [&](const std::string& name, const Value& m, const std::string& p) {
        if (name == "name")
            r.name = str(m, p);
        else if (name == "family") {
            std::string f = str(m, p);
            if (f == "ipv4")
                r.family = Family::Ipv4;
            else if (f == "ipv6")
                r.family = Family::Ipv6;
            else if (f == "any")
                r.family = Family::Any;
            else
                fail(p, "expected ipv4, ipv6 or any");
        } else if (name == "protocol")
            r.protocol = static_cast<std::uint8_t>(uint(m, p, 255));
        else if (name == "src-net")
            r.srcNet = prefix(m, p);
        else if (name == "dst-net")
            r.dstNet = prefix(m, p);
        else if (name == "src-set")
            r.srcSet = setRef(m, p);
        else if (name == "dst-set")
            r.dstSet = setRef(m, p);
        else if (name == "dscp")
            r.dscp = static_cast<std::uint8_t>(uint(m, p, 255));
        else if (name == "ttl")
            r.ttl = static_cast<std::uint8_t>(uint(m, p, 255));
        else if (name == "flow-label")
            r.flowLabel = uint(m, p, 0xffffffff);
        else if (name == "src-port")
            r.srcPort = portSpec(m, p);
        else if (name == "dst-port")
            r.dstPort = portSpec(m, p);
        else if (name == "tcp-flags")
            r.tcpFlags = static_cast<std::uint8_t>(uint(m, p, 255));
        else if (name == "icmp-type")
            r.icmpType = static_cast<std::uint8_t>(uint(m, p, 255));
        else if (name == "icmp-code")
            r.icmpCode = static_cast<std::uint8_t>(uint(m, p, 255));
        else if (name == "src-mac") {
            r.srcMac.emplace();
            r.srcMac->address = macAddress(m, p);
        } else if (name == "dst-mac") {
            r.dstMac.emplace();
            r.dstMac->address = macAddress(m, p);
        } else if (name == "src-mac-mask")
            srcMask = macAddress(m, p);
        else if (name == "dst-mac-mask")
            dstMask = macAddress(m, p);
        else if (name == "ethertype")
            r.ethertype = static_cast<std::uint16_t>(uint(m, p, 65535));
        else if (name == "initiated-by") {
            std::string i = str(m, p);
            if (i == "device")
                r.initiatedBy = Initiator::Device;
            else if (i == "remote")
                r.initiatedBy = Initiator::Remote;
            else
                fail(p, "expected device or remote");
        } else if (name == "log") {
            r.log = boolean(m, p);
        } else if (name == "verdict") {
            std::string i = str(m, p);
            if (i == "accept")
                r.verdict = Verdict::Accept;
            else if (i == "drop")
                r.verdict = Verdict::Drop;
            else if (i == "reject")
                r.verdict = Verdict::Reject;
            else
                fail(p, "expected accept, drop or reject");
        } else
            fail(p, "unknown member");
    });
    if (r.srcMac && srcMask)
        r.srcMac->mask = *srcMask;
    if (r.dstMac && dstMask)
        r.dstMac->mask = *dstMask;
    if ((srcMask && !r.srcMac) || (dstMask && !r.dstMac))
        fail(path, "a MAC mask without a MAC address");
    return r;
}

std::vector<Rule> rules(const Value& v, const std::string& path)
{
    if (!v.IsArray())
        fail(path, "expected an array");
    std::vector<Rule> out;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
        out.push_back(rule(v[i], fmt::format("{}/{}", path, i)));
    return out;
}

Policy policy(const Value& v, const std::string& path)
{
    Policy p;
    members(v, path, [&](const std::string& name, const Value& m, const std::string& mp) {
        if (name == "id")
            p.id = str(m, mp);
        else if (name == "source")
            p.source = str(m, mp);
        else if (name == "from-device")
            p.fromDevice = rules(m, mp);
        else if (name == "to-device")
            p.toDevice = rules(m, mp);
        else
            fail(mp, "unknown member");
    });
    return p;
}

Config config(const Value& v, const std::string& path)
{
    Config c;
    members(v, path, [&](const std::string& name, const Value& m, const std::string& p) {
        if (name == "deny") {
            std::string d = str(m, p);
            if (d == "drop")
                c.denyAction = DenyAction::Drop;
            else if (d == "reject")
                c.denyAction = DenyAction::Reject;
            else
                fail(p, "expected drop or reject");
        } else if (name == "hold-unmanaged")
            c.holdUnmanaged = boolean(m, p);
        else if (name == "lan-interfaces") {
            if (!m.IsArray())
                fail(p, "expected an array");
            for (rapidjson::SizeType i = 0; i < m.Size(); ++i)
                c.lanInterfaces.push_back(str(m[i], fmt::format("{}/{}", p, i)));
        } else if (name == "log-group") {
            if (m.IsNull())
                c.logGroup.reset();
            else
                c.logGroup = static_cast<std::uint16_t>(uint(m, p, 65535));
        } else if (name == "dns-log-group") {
            c.dnsLogGroup = static_cast<std::uint16_t>(uint(m, p, 65535));
        } else if (name == "log-rate")
            c.logRatePerSecond = uint(m, p, 100000);
        else if (name == "infrastructure") {
            members(m, p, [&](const std::string& n, const Value& iv, const std::string& ip) {
                auto& infra = c.infrastructure;
                if (n == "dhcp")
                    infra.dhcp = boolean(iv, ip);
                else if (n == "dns")
                    infra.dns = boolean(iv, ip);
                else if (n == "ndp")
                    infra.ndp = boolean(iv, ip);
                else if (n == "ntp")
                    infra.ntp = boolean(iv, ip);
                else if (n == "extra")
                    infra.extra = rules(iv, ip);
                else
                    fail(ip, "unknown member");
            });
        } else
            fail(p, "unknown member");
    });
    return c;
}

template <class W> void writeRule(W& w, const Rule& r)
{
    w.StartObject();
    auto kv = [&](const char* k, const std::string& s) {
        w.Key(k);
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    };
    auto num = [&](const char* k, std::uint32_t n) {
        w.Key(k);
        w.Uint(n);
    };
    kv("name", r.name);
    if (r.family != Family::Any)
        kv("family", r.family == Family::Ipv4 ? "ipv4" : "ipv6");
    if (r.protocol)
        num("protocol", *r.protocol);
    if (r.srcNet)
        kv("src-net", r.srcNet->toString());
    if (r.dstNet)
        kv("dst-net", r.dstNet->toString());
    for (auto [k, s] : { std::pair { "src-set", &r.srcSet }, std::pair { "dst-set", &r.dstSet } }) {
        if (!*s)
            continue;
        w.Key(k);
        w.StartObject();
        kv("kind", toString((*s)->kind));
        if (!(*s)->key.empty())
            kv("key", (*s)->key);
        w.EndObject();
    }
    if (r.dscp)
        num("dscp", *r.dscp);
    if (r.ttl)
        num("ttl", *r.ttl);
    if (r.flowLabel)
        num("flow-label", *r.flowLabel);
    for (auto [k, p] : { std::pair { "src-port", &r.srcPort }, std::pair { "dst-port", &r.dstPort } }) {
        if (!*p)
            continue;
        const PortSpec& ps = **p;
        w.Key(k);
        w.StartObject();
        if (ps.lo == ps.hi)
            num(ps.negate ? "neq" : "eq", ps.lo);
        else if (ps.lo == 0 && !ps.negate)
            num("lte", ps.hi);
        else if (ps.hi == 65535 && !ps.negate)
            num("gte", ps.lo);
        else {
            w.Key("range");
            w.StartArray();
            w.Uint(ps.lo);
            w.Uint(ps.hi);
            w.EndArray();
        }
        w.EndObject();
    }
    if (r.tcpFlags)
        num("tcp-flags", *r.tcpFlags);
    if (r.icmpType)
        num("icmp-type", *r.icmpType);
    if (r.icmpCode)
        num("icmp-code", *r.icmpCode);
    for (auto [k, km, m] :
        { std::tuple { "src-mac", "src-mac-mask", &r.srcMac }, std::tuple { "dst-mac", "dst-mac-mask", &r.dstMac } }) {
        if (!*m)
            continue;
        kv(k, (*m)->address.toString());
        if ((*m)->mask != MacSpec {}.mask)
            kv(km, (*m)->mask.toString());
    }
    if (r.ethertype)
        num("ethertype", *r.ethertype);
    if (r.initiatedBy)
        kv("initiated-by", *r.initiatedBy == Initiator::Device ? "device" : "remote");
    kv("verdict", r.verdict == Verdict::Accept ? "accept" : r.verdict == Verdict::Drop ? "drop" : "reject");
    if (r.log) {
        w.Key("log");
        w.Bool(true);
    }
    w.EndObject();
}

template <class W> void writePolicy(W& w, const Policy& p)
{
    w.StartObject();
    w.Key("id");
    w.String(p.id.c_str());
    w.Key("source");
    w.String(p.source.c_str(), static_cast<rapidjson::SizeType>(p.source.size()));
    for (auto [k, list] : { std::pair { "from-device", &p.fromDevice }, std::pair { "to-device", &p.toDevice } }) {
        w.Key(k);
        w.StartArray();
        for (const auto& r : *list)
            writeRule(w, r);
        w.EndArray();
    }
    w.EndObject();
}

} // namespace

ir::Element parseElement(ir::KeyType key, std::string_view text)
{
    ir::Element e;
    std::string_view head = text.substr(0, text.find(' '));
    if (auto pos = text.find(" timeout "); pos != std::string_view::npos) {
        auto t = text.substr(pos + 9);
        std::uint64_t ms = 0;
        for (char c : t) {
            if (c < '0' || c > '9')
                throw Error(fmt::format("'{}': the timeout must be milliseconds", text));
            ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
        }
        e.timeoutMs = ms;
    }
    if (key == ir::KeyType::EtherAddr) {
        auto m = MacAddress::parse(head);
        if (!m)
            throw Error(fmt::format("'{}' is not a MAC address", text));
        e.key.assign(m->bytes.begin(), m->bytes.end());
        e.bits = 48;
        return e;
    }
    auto p = Prefix::parse(head);
    if (!p || (p->family() == Family::Ipv6) != (key == ir::KeyType::Ipv6Addr))
        throw Error(fmt::format("'{}' is not an address of the set's type", text));
    e.key.assign(p->address.bytes.begin(), p->address.bytes.begin() + static_cast<long>(p->address.size()));
    e.bits = p->length;
    return e;
}

Case parseCase(std::string_view text)
{
    auto doc = parseBounded(text);
    Case c;
    members(doc, "", [&](const std::string& name, const Value& m, const std::string& p) {
        if (name == "config")
            c.config = config(m, p);
        else if (name == "features") {
            members(m, p, [&](const std::string& n, const Value& fv, const std::string& fp) {
                if (n == "bridge-reject")
                    c.features.bridgeReject = boolean(fv, fp);
                else
                    fail(fp, "unknown member");
            });
        } else if (name == "policies") {
            if (!m.IsArray())
                fail(p, "expected an array");
            for (rapidjson::SizeType i = 0; i < m.Size(); ++i)
                c.policies.push_back(policy(m[i], fmt::format("{}/{}", p, i)));
        } else if (name == "elements") {
            members(m, p, [&](const std::string& set, const Value& ev, const std::string& ep) {
                if (!ev.IsArray())
                    fail(ep, "expected an array");
                for (rapidjson::SizeType i = 0; i < ev.Size(); ++i)
                    c.elements[set].push_back(str(ev[i], fmt::format("{}/{}", ep, i)));
            });
        } else
            fail(p, "unknown member");
    });
    return c;
}

Policy parsePolicy(std::string_view text)
{
    auto doc = parseBounded(text);
    return policy(doc, "");
}

Config parseConfig(std::string_view text)
{
    auto doc = parseBounded(text);
    return config(doc, "");
}

std::string toJson(const Policy& p)
{
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    writePolicy(w, p);
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

std::string toJson(const Policy& policy, const std::vector<const ir::Table*>& tables, const ElementMap& elements)
{
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    auto s = [&](const std::string& v) { w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size())); };
    w.StartObject();
    w.Key("policy");
    writePolicy(w, policy);
    w.Key("tables");
    w.StartArray();
    for (const ir::Table* t : tables) {
        w.StartObject();
        w.Key("family");
        w.String(ir::toString(t->family));
        w.Key("name");
        s(std::string(ir::kTableName));
        w.Key("sets");
        w.StartArray();
        for (const auto& set : t->sets) {
            w.StartObject();
            w.Key("name");
            s(set.name);
            w.Key("type");
            w.String(set.key == ir::KeyType::EtherAddr ? "ether_addr"
                    : set.key == ir::KeyType::Ipv4Addr ? "ipv4_addr"
                                                       : "ipv6_addr");
            w.Key("flags");
            w.StartArray();
            for (auto [on, flag] : { std::pair { set.dynamic, "dynamic" }, std::pair { set.interval, "interval" },
                     std::pair { set.timeout, "timeout" }, std::pair { set.counter, "counter" } })
                if (on)
                    w.String(flag);
            w.EndArray();
            if (!set.comment.empty()) {
                w.Key("comment");
                s(set.comment);
            }
            auto it = elements.find(set.name);
            w.Key("elements");
            w.StartArray();
            if (it != elements.end())
                for (const auto& e : it->second)
                    s(renderElement(set, e));
            w.EndArray();
            w.EndObject();
        }
        w.EndArray();
        w.Key("chains");
        w.StartArray();
        for (const auto& c : t->chains) {
            w.StartObject();
            w.Key("name");
            s(c.name);
            if (c.hook) {
                w.Key("hook");
                w.String(ir::toString(*c.hook));
            }
            w.Key("rules");
            w.StartArray();
            for (const auto& r : c.rules)
                s(renderRule(r));
            w.EndArray();
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

} // namespace mudguard::enforcer::json
