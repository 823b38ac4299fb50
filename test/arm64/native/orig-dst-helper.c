// The native half of orig-dst-shim.c (test/arm64 only): serves getsockopt(<level>,
// SO_ORIGINAL_DST) for sockets handed over a Unix socket by emulated processes, asking the real
// kernel. Usage: orig-dst-helper <socket path>. Prints "ready" once listening, then one line per
// answer ("answered level=<n> errno=<n>"), so a test can tell the path was taken.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "orig-dst-bridge.h"

static void serve(int c) {
  struct request req;
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov;
  struct msghdr msg;
  bridge_message(&msg, &iov, &req, control, sizeof control);
  if (recvmsg(c, &msg, MSG_WAITALL) != (ssize_t)sizeof req) return;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) return;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  unsigned char buf[128];
  socklen_t len = req.len < sizeof buf ? req.len : sizeof buf;
  struct reply rep = {0, 0};
  if ((req.level != 0 && req.level != 41) || getsockopt(fd, req.level, SO_ORIGINAL_DST_OPT, buf, &len) != 0) rep.err = req.level != 0 && req.level != 41 ? EINVAL : errno;
  else rep.len = len;
  close(fd);
  if (write(c, &rep, sizeof rep) == (ssize_t)sizeof rep && rep.len > 0 && write(c, buf, rep.len) < 0) return;
  printf("answered level=%d errno=%d\n", req.level, rep.err);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: orig-dst-helper <socket path>\n");
    return 2;
  }
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  unlink(argv[1]);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || chmod(argv[1], 0666) != 0 || listen(s, 64) != 0) {
    perror("orig-dst-helper");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      perror("orig-dst-helper: accept");
      return 1;
    }
    serve(c);
    close(c);
  }
}
