// `mudguard compile [--lenient] [--context FILE] [--format nft|json] FILE`: what one MUD file
// compiles to. The nft output is a complete ruleset for mudguard's two tables (the skeleton,
// the policy's chains and the sets it refers to) that loads with `nft -f` into an empty
// namespace; the JSON output carries the translated policy and every object.

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "mudguard/enforcer/Error.h"
#include "mudguard/enforcer/Json.h"
#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/Render.h"
#include "mudguard/mudparser/Parser.h"

#include "CompileContext.h"
#include "Translate.h"
#include "cli/Commands.h"
#include "cli/Enforceability.h"

namespace mudguard::controller::cli {

namespace {

struct CompileOptions {
    bool lenient = false;
    std::string context;
    std::string format = "nft";
    std::string file;
};

bool readInput(const std::string& file, std::size_t limit, std::string& out)
{
    std::ifstream f;
    std::istream* in = &std::cin;
    if (file != "-") {
        f.open(file, std::ios::binary);
        if (!f) {
            std::cerr << "mudguard compile: cannot read " << file << "\n";
            return false;
        }
        in = &f;
    }
    out.clear();
    char buf[65536];
    while (in->read(buf, sizeof buf) || in->gcount() > 0) {
        out.append(buf, static_cast<std::size_t>(in->gcount()));
        if (out.size() > limit) {
            std::cerr << "mudguard compile: " << file << " is larger than " << limit << " bytes\n";
            return false;
        }
    }
    return true;
}

int runCompile(const CompileOptions& o)
{
    mudparser::ParseOptions parseOptions;
    parseOptions.mode = o.lenient ? mudparser::Mode::Lenient : mudparser::Mode::Strict;
    parseOptions.fileName = o.file;
    std::string document;
    if (!readInput(o.file, parseOptions.limits.maxDocumentBytes, document))
        return kExitUsage;

    CompileContext context = defaultCompileContext();
    if (!o.context.empty()) {
        std::string text;
        if (!readInput(o.context, 1 << 20, text))
            return kExitUsage;
        try {
            context = parseCompileContext(text);
        } catch (const enforcer::Error& e) {
            std::cerr << o.context << ": error: " << e.what() << "\n";
            return kExitUsage;
        }
    }

    mudparser::Parser parser;
    auto result = parser.parse(document, parseOptions);
    for (const auto& d : result.report.diagnostics)
        std::cerr << mudparser::formatText(d) << "\n";
    if (!result.profile)
        return kExitRefused;

    enforcer::Policy policy;
    enforcer::Layout layout;
    try {
        policy = translate(*result.profile, policyIdFor(result.profile->mudUrl));
        layout = enforcer::compileLayout({ &policy }, context.posture, enforcer::KernelFeatures {});
    } catch (const enforcer::CompileError& e) {
        std::cerr << mudparser::formatText(unenforceableDiagnostic(o.file, *result.profile, e)) << "\n";
        return kExitRefused;
    }
    auto inetElements = contextElements(context, policy, enforcer::ir::TableFamily::Inet);
    auto bridgeElements = contextElements(context, policy, enforcer::ir::TableFamily::Bridge);
    if (o.format == "json") {
        enforcer::ir::ElementMap all = inetElements;
        all.insert(bridgeElements.begin(), bridgeElements.end());
        std::cout << enforcer::json::toJson(policy, { &layout.inet, &layout.bridge }, all);
    } else {
        std::cout << enforcer::render(layout.inet, inetElements) << enforcer::render(layout.bridge, bridgeElements);
    }
    return kExitOk;
}

} // namespace

void registerCompileCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<CompileOptions>();
    auto* cmd = app.add_subcommand("compile",
        "Print the nftables objects one MUD file compiles to (loadable with `nft -f`).\n"
        "Exit status: 0 compiled, 1 the file is invalid or cannot be enforced, 2 usage or I/O error.");
    cmd->add_flag("--lenient", opts->lenient, "Also accept the legacy forms real MUD files use (reported as warnings)");
    cmd->add_option("--context", opts->context,
        "JSON file with the posture and the addresses behind local-networks, controllers, DNS names, "
        "manufacturers and models (see docs/nftables-layout.md)");
    cmd->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({ "nft", "json" }));
    cmd->add_option("FILE", opts->file, "The MUD file ('-' for standard input)")->required();
    cmd->callback([opts, &ctx] { ctx.exitCode = runCompile(*opts); });
}

} // namespace mudguard::controller::cli
