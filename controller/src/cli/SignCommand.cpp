#include "cli/SignCommand.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "mudguard/mudparser/Limits.h"
#include "mudguard/mudparser/Signature.h"

#include "cli/MudInput.h"

namespace mudguard::controller::cli {

namespace {

struct SignOptions {
    std::string key, cert, chain, output, file;
};

/// dev.json -> dev.p7s, anything else -> name.p7s
std::string defaultOutput(const std::string& file)
{
    std::filesystem::path p(file);
    if (p.extension() == ".json")
        return p.replace_extension(".p7s").string();
    return file + ".p7s";
}

int runSign(const SignOptions& opts)
{
    std::optional<mudparser::SigningCredentials> creds;
    try {
        creds = mudparser::SigningCredentials::load(
            opts.key, opts.cert, opts.chain.empty() ? std::nullopt : std::optional<std::filesystem::path>(opts.chain));
    } catch (const std::exception& e) {
        std::cerr << "mudguard sign: " << e.what() << '\n';
        return kExitUsage;
    }
    auto input = readMudInput(opts.file, mudparser::Limits {}.maxDocumentBytes);
    if (input.ioError) {
        std::cerr << "mudguard sign: " << *input.ioError << '\n';
        return kExitUsage;
    }
    if (input.content.size() > mudparser::Limits {}.maxDocumentBytes) {
        std::cerr << fmt::format("mudguard sign: {} is larger than the {} bytes a MUD manager accepts\n", opts.file,
            mudparser::Limits {}.maxDocumentBytes);
        return kExitUsage;
    }
    std::string signature;
    try {
        signature = creds->sign(input.content);
    } catch (const std::exception& e) {
        std::cerr << "mudguard sign: " << e.what() << '\n';
        return kExitUsage;
    }
    std::string output = opts.output.empty() ? defaultOutput(opts.file == "-" ? "stdin" : opts.file) : opts.output;
    if (output == "-") {
        std::cout.write(signature.data(), static_cast<std::streamsize>(signature.size()));
        std::cout.flush();
        return std::cout ? kExitOk : kExitUsage;
    }
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    out.write(signature.data(), static_cast<std::streamsize>(signature.size()));
    out.close();
    if (!out) {
        std::cerr << fmt::format("mudguard sign: cannot write {}: {}\n", output, std::strerror(errno));
        return kExitUsage;
    }
    std::cerr << fmt::format("{}: signed by {}; detached DER signature written to {} ({} bytes)\n", opts.file,
        creds->identity().describe(), output, signature.size());
    return kExitOk;
}

} // namespace

void registerSignCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<SignOptions>();
    CLI::App* cmd
        = app.add_subcommand("sign", "Sign a MUD file: a detached CMS signature in DER (RFC 8520 section 13).");
    cmd->description("Sign FILE exactly as it will be served (no line-ending conversion) and write a detached CMS\n"
                     "SignedData in DER with SHA-256, embedding the signer certificate and the chain. The result is\n"
                     "what `openssl cms -sign -binary -outform DER -certfile CHAIN` makes, and it verifies with\n"
                     "`openssl cms -verify -binary -inform DER -content FILE -CAfile CA`. Publish it where the\n"
                     "file's mud-signature points. The certificate must allow digitalSignature (key usage).\n\n"
                     "Exit status: 0 signed, 2 usage or I/O error (unreadable or mismatched key and certificate).");
    cmd->add_option("--key", opts->key, "The signer's private key (PEM, not encrypted).")
        ->required()
        ->check(CLI::ExistingFile)
        ->type_name("KEY");
    cmd->add_option("--cert", opts->cert, "The signer's certificate (PEM; further certificates in it count as chain).")
        ->required()
        ->check(CLI::ExistingFile)
        ->type_name("CERT");
    cmd->add_option(
           "--chain", opts->chain, "Intermediate CA certificates to embed (PEM), so that verifiers need only the root.")
        ->check(CLI::ExistingFile)
        ->type_name("PEM");
    cmd->add_option("-o,--output", opts->output,
           "Where to write the signature (default: FILE with .json replaced by .p7s; \"-\" is standard output).")
        ->type_name("SIG");
    cmd->add_option("FILE", opts->file, "The MUD file; \"-\" reads standard input.")->required();
    cmd->callback([opts, &ctx] { ctx.exitCode = runSign(*opts); });
}

} // namespace mudguard::controller::cli
