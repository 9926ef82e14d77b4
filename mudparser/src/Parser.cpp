#include "mudguard/mudparser/Parser.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "mudguard/Config.h"

#include "AceConsistency.h"
#include "Codes.h"
#include "Json.h"
#include "JsonInput.h"
#include "MudRules.h"
#include "ProfileBuilder.h"
#include "Sink.h"
#include "YangValidator.h"

namespace mudguard::mudparser {

namespace {

/// libyang reports one error per run. After each, the node concerned is taken out and the
/// document validated again, at most this many times, so that one report shows several.
constexpr int kMaxYangRounds = 8;

std::vector<YangModule> mudModules()
{
    return {
        // RFC 8519 guards its matches and ACL types with features: enable them all.
        { "ietf-access-control-list", "2019-03-04", { "*" } },
        { "ietf-mud", "2019-01-28", {} },
        // Nothing imports ietf-acldns: it must be loaded by name.
        { "ietf-acldns", "2019-01-28", {} },
        { "ietf-mud-transparency", "2023-10-10", {} },
    };
}

std::string valueFormat(std::string_view leaf)
{
    auto endsWith
        = [&](std::string_view s) { return leaf.size() >= s.size() && leaf.substr(leaf.size() - s.size()) == s; };
    if (leaf == "last-update")
        return "a date and time with a time zone, such as \"2024-05-01T12:00:00Z\"";
    if (endsWith("-ipv4-network"))
        return "an IPv4 prefix, such as \"192.0.2.0/24\"";
    if (endsWith("-ipv6-network"))
        return "an IPv6 prefix, such as \"2001:db8::/32\"";
    if (leaf.find("mac-address") != std::string_view::npos)
        return "a MAC address, such as \"00:00:5e:00:53:01\"";
    if (leaf == "src-dnsname" || leaf == "dst-dnsname" || leaf == "manufacturer")
        return "a host name or an IP address";
    if (leaf == "mud-url" || leaf == "mud-signature" || leaf == "documentation" || leaf == "model"
        || leaf == "controller" || endsWith("-url") || endsWith("-uri") || leaf == "sbom-archive-list")
        return "a URI";
    if (leaf == "ethertype")
        return "an EtherType: a number 0..65535 or a name such as \"ipv4\", \"arp\" or \"ipv6\"";
    return {};
}

std::string memberSuggestion(std::string_view member, std::string_view parent)
{
    if (member == "direction-initiated" && parent == "tcp")
        return "ietf-mud:direction-initiated";
    if ((member == "src-dnsname" || member == "dst-dnsname") && (parent == "ipv4" || parent == "ipv6"))
        return fmt::format("ietf-acldns:{}", member);
    if (member == "mud" && parent == "matches")
        return "ietf-mud:mud";
    return {};
}

class Clock {
public:
    explicit Clock(PhaseTimings* t)
        : m_on(t != nullptr)
    {
        if (m_on)
            m_last = std::chrono::steady_clock::now();
    }
    void lap(std::chrono::nanoseconds& into)
    {
        if (!m_on)
            return;
        auto now = std::chrono::steady_clock::now();
        into += now - m_last;
        m_last = now;
    }

private:
    bool m_on;
    std::chrono::steady_clock::time_point m_last;
};

} // namespace

struct Parser::Impl {
    explicit Impl(const std::filesystem::path& schemaDir)
        : validator(schemaDir, mudModules(), YangHints { valueFormat, memberSuggestion })
    {
    }
    YangValidator validator;
};

Parser::Parser(const std::filesystem::path& schemaDir)
    : m_impl(std::make_unique<Impl>(schemaDir))
{
}

Parser::~Parser() = default;

ParseResult Parser::parse(std::string_view document, const ParseOptions& options) const
{
    ParseResult result;
    Sink sink(result.report, options.fileName);
    PhaseTimings unused;
    PhaseTimings& times = options.timings ? *options.timings : unused;
    Clock clock(options.timings);

    // 1. Bounded JSON.
    JsonInput input(document, options.limits, sink,
        "the document must be a JSON object holding \"ietf-mud:mud\" and \"ietf-access-control-list:acls\"");
    if (!input.document()) {
        clock.lap(times.json);
        sink.finish();
        return result;
    }
    json::Document& doc = *input.document();
    bool withinLimits = checkAclLimits(doc, options.limits, sink);
    clock.lap(times.json);
    if (!withinLimits) {
        sink.finish();
        return result;
    }

    // 2. Legacy forms, extensions, RFC 8520 rules.
    std::vector<OpaqueExtension> opaque;
    rewriteLegacyForms(doc, options.mode, sink);
    handleExtensions(doc, options.mode, sink, opaque);
    checkMudRules(doc, options.mode, sink);
    clock.lap(times.rules);

    // 3. YANG. Where libyang finds an error, the node is taken out and validation repeated.
    validateInRounds(m_impl->validator, doc, input.text(), sink, kMaxYangRounds);
    clock.lap(times.yang);

    // 4. The model, and the contradictions inside an entry that only its typed values show.
    if (!sink.hasErrors()) {
        Profile profile = buildProfile(doc, sink, std::move(opaque));
        checkAceConsistency(doc, profile, sink);
        if (!sink.hasErrors())
            result.profile = std::move(profile);
        clock.lap(times.model);
    }
    sink.finish();
    return result;
}

Profile Parser::parseOrThrow(std::string_view document, const ParseOptions& options) const
{
    auto r = parse(document, options);
    if (!r.profile)
        throw InvalidMud(std::move(r.report));
    return std::move(*r.profile);
}

std::filesystem::path Parser::defaultSchemaDir()
{
    if (const char* env = std::getenv("MUDGUARD_SCHEMA_DIR"); env && *env)
        return env;
    std::filesystem::path src = MUDGUARD_SCHEMA_SOURCE_DIR;
    std::error_code ec;
    if (std::filesystem::exists(src / "ietf-mud@2019-01-28.yang", ec))
        return src;
    return config::kSchemaInstallDir;
}

} // namespace mudguard::mudparser
