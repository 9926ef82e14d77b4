#pragma once
// The daemon's logger: one line per event on stderr, categories with their own levels, syslog
// priority prefixes that journald honours, key=value context, and stable event IDs.
//
//   log::write(log::Category::Enforcer, log::Level::Warning, log::Event::TableRecreated,
//       fmt::format("table vanished, replaying {} devices", n));
//   log::write(log::Category::Controller, log::Level::Info, log::Event::PolicyApplied, "policy applied",
//       {log::mac(mac), log::mudUrl(url), {"policy", policyId}});
//
// Journal form:  <6>controller: POLICY_APPLIED policy applied mac=02:00:00:00:00:01 mud_url="https://…"
// Plain form:    2025-01-02T10:11:12.345 info controller: POLICY_APPLIED policy applied mac=…
//
// The level policy and the event catalogue are in docs/logging.md and docs/events.md.
// Every function here is thread-safe and never throws.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace mudguard::controller::log {

/// Levels carry their syslog priority (RFC 5424), which is the `<N>` prefix journald reads.
enum class Level : std::uint8_t {
    Error = 3, ///< a device is not protected as intended, or the kernel refused a batch
    Warning = 4, ///< degraded or self-healing ("…, retrying")
    Info = 6, ///< state transitions
    Debug = 7, ///< everything else
};

enum class Category : std::uint8_t { Controller, Discovery, Fetch, Mudparser, Enforcer, Api, Store, Dns };
inline constexpr std::size_t kCategoryCount = 8;

/// Stable IDs of the events an operator or auditor may act on. The names (toString) are part of
/// the interface: they appear in logs and in the audit log, and are listed in docs/events.md.
/// Append new IDs; never rename or reuse one.
enum class Event : std::uint16_t {
    None = 0, ///< an ordinary line without an ID
    // daemon life
    DaemonStarted,
    DaemonStopping,
    ConfigLoaded,
    ConfigRejected,
    StateRestored,
    StoreOpened,
    StoreMigrated,
    StoreFailed,
    InternalError,
    // devices and bindings
    DeviceJoined,
    DeviceLeft,
    DeviceStateChanged,
    DeviceRemoved,
    BindingCreated,
    BindingRemoved,
    UrlChangePending,
    UrlChangeAccepted,
    UrlChangeRefused,
    UrlMissing,
    // fetch and trust
    MudFetched,
    MudNotModified,
    MudFetchFailed,
    MudInvalid,
    MudUnsupported,
    SignatureVerified,
    SignatureFailed,
    SignerChangePending,
    SignerAccepted,
    SignerRefused,
    // enforcement
    PolicyApplied,
    PolicyKept,
    PolicyRemoved,
    EnforceFailed,
    TableRecreated,
    KernelReconciled,
    DeviceQuarantined,
    DeviceReleased,
    ViolationSummary,
    // names
    DnsResolveFailed,
    DnsAnswerRejected,
    // API
    AdminAction,
    ApiAuthFailed,
    // appended
    StoreRecovered,
};

const char* toString(Level l) noexcept;
const char* toString(Category c) noexcept;
/// "POLICY_APPLIED"; "" for Event::None.
const char* toString(Event e) noexcept;
/// Every ID but None, in declaration order (for docs tests and the API).
std::span<const Event> allEvents() noexcept;

std::optional<Level> parseLevel(std::string_view s) noexcept; ///< "error", "warning", "info", "debug"
std::optional<Category> parseCategory(std::string_view s) noexcept;
std::optional<Event> parseEvent(std::string_view s) noexcept;

/// A value that we formatted ourselves (a MAC, an address, a number, an enum name): written bare
/// when it consists of safe characters only, quoted otherwise.
struct Token {
    std::string_view value;
};

/// One `key=value` pair. Strings are user data until proven otherwise: they are always quoted,
/// with `"` and `\` escaped, control characters and invalid UTF-8 written as `\xNN`, and cut at
/// kMaxValueBytes. Numbers and Tokens are bare.
struct Field {
    Field(std::string_view k, std::string_view v) noexcept
        : key(k)
        , value(v)
        , quoted(true)
    {
    }
    Field(std::string_view k, const char* v) noexcept
        : Field(k, std::string_view(v ? v : ""))
    {
    }
    Field(std::string_view k, const std::string& v) noexcept
        : Field(k, std::string_view(v))
    {
    }
    Field(std::string_view k, Token v) noexcept
        : key(k)
        , value(v.value)
        , quoted(false)
    {
    }
    Field(std::string_view k, bool v) noexcept
        : Field(k, Token { v ? "true" : "false" })
    {
    }
    template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Field(std::string_view k, T v)
    noexcept
        : key(k)
        , number(static_cast<std::int64_t>(v))
        , isNumber(true)
    {
    }

    std::string_view key;
    std::string_view value;
    std::int64_t number = 0;
    bool quoted = false;
    bool isNumber = false;
};

inline Field mac(std::string_view v) noexcept { return { "mac", Token { v } }; }
inline Field ip(std::string_view v) noexcept { return { "ip", Token { v } }; }
inline Field mudUrl(std::string_view v) noexcept { return { "mud_url", v }; }

inline constexpr std::size_t kMaxValueBytes = 512;
inline constexpr std::size_t kMaxMessageBytes = 1024;

enum class Format {
    Journal, ///< `<N>category: …`, no timestamp (journald adds one)
    Plain, ///< `2025-01-02T10:11:12.345 level category: …`, for terminals and files
};

/// Journal when stderr goes to journald (JOURNAL_STREAM is set) or is not a terminal; Plain on a
/// terminal.
Format detectFormat() noexcept;

/// Where finished lines go (each with its trailing newline). The default writes each line to
/// stderr with one write(2).
using Sink = std::function<void(std::string_view line)>;

/// Process-wide settings. Levels start at Info for every category.
void setLevel(Category c, Level l) noexcept;
void setLevel(Level l) noexcept; ///< every category
Level level(Category c) noexcept;
bool enabled(Category c, Level l) noexcept;
void setFormat(Format f) noexcept;
/// Replaces the sink (an empty function restores stderr). For tests and for the CLI.
void setSink(Sink sink);

/// Applies "info", "debug" or "warning,dns=debug,store=error": a default level for every
/// category, then per-category levels. Returns an error sentence, or nothing on success (in which
/// case the levels changed; on error nothing changed).
std::optional<std::string> applyLevelSpec(std::string_view spec);

/// Formats one line without writing it (the sink's input; used by tests).
std::string formatLine(Format f, Category c, Level l, Event e, std::string_view message, std::span<const Field> fields);
inline std::string formatLine(
    Format f, Category c, Level l, Event e, std::string_view message, std::initializer_list<Field> fields)
{
    return formatLine(f, c, l, e, message, std::span<const Field>(fields.begin(), fields.size()));
}

/// Writes one line when `c` is enabled at `l`.
void write(Category c, Level l, Event e, std::string_view message, std::span<const Field> fields) noexcept;
inline void write(
    Category c, Level l, Event e, std::string_view message, std::initializer_list<Field> fields = {}) noexcept
{
    write(c, l, e, message, std::span<const Field>(fields.begin(), fields.size()));
}
inline void write(Category c, Level l, std::string_view message, std::initializer_list<Field> fields = {}) noexcept
{
    write(c, l, Event::None, message, fields);
}

} // namespace mudguard::controller::log
