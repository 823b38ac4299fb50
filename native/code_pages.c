// Start-up code pages for Node: lets go of this process's resident pages of the node binary's
// read-only, never-written mappings (its code and constant data), so that only the pages the
// process touches afterwards count in its RSS again. Starting Node 24 with TLS touches ~47 MB
// of the binary (OpenSSL 3.5's initialisation, the module loader, V8's compilers); a proxy
// serving HTTP/1 then uses ~23 MB of it (bench/proxy/mem-breakdown.ts).
//
// madvise(MADV_DONTNEED) on a private file mapping only removes this process's page-table
// entries: the pages stay in the page cache (shared with every process mapping the same file),
// and the next touch maps them again (a minor fault, no disk read while they are cached).
// A private mapping's pages that were ever written (copy-on-write copies: relocations, RELRO)
// would be lost, so only mappings that are not writable and hold no anonymous page
// ("Anonymous: 0 kB" in smaps) are advised; nothing else is.
//
// dropCodePages() -> number (bytes that were resident in the mappings advised; 0 when none,
// -1 when /proc/self is not readable)
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_RANGES 64

struct range {
  unsigned long start, end, rss_kb;
};

// A smaps mapping header: "start-end perms offset dev inode [path]".
static int parse_header(const char *line, unsigned long *start, unsigned long *end, char *perms, const char **path) {
  int consumed = 0;
  if (sscanf(line, "%lx-%lx %4s %*s %*s %*s%n", start, end, perms, &consumed) != 3 || consumed == 0) return 0;
  const char *p = line + consumed;
  while (*p == ' ') p++;
  *path = p;
  return 1;
}

static double drop_code_pages(void) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  struct range ranges[MAX_RANGES];
  int count = 0;
  // The mapping being read: a candidate while it is the executable's and not writable.
  int candidate = 0;
  struct range cur = {0, 0, 0};
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') line[len - 1] = '\0';
    unsigned long start, end;
    char perms[5] = "";
    const char *path;
    // Headers start with the mapping's address in lower-case hex; fields with a capital letter.
    if (((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) && parse_header(line, &start, &end, perms, &path)) {
      candidate = strcmp(path, exe) == 0 && perms[1] != 'w';
      cur.start = start;
      cur.end = end;
      cur.rss_kb = 0;
      continue;
    }
    if (!candidate) continue;
    unsigned long kb;
    if (sscanf(line, "Rss: %lu kB", &kb) == 1) {
      cur.rss_kb = kb;
    } else if (sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
      if (kb == 0 && count < MAX_RANGES) ranges[count++] = cur;
      candidate = 0;
    }
  }
  fclose(f);
  double dropped = 0;
  for (int i = 0; i < count; i++) {
    if (madvise((void *)ranges[i].start, ranges[i].end - ranges[i].start, MADV_DONTNEED) == 0) dropped += (double)ranges[i].rss_kb * 1024;
  }
  return dropped;
}

static napi_value drop_code_pages_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_double(env, drop_code_pages(), &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "dropCodePages", NAPI_AUTO_LENGTH, drop_code_pages_js, NULL, &fn);
  napi_set_named_property(env, exports, "dropCodePages", fn);
  return exports;
}
