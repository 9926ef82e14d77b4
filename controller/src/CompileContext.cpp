#include "CompileContext.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Json.h"
#include "mudguard/enforcer/Layout.h"

namespace mudguard::controller {

using enforcer::Error;
using rapidjson::Value;

namespace {

constexpr std::size_t kMaxContextBytes = 1 << 20;

[[noreturn]] void fail(const std::string& path, const std::string& what)
{
    throw Error(fmt::format("context {}: {}", path.empty() ? "/" : path, what));
}

std::vector<std::string> strings(const Value& v, const std::string& path)
{
    if (!v.IsArray())
        fail(path, "expected an array of strings");
    std::vector<std::string> out;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        if (!v[i].IsString())
            fail(fmt::format("{}/{}", path, i), "expected a string");
        out.emplace_back(v[i].GetString(), v[i].GetStringLength());
    }
    return out;
}

std::vector<enforcer::Prefix> prefixes(const Value& v, const std::string& path)
{
    std::vector<enforcer::Prefix> out;
    auto list = strings(v, path);
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto p = enforcer::Prefix::parse(list[i]);
        if (!p)
            fail(fmt::format("{}/{}", path, i), fmt::format("'{}' is not an address or prefix", list[i]));
        out.push_back(*p);
    }
    return out;
}

CompileContext::Devices devices(const Value& v, const std::string& path)
{
    CompileContext::Devices d;
    auto list = strings(v, path);
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (auto m = enforcer::MacAddress::parse(list[i]))
            d.macs.push_back(*m);
        else if (auto p = enforcer::Prefix::parse(list[i]); p && p->isHost())
            d.addresses.push_back(*p);
        else
            fail(fmt::format("{}/{}", path, i), fmt::format("'{}' is neither an address nor a MAC", list[i]));
    }
    return d;
}

template <class T, class F> std::map<std::string, T> table(const Value& v, const std::string& path, F f)
{
    if (!v.IsObject())
        fail(path, "expected an object");
    std::map<std::string, T> out;
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        out[key] = f(it->value, path + "/" + key);
    }
    return out;
}

} // namespace

CompileContext defaultCompileContext()
{
    CompileContext c;
    for (const char* p : { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10" })
        c.localNetworks.push_back(*enforcer::Prefix::parse(p));
    return c;
}

CompileContext parseCompileContext(std::string_view json)
{
    if (json.size() > kMaxContextBytes)
        fail("", "the context file is larger than 1 MiB");
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
    if (doc.HasParseError())
        fail("",
            fmt::format("JSON syntax error at offset {}: {}", doc.GetErrorOffset(),
                rapidjson::GetParseError_En(doc.GetParseError())));
    if (!doc.IsObject())
        fail("", "expected an object");
    CompileContext c = defaultCompileContext();
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        std::string name(it->name.GetString(), it->name.GetStringLength());
        std::string path = "/" + name;
        const Value& v = it->value;
        if (name == "posture") {
            // The posture has the enforcer's own JSON form; hand it over as text.
            rapidjson::StringBuffer buf;
            rapidjson::Writer<rapidjson::StringBuffer> w(buf);
            v.Accept(w);
            try {
                c.posture = enforcer::json::parseConfig(std::string_view(buf.GetString(), buf.GetSize()));
            } catch (const Error& e) {
                fail(path, e.what());
            }
        } else if (name == "local-networks") {
            c.localNetworks = prefixes(v, path);
        } else if (name == "router") {
            for (const auto& p : prefixes(v, path)) {
                if (!p.isHost())
                    fail(path, "the router's addresses must be host addresses");
                c.router.push_back(p.address);
            }
        } else if (name == "controllers") {
            c.controllers = table<std::vector<enforcer::Prefix>>(v, path, prefixes);
        } else if (name == "my-controllers") {
            c.myControllers = table<std::vector<enforcer::Prefix>>(v, path, prefixes);
        } else if (name == "dns") {
            c.dns = table<std::vector<enforcer::Prefix>>(v, path, prefixes);
        } else if (name == "manufacturers") {
            c.manufacturers = table<CompileContext::Devices>(v, path, devices);
        } else if (name == "models") {
            c.models = table<CompileContext::Devices>(v, path, devices);
        } else {
            fail(path, "unknown member");
        }
    }
    return c;
}

enforcer::ir::ElementMap contextElements(
    const CompileContext& context, const enforcer::Policy& policy, enforcer::ir::TableFamily table)
{
    using Kind = enforcer::SetRef::Kind;
    enforcer::ir::ElementMap out;
    auto lookup = [](const auto& map, const std::string& key) -> const auto*
    {
        auto it = map.find(key);
        return it == map.end() ? nullptr : &it->second;
    };
    for (const auto& ref : enforcer::referencedSets(policy)) {
        std::vector<enforcer::Prefix> nets;
        std::vector<enforcer::MacAddress> macs;
        std::optional<std::uint64_t> timeout;
        switch (ref.kind) {
        case Kind::LocalNetworks:
            nets = context.localNetworks;
            break;
        case Kind::Controller:
            if (const auto* l = lookup(context.controllers, ref.key)) {
                nets = *l;
            } else if (ref.key == "urn:ietf:params:mud:dns" || ref.key == "urn:ietf:params:mud:ntp") {
                // RFC 8520 section 8.7: these well-known classes are the router's own services
                // unless configured otherwise.
                for (const auto& a : context.router)
                    nets.push_back(enforcer::Prefix::host(a));
            }
            break;
        case Kind::MyController:
            if (const auto* l = lookup(context.myControllers, ref.key))
                nets = *l;
            break;
        case Kind::DnsName:
            if (const auto* l = lookup(context.dns, ref.key))
                nets = *l;
            timeout = 3600 * 1000; // a context file gives no TTL: one hour
            break;
        case Kind::Manufacturer:
        case Kind::Model:
            if (const auto* d
                = lookup(ref.kind == Kind::Manufacturer ? context.manufacturers : context.models, ref.key)) {
                nets = d->addresses;
                macs = d->macs;
            }
            break;
        }
        enforcer::addClassElements(out, ref, table, nets, macs, timeout);
    }
    return out;
}

} // namespace mudguard::controller
