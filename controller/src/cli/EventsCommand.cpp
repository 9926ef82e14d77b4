// `mudguard events`: a page of the audit log, from the API.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "mudguard/controller/Store.h"

#include "cli/ApiClient.h"
#include "cli/ApiCommands.h"

namespace mudguard::controller::cli {

namespace {

struct EventsOptions {
    ApiClientOptions api;
    std::int64_t since = 0;
    std::string device;
    std::size_t limit = 100;
};

void listEvents(const EventsOptions& o)
{
    std::string query = fmt::format("/api/v1/events?since={}&limit={}", o.since, o.limit);
    if (!o.device.empty()) {
        auto mac = canonicalMac(o.device);
        if (!mac)
            throw ClientError(fmt::format("--device: \"{}\" is not a MAC address", printable(o.device)), kExitUsage);
        query += "&device=" + *mac;
    }
    ApiClient client(o.api);
    std::string body;
    auto doc = client.get(query, &body);
    if (o.api.json) {
        std::cout << body << "\n";
        return;
    }
    Table table({ "SEQ", "TIME", "EVENT", "MAC", "MUD URL", "REASON" });
    if (doc.HasMember("events") && doc["events"].IsArray())
        for (const auto& e : doc["events"].GetArray())
            table.add({ text(e, "seq"), when(e, "at"), text(e, "event"), text(e, "mac"), text(e, "mud-url"),
                text(e, "reason") });
    table.print(std::cout);
    const bool more = doc.HasMember("more") && doc["more"].IsBool() && doc["more"].GetBool();
    if (more)
        std::cout << fmt::format("more: mudguard events --since {}{}\n", number(doc, "next"),
            o.device.empty() ? "" : " --device " + printable(o.device));
    else if (table.rows() == 1)
        std::cout << "no events\n";
}

} // namespace

void registerEventsCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<EventsOptions>();
    CLI::App* cmd = app.add_subcommand("events", "Show the audit log: every decision with its reason, page by page.");
    cmd->description("Show the audit log (GET /api/v1/events): joins, fetches, signature checks, enforcement,\n"
                     "refusals, violations and admin actions, oldest first, each with its sequence number. Page\n"
                     "with --since: the last line tells the next command. Needs an auditor or admin token.\n\n"
                     "Exit status: 0 done, 1 the API refused the request, 2 usage error or API unreachable.");
    cmd->add_option("--since", opts->since, "Show entries after this sequence number (default 0: from the start).")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--device", opts->device, "Only entries about this MAC.");
    cmd->add_option("--limit", opts->limit, "At most this many entries (1 to 1000, default 100).")
        ->check(CLI::Range(1, static_cast<int>(kMaxAuditPage)));
    addApiClientOptions(*cmd, opts->api);
    cmd->callback([opts, &ctx] { ctx.exitCode = runClientCommand([&] { listEvents(*opts); }); });
}

} // namespace mudguard::controller::cli
