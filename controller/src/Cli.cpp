#include "mudguard/controller/Cli.h"

#include <csignal>
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>

#include "mudguard/Config.h"

#include "cli/Commands.h"
#include "cli/HookCommand.h"

namespace mudguard::controller {

int cliMain(int argc, char** argv)
{
    // cpp-httplib writes with flags 0: a dead TLS peer must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);

    // Called by dnsmasq as its --dhcp-script (through a symlink): the arguments are dnsmasq's.
    if (argc > 0) {
        const char* slash = std::strrchr(argv[0], '/');
        if (std::strcmp(slash ? slash + 1 : argv[0], cli::kDnsmasqHookProgramName) == 0)
            return cli::runDnsmasqHook(std::vector<std::string>(argv + 1, argv + argc), {}, 500);
    }

    CLI::App app { "mudguard: enforce Manufacturer Usage Descriptions (RFC 8520) on a Linux router.\n\n"
                   "Devices announce a MUD URL; mudguard fetches the maker's signed MUD file, validates it\n"
                   "against the YANG models and compiles it into nftables rules, so that each device may\n"
                   "talk only to what its maker declared.",
        "mudguard" };
    app.set_version_flag("--version", std::string("mudguard ") + config::kVersion);
    app.require_subcommand(1);
    app.fallthrough(false);

    cli::CommandContext ctx;
    cli::registerCommands(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return cli::kExitUsage;
    }
    return ctx.exitCode;
}

} // namespace mudguard::controller
