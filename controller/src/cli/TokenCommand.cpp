// `mudguard token`: a new API token and its configuration entry.
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "mudguard/controller/ApiServer.h"

#include "cli/ApiClient.h"
#include "cli/ApiCommands.h"

namespace mudguard::controller::cli {

namespace {

struct TokenOptions {
    std::string name;
    std::string role;
    std::string out;
    bool json = false;
};

/// Creates `path` (mode 0600, never over an existing file) holding the token.
void writeTokenFile(const std::string& path, const std::string& token)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        throw ClientError(fmt::format("cannot create {}: {}", path, std::strerror(errno)), kExitUsage);
    std::string data = token + "\n";
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        ::unlink(path.c_str());
        throw ClientError("cannot write " + path, kExitUsage);
    }
}

void makeToken(const TokenOptions& o)
{
    if (!validApiTokenName(o.name))
        throw ClientError("--name must be 1 to 64 of the characters A-Z a-z 0-9 _ . -", kExitUsage);
    const std::string token = newApiToken();
    const std::string hash = apiTokenSha256Hex(token);
    const std::string entry = fmt::format(R"({{ "name": "{}", "sha256": "{}", "role": "{}" }})", o.name, hash, o.role);
    if (!o.out.empty())
        writeTokenFile(o.out, token);
    if (o.json) {
        std::cout << fmt::format(R"({{"name":"{}","role":"{}","sha256":"{}","token":{}}})", o.name, o.role, hash,
            o.out.empty() ? "\"" + token + "\"" : "null")
                  << "\n";
        return;
    }
    if (o.out.empty()) {
        std::cout << fmt::format("New {} token \"{}\":\n\n  {}\n\n", o.role, o.name, token)
                  << "It is shown only this once: mudguard keeps only its SHA-256. Give it to its holder, who\n"
                     "keeps it in a file readable only by them (mudguard devices --token-file FILE).\n\n";
    } else {
        std::cout << fmt::format("New {} token \"{}\" written to {} (mode 0600).\n\n", o.role, o.name, o.out);
    }
    std::cout << "Add this entry to \"api\" / \"token\" in the configuration, then reload the daemon\n"
                 "(systemctl reload mudguard):\n\n  "
              << entry << "\n";
}

} // namespace

void registerTokenCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<TokenOptions>();
    CLI::App* cmd = app.add_subcommand("token", "Make a new API token and print its configuration entry.");
    cmd->description("Make a new API token (32 random bytes) and print the configuration entry that admits it:\n"
                     "its name, role and SHA-256. The configuration never holds the token itself.\n\n"
                     "Exit status: 0 done, 2 usage or I/O error.");
    cmd->add_option("--name", opts->name, "Who holds the token; it appears in the logs and the audit log.")->required();
    cmd->add_option("--role", opts->role, "auditor (read-only) or admin.")
        ->required()
        ->check(CLI::IsMember({ "auditor", "admin" }));
    cmd->add_option("--out", opts->out, "Write the token to this new file (mode 0600) instead of printing it.");
    cmd->add_flag("--json", opts->json, "Print name, role, sha256 and token as JSON.");
    cmd->callback([opts, &ctx] { ctx.exitCode = runClientCommand([&] { makeToken(*opts); }); });
}

} // namespace mudguard::controller::cli
