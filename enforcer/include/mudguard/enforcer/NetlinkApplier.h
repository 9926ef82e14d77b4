#pragma once
// The production applier: libnftnl + libmnl batches over one NETLINK_NETFILTER socket (one
// sendmsg per batch, the socket buffer sized to the batch, replies drained and each error mapped
// back to the operation that caused it), dumps for reading, and a second socket subscribed to
// nftables events for change monitoring. Not thread-safe: one thread owns it.

#include <memory>

#include "mudguard/enforcer/Applier.h"

namespace mudguard::enforcer {

/// Opens the sockets in the calling thread's network namespace. Throws KernelUnsupported when
/// nf_tables is not available.
std::unique_ptr<Applier> makeNetlinkApplier();

} // namespace mudguard::enforcer
