// `mudguard policies`: the MUD files in force, from the API.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/ApiClient.h"
#include "cli/ApiCommands.h"
#include "json/BoundedJson.h"

namespace mudguard::controller::cli {

namespace {

void listPolicies(const ApiClientOptions& o)
{
    ApiClient client(o);
    std::string body;
    auto doc = client.get("/api/v1/policies", &body);
    if (o.json) {
        std::cout << body << "\n";
        return;
    }
    Table table({ "ID", "SOURCE", "SIGNATURE", "SIGNER", "FETCHED", "VALID UNTIL", "SUPPORTED", "DEVICES", "MUD URL" });
    if (doc.HasMember("policies") && doc["policies"].IsArray()) {
        for (const auto& p : doc["policies"].GetArray()) {
            const auto* signer = json::member(p, "signer");
            bool haveSigner = signer && signer->IsObject();
            const auto* devices = json::member(p, "devices");
            std::size_t n = devices && devices->IsArray() ? devices->Size() : 0;
            table.add({ text(p, "id"), text(p, "source"), haveSigner ? text(*signer, "status") : "-",
                haveSigner ? text(*signer, "subject") : "-", when(p, "fetched-at"), when(p, "valid-until"),
                text(p, "is-supported"), std::to_string(n), text(p, "mud-url") });
        }
    }
    table.print(std::cout);
    std::size_t n = table.rows() - 1;
    std::cout << fmt::format("{} polic{}\n", n, n == 1 ? "y" : "ies");
}

} // namespace

void registerPoliciesCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<ApiClientOptions>();
    CLI::App* cmd = app.add_subcommand("policies", "List the MUD files in force, their sources, signers and devices.");
    cmd->description("List the MUD files in force (GET /api/v1/policies): where each came from (fetched or a local\n"
                     "file), its signature and signer, when it was fetched and until when it is valid, whether the\n"
                     "router can express all of it, and how many devices use it. Needs an auditor or admin token.\n\n"
                     "Exit status: 0 done, 1 the API refused the request, 2 usage error or API unreachable.");
    addApiClientOptions(*cmd, *opts);
    cmd->callback([opts, &ctx] { ctx.exitCode = runClientCommand([&] { listPolicies(*opts); }); });
}

} // namespace mudguard::controller::cli
