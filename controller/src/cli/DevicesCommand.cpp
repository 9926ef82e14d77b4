// `mudguard devices`: the device list from the API.
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "cli/ApiClient.h"
#include "cli/ApiCommands.h"

namespace mudguard::controller::cli {

namespace {

void listDevices(const ApiClientOptions& o)
{
    ApiClient client(o);
    std::string body;
    auto doc = client.get("/api/v1/devices", &body);
    if (o.json) {
        std::cout << body << "\n";
        return;
    }
    Table table({ "MAC", "STATE", "SINCE", "SOURCE", "POLICY", "ADDRESSES", "MUD URL", "REASON" });
    std::map<std::string, int> byState;
    if (doc.HasMember("devices") && doc["devices"].IsArray()) {
        for (const auto& d : doc["devices"].GetArray()) {
            table.add({ text(d, "mac"), text(d, "state"), when(d, "state-since"), text(d, "source"), text(d, "policy"),
                joined(d, "addresses"), text(d, "mud-url"), text(d, "reason") });
            ++byState[text(d, "state")];
        }
    }
    table.print(std::cout);
    std::string states;
    for (const auto& [state, n] : byState)
        states += fmt::format("{}{} {}", states.empty() ? "" : ", ", n, printable(state));
    std::size_t n = table.rows() - 1;
    std::cout << fmt::format("{} device{}{}\n", n, n == 1 ? "" : "s", states.empty() ? "" : " (" + states + ")");
}

} // namespace

void registerDevicesCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<ApiClientOptions>();
    CLI::App* cmd
        = app.add_subcommand("devices", "List the devices the daemon knows, with state, policy and addresses.");
    cmd->description("List the devices the running daemon knows (GET /api/v1/devices): MAC, state and since when,\n"
                     "how it was learnt, the policy in force, its addresses, MUD URL and the reason of a failed or\n"
                     "quarantined state. Needs an auditor or admin token.\n\n"
                     "Exit status: 0 done, 1 the API refused the request, 2 usage error or API unreachable.");
    addApiClientOptions(*cmd, *opts);
    cmd->callback([opts, &ctx] { ctx.exitCode = runClientCommand([&] { listDevices(*opts); }); });
}

} // namespace mudguard::controller::cli
