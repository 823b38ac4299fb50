// SO_ORIGINAL_DST for Node: the address a connection was sent to before an iptables REDIRECT
// rewrote it. Node exposes no getsockopt, and the option returns a sockaddr, not an integer.
// originalDst(fd) -> {ip, port, family} | null  (null: not redirected, or not a TCP socket)
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif
#ifndef SOL_IPV6
#define SOL_IPV6 41
#endif

static napi_value make_result(napi_env env, const char *ip, int port, int family) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "ip", v);
  napi_create_int32(env, port, &v);
  napi_set_named_property(env, obj, "port", v);
  napi_create_int32(env, family, &v);
  napi_set_named_property(env, obj, "family", v);
  return obj;
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_value null_value;
  napi_get_null(env, &null_value);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "originalDst(fd): fd must be a non-negative integer");
    return NULL;
  }
  char ip[INET6_ADDRSTRLEN];
  struct sockaddr_in v4;
  socklen_t len = sizeof(v4);
  memset(&v4, 0, sizeof(v4));
  // Also answers for IPv4 peers of a dual-stack (AF_INET6, v4-mapped) socket.
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &v4, &len) == 0 && v4.sin_family == AF_INET) {
    if (!inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof(ip))) return null_value;
    return make_result(env, ip, ntohs(v4.sin_port), 4);
  }
  struct sockaddr_in6 v6;
  len = sizeof(v6);
  memset(&v6, 0, sizeof(v6));
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &v6, &len) == 0 && v6.sin6_family == AF_INET6) {
    if (!inet_ntop(AF_INET6, &v6.sin6_addr, ip, sizeof(ip))) return null_value;
    return make_result(env, ip, ntohs(v6.sin6_port), 6);
  }
  return null_value;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  return exports;
}
