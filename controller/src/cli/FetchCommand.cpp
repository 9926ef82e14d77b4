#include "cli/FetchCommand.h"

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "mudguard/mudparser/TimeText.h"
#include "mudguard/mudparser/TrustPipeline.h"

#include "cli/ShowCommand.h"
#include "cli/TrustOptions.h"

namespace mudguard::controller::cli {

namespace {

using namespace mudguard::mudparser;

struct FetchOptions {
    std::vector<std::string> anchors;
    std::vector<std::string> caFiles;
    std::string signature = "require";
    bool allowPrivate = false;
    std::string stateDir;
    bool lenient = false;
    double deadline = 10;
    std::string at;
    std::string url;
};

int runFetch(const FetchOptions& opts)
{
    TrustPolicy policy;
    policy.signature = *parseSignatureRequirement(opts.signature);
    policy.parse.mode = opts.lenient ? Mode::Lenient : Mode::Strict;
    if (!opts.at.empty()) {
        policy.verifyAt = parseRfc3339(opts.at);
        if (!policy.verifyAt) {
            std::cerr << fmt::format("mudguard fetch: --at \"{}\" is not an RFC 3339 time\n", opts.at);
            return kExitUsage;
        }
    }
    FetchConfig config;
    config.deadline = std::chrono::milliseconds(static_cast<long long>(opts.deadline * 1000));
    config.caFiles.assign(opts.caFiles.begin(), opts.caFiles.end());
    AddressPolicy addresses;
    addresses.allowAll = opts.allowPrivate;

    std::shared_ptr<Fetcher> fetcher;
    std::shared_ptr<MudCache> cache;
    std::shared_ptr<SignerRegistry> signers;
    std::unique_ptr<Parser> parser;
    try {
        if (policy.signature != SignatureRequirement::Off)
            policy.anchors = loadTrustAnchors(opts.anchors);
        fetcher = std::make_shared<Fetcher>(
            config, std::make_shared<AddressGuard>(addresses, LocalNetworks::fromInterfaces()));
        if (!opts.stateDir.empty()) {
            cache = std::make_shared<MudCache>(std::filesystem::path(opts.stateDir) / "mud-cache");
            signers = std::make_shared<FileSignerRegistry>(opts.stateDir);
            for (const auto& c : cache->corrupt())
                std::cerr << fmt::format(
                    "mudguard fetch: damaged cache entry {} set aside ({})\n", c.file.string(), c.reason);
        }
        parser = std::make_unique<Parser>();
    } catch (const std::exception& e) {
        std::cerr << "mudguard fetch: " << e.what() << '\n';
        return kExitUsage;
    }

    TrustPipeline pipeline(fetcher, policy, cache, signers);
    auto verdict = pipeline.obtain(opts.url, *parser);

    for (const auto& d : verdict.report.diagnostics)
        if (d.severity != Severity::Info || verdict.accepted)
            std::cerr << formatText(d) << '\n';
    std::cout << fmt::format("{}: {}\n", verdict.url, verdict.summary());
    if (verdict.accepted && verdict.profile) {
        if (!verdict.signatureUrl.empty())
            std::cout << fmt::format("{:<15} {}\n", "Signature URL", verdict.signatureUrl);
        if (verdict.signer)
            std::cout << fmt::format("{:<15} {} (certificate valid until {})\n", "Signed by", verdict.signer->subject,
                verdict.signer->notAfter);
        std::cout << '\n';
        Report warningsOnly;
        printProfile(*verdict.profile, warningsOnly, std::cout);
    }
    return verdict.accepted ? kExitOk : kExitRefused;
}

} // namespace

void registerFetchCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<FetchOptions>();
    CLI::App* cmd
        = app.add_subcommand("fetch", "Fetch a MUD file by its URL, verify and validate it, and summarise it.");
    cmd->description("Fetch the MUD file at URL the way the daemon does: https only, TLS 1.2 or newer with the\n"
                     "server certificate checked, at most 3 https redirects, a total deadline, a 1 MiB size limit,\n"
                     "and no connection to loopback, link-local, multicast, private or this host's own addresses.\n"
                     "Then fetch and verify the signature the file names (mud-signature), validate the file like\n"
                     "`mudguard validate`, and check that its mud-url is URL. Prints the verdict with every reason,\n"
                     "then a summary of the policy.\n\n"
                     "Exit status: 0 the file is accepted, 1 it is refused, 2 usage or set-up error.");
    addTrustAnchorOption(cmd, opts->anchors);
    cmd->add_option("--ca-file", opts->caFiles,
           "PEM file of CAs trusted for the MUD server's TLS certificate, besides the system store.\n"
           "Repeatable.")
        ->check(CLI::ExistingFile)
        ->type_name("PEM");
    cmd->add_option("--signature", opts->signature,
           "require (default): refuse a file without a valid signature; prefer: accept an unsigned file\n"
           "with a warning (an invalid signature is still refused); off: ignore signatures.")
        ->check(CLI::IsMember({ "require", "prefer", "off" }));
    cmd->add_flag("--allow-private", opts->allowPrivate,
        "Allow servers on loopback, private, link-local and this host's own addresses (to test a local\n"
        "MUD server). The daemon uses an allowlist in its configuration instead.");
    cmd->add_option("--state-dir", opts->stateDir,
           "Use and update a MUD cache (DIR/mud-cache) and remembered signers (DIR/signers.json): a fresh\n"
           "cached copy is used without fetching, a stale one is refreshed with a conditional request,\n"
           "and a signer change for a host is refused. The daemon keeps its copies in its state database;\n"
           "a DIR/mud-cache in its state directory is imported once when it starts.")
        ->type_name("DIR");
    cmd->add_flag("--lenient", opts->lenient, "Accept the legacy forms real files use, as `validate --lenient` does.");
    cmd->add_option("--deadline", opts->deadline, "Total seconds for each fetch (default 10).")
        ->check(CLI::Range(0.1, 600.0))
        ->type_name("SECONDS");
    cmd->add_option("--at", opts->at, "Verify signatures as of this RFC 3339 time instead of now.")->type_name("TIME");
    cmd->add_option("URL", opts->url, "The MUD URL (https).")->required();
    cmd->callback([opts, &ctx] { ctx.exitCode = runFetch(*opts); });
}

} // namespace mudguard::controller::cli
