// malloc_trim(3) for Node: gives the pages of freed malloc memory back to the kernel. V8's
// optimizing compiler allocates its working memory with malloc and frees it after each
// compile; glibc keeps those pages resident (freed chunks inside the heap are never returned
// by free() alone), which in the proxy is 3-4 MB of RSS that no one uses.
// mallocTrim() -> boolean (true when some memory was released; false without glibc)
#define NAPI_VERSION 8
#include <node_api.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value malloc_trim_js(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released == 1, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "mallocTrim", NAPI_AUTO_LENGTH, malloc_trim_js, NULL, &fn);
  napi_set_named_property(env, exports, "mallocTrim", fn);
  return exports;
}
