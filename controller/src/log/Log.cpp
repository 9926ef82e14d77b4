#include "mudguard/controller/Log.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <unistd.h>

namespace mudguard::controller::log {
namespace {

constexpr std::array<const char*, kCategoryCount> kCategoryNames
    = { "controller", "discovery", "fetch", "mudparser", "enforcer", "api", "store", "dns" };

struct EventName {
    Event event;
    const char* name;
};

// In declaration order; the static_assert below keeps the table and the enum together.
constexpr EventName kEventNames[] = {
    { Event::DaemonStarted, "DAEMON_STARTED" },
    { Event::DaemonStopping, "DAEMON_STOPPING" },
    { Event::ConfigLoaded, "CONFIG_LOADED" },
    { Event::ConfigRejected, "CONFIG_REJECTED" },
    { Event::StateRestored, "STATE_RESTORED" },
    { Event::StoreOpened, "STORE_OPENED" },
    { Event::StoreMigrated, "STORE_MIGRATED" },
    { Event::StoreFailed, "STORE_FAILED" },
    { Event::InternalError, "INTERNAL_ERROR" },
    { Event::DeviceJoined, "DEVICE_JOINED" },
    { Event::DeviceLeft, "DEVICE_LEFT" },
    { Event::DeviceStateChanged, "DEVICE_STATE_CHANGED" },
    { Event::DeviceRemoved, "DEVICE_REMOVED" },
    { Event::BindingCreated, "BINDING_CREATED" },
    { Event::BindingRemoved, "BINDING_REMOVED" },
    { Event::UrlChangePending, "URL_CHANGE_PENDING" },
    { Event::UrlChangeAccepted, "URL_CHANGE_ACCEPTED" },
    { Event::UrlChangeRefused, "URL_CHANGE_REFUSED" },
    { Event::UrlMissing, "URL_MISSING" },
    { Event::MudFetched, "MUD_FETCHED" },
    { Event::MudNotModified, "MUD_NOT_MODIFIED" },
    { Event::MudFetchFailed, "MUD_FETCH_FAILED" },
    { Event::MudInvalid, "MUD_INVALID" },
    { Event::MudUnsupported, "MUD_UNSUPPORTED" },
    { Event::SignatureVerified, "SIGNATURE_VERIFIED" },
    { Event::SignatureFailed, "SIGNATURE_FAILED" },
    { Event::SignerChangePending, "SIGNER_CHANGE_PENDING" },
    { Event::SignerAccepted, "SIGNER_ACCEPTED" },
    { Event::SignerRefused, "SIGNER_REFUSED" },
    { Event::PolicyApplied, "POLICY_APPLIED" },
    { Event::PolicyKept, "POLICY_KEPT" },
    { Event::PolicyRemoved, "POLICY_REMOVED" },
    { Event::EnforceFailed, "ENFORCE_FAILED" },
    { Event::TableRecreated, "TABLE_RECREATED" },
    { Event::KernelReconciled, "KERNEL_RECONCILED" },
    { Event::DeviceQuarantined, "DEVICE_QUARANTINED" },
    { Event::DeviceReleased, "DEVICE_RELEASED" },
    { Event::ViolationSummary, "VIOLATION_SUMMARY" },
    { Event::DnsResolveFailed, "DNS_RESOLVE_FAILED" },
    { Event::DnsAnswerRejected, "DNS_ANSWER_REJECTED" },
    { Event::AdminAction, "ADMIN_ACTION" },
    { Event::ApiAuthFailed, "API_AUTH_FAILED" },
    { Event::StoreRecovered, "STORE_RECOVERED" },
};
constexpr std::size_t kEventCount = std::size(kEventNames);
static_assert(static_cast<std::size_t>(Event::StoreRecovered) == kEventCount,
    "kEventNames must list every Event in declaration order");

constexpr bool eventTableInOrder()
{
    for (std::size_t i = 0; i < kEventCount; ++i)
        if (static_cast<std::size_t>(kEventNames[i].event) != i + 1)
            return false;
    return true;
}
static_assert(eventTableInOrder(), "kEventNames must follow the declaration order of Event");

constexpr std::array<Event, kEventCount> makeEventList()
{
    std::array<Event, kEventCount> out {};
    for (std::size_t i = 0; i < kEventCount; ++i)
        out[i] = kEventNames[i].event;
    return out;
}
constexpr auto kEventList = makeEventList();

struct State {
    std::array<std::atomic<std::uint8_t>, kCategoryCount> levels;
    std::atomic<Format> format { Format::Journal };
    std::mutex sinkMutex;
    Sink sink; // empty: stderr
    State()
    {
        for (auto& l : levels)
            l.store(static_cast<std::uint8_t>(Level::Info), std::memory_order_relaxed);
    }
};

State& state()
{
    static State s;
    return s;
}

void writeStderr(std::string_view line) noexcept
{
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; // nowhere left to report a failing stderr
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

bool isSafeTokenChar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
        || c == ':' || c == '/' || c == '@' || c == '%' || c == '+' || c == ',' || c == '-';
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8Sequence(std::string_view s, std::size_t i, char32_t& cp)
{
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    std::size_t len;
    if (c < 0x80) {
        cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size())
        return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(k) & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (b(k) & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

// Appends `s` with control characters (C0, DEL, C1, U+2028/9) and invalid UTF-8 escaped, so
// that a hostile string can neither break the line nor forge another field. Inside quotes,
// `"` and `\` are escaped too.
void appendEscaped(std::string& out, std::string_view s, std::size_t maxBytes, bool inQuotes)
{
    bool cut = s.size() > maxBytes;
    if (cut)
        s = s.substr(0, maxBytes);
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        std::size_t len = utf8Sequence(s, i, cp);
        if (len == 0) {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(s[i]));
            ++i;
            continue;
        }
        if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp < 0x20 || cp == 0x7f) {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned>(cp));
        } else if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(cp));
        } else if (inQuotes && (cp == '"' || cp == '\\')) {
            out += '\\';
            out += static_cast<char>(cp);
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    if (cut)
        out += "\u2026";
}

void appendField(std::string& out, const Field& f)
{
    out += ' ';
    bool keyAppended = false;
    for (char c : f.key) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        out += ok ? c : '_';
        keyAppended = true;
    }
    if (!keyAppended)
        out += '_';
    out += '=';
    if (f.isNumber) {
        fmt::format_to(std::back_inserter(out), "{}", f.number);
        return;
    }
    bool bare = !f.quoted && !f.value.empty() && f.value.size() <= kMaxValueBytes;
    for (std::size_t i = 0; bare && i < f.value.size(); ++i)
        bare = isSafeTokenChar(static_cast<unsigned char>(f.value[i]));
    if (bare) {
        out.append(f.value);
        return;
    }
    out += '"';
    appendEscaped(out, f.value, kMaxValueBytes, true);
    out += '"';
}

void appendTimestamp(std::string& out)
{
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t t = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm {};
    localtime_r(&t, &tm);
    char buf[32];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    out.append(buf, n);
    fmt::format_to(std::back_inserter(out), ".{:03d} ", static_cast<int>(ms));
}

} // namespace

const char* toString(Level l) noexcept
{
    switch (l) {
    case Level::Error:
        return "error";
    case Level::Warning:
        return "warning";
    case Level::Info:
        return "info";
    case Level::Debug:
        return "debug";
    }
    return "?";
}

const char* toString(Category c) noexcept
{
    auto i = static_cast<std::size_t>(c);
    return i < kCategoryCount ? kCategoryNames[i] : "?";
}

const char* toString(Event e) noexcept
{
    auto i = static_cast<std::size_t>(e);
    if (i == 0 || i > kEventCount)
        return "";
    return kEventNames[i - 1].name;
}

std::span<const Event> allEvents() noexcept { return kEventList; }

std::optional<Level> parseLevel(std::string_view s) noexcept
{
    for (Level l : { Level::Error, Level::Warning, Level::Info, Level::Debug })
        if (s == toString(l))
            return l;
    if (s == "warn")
        return Level::Warning;
    return std::nullopt;
}

std::optional<Category> parseCategory(std::string_view s) noexcept
{
    for (std::size_t i = 0; i < kCategoryCount; ++i)
        if (s == kCategoryNames[i])
            return static_cast<Category>(i);
    return std::nullopt;
}

std::optional<Event> parseEvent(std::string_view s) noexcept
{
    for (const auto& e : kEventNames)
        if (s == e.name)
            return e.event;
    return std::nullopt;
}

Format detectFormat() noexcept
{
    if (std::getenv("JOURNAL_STREAM") != nullptr)
        return Format::Journal;
    return ::isatty(STDERR_FILENO) ? Format::Plain : Format::Journal;
}

void setLevel(Category c, Level l) noexcept
{
    auto i = static_cast<std::size_t>(c);
    if (i < kCategoryCount)
        state().levels[i].store(static_cast<std::uint8_t>(l), std::memory_order_relaxed);
}

void setLevel(Level l) noexcept
{
    for (std::size_t i = 0; i < kCategoryCount; ++i)
        setLevel(static_cast<Category>(i), l);
}

Level level(Category c) noexcept
{
    auto i = static_cast<std::size_t>(c);
    if (i >= kCategoryCount)
        return Level::Info;
    return static_cast<Level>(state().levels[i].load(std::memory_order_relaxed));
}

bool enabled(Category c, Level l) noexcept
{
    return static_cast<std::uint8_t>(l) <= static_cast<std::uint8_t>(level(c));
}

void setFormat(Format f) noexcept { state().format.store(f, std::memory_order_relaxed); }

void setSink(Sink sink)
{
    std::lock_guard lock(state().sinkMutex);
    state().sink = std::move(sink);
}

std::optional<std::string> applyLevelSpec(std::string_view spec)
{
    std::array<Level, kCategoryCount> next;
    for (std::size_t i = 0; i < kCategoryCount; ++i)
        next[i] = level(static_cast<Category>(i));
    std::array<bool, kCategoryCount> explicitly {};
    std::optional<Level> fallback;
    while (!spec.empty()) {
        auto comma = spec.find(',');
        auto item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view {} : spec.substr(comma + 1);
        if (item.empty())
            continue;
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            fallback = parseLevel(item);
            if (!fallback)
                return fmt::format("unknown log level \"{}\" (use error, warning, info or debug)", item);
            continue;
        }
        auto cat = parseCategory(item.substr(0, eq));
        if (!cat)
            return fmt::format("unknown log category \"{}\"", item.substr(0, eq));
        auto lvl = parseLevel(item.substr(eq + 1));
        if (!lvl)
            return fmt::format("unknown log level \"{}\" for category {} (use error, warning, info or debug)",
                item.substr(eq + 1), toString(*cat));
        next[static_cast<std::size_t>(*cat)] = *lvl;
        explicitly[static_cast<std::size_t>(*cat)] = true;
    }
    for (std::size_t i = 0; i < kCategoryCount; ++i)
        setLevel(static_cast<Category>(i), (fallback && !explicitly[i]) ? *fallback : next[i]);
    return std::nullopt;
}

std::string formatLine(Format f, Category c, Level l, Event e, std::string_view message, std::span<const Field> fields)
{
    std::string out;
    out.reserve(128 + message.size());
    if (f == Format::Journal) {
        fmt::format_to(std::back_inserter(out), "<{}>", static_cast<unsigned>(l));
    } else {
        appendTimestamp(out);
        out += toString(l);
        out += ' ';
    }
    out += toString(c);
    out += ':';
    if (e != Event::None) {
        out += ' ';
        out += toString(e);
    }
    if (!message.empty()) {
        out += ' ';
        appendEscaped(out, message, kMaxMessageBytes, false);
    }
    for (const auto& field : fields)
        appendField(out, field);
    out += '\n';
    return out;
}

void write(Category c, Level l, Event e, std::string_view message, std::span<const Field> fields) noexcept
{
    if (!enabled(c, l))
        return;
    try {
        auto& s = state();
        std::string line = formatLine(s.format.load(std::memory_order_relaxed), c, l, e, message, fields);
        // One lock for the whole line keeps lines from different threads apart.
        std::lock_guard lock(s.sinkMutex);
        if (s.sink)
            s.sink(line);
        else
            writeStderr(line);
    } catch (...) {
        // Logging must never take the daemon down (out of memory, a throwing test sink).
    }
}

} // namespace mudguard::controller::log
