#pragma once

namespace mudguard::controller {

/// The whole command line: parses argv, runs one subcommand, returns the process exit code.
int cliMain(int argc, char** argv);

} // namespace mudguard::controller
