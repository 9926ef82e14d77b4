#include "cli/ShowCommand.h"

#include <algorithm>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "mudguard/mudparser/Parser.h"

#include "cli/MudInput.h"
#include "text/ProfileText.h"

namespace mudguard::controller::cli {

using namespace mudguard::mudparser;

void printProfile(const Profile& p, const Report& report, std::ostream& out)
{
    for (const auto& line : text::lines(text::describeProfile(p)))
        out << line << '\n';
    if (report.count(Severity::Warning) > 0) {
        out << "\nWarnings\n";
        for (const auto& d : report.diagnostics)
            if (d.severity == Severity::Warning)
                out << "  " << formatText(d) << '\n';
    }
}

namespace {

struct ShowOptions {
    bool lenient = false;
    std::string file;
};

int runShow(const ShowOptions& opts)
{
    std::unique_ptr<Parser> parser;
    try {
        parser = std::make_unique<Parser>();
    } catch (const std::exception& e) {
        std::cerr << "mudguard show: " << e.what() << '\n';
        return kExitUsage;
    }
    MudInput input = readMudInput(opts.file, Limits {}.maxDocumentBytes);
    if (input.ioError) {
        std::cerr << "mudguard show: " << *input.ioError << '\n';
        return kExitUsage;
    }
    auto result = parseMudInput(*parser, input, opts.lenient ? Mode::Lenient : Mode::Strict);
    if (!result.profile) {
        for (const auto& d : result.report.diagnostics)
            std::cerr << formatText(d) << '\n';
        std::cerr << fmt::format("{}: invalid MUD file\n", opts.file);
        return kExitRefused;
    }
    printProfile(*result.profile, result.report, std::cout);
    return kExitOk;
}

} // namespace

void registerShowCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<ShowOptions>();
    CLI::App* cmd = app.add_subcommand("show", "Summarise what a MUD file allows, for people.");
    cmd->description(
        "Summarise a MUD file: the device, its maker and model, the documentation link, and for each\n"
        "direction (from the device, to the device) every rule with its peers (DNS names, networks,\n"
        "MUD classes such as local-networks or controller), protocols, ports and who may open TCP\n"
        "connections. The file is validated first, exactly as `mudguard validate` does.\n\n"
        "Exit status: 0 shown, 1 the file is invalid (diagnostics on standard error), 2 usage or I/O error.");
    cmd->add_flag("--lenient", opts->lenient, "Accept the legacy forms real files use, as `validate --lenient` does.");
    cmd->add_option("FILE", opts->file, "The MUD file; \"-\" reads standard input.")->required();
    cmd->callback([opts, &ctx] { ctx.exitCode = runShow(*opts); });
}

} // namespace mudguard::controller::cli
