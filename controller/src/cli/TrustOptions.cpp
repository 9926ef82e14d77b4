#include "cli/TrustOptions.h"

#include <fmt/format.h>

#include "cli/MudInput.h"

namespace mudguard::controller::cli {

CLI::Option* addTrustAnchorOption(CLI::App* cmd, std::vector<std::string>& files)
{
    return cmd
        ->add_option("--trust-anchor", files,
            "PEM file of certificates a MUD signer must chain to (the maker's root or intermediate CA).\n"
            "Repeat for several files. Without it the system's CA store is used.")
        ->check(CLI::ExistingFile)
        ->type_name("PEM");
}

std::shared_ptr<const mudparser::TrustAnchors> loadTrustAnchors(const std::vector<std::string>& files)
{
    if (files.empty())
        return mudparser::TrustAnchors::systemStore();
    std::vector<std::filesystem::path> paths(files.begin(), files.end());
    return mudparser::TrustAnchors::fromPemFiles(paths);
}

mudparser::Diagnostic signatureDiagnostic(const std::string& file, std::string_view content,
    const std::string& signaturePath, const mudparser::TrustAnchors& anchors,
    std::optional<std::chrono::system_clock::time_point> at)
{
    mudparser::Diagnostic d;
    d.file = file;
    mudparser::VerifyOptions options;
    options.at = at;
    auto sig = readMudInput(signaturePath, options.maxSignatureBytes);
    if (sig.ioError) {
        d.code = "signature-io";
        d.message = *sig.ioError;
        return d;
    }
    auto check = mudparser::verifySignature(content, sig.content, anchors, options);
    if (!check.valid) {
        d.code = check.code;
        d.message = fmt::format("{}: {}", signaturePath, check.message);
        return d;
    }
    d.severity = mudparser::Severity::Info;
    d.code = "signature-valid";
    std::string chain;
    for (const auto& c : check.chain)
        chain += (chain.empty() ? "" : " <- ") + fmt::format("\"{}\"", c);
    d.message = fmt::format("{}: valid signature by {} (chain {})", signaturePath, check.signer->describe(), chain);
    return d;
}

} // namespace mudguard::controller::cli
