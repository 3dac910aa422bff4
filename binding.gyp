{
  "variables": {
    # io_uring support (the uring model) when liburing's headers are found;
    # without them every other model is built and uring is left out.
    "have_liburing%": "<!(node scripts/liburing.js have)"
  },
  "targets": [
    {
      "target_name": "netmodels",
      "sources": [
        "<!@(find native -name '*.cc' | LC_ALL=C sort)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NM_HAVE_LIBURING=<(have_liburing)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-Wall", "-Wextra", "-pthread"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fexceptions", "-pthread"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["have_liburing==1", {
          "libraries": ["<!(node scripts/liburing.js libs)"]
        }]
      ]
    }
  ]
}
