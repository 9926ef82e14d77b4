// lldpcli -f json0 documents -> LldpEvent values.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "mudguard/controller/LldpWatcher.h"

#include "discovery/Hex.h"
#include "json/BoundedJson.h"

namespace mudguard::controller {
namespace {

using rapidjson::Value;

// RFC 8520 section 11: IANA's OUI 00-00-5E with subtype 1 carries the MUD URL.
constexpr std::string_view kMudOui = "00005e";
constexpr std::string_view kMudSubtype = "1";

const Value* member(const Value& object, const char* name)
{
    if (!object.IsObject())
        return nullptr;
    auto it = object.FindMember(name);
    return it == object.MemberEnd() ? nullptr : &it->value;
}

/// json0 wraps every node in an array; plain objects are accepted too.
template <typename F> void forEach(const Value* v, F&& f)
{
    if (!v)
        return;
    if (v->IsArray()) {
        for (const auto& e : v->GetArray())
            f(e);
    } else {
        f(*v);
    }
}

const Value* first(const Value* v)
{
    if (v && v->IsArray())
        return v->Empty() ? nullptr : &(*v)[0];
    return v;
}

std::string str(const Value* v)
{
    if (!v)
        return {};
    if (v->IsString())
        return std::string(v->GetString(), v->GetStringLength());
    // json0 leaf: [{"value": "..."}]
    if (auto* f = first(v); f && f != v)
        return str(f);
    if (auto* inner = member(*v, "value"); inner && inner->IsString())
        return std::string(inner->GetString(), inner->GetStringLength());
    return {};
}

std::string normalisedOui(std::string_view oui)
{
    std::string s;
    for (char c : oui)
        if (std::isxdigit(static_cast<unsigned char>(c)))
            s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

void readId(const Value* node, std::string& type, std::string& id, std::optional<MacAddress>& mac)
{
    const Value* idNode = node ? first(member(*node, "id")) : nullptr;
    if (!idNode)
        return;
    type = str(member(*idNode, "type"));
    id = str(member(*idNode, "value"));
    if (type == "mac")
        mac = MacAddress::parse(id);
}

LldpNeighbour readInterface(const Value& iface)
{
    LldpNeighbour n;
    n.interface = str(member(iface, "name"));
    readId(first(member(iface, "chassis")), n.chassisIdType, n.chassisId, n.chassisMac);
    const Value* port = first(member(iface, "port"));
    readId(port, n.portIdType, n.portId, n.portMac);
    if (port) {
        auto ttl = str(member(*port, "ttl"));
        std::uint32_t value = 0;
        if (std::from_chars(ttl.data(), ttl.data() + ttl.size(), value).ec == std::errc())
            n.ttl = value;
    }
    forEach(member(iface, "unknown-tlvs"), [&](const Value& group) {
        forEach(member(group, "unknown-tlv"), [&](const Value& tlv) {
            if (n.mudUrl || normalisedOui(str(member(tlv, "oui"))) != kMudOui
                || str(member(tlv, "subtype")) != kMudSubtype)
                return;
            if (auto url = decodeLldpHex(str(member(tlv, "value"))))
                n.mudUrl = std::move(*url);
            else
                n.mudUrlError = "undecodable MUD TLV value";
        });
    });
    return n;
}

} // namespace

std::string_view toString(LldpEvent::Kind kind)
{
    switch (kind) {
    case LldpEvent::Kind::Present:
        return "present";
    case LldpEvent::Kind::Added:
        return "added";
    case LldpEvent::Kind::Updated:
        return "updated";
    case LldpEvent::Kind::Deleted:
        return "deleted";
    case LldpEvent::Kind::Stopped:
        return "stopped";
    }
    return "unknown";
}

std::optional<std::string> decodeLldpHex(std::string_view text)
{
    auto bytes = discovery::decodeHex(text, ",:", kMaxLldpOuiInfo);
    if (!bytes)
        return std::nullopt;
    return std::string(bytes->begin(), bytes->end());
}

std::vector<LldpEvent> parseLldpJson(std::string_view document)
{
    rapidjson::Document doc;
    if (auto error = json::parse(document, doc); !error.empty())
        throw DiscoveryError("lldpcli output: " + error);
    if (!doc.IsObject())
        throw DiscoveryError("lldpcli output: not a JSON object");
    std::vector<LldpEvent> out;
    // Counted, not `it != end`: RapidJSON 1.1.0's member iterators compare ambiguously in C++20.
    auto m = doc.MemberBegin();
    for (rapidjson::SizeType i = 0; i < doc.MemberCount(); ++i, ++m) {
        std::string_view key(m->name.GetString(), m->name.GetStringLength());
        LldpEvent::Kind kind;
        if (key == "lldp")
            kind = LldpEvent::Kind::Present;
        else if (key == "lldp-added")
            kind = LldpEvent::Kind::Added;
        else if (key == "lldp-updated")
            kind = LldpEvent::Kind::Updated;
        else if (key == "lldp-deleted")
            kind = LldpEvent::Kind::Deleted;
        else
            continue; // something newer lldpcli versions may add
        forEach(&m->value, [&](const Value& section) {
            forEach(member(section, "interface"), [&](const Value& iface) {
                if (iface.IsObject())
                    out.push_back(LldpEvent { kind, readInterface(iface), {} });
            });
        });
    }
    return out;
}

} // namespace mudguard::controller
