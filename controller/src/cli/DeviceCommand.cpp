// `mudguard device MAC`: everything the API knows about one device.
#include <iostream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "mudguard/controller/Store.h"

#include "cli/ApiClient.h"
#include "cli/ApiCommands.h"
#include "json/BoundedJson.h"

namespace mudguard::controller::cli {

namespace {

struct DeviceOptions {
    ApiClientOptions api;
    std::string mac;
};

void field(const std::string& name, const std::string& value)
{
    std::cout << fmt::format("  {:<20}{}\n", name, printable(value));
}

void heading(const char* title) { std::cout << "\n" << title << "\n"; }

void indentedTable(const Table& t)
{
    std::ostringstream s;
    t.print(s);
    std::istringstream lines(s.str());
    for (std::string line; std::getline(lines, line);)
        std::cout << "  " << line << "\n";
}

void printMud(const rapidjson::Value& d)
{
    const auto* mud = json::member(d, "mud");
    heading("MUD file");
    if (!mud || !mud->IsObject()) {
        std::cout << "  none in force\n";
        return;
    }
    field("manufacturer", text(*mud, "mfg-name"));
    field("model", text(*mud, "model-name"));
    field("systeminfo", text(*mud, "systeminfo"));
    field("documentation", text(*mud, "documentation"));
    field("firmware / software", text(*mud, "firmware-rev") + " / " + text(*mud, "software-rev"));
    field("last update", text(*mud, "last-update"));
    field("cache validity", text(*mud, "cache-validity") + " hours");
    field("fetched", when(d, "fetched-at"));
    field("valid until", when(d, "valid-until"));
    field("supported here", text(*mud, "is-supported"));
    field("extensions", joined(*mud, "extensions", ", "));
    const auto* t = json::member(*mud, "transparency");
    if (t && t->IsObject()) {
        std::string sboms;
        if (const auto* s = json::member(*t, "sboms"); s && s->IsArray())
            for (const auto& e : s->GetArray())
                sboms += (sboms.empty() ? "" : ", ") + text(e, "url");
        field("SBOM", sboms.empty() ? text(*t, "sbom-contact-uri") : sboms);
        field("vulnerabilities",
            joined(*t, "vuln-urls", ", ") != "-" ? joined(*t, "vuln-urls", ", ") : text(*t, "vuln-contact-uri"));
    }
}

void printSigner(const rapidjson::Value& d)
{
    const auto* s = json::member(d, "signer");
    heading("Signature");
    if (!s || !s->IsObject()) {
        std::cout << "  none\n";
        return;
    }
    field("status", text(*s, "status"));
    field("signer", text(*s, "subject"));
    field("issuer", text(*s, "issuer"));
    field("fingerprint", text(*s, "fingerprint"));
    field("certificate until", when(*s, "not-after"));
    field("chain", joined(*s, "chain", " <- "));
    if (text(*s, "message") != "-")
        field("verdict", text(*s, "message"));
}

void printCountersAndViolations(const rapidjson::Value& d)
{
    const auto* c = json::member(d, "counters");
    heading("Counters");
    if (c && c->IsObject()) {
        field("read at", when(*c, "read-at"));
        Table t({ "ACL", "ACE", "DIRECTION", "PACKETS", "BYTES" });
        if (const auto* aces = json::member(*c, "aces"); aces && aces->IsArray())
            for (const auto& a : aces->GetArray())
                t.add({ text(a, "acl"), text(a, "ace"), text(a, "direction"), text(a, "packets"), text(a, "bytes") });
        if (t.rows() > 1)
            indentedTable(t);
        if (const auto* drops = json::member(*c, "drops"); drops && drops->IsObject())
            field("blocked", fmt::format("{} packets, {} bytes", number(*drops, "packets"), number(*drops, "bytes")));
    }
    heading("Recent violations");
    Table v({ "TIME", "DIRECTION", "PEER", "PROTOCOL", "PORT", "PACKETS" });
    if (const auto* list = json::member(d, "violations"); list && list->IsArray())
        for (const auto& e : list->GetArray())
            v.add({ when(e, "at"), text(e, "direction"), text(e, "peer"), text(e, "protocol"), text(e, "port"),
                text(e, "count") });
    if (v.rows() > 1)
        indentedTable(v);
    else
        std::cout << "  none\n";
}

void showDevice(const DeviceOptions& o)
{
    auto mac = canonicalMac(o.mac);
    if (!mac)
        throw ClientError(
            fmt::format("\"{}\" is not a MAC address (use 02:00:00:00:00:01)", printable(o.mac)), kExitUsage);
    ApiClient client(o.api);
    std::string body;
    auto d = client.get("/api/v1/devices/" + *mac, &body);
    if (o.api.json) {
        std::cout << body << "\n";
        return;
    }
    std::cout << "Device " << printable(text(d, "mac")) << "\n";
    field("state", text(d, "state") + " since " + when(d, "state-since"));
    if (text(d, "reason") != "-")
        field("reason", text(d, "reason"));
    field("learnt from", text(d, "source"));
    field("MUD URL", text(d, "mud-url"));
    field("policy", text(d, "policy"));
    field("addresses", joined(d, "addresses", ", "));
    if (const auto* p = json::member(d, "pending-url-change"); p && p->IsObject())
        field("pending URL change",
            text(*p, "new-url") + " (since " + when(*p, "requested-at") + ": " + text(*p, "reason") + ")");

    printMud(d);
    printSigner(d);

    heading("Policy");
    if (const auto* s = json::member(d, "policy-summary"); s && s->IsArray() && !s->Empty()) {
        for (const auto& line : s->GetArray())
            if (line.IsString())
                std::cout << "  " << printable(json::str(line)) << "\n";
    } else {
        std::cout << "  none\n";
    }

    printCountersAndViolations(d);

    heading("nft rules in force");
    std::string rules = text(d, "nft-rules");
    std::istringstream lines(rules == "-" ? "none" : rules);
    for (std::string line; std::getline(lines, line);)
        std::cout << "  " << printable(line) << "\n";

    heading("History");
    Table h({ "TIME", "FROM", "TO", "REASON" });
    if (const auto* list = json::member(d, "history"); list && list->IsArray())
        for (const auto& e : list->GetArray())
            h.add({ when(e, "at"), text(e, "from"), text(e, "to"), text(e, "reason") });
    indentedTable(h);
}

} // namespace

void registerDeviceCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<DeviceOptions>();
    CLI::App* cmd = app.add_subcommand("device", "Show one device: state, MUD file, signer, policy, rules, counters.");
    cmd->description("Show what the daemon knows about one device (GET /api/v1/devices/MAC): its state and history,\n"
                     "addresses, the MUD file in force with its metadata, the signer and validity, a readable\n"
                     "summary of its policy, the exact nft rules enforced for it, its counters and its recent\n"
                     "violations. Needs an auditor or admin token.\n\n"
                     "Exit status: 0 done, 1 the API refused the request (unknown MAC), 2 usage error or API\n"
                     "unreachable.");
    cmd->add_option("MAC", opts->mac, "The device's MAC address (02:00:00:00:00:01).")->required();
    addApiClientOptions(*cmd, opts->api);
    cmd->callback([opts, &ctx] { ctx.exitCode = runClientCommand([&] { showDevice(*opts); }); });
}

} // namespace mudguard::controller::cli
