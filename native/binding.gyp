# For node-gyp users; the project itself builds with scripts/build-native.sh (plain cc).
{
  "targets": [
    {
      "target_name": "original_dst",
      "sources": ["original_dst.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "malloc_trim",
      "sources": ["malloc_trim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "code_pages",
      "sources": ["code_pages.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
