#include "MudRules.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "Codes.h"

namespace mudguard::mudparser {

using json::kNoNode;
using json::NodeId;

namespace {

constexpr std::string_view kLegacyAccessLists = "ietf-access-control-list:access-lists";
constexpr std::string_view kAclModule = "ietf-access-control-list";

/// Modules whose data is validated with YANG and needs no declaration.
constexpr std::array<std::string_view, 3> kCoreModules = { "ietf-mud", "ietf-access-control-list", "ietf-acldns" };
/// RFC 9472: modelled, declared as "transparency".
constexpr std::string_view kTransparencyModule = "ietf-mud-transparency";
constexpr std::string_view kTransparencyExtension = "transparency";
/// RFC 9761: recognised and carried as-is, declared as "ietf-mud-tls".
constexpr std::array<std::string_view, 2> kTlsModules = { "ietf-mud-tls", "ietf-acl-tls" };
constexpr std::string_view kTlsExtension = "ietf-mud-tls";

struct LegacyPrefix {
    std::string_view prefix;
    std::string_view module;
};

/// YANG prefixes that real files write where RFC 7951 wants module names.
constexpr std::array<LegacyPrefix, 4> kLegacyPrefixes = { {
    { "mudtx", "ietf-mud-transparency" },
    { "acl", "ietf-access-control-list" },
    { "acldns", "ietf-acldns" },
    { "mud", "ietf-mud" },
} };

Severity legacySeverity(Mode mode) { return mode == Mode::Strict ? Severity::Error : Severity::Warning; }

std::string_view withoutPrefix(std::string_view value, std::string_view module)
{
    if (value.size() > module.size() && value.substr(0, module.size()) == module && value[module.size()] == ':')
        return value.substr(module.size() + 1);
    return value;
}

std::string_view lenientNote(Mode mode) { return mode == Mode::Strict ? " (lenient mode accepts it)" : ""; }

std::size_t codePoints(std::string_view s)
{
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

NodeId aclList(const json::Document& doc) { return doc.memberLocal(doc.member(doc.root(), kAclsContainer), "acl"); }

NodeId aceList(const json::Document& doc, NodeId acl) { return doc.memberLocal(doc.memberLocal(acl, "aces"), "ace"); }

std::optional<std::string_view> nameOf(const json::Document& doc, NodeId entry)
{
    return doc.string(doc.memberLocal(entry, "name"));
}

bool isTimeWithoutZone(std::string_view v)
{
    // YYYY-MM-DDTHH:MM:SS[.fraction]
    if (v.size() < 19)
        return false;
    static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        char c = v[i];
        if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i])
            return false;
    }
    if (v.size() == 19)
        return true;
    if (v[19] != '.' || v.size() == 20)
        return false;
    return std::all_of(v.begin() + 20, v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool isHexEthertype(std::string_view v)
{
    if (v.size() < 3 || v.size() > 6 || v[0] != '0' || (v[1] != 'x' && v[1] != 'X'))
        return false;
    return std::all_of(v.begin() + 2, v.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

} // namespace

bool extensionCovers(std::string_view declared, std::string_view module)
{
    if (declared.empty())
        return false;
    if (declared == module)
        return true;
    for (std::size_t at = module.find(declared); at != std::string_view::npos; at = module.find(declared, at + 1)) {
        bool startOk = at == 0 || module[at - 1] == '-';
        std::size_t end = at + declared.size();
        bool endOk = end == module.size() || module[end] == '-';
        if (startOk && endOk)
            return true;
    }
    return false;
}

bool checkAclLimits(const json::Document& doc, const Limits& limits, Sink& sink)
{
    NodeId container = doc.member(doc.root(), kAclsContainer);
    if (container == kNoNode)
        container = doc.member(doc.root(), kLegacyAccessLists);
    NodeId acls = doc.memberLocal(container, "acl");
    if (!doc.isArray(acls))
        return true;
    bool ok = true;
    std::size_t aclCount = doc.childCount(acls);
    if (aclCount > limits.maxAcls) {
        sink.at(acls, Severity::Error, codes::kLimitAcls,
            fmt::format("the document defines {} ACLs, more than the limit of {}", aclCount, limits.maxAcls));
        ok = false;
    }
    std::size_t total = 0;
    for (NodeId acl = doc.firstChild(acls); acl != kNoNode; acl = doc.nextSibling(acl)) {
        NodeId aces = aceList(doc, acl);
        if (!doc.isArray(aces))
            continue;
        std::size_t n = doc.childCount(aces);
        total += n;
        if (n > limits.maxAcesPerAcl) {
            sink.at(aces, Severity::Error, codes::kLimitAces,
                fmt::format("this ACL has {} ACEs, more than the limit of {}", n, limits.maxAcesPerAcl));
            ok = false;
        }
    }
    if (total > limits.maxAcesTotal) {
        sink.at(acls, Severity::Error, codes::kLimitAces,
            fmt::format("the document has {} ACEs in all, more than the limit of {}", total, limits.maxAcesTotal));
        ok = false;
    }
    return ok;
}

void rewriteLegacyForms(json::Document& doc, Mode mode, Sink& sink)
{
    const Severity sev = legacySeverity(mode);
    const NodeId root = doc.root();

    // Prefixes in place of module names, anywhere.
    doc.forEachQualifiedMember([&](NodeId id) {
        const json::Node& n = doc[id];
        std::string_view module = json::moduleName(n.key);
        auto it = std::find_if(
            kLegacyPrefixes.begin(), kLegacyPrefixes.end(), [&](const LegacyPrefix& p) { return p.prefix == module; });
        if (it == kLegacyPrefixes.end())
            return;
        std::string fixed = fmt::format("{}{}", it->module, n.key.substr(module.size()));
        sink.at(id, sev, codes::kLegacyModulePrefix,
            fmt::format("\"{}\" uses the YANG prefix \"{}\" where JSON needs the module name: \"{}\" (RFC 7951 "
                        "section 4){}",
                n.key, module, fixed, lenientNote(mode)));
        doc.rename(id, std::move(fixed));
    });

    // The draft name of the ACL container.
    NodeId legacy = doc.member(root, kLegacyAccessLists);
    if (legacy != kNoNode && doc.member(root, kAclsContainer) == kNoNode) {
        sink.at(legacy, sev, codes::kLegacyAccessLists,
            fmt::format("\"{}\" is the draft name of the ACL container; RFC 8519 names it \"{}\"{}", kLegacyAccessLists,
                kAclsContainer, lenientNote(mode)));
        doc.rename(legacy, std::string(kAclsContainer));
    }

    NodeId mud = doc.member(root, kMudContainer);
    if (NodeId s = doc.memberLocal(mud, "is-supported"); auto v = doc.string(s)) {
        if (*v == "true" || *v == "false") {
            bool value = *v == "true";
            sink.at(s, sev, codes::kLegacyStringBoolean,
                fmt::format("\"is-supported\" is the string \"{}\"; a YANG boolean is the JSON literal {}{}", *v,
                    value ? "true" : "false", lenientNote(mode)));
            doc.setBool(s, value);
        }
    }
    if (NodeId t = doc.memberLocal(mud, "last-update"); auto v = doc.string(t)) {
        if (isTimeWithoutZone(*v)) {
            std::string fixed = fmt::format("{}-00:00", *v);
            sink.at(t, sev, codes::kLegacyLastUpdateTimezone,
                fmt::format("\"last-update\" \"{}\" has no time zone; read as \"{}\" (time zone unknown){}", *v, fixed,
                    lenientNote(mode)));
            doc.setString(t, std::move(fixed));
        }
    }

    NodeId acls = aclList(doc);
    if (!doc.isArray(acls))
        return;
    for (NodeId acl = doc.firstChild(acls); acl != kNoNode; acl = doc.nextSibling(acl)) {
        NodeId type = doc.memberLocal(acl, "type");
        if (auto v = doc.string(type); v && withoutPrefix(*v, kAclModule) == "ethernet-acl-type") {
            sink.at(type, sev, codes::kLegacyAclType,
                fmt::format(
                    "ACL type \"{}\" is the draft name; RFC 8519 calls it \"eth-acl-type\"{}", *v, lenientNote(mode)));
            doc.setString(type, "eth-acl-type");
        }
        NodeId aces = aceList(doc, acl);
        if (!doc.isArray(aces))
            continue;
        for (NodeId ace = doc.firstChild(aces); ace != kNoNode; ace = doc.nextSibling(ace)) {
            NodeId et = doc.memberLocal(doc.memberLocal(doc.memberLocal(ace, "matches"), "eth"), "ethertype");
            auto v = doc.string(et);
            if (!v || !isHexEthertype(*v))
                continue;
            unsigned value = 0;
            std::from_chars(v->data() + 2, v->data() + v->size(), value, 16); // isHexEthertype checked the digits
            sink.at(et, sev, codes::kLegacyHexEthertype,
                fmt::format("ethertype \"{}\" is a string; write the number {} (or a name such as \"ipv4\"){}", *v,
                    value, lenientNote(mode)));
            doc.setNumber(et, std::to_string(value));
        }
    }
}

void handleExtensions(json::Document& doc, Mode mode, Sink& sink, std::vector<OpaqueExtension>& opaque)
{
    std::vector<std::string_view> declared;
    NodeId ext = doc.memberLocal(doc.member(doc.root(), kMudContainer), "extensions");
    if (doc.isArray(ext))
        for (NodeId e = doc.firstChild(ext); e != kNoNode; e = doc.nextSibling(e))
            if (auto s = doc.string(e))
                declared.push_back(*s);
    auto isDeclared
        = [&](std::string_view name) { return std::find(declared.begin(), declared.end(), name) != declared.end(); };
    const Severity undeclared = mode == Mode::Strict ? Severity::Error : Severity::Warning;

    doc.forEachQualifiedMember([&](NodeId id) {
        const json::Node& n = doc[id];
        std::string_view module = json::moduleName(n.key);
        if (std::find(kCoreModules.begin(), kCoreModules.end(), module) != kCoreModules.end())
            return;
        if (module == kTransparencyModule) {
            if (!isDeclared(kTransparencyExtension))
                sink.at(id, undeclared, codes::kExtensionUndeclared,
                    fmt::format("\"{}\" is data of the \"{}\" extension, which \"extensions\" does not list", n.key,
                        kTransparencyExtension));
            return;
        }
        if (std::find(kTlsModules.begin(), kTlsModules.end(), module) != kTlsModules.end()) {
            if (isDeclared(kTlsExtension))
                sink.at(id, Severity::Warning, codes::kExtensionNotEnforced,
                    fmt::format("\"{}\" (extension \"{}\", RFC 9761 TLS profiles) is carried as-is but not enforced",
                        n.key, kTlsExtension));
            else
                sink.at(id, undeclared, codes::kExtensionUndeclared,
                    fmt::format("\"{}\" is data of the \"{}\" extension, which \"extensions\" does not list", n.key,
                        kTlsExtension));
            opaque.push_back(OpaqueExtension { std::string(module), doc.compact(id), doc.pathOf(id) });
            doc.remove(id);
            return;
        }
        auto covering = std::find_if(
            declared.begin(), declared.end(), [&](std::string_view d) { return extensionCovers(d, module); });
        if (covering != declared.end())
            sink.at(id, Severity::Warning, codes::kExtensionIgnored,
                fmt::format("\"{}\" belongs to extension \"{}\", which mudguard does not know; it is ignored", n.key,
                    *covering));
        else
            sink.at(id, undeclared, codes::kExtensionUndeclared,
                fmt::format("\"{}\" belongs to module \"{}\", which is not part of the MUD model and which no "
                            "entry of \"extensions\" declares",
                    n.key, module));
        doc.remove(id);
    });
}

namespace {

bool typeAllows(std::string_view type, std::string_view family)
{
    if (family == "ipv4")
        return type == "ipv4-acl-type" || type == "mixed-eth-ipv4-acl-type" || type == "mixed-eth-ipv4-ipv6-acl-type";
    if (family == "ipv6")
        return type == "ipv6-acl-type" || type == "mixed-eth-ipv6-acl-type" || type == "mixed-eth-ipv4-ipv6-acl-type";
    return type == "eth-acl-type" || type == "mixed-eth-ipv4-acl-type" || type == "mixed-eth-ipv6-acl-type"
        || type == "mixed-eth-ipv4-ipv6-acl-type";
}

bool isKnownAclType(std::string_view type)
{
    return type == "ipv4-acl-type" || type == "ipv6-acl-type" || type == "eth-acl-type"
        || type == "mixed-eth-ipv4-acl-type" || type == "mixed-eth-ipv6-acl-type"
        || type == "mixed-eth-ipv4-ipv6-acl-type";
}

bool isHttpsUrl(std::string_view url)
{
    constexpr std::string_view scheme = "https://";
    if (url.size() <= scheme.size())
        return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i])
            return false;
    char c = url[scheme.size()];
    return c != '/' && c != '?' && c != '#';
}

/// False when the authority of an https URL names no host ("https://@/", "https://:443/"):
/// RFC 9110 section 4.2.2 makes such a URL invalid.
bool hasHost(std::string_view url)
{
    std::string_view authority = url.substr(url.find("://") + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
        authority = authority.substr(at + 1);
    bool literal = !authority.empty() && authority.front() == '[';
    std::string_view host = authority.substr(0, literal ? authority.find(']') : authority.find(':'));
    // A host of dots only is empty once the root label's dot is dropped.
    return host.find_first_not_of(".[") != std::string_view::npos;
}

/// Removes later entries of `list` whose "name" repeats an earlier one, reporting each.
void removeDuplicateNames(json::Document& doc, NodeId list, Sink& sink, std::string_view what)
{
    if (!doc.isArray(list))
        return;
    std::unordered_set<std::string_view> seen;
    for (NodeId e = doc.firstChild(list); e != kNoNode;) {
        NodeId next = doc.nextSibling(e);
        if (auto name = nameOf(doc, e); name && !seen.insert(*name).second) {
            sink.at(doc.memberLocal(e, "name"), Severity::Error, codes::kDuplicateEntry,
                fmt::format("{} \"{}\" is defined more than once", what, *name));
            doc.remove(e);
        }
        e = next;
    }
}

void requireMember(
    json::Document& doc, Sink& sink, NodeId obj, std::string_view name, json::Type type, std::string_view placeholder)
{
    if (doc.memberLocal(obj, name) != kNoNode)
        return;
    sink.missing(doc.pathOf(obj) + "/" + std::string(name), obj, Severity::Error, codes::kYangMandatoryMissing,
        fmt::format("\"{}\" is missing; it is mandatory", name));
    // A placeholder lets YANG validation look further; the document is invalid anyway.
    doc.addMember(obj, std::string(name), type, std::string(placeholder));
}

constexpr std::array<std::string_view, 3> kFamilies = { "eth", "ipv4", "ipv6" };

/// The ACL type whose entries may match on exactly these families.
std::string_view typeFor(bool eth, bool ipv4, bool ipv6)
{
    if (ipv4 && ipv6)
        return "mixed-eth-ipv4-ipv6-acl-type";
    if (eth && ipv4)
        return "mixed-eth-ipv4-acl-type";
    if (eth && ipv6)
        return "mixed-eth-ipv6-acl-type";
    if (ipv6)
        return "ipv6-acl-type";
    if (eth)
        return "eth-acl-type";
    return "ipv4-acl-type";
}

/// The draft ACL model let any entry match on any family; RFC 8519 ties the families to the
/// ACL type. Lenient mode gives such an ACL the mixed type that covers what its entries use.
void widenLegacyAclType(json::Document& doc, Sink& sink, NodeId acl, NodeId typeNode, std::string& typeName)
{
    bool used[3] = { false, false, false };
    for (std::size_t f = 0; f < kFamilies.size(); ++f)
        used[f] = typeAllows(typeName, kFamilies[f]);
    bool widen = false;
    NodeId aces = aceList(doc, acl);
    for (NodeId ace = doc.firstChild(aces); ace != kNoNode; ace = doc.nextSibling(ace)) {
        NodeId matches = doc.memberLocal(ace, "matches");
        for (std::size_t f = 0; f < kFamilies.size(); ++f) {
            if (doc.memberLocal(matches, kFamilies[f]) != kNoNode && !typeAllows(typeName, kFamilies[f])) {
                used[f] = true;
                widen = true;
            }
        }
    }
    if (!widen)
        return;
    std::string wider(typeFor(used[0], used[1], used[2]));
    sink.at(typeNode, Severity::Warning, codes::kAceTypeMismatch,
        fmt::format("ACL \"{}\" of type {} has entries matching on other families, as the draft ACL model "
                    "allowed; read as {}",
            nameOf(doc, acl).value_or(""), typeName, wider));
    doc.setString(typeNode, wider);
    typeName = wider;
}

} // namespace

void checkMudRules(json::Document& doc, Mode mode, Sink& sink)
{
    const NodeId root = doc.root();
    const NodeId mud = doc.member(root, kMudContainer);
    if (mud == kNoNode) {
        sink.missing(fmt::format("/{}", kMudContainer), root, Severity::Error, codes::kMudMissing,
            fmt::format("the document has no \"{}\" container, so it is not a MUD file (RFC 8520)", kMudContainer));
    }

    // ACLs: unique names, unique entry names, types known.
    const NodeId acls = aclList(doc);
    removeDuplicateNames(doc, acls, sink, "ACL");
    std::unordered_map<std::string_view, NodeId> aclByName;
    if (doc.isArray(acls)) {
        for (NodeId acl = doc.firstChild(acls); acl != kNoNode; acl = doc.nextSibling(acl)) {
            if (auto name = nameOf(doc, acl))
                aclByName.emplace(*name, acl);
            removeDuplicateNames(doc, aceList(doc, acl), sink, "ACE");
        }
    }

    if (doc.isObject(mud)) {
        requireMember(doc, sink, mud, "mud-version", json::Type::Number, "1");
        requireMember(doc, sink, mud, "mud-url", json::Type::String, "https://mud.invalid/");
        requireMember(doc, sink, mud, "last-update", json::Type::String, "1970-01-01T00:00:00Z");
        requireMember(doc, sink, mud, "is-supported", json::Type::True, "");

        NodeId version = doc.memberLocal(mud, "mud-version");
        if (auto v = doc.unsignedValue(version); v && *v != 1)
            sink.at(version, Severity::Warning, codes::kMudVersionUnknown,
                fmt::format(
                    "mud-version {} is not 1, the version RFC 8520 specifies; the file is read as version 1", *v));
        NodeId urlNode = doc.memberLocal(mud, "mud-url");
        if (auto url = doc.string(urlNode); url && !isHttpsUrl(*url))
            sink.at(urlNode, Severity::Error, codes::kMudUrlNotHttps,
                fmt::format("mud-url \"{}\" must be an https URL (RFC 8520)", *url));
        else if (url && !hasHost(*url))
            sink.at(urlNode, Severity::Error, codes::kMudUrlNotHttps,
                fmt::format("mud-url \"{}\" names no host; an https URL needs one (RFC 9110 section 4.2.2)", *url));
        if (NodeId c = doc.memberLocal(mud, "cache-validity"); auto hours = doc.unsignedValue(c)) {
            if (*hours < 1 || *hours > 168) {
                sink.at(c, Severity::Error, codes::kCacheValidityRange,
                    fmt::format("cache-validity {} is out of range 1..168 hours", *hours));
                doc.remove(c);
            }
        }
        if (NodeId s = doc.memberLocal(mud, "systeminfo"); auto text = doc.string(s)) {
            if (auto chars = codePoints(*text); chars > 60)
                sink.at(s, Severity::Warning, codes::kSysteminfoLong,
                    fmt::format("systeminfo has {} characters; RFC 8520 asks for at most 60, so it may be cut when "
                                "shown",
                        chars));
        }

        std::unordered_set<std::string_view> referenced;
        for (std::string_view direction : { "from-device-policy", "to-device-policy" }) {
            NodeId list
                = doc.memberLocal(doc.memberLocal(doc.memberLocal(mud, direction), "access-lists"), "access-list");
            removeDuplicateNames(doc, list, sink, fmt::format("{} entry", direction));
            if (!doc.isArray(list))
                continue;
            for (NodeId e = doc.firstChild(list); e != kNoNode;) {
                NodeId next = doc.nextSibling(e);
                NodeId nameNode = doc.memberLocal(e, "name");
                auto name = doc.string(nameNode);
                if (!name) {
                    e = next;
                    continue;
                }
                auto acl = aclByName.find(*name);
                if (acl == aclByName.end()) {
                    sink.at(nameNode, Severity::Error, codes::kAclUndefined,
                        fmt::format(
                            "{} names ACL \"{}\", which \"{}\" does not define", direction, *name, kAclsContainer));
                    doc.remove(e);
                } else {
                    referenced.insert(*name);
                    if (doc.memberLocal(acl->second, "type") == kNoNode)
                        sink.at(acl->second, Severity::Error, codes::kAclTypeMissing,
                            fmt::format("ACL \"{}\", used by {}, has no \"type\"; a MUD policy needs one of the RFC "
                                        "8519 ACL types (ipv4-acl-type, ipv6-acl-type, eth-acl-type or a mixed type)",
                                *name, direction));
                }
                e = next;
            }
        }
        for (const auto& [name, acl] : aclByName)
            if (!referenced.count(name))
                sink.at(acl, Severity::Warning, codes::kAclUnreferenced,
                    fmt::format("ACL \"{}\" is not used by from-device-policy or to-device-policy", name));
    }

    if (!doc.isArray(acls))
        return;
    for (NodeId acl = doc.firstChild(acls); acl != kNoNode; acl = doc.nextSibling(acl)) {
        NodeId typeNode = doc.memberLocal(acl, "type");
        auto type = doc.string(typeNode);
        std::string typeName(type ? withoutPrefix(*type, kAclModule) : std::string_view());
        NodeId aces = aceList(doc, acl);
        if (!doc.isArray(aces))
            continue;
        if (mode == Mode::Lenient && isKnownAclType(typeName))
            widenLegacyAclType(doc, sink, acl, typeNode, typeName);
        for (NodeId ace = doc.firstChild(aces); ace != kNoNode; ace = doc.nextSibling(ace)) {
            if (!doc.isObject(ace))
                continue;
            NodeId matches = doc.memberLocal(ace, "matches");
            if (isKnownAclType(typeName)) {
                for (std::string_view family : kFamilies) {
                    NodeId m = doc.memberLocal(matches, family);
                    if (m != kNoNode && !typeAllows(typeName, family))
                        sink.at(m, Severity::Warning, codes::kAceTypeMismatch,
                            fmt::format("{} matches in an ACL of type {}: RFC 8519 allows them only in ACLs whose type "
                                        "includes {}",
                                family, typeName, family));
                }
            }
            NodeId mudMatch = doc.member(matches, "ietf-mud:mud");
            for (std::string_view leaf : { "controller", "model" }) {
                NodeId n = doc.memberLocal(mudMatch, leaf);
                if (auto v = doc.string(n); v && v->empty())
                    sink.at(n, Severity::Error, codes::kMudClassEmpty,
                        leaf == "model"
                            ? std::string("\"model\" is empty, so it names no model; RFC 8520 names a model with its "
                                          "MUD URL")
                            : std::string("\"controller\" is empty, so it names no class; RFC 8520 names a class "
                                          "with a URI"));
            }
            NodeId controller = doc.memberLocal(mudMatch, "controller");
            if (auto uri = doc.string(controller)) {
                constexpr std::string_view urnPrefix = "urn:ietf:params:mud:";
                if (uri->substr(0, urnPrefix.size()) == urnPrefix) {
                    std::string_view cls = uri->substr(urnPrefix.size());
                    if (cls != "dns" && cls != "ntp")
                        sink.at(controller, Severity::Warning, codes::kControllerUrnUnregistered,
                            fmt::format("controller \"{}\" is not a registered MUD class (RFC 8520 registers "
                                        "urn:ietf:params:mud:dns and urn:ietf:params:mud:ntp); the administrator must "
                                        "say which hosts it means",
                                *uri));
                }
            }
            NodeId actions = doc.memberLocal(ace, "actions");
            if (actions == kNoNode)
                actions = doc.addMember(ace, "actions", json::Type::Object, "");
            requireMember(doc, sink, actions, "forwarding", json::Type::String, "drop");
        }
    }
}

} // namespace mudguard::mudparser
