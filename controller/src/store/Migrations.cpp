#include "store/Migrations.h"

#include <fmt/format.h>

#include "mudguard/controller/Store.h"

#include "store/Sqlite.h"

namespace mudguard::controller::sqlite {
namespace {

// Version 1. Times are Unix milliseconds. MACs and addresses are stored in canonical text
// form (the store checks them), so that the sqlite3 shell stays readable for operators.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE devices (
    mac TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'fetching', 'enforced', 'failed', 'quarantined')),
    reason TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL CHECK (source IN ('dhcp', 'dhcpv6', 'lldp', 'admin')),
    mud_url TEXT NOT NULL DEFAULT '',
    policy_id TEXT NOT NULL DEFAULT '',
    local_override BLOB,
    created_at INTEGER NOT NULL,
    state_since INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX devices_by_mud_url ON devices(mud_url);

CREATE TABLE device_history (
    id INTEGER PRIMARY KEY,
    mac TEXT NOT NULL REFERENCES devices(mac) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX device_history_by_mac ON device_history(mac, id);

CREATE TABLE addresses (
    mac TEXT NOT NULL REFERENCES devices(mac) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    family INTEGER NOT NULL CHECK (family IN (4, 6)),
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (mac, ip)
) WITHOUT ROWID;
CREATE INDEX addresses_by_ip ON addresses(ip);

-- Kept apart from devices on purpose: the binding is what dnsmasq cannot give back after a
-- restart, so its life is managed explicitly (grace time, admin removal), never by a cascade.
CREATE TABLE bindings (
    mac TEXT PRIMARY KEY NOT NULL,
    mud_url TEXT NOT NULL CHECK (mud_url <> ''),
    source TEXT NOT NULL CHECK (source IN ('dhcp', 'dhcpv6', 'lldp', 'admin')),
    bound_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    unbind_after INTEGER
) WITHOUT ROWID;

CREATE TABLE mud_cache (
    url TEXT PRIMARY KEY NOT NULL,
    hash TEXT NOT NULL DEFAULT '',
    signer TEXT NOT NULL DEFAULT '',
    valid_until INTEGER,
    fetched_at INTEGER,
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    supported INTEGER NOT NULL DEFAULT 1 CHECK (supported IN (0, 1)),
    last_error TEXT NOT NULL DEFAULT '',
    last_error_at INTEGER,
    document BLOB,
    signature BLOB
);

CREATE TABLE signers (
    authority TEXT NOT NULL,
    signer TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    accepted_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (authority, signer)
) WITHOUT ROWID;

CREATE TABLE pending_signers (
    authority TEXT NOT NULL,
    signer TEXT NOT NULL,
    mud_url TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (authority, signer)
) WITHOUT ROWID;

CREATE TABLE pending_url_changes (
    mac TEXT PRIMARY KEY NOT NULL REFERENCES devices(mac) ON DELETE CASCADE,
    old_url TEXT NOT NULL,
    new_url TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    requested_at INTEGER NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: a seq is never reused, so auditors can page with since= and notice gaps.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    event TEXT NOT NULL CHECK (event <> ''),
    mac TEXT,
    mud_url TEXT,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
);
CREATE INDEX audit_log_by_mac ON audit_log(mac, seq) WHERE mac IS NOT NULL;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- INSERT OR REPLACE deletes the old row without firing the DELETE trigger: refuse any insert that
-- names an existing seq.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
)sql";

// Version 2: a refused device says where it was refused; when its last announcement was made
// (spooled announcements replayed after a newer one are ignored); when it leaves (every device,
// not only bound ones). The MUD files last known good move here from the files of the old
// mud-cache directory, with what their verification found (mudguard imports that directory at
// start).
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE devices ADD COLUMN failure_stage TEXT;
ALTER TABLE devices ADD COLUMN announced_at INTEGER;
ALTER TABLE devices ADD COLUMN leave_at INTEGER;
UPDATE devices SET leave_at = (SELECT unbind_after FROM bindings WHERE bindings.mac = devices.mac);
ALTER TABLE mud_cache ADD COLUMN verified_at INTEGER;
ALTER TABLE mud_cache ADD COLUMN cache_validity_hours INTEGER NOT NULL DEFAULT 48;
ALTER TABLE mud_cache ADD COLUMN signature_url TEXT NOT NULL DEFAULT '';
ALTER TABLE mud_cache ADD COLUMN signer_identity TEXT NOT NULL DEFAULT '';
ALTER TABLE mud_cache ADD COLUMN chain TEXT NOT NULL DEFAULT '[]';
CREATE INDEX devices_leaving ON devices(leave_at) WHERE leave_at IS NOT NULL;
)sql";

constexpr Migration kMigrations[] = {
    { 1, "initial schema", kSchemaV1 },
    { 2, "failure stages, announcement times, leave times, MUD files with their verification", kSchemaV2 },
};

} // namespace

std::span<const Migration> storeMigrations() { return kMigrations; }

int migrate(Connection& c, std::span<const Migration> steps)
{
    int found = static_cast<int>(c.queryInt("PRAGMA user_version"));
    int latest = steps.empty() ? 0 : steps.back().version;
    if (found > latest)
        throw StoreError(fmt::format("state database: schema version {} is newer than this mudguard supports ({}); "
                                     "use the mudguard that wrote it, or a newer one",
                             found, latest),
            0);
    for (const auto& step : steps) {
        if (step.version <= found)
            continue;
        c.exec("BEGIN IMMEDIATE");
        try {
            c.exec(step.sql);
            c.exec(fmt::format("PRAGMA user_version = {}", step.version));
            c.exec("COMMIT");
        } catch (const StoreError& e) {
            try {
                c.exec("ROLLBACK");
            } catch (...) {
            }
            throw StoreError(fmt::format("migrating the state database to schema version {} ({}) failed, it stays at "
                                         "version {}: {}",
                                 step.version, step.description, step.version - 1, e.what()),
                e.code());
        }
    }
    return found;
}

} // namespace mudguard::controller::sqlite
