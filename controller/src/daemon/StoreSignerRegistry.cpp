#include "daemon/StoreSignerRegistry.h"

#include <stdexcept>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace mudguard::controller {

using mudparser::SignerDecision;
using mudparser::SignerIdentity;

StoreSignerRegistry::StoreSignerRegistry(const std::filesystem::path& dbFile)
    : m_store(std::make_unique<Store>(dbFile))
{
}

std::string StoreSignerRegistry::encode(const SignerIdentity& id)
{
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("subject");
    w.String(id.subject.c_str(), static_cast<rapidjson::SizeType>(id.subject.size()));
    w.Key("issuer");
    w.String(id.issuer.c_str(), static_cast<rapidjson::SizeType>(id.issuer.size()));
    w.Key("fingerprint");
    w.String(id.fingerprint.c_str(), static_cast<rapidjson::SizeType>(id.fingerprint.size()));
    w.Key("notAfter");
    w.String(id.notAfter.c_str(), static_cast<rapidjson::SizeType>(id.notAfter.size()));
    w.EndObject();
    return { buf.GetString(), buf.GetSize() };
}

std::optional<SignerIdentity> StoreSignerRegistry::decode(const std::string& text)
{
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
    if (d.HasParseError() || !d.IsObject())
        return std::nullopt;
    auto get = [&](const char* k) {
        auto it = d.FindMember(k);
        return it != d.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
    };
    SignerIdentity id { get("subject"), get("issuer"), get("fingerprint"), get("notAfter") };
    if (id.subject.empty() && id.issuer.empty())
        return std::nullopt;
    return id;
}

SignerDecision StoreSignerRegistry::check(
    const std::string& authority, const SignerIdentity& seen, const std::string& url)
{
    std::lock_guard lock(m_mutex);
    auto rows = m_store->signers(authority);
    if (rows.empty()) {
        m_store->acceptSigner(authority, encode(seen), "first-use");
        return { SignerDecision::Outcome::FirstUse, std::nullopt };
    }
    std::optional<SignerIdentity> known;
    for (const auto& r : rows) {
        auto id = decode(r.signer);
        if (!id)
            continue;
        if (id->sameSigner(seen)) {
            // A renewed certificate of the same signer: remember the newest one.
            if (id->fingerprint != seen.fingerprint) {
                Store::Transaction t(*m_store);
                m_store->removeSigner(authority, r.signer);
                m_store->acceptSigner(authority, encode(seen), r.acceptedBy);
                t.commit();
            }
            return { SignerDecision::Outcome::Same, id };
        }
        if (!known)
            known = id;
    }
    PendingSignerRow p;
    p.authority = authority;
    p.signer = encode(seen);
    p.mudUrl = url;
    p.detail = "{}";
    m_store->putPendingSigner(p);
    return { SignerDecision::Outcome::Changed, known };
}

void StoreSignerRegistry::accept(const std::string& authority, const SignerIdentity& identity)
{
    std::lock_guard lock(m_mutex);
    Store::Transaction t(*m_store);
    for (const auto& r : m_store->signers(authority))
        m_store->removeSigner(authority, r.signer);
    m_store->acceptSigner(authority, encode(identity), "admin");
    for (const auto& p : m_store->pendingSigners())
        if (p.authority == authority)
            m_store->removePendingSigner(authority, p.signer);
    t.commit();
}

std::optional<SignerIdentity> StoreSignerRegistry::find(const std::string& authority) const
{
    std::lock_guard lock(m_mutex);
    for (const auto& r : m_store->signers(authority))
        if (auto id = decode(r.signer))
            return id;
    return std::nullopt;
}

std::optional<SignerIdentity> StoreSignerRegistry::acceptPending(
    const std::string& authority, const std::string& which, const std::string& who)
{
    std::lock_guard lock(m_mutex);
    std::vector<std::pair<PendingSignerRow, SignerIdentity>> matches;
    for (const auto& p : m_store->pendingSigners()) {
        if (p.authority != authority)
            continue;
        auto id = decode(p.signer);
        if (!id)
            continue;
        if (which.empty() || which == id->fingerprint || which == id->subject)
            matches.emplace_back(p, *id);
    }
    if (matches.empty())
        return std::nullopt;
    if (matches.size() > 1 && which.empty())
        throw std::invalid_argument("several signers are pending for this authority; name one");
    const auto& chosen = matches.front().second;
    Store::Transaction t(*m_store);
    for (const auto& r : m_store->signers(authority))
        m_store->removeSigner(authority, r.signer);
    m_store->acceptSigner(authority, encode(chosen), who);
    for (const auto& p : m_store->pendingSigners())
        if (p.authority == authority)
            m_store->removePendingSigner(authority, p.signer);
    t.commit();
    return chosen;
}

std::vector<PendingSignerRow> StoreSignerRegistry::pending() const
{
    std::lock_guard lock(m_mutex);
    return m_store->pendingSigners();
}

} // namespace mudguard::controller
