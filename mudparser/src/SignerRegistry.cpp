#include "mudguard/mudparser/SignerRegistry.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "mudguard/mudparser/TimeText.h"

#include "AtomicFile.h"
#include "TrustJson.h"

namespace mudguard::mudparser {

namespace {

constexpr const char* kSignersFile = "signers.json";
constexpr const char* kEventsFile = "signer-events.jsonl";

std::string eventLine(const char* event, const std::string& authority, const std::string& url,
    const std::optional<SignerIdentity>& known, const SignerIdentity& seen, std::chrono::system_clock::time_point at)
{
    rapidjson::StringBuffer buf;
    detail::JsonWriter w(buf);
    w.StartObject();
    detail::writeString(w, "event", event);
    detail::writeString(w, "at", formatRfc3339(at));
    detail::writeString(w, "authority", authority);
    if (!url.empty())
        detail::writeString(w, "url", url);
    if (known) {
        w.Key("known");
        detail::writeSigner(w, *known);
    }
    w.Key("seen");
    detail::writeSigner(w, seen);
    w.EndObject();
    return buf.GetString();
}

} // namespace

FileSignerRegistry::FileSignerRegistry(std::filesystem::path dir)
    : m_dir(std::move(dir))
{
    detail::createDirectories(m_dir, "the state directory");

    if (auto text = detail::readWholeFile(m_dir / kSignersFile)) {
        rapidjson::Document doc;
        auto damaged = [&] {
            return Error(fmt::format("{} is damaged; restore it from a backup or remove it to forget every "
                                     "remembered signer",
                (m_dir / kSignersFile).string()));
        };
        if (!detail::parseJson(doc, *text) || !doc.IsObject() || !doc.HasMember("signers") || !doc["signers"].IsArray())
            throw damaged();
        for (const auto& s : doc["signers"].GetArray()) {
            auto authority = detail::stringMember(s, "authority");
            auto id = s.IsObject() && s.HasMember("signer") ? detail::readSigner(s["signer"]) : std::nullopt;
            if (!authority || !id)
                throw damaged();
            m_signers[*authority] = *id;
        }
    }

    // Replay the log for the changes still waiting for an admin. A line torn by a crash is skipped.
    if (auto log = detail::readWholeFile(m_dir / kEventsFile)) {
        std::istringstream lines(*log);
        std::string line;
        while (std::getline(lines, line)) {
            rapidjson::Document doc;
            if (!detail::parseJson(doc, line) || !doc.IsObject())
                continue;
            auto event = detail::stringMember(doc, "event");
            auto authority = detail::stringMember(doc, "authority");
            if (!event || !authority)
                continue;
            if (*event == "change" && doc.HasMember("known") && doc.HasMember("seen")) {
                auto known = detail::readSigner(doc["known"]);
                auto seen = detail::readSigner(doc["seen"]);
                auto at = parseRfc3339(detail::stringMember(doc, "at").value_or(""));
                if (known && seen)
                    m_pending[*authority] = SignerChange { at.value_or(std::chrono::system_clock::time_point {}),
                        *authority, detail::stringMember(doc, "url").value_or(""), *known, *seen };
            } else if (*event == "accept") {
                m_pending.erase(*authority);
            }
        }
    }
}

void FileSignerRegistry::save() const
{
    rapidjson::StringBuffer buf;
    detail::JsonWriter w(buf);
    w.StartObject();
    w.Key("version");
    w.Int(1);
    w.Key("signers");
    w.StartArray();
    for (const auto& [authority, id] : m_signers) {
        w.StartObject();
        detail::writeString(w, "authority", authority);
        w.Key("signer");
        detail::writeSigner(w, id);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::string text = buf.GetString();
    text += '\n';
    detail::writeFileAtomically(m_dir / kSignersFile, text);
}

SignerDecision FileSignerRegistry::check(
    const std::string& authority, const SignerIdentity& seen, const std::string& url)
{
    std::lock_guard lock(m_mutex);
    auto now = std::chrono::system_clock::now();
    auto it = m_signers.find(authority);
    if (it == m_signers.end()) {
        m_signers[authority] = seen;
        try {
            save();
        } catch (...) {
            m_signers.erase(authority);
            throw;
        }
        detail::appendLine(m_dir / kEventsFile, eventLine("first-use", authority, url, std::nullopt, seen, now));
        return SignerDecision { SignerDecision::Outcome::FirstUse, std::nullopt };
    }
    SignerIdentity known = it->second;
    if (known.sameSigner(seen)) {
        if (known.fingerprint != seen.fingerprint) {
            // A renewed certificate of the same signer: remember the newest one.
            it->second = seen;
            try {
                save();
            } catch (...) {
                it->second = known;
                throw;
            }
        }
        return SignerDecision { SignerDecision::Outcome::Same, known };
    }
    auto pending = m_pending.find(authority);
    if (pending == m_pending.end() || pending->second.seen.fingerprint != seen.fingerprint) {
        detail::appendLine(m_dir / kEventsFile, eventLine("change", authority, url, known, seen, now));
        m_pending[authority] = SignerChange { now, authority, url, known, seen };
    }
    return SignerDecision { SignerDecision::Outcome::Changed, known };
}

void FileSignerRegistry::accept(const std::string& authority, const SignerIdentity& identity)
{
    std::lock_guard lock(m_mutex);
    std::optional<SignerIdentity> previous;
    if (auto it = m_signers.find(authority); it != m_signers.end())
        previous = it->second;
    m_signers[authority] = identity;
    try {
        save();
    } catch (...) {
        if (previous)
            m_signers[authority] = *previous;
        else
            m_signers.erase(authority);
        throw;
    }
    detail::appendLine(
        m_dir / kEventsFile, eventLine("accept", authority, "", previous, identity, std::chrono::system_clock::now()));
    m_pending.erase(authority);
}

std::optional<SignerIdentity> FileSignerRegistry::find(const std::string& authority) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_signers.find(authority);
    if (it == m_signers.end())
        return std::nullopt;
    return it->second;
}

std::vector<SignerChange> FileSignerRegistry::pendingChanges() const
{
    std::lock_guard lock(m_mutex);
    std::vector<SignerChange> out;
    for (const auto& [authority, change] : m_pending)
        out.push_back(change);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
    return out;
}

} // namespace mudguard::mudparser
