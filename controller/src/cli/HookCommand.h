#pragma once
// `mudguard hook dnsmasq`: the dnsmasq --dhcp-script target.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/Commands.h"

namespace mudguard::controller::cli {

/// Name under which the program acts as the hook without any arguments of its own (a symlink
/// to `mudguard`, usable directly as `--dhcp-script`, since dnsmasq passes no extra arguments).
inline constexpr const char* kDnsmasqHookProgramName = "mudguard-dnsmasq-hook";

void registerHookCommand(CLI::App& app, CommandContext& ctx);

/// Forwards one dnsmasq script invocation (`args` = action, MAC or DUID, address, hostname) to
/// the daemon. `socket` empty means: $MUDGUARD_HOOK_SOCKET, else the default path. Always returns
/// kExitOk: dnsmasq must never wait for or depend on the daemon.
int runDnsmasqHook(const std::vector<std::string>& args, const std::string& socket, int timeoutMs);

} // namespace mudguard::controller::cli
