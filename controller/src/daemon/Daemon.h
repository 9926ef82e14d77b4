#pragma once
// `mudguard run`: devices join, policies follow. The daemon owns one event loop (this thread),
// the device state, the enforcer and the database writer; fetch workers verify and parse MUD
// files; the HTTP API serves auditors. docs/life-of-a-device-join.md follows one join through it.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "mudguard/controller/DaemonConfig.h"

namespace mudguard::controller {

class EventLoop;

struct DaemonOptions {
    std::filesystem::path configFile = kDefaultConfigFile;
    std::filesystem::path schemaDir;
    unsigned fetchWorkers = 2;
    /// Called once the daemon enforces and listens (tests; the service notifies systemd itself).
    std::function<void()> onReady;
    /// Called on the daemon's thread when a device that joined has its policy in force, right
    /// after the batch that put it there (benchmarks and tests measure join latency with it).
    std::function<void(const std::string& mac)> onEnforced;
};

class Daemon {
public:
    /// Opens the state and sets up every source. Throws controller::Error (or a component's
    /// error) when something the daemon cannot run without fails: the database, the kernel's
    /// nftables, the hook socket.
    Daemon(DaemonConfig config, DaemonOptions options);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    /// Restores enforcement from the saved state, then serves events until SIGTERM or SIGINT
    /// (SIGHUP reloads the configuration). Returns the process exit code.
    int run();

    /// Thread-safe: makes run() return.
    void stop();

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::controller
