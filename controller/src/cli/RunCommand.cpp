// `mudguard run` (the daemon) and `mudguard check-config`.
#include "cli/RunCommand.h"

#include <algorithm>
#include <iostream>

#include "mudguard/controller/DaemonConfig.h"
#include "mudguard/controller/Log.h"
#include "mudguard/mudparser/Parser.h"

#include "cli/ReportOutput.h"
#include "daemon/Daemon.h"

namespace mudguard::controller::cli {

namespace {

struct RunOptions {
    std::string config = kDefaultConfigFile;
    std::string logLevel = "info";
    unsigned workers = 2;
};

int runDaemon(const RunOptions& o)
{
    log::setFormat(log::detectFormat());
    if (auto err = log::applyLevelSpec(o.logLevel)) {
        std::cerr << "mudguard run: --log-level: " << *err << '\n';
        return kExitUsage;
    }
    auto schemaDir = mudparser::Parser::defaultSchemaDir();
    auto loaded = loadDaemonConfig(o.config, schemaDir);
    if (!loaded.config) {
        for (const auto& d : loaded.report.diagnostics)
            std::cerr << mudparser::formatText(d) << '\n';
        std::cerr << "mudguard run: the configuration is invalid; nothing was started\n";
        return kExitUsage;
    }
    log::write(log::Category::Controller, log::Level::Info, log::Event::ConfigLoaded, "configuration loaded",
        { { "path", o.config } });
    try {
        DaemonOptions opts;
        opts.configFile = o.config;
        opts.schemaDir = schemaDir;
        opts.fetchWorkers = o.workers;
        Daemon daemon(std::move(*loaded.config), std::move(opts));
        return daemon.run();
    } catch (const std::exception& e) {
        log::write(log::Category::Controller, log::Level::Error, log::Event::InternalError,
            "mudguard cannot run; the kernel's rules were left as they were", { { "reason", e.what() } });
        return kExitRefused;
    }
}

int checkConfig(const std::string& file, const std::string& format)
{
    auto loaded = loadDaemonConfig(file, mudparser::Parser::defaultSchemaDir());
    FileOutcome o { file, loaded.report, loaded.config.has_value() };
    bool io = std::any_of(o.report.diagnostics.begin(), o.report.diagnostics.end(),
        [](const mudparser::Diagnostic& d) { return d.code == "config-io"; });
    if (format == "json")
        printReportJson({ o }, std::cout);
    else
        printReportText(o, std::cout);
    return io ? kExitUsage : o.valid ? kExitOk : kExitRefused;
}

} // namespace

void registerRunCommand(CLI::App& app, CommandContext& ctx)
{
    auto opts = std::make_shared<RunOptions>();
    auto* run = app.add_subcommand("run", "Run the daemon: learn devices, enforce their MUD policies, serve the API.");
    run->description("Run the daemon in the foreground (as systemd's mudguard.service does).\n\n"
                     "mudguard learns devices and their MUD URLs from dnsmasq (`mudguard hook dnsmasq` as its\n"
                     "--dhcp-script), from the kernel's neighbour table and from lldpd; fetches and verifies each\n"
                     "MUD file; and keeps the nftables tables `inet mudguard` and `bridge mudguard` equal to the\n"
                     "policies in force. State survives restarts: enforcement is restored from the database before\n"
                     "anything is fetched. SIGHUP reloads the configuration (an invalid one is refused); SIGTERM\n"
                     "stops the daemon and leaves the rules in force.\n\n"
                     "Logs go to standard error, one line per event, with syslog priorities for journald.");
    run->add_option("-c,--config", opts->config, "configuration file (JSON with comments)")->capture_default_str();
    run->add_option("--log-level", opts->logLevel,
           "levels: error, warning, info or debug, for all categories and per category, e.g. \"info,dns=debug\"")
        ->capture_default_str();
    run->add_option("--workers", opts->workers, "threads that fetch and verify MUD files")
        ->check(CLI::Range(1u, 16u))
        ->capture_default_str();
    run->callback([opts, &ctx] { ctx.exitCode = runDaemon(*opts); });

    auto file = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>("text");
    auto* check = app.add_subcommand("check-config", "Validate a daemon configuration file without running.");
    check->description("Validate a daemon configuration file against the mudguard-config YANG module and the checks\n"
                       "the daemon makes at start (readable files, consistent values), without running anything.\n"
                       "Exit status: 0 valid, 1 invalid, 2 unreadable.");
    check->add_option("FILE", *file, "the configuration file")->required();
    check->add_option("--format", *format, "text (for people) or json (for tools)")
        ->check(CLI::IsMember({ "text", "json" }))
        ->capture_default_str();
    check->callback([file, format, &ctx] { ctx.exitCode = checkConfig(*file, *format); });
}

} // namespace mudguard::controller::cli
