#include "cli/ValidateCommand.h"

#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "mudguard/mudparser/Parser.h"

#include "cli/Enforceability.h"
#include "cli/MudInput.h"
#include "cli/ReportOutput.h"
#include "cli/TrustOptions.h"

namespace mudguard::controller::cli {

namespace {

struct ValidateOptions {
    bool lenient = false;
    std::string format = "text";
    std::vector<std::string> files;
    std::string signature;
    std::vector<std::string> anchors;
};

int runValidate(const ValidateOptions& opts)
{
    std::unique_ptr<mudparser::Parser> parser;
    try {
        parser = std::make_unique<mudparser::Parser>();
    } catch (const std::exception& e) {
        std::cerr << "mudguard validate: " << e.what() << '\n';
        return kExitUsage;
    }
    std::shared_ptr<const mudparser::TrustAnchors> anchors;
    if (!opts.signature.empty()) {
        if (opts.files.size() != 1) {
            std::cerr << "mudguard validate: --signature needs exactly one FILE\n";
            return kExitUsage;
        }
        try {
            anchors = loadTrustAnchors(opts.anchors);
        } catch (const std::exception& e) {
            std::cerr << "mudguard validate: " << e.what() << '\n';
            return kExitUsage;
        }
    }
    const auto mode = opts.lenient ? mudparser::Mode::Lenient : mudparser::Mode::Strict;
    const bool json = opts.format == "json";
    std::vector<FileOutcome> outcomes;
    bool anyInvalid = false;
    bool ioFailed = false;
    std::size_t stdinUses = 0;
    for (const auto& name : opts.files) {
        if (name == "-" && ++stdinUses > 1) {
            std::cerr << "mudguard validate: standard input (-) can be named only once\n";
            return kExitUsage;
        }
        MudInput input = readMudInput(name, mudparser::Limits {}.maxDocumentBytes);
        if (input.ioError) {
            std::cerr << "mudguard validate: " << *input.ioError << '\n';
            ioFailed = true;
            continue;
        }
        auto result = parseMudInput(*parser, input, mode);
        // A valid file this router cannot enforce is refused too, as `mudguard compile` refuses it.
        std::optional<mudparser::Diagnostic> refusal;
        if (result.profile)
            refusal = checkEnforceable(name, *result.profile);
        if (anchors) {
            auto d = signatureDiagnostic(name, input.content, opts.signature, *anchors);
            if (d.severity == mudparser::Severity::Error)
                result.profile.reset();
            result.report.diagnostics.insert(result.report.diagnostics.begin(), std::move(d));
        }
        if (refusal) {
            result.profile.reset();
            result.report.diagnostics.push_back(std::move(*refusal));
        }
        FileOutcome o { name, std::move(result.report), result.profile.has_value() };
        anyInvalid = anyInvalid || !o.valid;
        if (!json)
            printReportText(o, std::cout);
        outcomes.push_back(std::move(o));
    }
    if (json)
        printReportJson(outcomes, std::cout);
    if (ioFailed)
        return kExitUsage;
    return anyInvalid ? kExitRefused : kExitOk;
}

} // namespace

void registerValidateCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<ValidateOptions>();
    CLI::App* cmd = app.add_subcommand("validate", "Check MUD files against RFC 8520 and the YANG models.");
    cmd->description("Check MUD files against RFC 8520, the YANG models (RFC 8519 ACLs, ietf-acldns, the RFC 9472\n"
                     "transparency extension) and the rules YANG cannot express (https MUD URL, cache-validity\n"
                     "1..168 hours, every ACL a policy names exists, extensions declared, no entry contradicts\n"
                     "itself). Each problem is reported with its file, line, column, JSON path and a stable code (see\n"
                     "docs/diagnostics.md). A valid file that this router cannot enforce (an entry `mudguard compile`\n"
                     "refuses) is refused too, with the code \"unenforceable\" naming the entry.\n\n"
                     "Exit status: 0 every file is valid and can be enforced, 1 at least one is invalid or cannot be\n"
                     "enforced, 2 usage or I/O error.");
    cmd->add_flag("--lenient", opts->lenient,
        "Accept the legacy forms real files use (the draft \"access-lists\" container, \"ethernet-acl-type\",\n"
        "hex ethertypes, booleans as strings, YANG prefixes for module names, last-update without a time\n"
        "zone, undeclared extension data), each reported as a warning. Real errors are still errors.");
    cmd->add_option("--format", opts->format,
           "Output: \"text\" (one line per diagnostic, for people; default) or \"json\" (for tools).")
        ->check(CLI::IsMember({ "text", "json" }));
    cmd->add_option("--signature", opts->signature,
           "Also check this detached DER signature over the file (one FILE only), as `mudguard verify` does.")
        ->check(CLI::ExistingFile)
        ->type_name("SIG");
    addTrustAnchorOption(cmd, opts->anchors);
    cmd->add_option("FILE", opts->files, "MUD files to check; \"-\" reads standard input.")->required();
    cmd->callback([opts, &ctx] { ctx.exitCode = runValidate(*opts); });
}

} // namespace mudguard::controller::cli
