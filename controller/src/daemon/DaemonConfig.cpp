#include "mudguard/controller/DaemonConfig.h"

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include "mudguard/controller/Store.h"
#include "mudguard/mudparser/JsonValidator.h"

namespace mudguard::controller {

namespace {

using mudparser::Diagnostic;
using mudparser::Severity;
using rapidjson::Value;

/// Replaces // line comments and /* block comments */ outside JSON strings with spaces, keeping
/// every newline, so that the result is plain JSON with every token where it was (diagnostics
/// keep their lines and columns). An unterminated block comment is left for the JSON parser.
std::string blankJsonComments(std::string_view text)
{
    std::string out(text);
    bool inString = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
        char c = out[i];
        if (inString) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                inString = false;
            continue;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '/' && i + 1 < out.size() && out[i + 1] == '/') {
            for (; i < out.size() && out[i] != '\n'; ++i)
                out[i] = ' ';
        } else if (c == '/' && i + 1 < out.size() && out[i + 1] == '*') {
            auto end = out.find("*/", i + 2);
            if (end == std::string::npos)
                break;
            for (std::size_t j = i; j < end + 2; ++j)
                if (out[j] != '\n')
                    out[j] = ' ';
            i = end + 1;
        }
    }
    return out;
}

const Value* member(const Value& obj, const char* name)
{
    if (!obj.IsObject())
        return nullptr;
    auto it = obj.FindMember(name);
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

template <typename T> void readUint(const Value& obj, const char* name, T& out)
{
    if (auto* v = member(obj, name); v && v->IsUint64())
        out = static_cast<T>(v->GetUint64());
}

void readBool(const Value& obj, const char* name, bool& out)
{
    if (auto* v = member(obj, name); v && v->IsBool())
        out = v->GetBool();
}

void readString(const Value& obj, const char* name, std::string& out)
{
    if (auto* v = member(obj, name); v && v->IsString())
        out.assign(v->GetString(), v->GetStringLength());
}

template <typename T> void readOptional(const Value& obj, const char* name, std::optional<T>& out)
{
    if (auto* v = member(obj, name); v && v->IsString())
        out = T(std::string(v->GetString(), v->GetStringLength()));
}

template <typename T> void readList(const Value& obj, const char* name, std::vector<T>& out)
{
    if (auto* v = member(obj, name); v && v->IsArray())
        for (const auto& e : v->GetArray())
            if (e.IsString())
                out.push_back(T(std::string(e.GetString(), e.GetStringLength())));
}

AddressList readAddressList(const Value& obj)
{
    AddressList l;
    readList(obj, "address", l.addresses);
    readList(obj, "name", l.names);
    return l;
}

template <typename F> void forEach(const Value& obj, const char* name, F&& f)
{
    if (auto* v = member(obj, name); v && v->IsArray())
        for (const auto& e : v->GetArray())
            f(e);
}

DaemonConfig read(const Value& root)
{
    DaemonConfig c;
    const Value& top = *member(root, "mudguard-config:mudguard");
    if (auto* lan = member(top, "lan")) {
        readList(*lan, "interface", c.lanInterfaces);
        readList(*lan, "prefix", c.lanPrefixes);
        readList(*lan, "router-address", c.routerAddresses);
    }
    if (auto* v = member(top, "state-directory"); v && v->IsString())
        c.stateDirectory = v->GetString();
    if (auto* v = member(top, "hook-socket"); v && v->IsString())
        c.hookSocket = v->GetString();
    if (auto* api = member(top, "api")) {
        readBool(*api, "enabled", c.api.enabled);
        readString(*api, "listen-address", c.api.listenAddress);
        readUint(*api, "port", c.api.port);
        if (auto* tls = member(*api, "tls")) {
            readOptional(*tls, "certificate", c.api.tlsCertificate);
            readOptional(*tls, "key", c.api.tlsKey);
        }
        forEach(*api, "token", [&](const Value& t) {
            DaemonConfig::Api::Token tok;
            readString(t, "name", tok.name);
            readString(t, "sha256", tok.sha256);
            readString(t, "role", tok.role);
            c.api.tokens.push_back(std::move(tok));
        });
        readUint(*api, "max-request-bytes", c.api.maxRequestBytes);
        readUint(*api, "max-connections", c.api.maxConnections);
        readUint(*api, "timeout-seconds", c.api.timeoutSeconds);
    }
    if (auto* trust = member(top, "trust")) {
        readString(*trust, "signature", c.trust.signature);
        readList(*trust, "trust-anchor", c.trust.trustAnchors);
        forEach(*trust, "authority", [&](const Value& a) {
            DaemonConfig::Trust::Authority auth;
            readString(a, "host", auth.host);
            readList(a, "trust-anchor", auth.trustAnchors);
            c.trust.authorities.push_back(std::move(auth));
        });
        readString(*trust, "default-signature-url", c.trust.defaultSignatureUrl);
    }
    if (auto* fetch = member(top, "fetch")) {
        readUint(*fetch, "timeout-seconds", c.fetch.timeoutSeconds);
        readUint(*fetch, "max-bytes", c.fetch.maxBytes);
        readUint(*fetch, "max-redirects", c.fetch.maxRedirects);
        readList(*fetch, "ca-file", c.fetch.caFiles);
        readList(*fetch, "allow-private", c.fetch.allowPrivate);
        readUint(*fetch, "min-interval-ms", c.fetch.minIntervalMs);
    }
    if (auto* classes = member(top, "classes")) {
        forEach(*classes, "controller", [&](const Value& v) {
            DaemonConfig::Classes::Controller ctl;
            readString(v, "uri", ctl.uri);
            ctl.where = readAddressList(v);
            c.classes.controllers.push_back(std::move(ctl));
        });
        forEach(*classes, "my-controller", [&](const Value& v) {
            DaemonConfig::Classes::MyController ctl;
            readString(v, "mud-url", ctl.mudUrl);
            ctl.where = readAddressList(v);
            c.classes.myControllers.push_back(std::move(ctl));
        });
        readOptional(*classes, "ntp-server", c.classes.ntpServer);
    }
    forEach(top, "device", [&](const Value& v) {
        DaemonConfig::Device d;
        readString(v, "mac", d.mac);
        d.mac = canonicalMac(d.mac).value_or(d.mac);
        readOptional(v, "mud-url", d.mudUrl);
        readOptional(v, "mud-file", d.mudFile);
        c.devices.push_back(std::move(d));
    });
    if (auto* p = member(top, "posture")) {
        readString(*p, "deny-action", c.posture.denyAction);
        readString(*p, "unmanaged", c.posture.unmanaged);
        readUint(*p, "leave-grace-seconds", c.posture.leaveGraceSeconds);
    }
    if (auto* i = member(top, "infrastructure")) {
        readBool(*i, "dhcp", c.infrastructure.dhcp);
        readBool(*i, "dns", c.infrastructure.dns);
        readBool(*i, "ndp", c.infrastructure.ndp);
        readBool(*i, "ntp", c.infrastructure.ntp);
    }
    if (auto* d = member(top, "dns")) {
        readOptional(*d, "resolver", c.dns.resolver);
        readUint(*d, "resolver-port", c.dns.resolverPort);
        readBool(*d, "snoop-answers", c.dns.snoopAnswers);
        readUint(*d, "min-ttl", c.dns.minTtl);
        readUint(*d, "max-ttl", c.dns.maxTtl);
    }
    if (auto* d = member(top, "discovery")) {
        readBool(*d, "neighbours", c.discovery.neighbours);
        readBool(*d, "lldp", c.discovery.lldp);
        readOptional(*d, "lldpctl-socket", c.discovery.lldpctlSocket);
        readString(*d, "url-withdrawn", c.discovery.urlWithdrawn);
    }
    if (auto* n = member(top, "nflog")) {
        readUint(*n, "drop-group", c.nflog.dropGroup);
        readUint(*n, "dns-group", c.nflog.dnsGroup);
        readUint(*n, "drop-log-rate", c.nflog.dropLogRate);
        readUint(*n, "summary-interval", c.nflog.summaryInterval);
    }
    return c;
}

/// The checks YANG cannot make: files that must be readable, values that must fit together.
void checkSemantics(const DaemonConfig& c, const std::string& file, mudparser::Report& report)
{
    auto error = [&](std::string path, std::string code, std::string message) {
        Diagnostic d;
        d.severity = Severity::Error;
        d.code = std::move(code);
        d.message = std::move(message);
        d.file = file;
        d.path = "/mudguard-config:mudguard/" + path;
        report.diagnostics.push_back(std::move(d));
    };
    auto readable = [&](const std::filesystem::path& p, const std::string& path) {
        if (::access(p.c_str(), R_OK) != 0)
            error(path, "config-file-unreadable", fmt::format("the file \"{}\" cannot be read", p.string()));
    };
    for (const auto& a : c.trust.trustAnchors)
        readable(a, "trust/trust-anchor");
    for (const auto& auth : c.trust.authorities)
        for (const auto& a : auth.trustAnchors)
            readable(a, fmt::format("trust/authority[host='{}']/trust-anchor", auth.host));
    for (const auto& f : c.fetch.caFiles)
        readable(f, "fetch/ca-file");
    if (c.api.tlsCertificate)
        readable(*c.api.tlsCertificate, "api/tls/certificate");
    if (c.api.tlsKey)
        readable(*c.api.tlsKey, "api/tls/key");
    for (const auto& d : c.devices)
        if (d.mudFile)
            readable(*d.mudFile, fmt::format("device[mac='{}']/mud-file", d.mac));
    if (c.trust.signature != "off" && c.trust.trustAnchors.empty() && c.trust.authorities.empty())
        error("trust", "config-no-trust-anchor",
            fmt::format(
                "signature \"{}\" needs at least one trust-anchor (global or per authority)", c.trust.signature));
    if (c.dns.minTtl > c.dns.maxTtl)
        error("dns/min-ttl", "config-ttl-range",
            fmt::format("min-ttl {} is larger than max-ttl {}", c.dns.minTtl, c.dns.maxTtl));
    if (c.nflog.dropGroup == c.nflog.dnsGroup)
        error("nflog/dns-group", "config-nflog-group", "drop-group and dns-group must differ");
    std::set<std::string> hashes;
    for (const auto& t : c.api.tokens)
        if (!hashes.insert(t.sha256).second)
            error(fmt::format("api/token[name='{}']/sha256", t.name), "config-token-duplicate",
                "two tokens have the same hash: each holder needs a token of its own");
}

} // namespace

LoadedConfig parseDaemonConfig(
    std::string_view text, const std::string& fileName, const std::filesystem::path& schemaDir)
{
    LoadedConfig out;
    std::string plain = blankJsonComments(text);
    mudparser::JsonValidator validator(schemaDir, { { kConfigModule, kConfigRevision, {} } });
    out.report = validator.validate(plain, fileName);
    if (out.report.hasErrors())
        return out;
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(plain.c_str(), plain.size());
    if (doc.HasParseError() || !doc.IsObject() || !member(doc, "mudguard-config:mudguard")) {
        Diagnostic d;
        d.code = "config-empty";
        d.message = "the configuration holds no \"mudguard-config:mudguard\" object";
        d.file = fileName;
        out.report.diagnostics.push_back(std::move(d));
        return out;
    }
    DaemonConfig config = read(doc);
    checkSemantics(config, fileName, out.report);
    if (!out.report.hasErrors())
        out.config = std::move(config);
    return out;
}

LoadedConfig loadDaemonConfig(const std::filesystem::path& file, const std::filesystem::path& schemaDir)
{
    std::ifstream in(file, std::ios::binary);
    std::ostringstream ss;
    if (in)
        ss << in.rdbuf();
    if (!in) {
        LoadedConfig out;
        Diagnostic d;
        d.code = "config-io";
        d.message = fmt::format("cannot read the configuration file: {}", std::strerror(errno));
        d.file = file.string();
        out.report.diagnostics.push_back(std::move(d));
        return out;
    }
    return parseDaemonConfig(ss.str(), file.string(), schemaDir);
}

} // namespace mudguard::controller
