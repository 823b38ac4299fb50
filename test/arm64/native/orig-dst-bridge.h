// The wire format between orig-dst-shim.c (in the emulated process) and orig-dst-helper.c (native):
// one request per connection, the socket as SCM_RIGHTS beside it; one reply, then its bytes.
#ifndef ORIG_DST_BRIDGE_H
#define ORIG_DST_BRIDGE_H
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define SO_ORIGINAL_DST_OPT 80

struct request {
  int32_t level; /* SOL_IP (0) or SOL_IPV6 (41) */
  uint32_t len;  /* room the caller has */
};

struct reply {
  int32_t err; /* 0, or the errno the kernel gave */
  uint32_t len;
};

/* A message of `req` with room for one descriptor in `control`. */
static inline void bridge_message(struct msghdr *msg, struct iovec *iov, struct request *req, char *control, size_t control_len) {
  iov->iov_base = req;
  iov->iov_len = sizeof *req;
  memset(msg, 0, sizeof *msg);
  msg->msg_iov = iov;
  msg->msg_iovlen = 1;
  msg->msg_control = control;
  msg->msg_controllen = control_len;
}
#endif
