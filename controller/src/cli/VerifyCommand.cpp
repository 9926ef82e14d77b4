#include "cli/VerifyCommand.h"

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "mudguard/mudparser/Limits.h"
#include "mudguard/mudparser/TimeText.h"

#include "cli/MudInput.h"
#include "cli/TrustOptions.h"

namespace mudguard::controller::cli {

namespace {

struct VerifyOptions {
    std::string signature;
    std::vector<std::string> anchors;
    std::string at;
    std::string file;
};

int runVerify(const VerifyOptions& opts)
{
    std::optional<std::chrono::system_clock::time_point> at;
    if (!opts.at.empty()) {
        at = mudparser::parseRfc3339(opts.at);
        if (!at) {
            std::cerr << fmt::format("mudguard verify: --at \"{}\" is not an RFC 3339 time such as "
                                     "2019-01-01T00:00:00Z\n",
                opts.at);
            return kExitUsage;
        }
    }
    std::shared_ptr<const mudparser::TrustAnchors> anchors;
    try {
        anchors = loadTrustAnchors(opts.anchors);
    } catch (const std::exception& e) {
        std::cerr << "mudguard verify: " << e.what() << '\n';
        return kExitUsage;
    }
    auto input = readMudInput(opts.file, mudparser::Limits {}.maxDocumentBytes);
    if (input.ioError) {
        std::cerr << "mudguard verify: " << *input.ioError << '\n';
        return kExitUsage;
    }
    auto d = signatureDiagnostic(opts.file, input.content, opts.signature, *anchors, at);
    if (d.code == "signature-io") {
        std::cerr << "mudguard verify: " << d.message << '\n';
        return kExitUsage;
    }
    std::cout << mudparser::formatText(d) << '\n';
    return d.severity == mudparser::Severity::Error ? kExitRefused : kExitOk;
}

} // namespace

void registerVerifyCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<VerifyOptions>();
    CLI::App* cmd = app.add_subcommand("verify", "Check a MUD file's detached CMS signature (RFC 8520 section 13).");
    cmd->description("Check that SIG is a valid detached CMS signature (DER) over exactly the bytes of FILE:\n"
                     "one signer, no embedded content, a certificate chain up to a trust anchor (intermediates\n"
                     "embedded in the signature), and a signer certificate that allows digitalSignature.\n"
                     "The reason of a failure names the certificate and the check that failed.\n\n"
                     "Exit status: 0 the signature is valid, 1 it is not, 2 usage or I/O error.");
    cmd->add_option("--signature", opts->signature, "The detached DER signature (for example dev.p7s).")
        ->required()
        ->type_name("SIG");
    addTrustAnchorOption(cmd, opts->anchors);
    cmd->add_option("--at", opts->at,
           "Verify as of this time instead of now (RFC 3339, for example 2019-01-01T00:00:00Z), to\n"
           "examine a signature whose certificates have expired since.")
        ->type_name("TIME");
    cmd->add_option("FILE", opts->file, "The MUD file exactly as served; \"-\" reads standard input.")->required();
    cmd->callback([opts, &ctx] { ctx.exitCode = runVerify(*opts); });
}

} // namespace mudguard::controller::cli
