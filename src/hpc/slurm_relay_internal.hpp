/// Internals of the Slurm relay (ferry/hpc/slurm_relay.hpp): the relay
/// process's accept loop and the handling of one connection, split so that
/// the pure parts (request parsing, the command's environment) are tested.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct FerryRelayRequest;

namespace ferry::hpc {

/// An allowlisted command and its absolute path on the host.
struct RelayCommand {
  std::string name;
  std::string path;
};

/// A request as the shim sent it, parsed.
struct RelayRequest {
  std::string name;
  std::string cwd;
  std::vector<std::string> args;  ///< argv[1..]
  std::vector<std::string> env;
};

/// Checks HEADER's bounds (magic, counts, length): false when it is not a
/// request the relay accepts.
bool relay_header_ok(const FerryRelayRequest& header);

/// Splits the strings that follow a header (see slurm_relay_wire.h);
/// nullopt when they do not match its counts exactly.
std::optional<RelayRequest> parse_relay_request(const FerryRelayRequest& header, const std::string& strings);

/// The command's environment: RECEIVED (the container's), except PATH and
/// the loader's variables (LD_*, GCONV_PATH, LOCPATH, NLSPATH), which come
/// from OWN (the host job's): container paths mean nothing on the host.
std::vector<std::string> relay_environment(const std::vector<std::string>& received,
                                           const std::vector<std::string>& own);

/// The relay process: accepts connections on LISTEN_FD from this user only
/// and serves each in a child; on SIGTERM (or its parent's death) removes
/// SOCKET and DIR and exits. Never returns.
[[noreturn]] void relay_main(int listen_fd, const std::string& socket, const std::string& dir,
                             const std::vector<RelayCommand>& commands, const std::string& home_cwd,
                             pid_t parent) noexcept;

/// Serves one connection (in a child of the relay): reads the request and
/// the shim's stdio, runs the command, forwards signals, replies with its
/// wait status. HOME_CWD: the working directory when the container's does
/// not exist on the host. Never returns.
[[noreturn]] void relay_serve(int conn, const std::vector<RelayCommand>& commands,
                              const std::string& home_cwd, pid_t relay) noexcept;

}  // namespace ferry::hpc
