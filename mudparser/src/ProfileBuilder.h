#pragma once
// Turns a document that passed YANG validation into the typed Profile. Valid matches the model
// does not carry are listed in Matches::unsupported and reported as warnings.

#include <vector>

#include "mudguard/mudparser/Profile.h"

#include "Json.h"
#include "Sink.h"

namespace mudguard::mudparser {

Profile buildProfile(const json::Document& doc, Sink& sink, std::vector<OpaqueExtension> opaque);

} // namespace mudguard::mudparser
