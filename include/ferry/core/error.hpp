/// The one error type of ferry (STYLE.md 9). An Error carries the errno (if
/// any), the failed operation, the object it was applied to (a path, a
/// reference, a digest) and a chain of context added at module boundaries.
/// Front ends print it once as one line and exit with exit_code().
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// Exit statuses of ferry's own failures, as Docker and Podman use them
/// (ARCHITECTURE.md "Exit codes"). tests/lib.sh repeats these numbers.
enum ExitCode : int {
  kExitFailure = 125,        ///< ferry itself failed
  kExitCannotExecute = 126,  ///< command found but not executable
  kExitNotFound = 127,       ///< command not found
};

class Error : public std::exception {
 public:
  /// A failure with no errno: `message` says what is wrong.
  explicit Error(std::string message, int exit_code = kExitFailure);
  /// A failed system call: "OP OBJECT: strerror(err)".
  Error(int err, std::string op, std::string object, int exit_code = kExitFailure);

  /// Prepends one level of context ("run ./img.sqfs"); returns *this to rethrow.
  Error& context(std::string ctx);

  const char* what() const noexcept override { return text_.c_str(); }
  int err() const noexcept { return err_; }
  int exit_code() const noexcept { return exit_code_; }

 private:
  void render();

  int err_ = 0;
  int exit_code_ = kExitFailure;
  std::string message_;              // "mount /x: Permission denied"
  std::vector<std::string> context_;  // outermost first
  std::string text_;
};

/// Throws Error(errno, op, object). For the common "syscall failed" path.
[[noreturn]] void throw_errno(std::string op, std::string object = {});

}  // namespace ferry
