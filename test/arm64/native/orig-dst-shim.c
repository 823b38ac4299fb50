// For the arm64 suite only (test/arm64): qemu-user does not translate getsockopt(SOL_IP or
// SOL_IPV6, SO_ORIGINAL_DST): it answers ENOPROTOOPT without asking the kernel (Debian's qemu
// 7.2, seen with `qemu-aarch64 -strace`). Preloaded into the emulated node
// (`qemu-aarch64 -E LD_PRELOAD=<this>.so`), this getsockopt asks the emulator first and, only for
// those two options refused that way, hands the socket to a native helper
// (orig-dst-helper.c, over the Unix socket named by MESH_ORIG_DST_HELPER, as SCM_RIGHTS, which
// qemu does translate); the helper asks the kernel and sends its answer back. Everything else,
// and the proxy's own addon (native/original_dst.c built for arm64), runs unchanged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "orig-dst-bridge.h"

typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);

static int ask_helper(const char *path, int fd, int level, void *val, socklen_t *len) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ENOPROTOOPT;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  int err = ENOPROTOOPT;
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
    struct request req = {level, (uint32_t)*len};
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov;
    struct msghdr msg;
    bridge_message(&msg, &iov, &req, control, sizeof control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    struct reply rep;
    if (sendmsg(s, &msg, 0) == (ssize_t)sizeof req && recv(s, &rep, sizeof rep, MSG_WAITALL) == (ssize_t)sizeof rep) {
      err = rep.err;
      if (err == 0 && rep.len <= *len && (rep.len == 0 || recv(s, val, rep.len, MSG_WAITALL) == (ssize_t)rep.len)) *len = rep.len;
      else if (err == 0) err = EPROTO;
    }
  }
  close(s);
  return err;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len) {
  static getsockopt_fn real;
  if (!real) real = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
  int r = real(fd, level, name, val, len);
  if (r == 0 || errno != ENOPROTOOPT || name != SO_ORIGINAL_DST_OPT || (level != 0 && level != 41)) return r;
  const char *path = getenv("MESH_ORIG_DST_HELPER");
  if (path == NULL || len == NULL) return r;
  int err = ask_helper(path, fd, level, val, len);
  if (err == 0) return 0;
  errno = err;
  return -1;
}
