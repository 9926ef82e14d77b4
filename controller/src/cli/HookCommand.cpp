#include "cli/HookCommand.h"

#include <cstdlib>
#include <iostream>

#include "mudguard/controller/HookEvent.h"
#include "mudguard/controller/HookServer.h"
#include "mudguard/controller/HookSpool.h"

namespace mudguard::controller::cli {

int runDnsmasqHook(const std::vector<std::string>& args, const std::string& socket, int timeoutMs)
{
    // Whatever happens, dnsmasq gets exit status 0 quickly: it runs one script at a time, and a
    // slow or failing hook would hold up every later lease event.
    try {
        auto event = leaseEventFromDnsmasq(args, [](const char* name) { return std::getenv(name); });
        if (!event)
            return kExitOk; // init, tftp, relay-snoop...: nothing to forward
        std::string path = socket;
        if (path.empty())
            if (const char* env = std::getenv(kHookSocketEnv); env && *env)
                path = env;
        if (path.empty())
            path = kDefaultHookSocket;
        // Spooled first: the event survives a daemon that is down or dies before recording it.
        auto spooled = spoolHookEvent(spoolDirFor(path), *event);
        if (spooled)
            std::cerr << "mudguard hook: event not spooled (" << toString(event->action) << "): " << *spooled << '\n';
        auto error = sendHookDatagram(path, encodeHookDatagram(*event), std::chrono::milliseconds(timeoutMs));
        if (!error.empty())
            std::cerr << "mudguard hook: event not delivered (" << toString(event->action) << "): " << error
                      << (spooled ? "" : "; the daemon reads it from the spool") << '\n';
    } catch (const std::exception& e) {
        std::cerr << "mudguard hook: ignored invocation: " << e.what() << '\n';
    } catch (...) {
        std::cerr << "mudguard hook: ignored invocation\n";
    }
    return kExitOk;
}

void registerHookCommand(CLI::App& app, CommandContext& ctx)
{
    auto* hook = app.add_subcommand("hook", "Programs that DHCP servers call on lease events.");
    hook->require_subcommand(1);
    auto* dnsmasq = hook->add_subcommand("dnsmasq",
        "The dnsmasq --dhcp-script target: writes each lease event (with DNSMASQ_MUD_URL) to the spool\n"
        "beside the daemon's socket, sends it to the socket and exits 0 at once, even when the daemon\n"
        "is down (it reads the spool when it starts). dnsmasq passes no extra\n"
        "arguments to its script: use the symlink 'mudguard-dnsmasq-hook' as --dhcp-script, with\n"
        "MUDGUARD_HOOK_SOCKET in dnsmasq's environment if the socket is not the default.");
    struct Options {
        std::string socket;
        int timeoutMs = 500;
        std::vector<std::string> args;
    };
    auto opts = std::make_shared<Options>();
    dnsmasq->add_option("--socket", opts->socket,
        std::string("the daemon's socket (default: $") + kHookSocketEnv + ", else " + kDefaultHookSocket + ")");
    dnsmasq->add_option("--timeout-ms", opts->timeoutMs, "longest wait for room in the daemon's queue")
        ->check(CLI::Range(0, 5000));
    // Everything from the action on is passed through untouched (a hostname may start with '-').
    dnsmasq->prefix_command();
    dnsmasq->callback(
        [dnsmasq, opts, &ctx] { ctx.exitCode = runDnsmasqHook(dnsmasq->remaining(), opts->socket, opts->timeoutMs); });
}

} // namespace mudguard::controller::cli
