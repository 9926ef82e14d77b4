#pragma once
// The controller's root exception. Subclasses exist only where callers react differently.

#include <stdexcept>

namespace mudguard::controller {

/// Root of the controller's exceptions.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace mudguard::controller
