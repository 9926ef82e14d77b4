#pragma once
// The daemon's configuration: JSON with comments, validated against the project's YANG module
// mudguard-config (schemas/mudguard-config@2026-11-01.yang) with the same located diagnostics as
// MUD files, then read into typed values. Defaults here equal the module's defaults (a test holds
// them together).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"

namespace mudguard::controller {

inline constexpr const char* kDefaultConfigFile = "/etc/mudguard/mudguard.json";
inline constexpr const char* kConfigModule = "mudguard-config";
inline constexpr const char* kConfigRevision = "2026-11-01";

struct AddressList {
    std::vector<std::string> addresses; ///< literal IPv4/IPv6
    std::vector<std::string> names; ///< DNS names
    bool operator==(const AddressList&) const = default;
};

struct DaemonConfig {
    // lan
    std::vector<std::string> lanInterfaces;
    std::vector<std::string> lanPrefixes; ///< empty: those of the interfaces
    std::vector<std::string> routerAddresses; ///< empty: those of the interfaces

    std::filesystem::path stateDirectory = "/var/lib/mudguard";
    std::filesystem::path hookSocket = "/run/mudguard/hook.sock";

    struct Api {
        bool enabled = true;
        std::string listenAddress = "127.0.0.1";
        std::uint16_t port = 8181;
        std::optional<std::filesystem::path> tlsCertificate, tlsKey;
        struct Token {
            std::string name;
            std::string sha256; ///< lower-case hex
            std::string role; ///< "auditor" or "admin"
            bool operator==(const Token&) const = default;
        };
        std::vector<Token> tokens;
        std::uint32_t maxRequestBytes = 65536;
        std::uint16_t maxConnections = 32;
        std::uint16_t timeoutSeconds = 10;
        bool operator==(const Api&) const = default;
    } api;

    struct Trust {
        std::string signature = "require"; ///< require | prefer | off
        std::vector<std::filesystem::path> trustAnchors;
        struct Authority {
            std::string host;
            std::vector<std::filesystem::path> trustAnchors;
            bool operator==(const Authority&) const = default;
        };
        std::vector<Authority> authorities;
        std::string defaultSignatureUrl;
        bool operator==(const Trust&) const = default;
    } trust;

    struct Fetch {
        std::uint16_t timeoutSeconds = 10;
        std::uint32_t maxBytes = 1048576;
        std::uint8_t maxRedirects = 3;
        std::vector<std::filesystem::path> caFiles;
        std::vector<std::string> allowPrivate; ///< prefixes
        std::uint32_t minIntervalMs = 200;
        bool operator==(const Fetch&) const = default;
    } fetch;

    struct Classes {
        struct Controller {
            std::string uri;
            AddressList where;
            bool operator==(const Controller&) const = default;
        };
        struct MyController {
            std::string mudUrl;
            AddressList where;
            bool operator==(const MyController&) const = default;
        };
        std::vector<Controller> controllers;
        std::vector<MyController> myControllers;
        std::optional<std::string> ntpServer;
        bool operator==(const Classes&) const = default;
    } classes;

    struct Device {
        std::string mac; ///< canonical
        std::optional<std::string> mudUrl;
        std::optional<std::filesystem::path> mudFile;
        bool operator==(const Device&) const = default;
    };
    std::vector<Device> devices;

    struct Posture {
        std::string denyAction = "drop"; ///< drop | reject
        std::string unmanaged = "allow"; ///< allow | infrastructure-only
        std::uint32_t leaveGraceSeconds = 86400;
        bool operator==(const Posture&) const = default;
    } posture;

    struct Infrastructure {
        bool dhcp = true, dns = true, ndp = true, ntp = false;
        bool operator==(const Infrastructure&) const = default;
    } infrastructure;

    struct Dns {
        std::optional<std::string> resolver;
        std::uint16_t resolverPort = 53;
        bool snoopAnswers = true;
        std::uint32_t minTtl = 30, maxTtl = 86400;
        bool operator==(const Dns&) const = default;
    } dns;

    struct Discovery {
        bool neighbours = true;
        bool lldp = false;
        std::optional<std::string> lldpctlSocket;
        std::string urlWithdrawn = "keep"; ///< keep | unbind
        bool operator==(const Discovery&) const = default;
    } discovery;

    struct Nflog {
        std::uint16_t dropGroup = 4141, dnsGroup = 4142, dropLogRate = 10;
        std::uint16_t summaryInterval = 60; ///< seconds between VIOLATION_SUMMARY entries
        bool operator==(const Nflog&) const = default;
    } nflog;

    bool operator==(const DaemonConfig&) const = default;
};

struct LoadedConfig {
    std::optional<DaemonConfig> config; ///< set when the report has no errors
    mudparser::Report report;
};

/// Validates and reads a configuration document (`fileName` names it in diagnostics). Besides
/// the YANG module: files it names must be readable, and the values must fit together.
LoadedConfig parseDaemonConfig(
    std::string_view text, const std::string& fileName, const std::filesystem::path& schemaDir);

/// Reads `file` and parses it; an unreadable file is an error diagnostic ("config-io").
LoadedConfig loadDaemonConfig(const std::filesystem::path& file, const std::filesystem::path& schemaDir);

} // namespace mudguard::controller
