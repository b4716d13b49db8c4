#include "ferry/core/error.hpp"

#include <cerrno>
#include <cstring>

namespace ferry {

Error::Error(std::string message, int exit_code)
    : exit_code_(exit_code), message_(std::move(message)) {
  render();
}

Error::Error(int err, std::string op, std::string object, int exit_code)
    : err_(err), exit_code_(exit_code) {
  message_ = std::move(op);
  if (!object.empty()) message_ += " " + object;
  if (err != 0) message_ += std::string(": ") + std::strerror(err);
  render();
}

Error& Error::context(std::string ctx) {
  context_.insert(context_.begin(), std::move(ctx));
  render();
  return *this;
}

void Error::render() {
  text_.clear();
  for (const auto& c : context_) text_ += c + ": ";
  text_ += message_;
}

void throw_errno(std::string op, std::string object) {
  throw Error(errno, std::move(op), std::move(object));
}

}  // namespace ferry
