/// The Slurm relay's wire format (docs/design/slurm-relay.md), shared by
/// the relay (C++, src/hpc/slurm_relay.cpp) and the static shim that runs
/// inside containers (C, src/slurm/relay_shim.c): plain C, no dependencies.
///
/// One connection per command, on a SOCK_STREAM Unix socket:
///   shim -> relay  FerryRelayRequest, with the shim's fds 0, 1, 2 attached
///                  (SCM_RIGHTS), then `length` bytes: NUL-terminated
///                  strings: the command name, the working directory, the
///                  argc arguments (argv[1..]), the envc NAME=VALUE entries.
///   shim -> relay  then any number of uint32_t signal numbers to deliver.
///   relay -> shim  one FerryRelayReply, then `length` bytes of message
///                  (kFerryRelayError only); the relay closes.
/// Both ends are the same user on the same host: host byte order.
#ifndef FERRY_HPC_SLURM_RELAY_WIRE_H
#define FERRY_HPC_SLURM_RELAY_WIRE_H

#include <stdint.h>

#define FERRY_RELAY_MAGIC 0x66726c31u     /* "frl1" */
#define FERRY_RELAY_MAX_LENGTH (4u << 20) /* arguments + environment, bytes */
#define FERRY_RELAY_MAX_STRINGS 65536u
#define FERRY_RELAY_MAX_MESSAGE 4096u

/// Where the container sees the relay: the socket and the shims.
#define FERRY_RELAY_SOCKET "/.ferry/slurm/relay.sock"
#define FERRY_RELAY_SOCKET_DIR "/.ferry/slurm"
#define FERRY_RELAY_BIN_DIR "/.ferry/bin"

/// The Slurm client commands the relay runs on the host, and nothing else.
#define FERRY_RELAY_COMMANDS \
  { "srun", "sbatch", "scancel", "squeue", "sinfo", "scontrol", "sacct", "sstat" }

/// The signals the shim forwards and the relay delivers.
#define FERRY_RELAY_SIGNALS \
  { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 }

struct FerryRelayRequest {
  uint32_t magic;
  uint32_t argc; /* arguments after the command name */
  uint32_t envc;
  uint32_t length; /* bytes of strings that follow */
};

enum FerryRelayReplyKind {
  kFerryRelayExited = 1, /* value: the command's wait(2) status */
  kFerryRelayError = 2,  /* value: the exit status to use; a message follows */
};

struct FerryRelayReply {
  uint32_t kind;
  int32_t value;
  uint32_t length; /* message bytes that follow */
};

#endif
