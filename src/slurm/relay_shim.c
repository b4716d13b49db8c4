// ferry-relay-shim: `srun` (and the other Slurm client commands) inside a
// containerised batch script. Bound at /.ferry/bin/srun, /.ferry/bin/sbatch,
// ...; it asks the batch step's relay, outside the container, to run the
// host's command of its name with its arguments, environment, working
// directory and stdio, forwards the signals a user or Slurm sends it, and
// exits as the command did (docs/design/slurm-relay.md).
//
// Linked -static against glibc: it must run in any image (busybox, musl,
// no libc at all), so plain C and only the C library.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/hpc/slurm_relay_wire.h"

// One line, "ferry: ...", and exit STATUS.
__attribute__((format(printf, 2, 3), noreturn)) static void die(int status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ferry: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(status);
}

static int write_full(int fd, const void* data, size_t n) {
  const char* p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_full(int fd, void* data, size_t n) {
  char* p = data;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static const char* const kCommands[] = FERRY_RELAY_COMMANDS;
#define N_COMMANDS (sizeof kCommands / sizeof kCommands[0])

static int relayed(const char* name) {
  for (size_t i = 0; i < N_COMMANDS; ++i)
    if (strcmp(name, kCommands[i]) == 0) return 1;
  return 0;
}

// "srun, sbatch, ...": the relayed commands, for the refusal below.
static const char* command_list(void) {
  static char list[256];
  size_t len = 0;
  for (size_t i = 0; i < N_COMMANDS; ++i) {
    int n = snprintf(list + len, sizeof list - len, "%s%s", i > 0 ? ", " : "", kCommands[i]);
    if (n < 0 || (size_t)n >= sizeof list - len) break;
    len += (size_t)n;
  }
  return list;
}

// Appends S and its NUL to BUF (of *LEN bytes used, *CAP allocated).
static void append(char** buf, size_t* len, size_t* cap, const char* s) {
  size_t n = strlen(s) + 1;
  if (*len + n > FERRY_RELAY_MAX_LENGTH)
    die(125, "arguments and environment are too long for the Slurm relay");
  if (*len + n > *cap) {
    size_t c = *cap * 2 > *len + n ? *cap * 2 : *len + n;
    char* b = realloc(*buf, c);
    if (b == NULL) die(125, "out of memory");
    *buf = b;
    *cap = c;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
}

// Sends the request: header and fds 0, 1, 2 in one message, then the strings.
static void send_request(int sock, const char* name, int argc, char** argv, char** envp) {
  // A closed stdio descriptor cannot be passed: /dev/null stands in.
  for (int fd = 0; fd < 3; ++fd)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) die(125, "cannot open /dev/null");
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, "/");
  char* buf = NULL;
  size_t len = 0, cap = 0;
  append(&buf, &len, &cap, name);
  append(&buf, &len, &cap, cwd);
  uint32_t nargs = argc > 0 ? (uint32_t)(argc - 1) : 0;  // the arguments after the command name
  for (uint32_t i = 1; i <= nargs; ++i) append(&buf, &len, &cap, argv[i]);
  uint32_t envc = 0;
  for (char** e = envp; *e != NULL; ++e, ++envc) append(&buf, &len, &cap, *e);
  // The count the relay checks: name, working directory, arguments, environment.
  if ((uint64_t)nargs + envc + 2 > FERRY_RELAY_MAX_STRINGS)
    die(125, "too many arguments and variables for the Slurm relay");

  struct FerryRelayRequest req = {FERRY_RELAY_MAGIC, nargs, envc, (uint32_t)len};
  int fds[3] = {0, 1, 2};
  union {
    char buf[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {&req, sizeof req};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t sent;
  do sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent != (ssize_t)sizeof req || write_full(sock, buf, len) != 0)
    die(125, "Slurm relay %s: %s", FERRY_RELAY_SOCKET, strerror(errno));
  free(buf);
}

// Ends the way the command ended: its exit status, or its signal.
static void exit_like(int status) {
  if (WIFEXITED(status)) exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);  // the command dumped its own core, if any
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    exit(128 + sig);
  }
  exit(125);
}

int main(int argc, char** argv) {
  extern char** environ;
  const char* name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
  if (!relayed(name)) die(127, "'%s' is not relayed to the host (%s)", name, command_list());

  // The signals to forward are taken from a signalfd from now on.
  static const int kSignals[] = FERRY_RELAY_SIGNALS;
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i) sigaddset(&set, kSignals[i]);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);

  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, FERRY_RELAY_SOCKET);
  if (sock < 0 || connect(sock, (struct sockaddr*)&addr, sizeof addr) != 0)
    die(125,
        "cannot reach the Slurm relay %s: %s (there is one only in a batch script run with "
        "--container-image)",
        FERRY_RELAY_SOCKET, strerror(errno));
  send_request(sock, name, argc, argv, environ);

  for (;;) {
    struct pollfd p[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      die(125, "poll: %s", strerror(errno));
    }
    if (sfd >= 0 && (p[1].revents & POLLIN)) {
      struct signalfd_siginfo info;
      if (read(sfd, &info, sizeof info) == (ssize_t)sizeof info) {
        uint32_t sig = info.ssi_signo;
        (void)write_full(sock, &sig, sizeof sig);  // a closed relay shows up below
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      struct FerryRelayReply reply;
      if (read_full(sock, &reply, sizeof reply) != 0)
        die(125, "the Slurm relay %s closed the connection without the command's status", FERRY_RELAY_SOCKET);
      if (reply.kind == kFerryRelayExited) exit_like(reply.value);
      char text[FERRY_RELAY_MAX_MESSAGE + 1];
      uint32_t n = reply.length < FERRY_RELAY_MAX_MESSAGE ? reply.length : FERRY_RELAY_MAX_MESSAGE;
      if (read_full(sock, text, n) != 0) n = 0;
      text[n] = '\0';
      die(reply.value > 0 && reply.value < 256 ? reply.value : 125, "%s", text);
    }
  }
}
