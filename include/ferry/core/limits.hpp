/// Process resource limits that ferry changes for itself only.
#pragma once

namespace ferry {

/// Raises the soft limit on open files to the hard limit, for a server that
/// holds a descriptor per file it knows (the per-node cache), as libfuse's
/// passthrough_hp does; the hard limit stays a cap. The first call records
/// the limit ferry started with.
void raise_open_files_limit() noexcept;

/// In a child about to exec a command or hook (only system calls:
/// async-signal-safe): gives back the soft limit ferry started with, if
/// raise_open_files_limit changed it. What the user's command inherits is
/// the user's own limit.
void restore_open_files_limit() noexcept;

}  // namespace ferry
