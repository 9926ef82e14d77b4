#pragma once
// Each discovery source says what it saw as the core's one announcement type, and nothing more:
// the decisions are the core's. A new source is a converter here and its test.

#include <optional>

#include "mudguard/controller/HookEvent.h"
#include "mudguard/controller/LldpWatcher.h"
#include "mudguard/controller/NeighbourWatcher.h"

#include "core/Announcement.h"

namespace mudguard::controller::discovery {

/// A dnsmasq lease event (through the hook, or from the spool). Nothing for events without a MAC
/// (non-Ethernet clients, DHCPv6 without DNSMASQ_MAC) and for arp-del.
std::optional<core::Announcement> fromLease(const LeaseEvent& e);

/// An LLDP neighbour event. Nothing without a MAC, without a MUD TLV, or when lldpcli stopped.
std::optional<core::Announcement> fromLldp(const LldpEvent& e);

/// The neighbour table: an address the kernel resolved for a MAC. Deletions say nothing (an
/// address stays the device's until another device claims it or the device leaves).
std::optional<core::Announcement> fromNeighbour(const NeighbourEvent& e);

} // namespace mudguard::controller::discovery
