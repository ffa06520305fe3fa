{
  # Built by `npm install` through scripts/build.js, which runs node-gyp
  # with --nodedir set to the running Node's own headers (never a download).
  # libunmeta is found with pkg-config: the installed `unmeta`, or a build
  # tree's when PKG_CONFIG_PATH names its meson-uninstalled folder. The
  # library's folder is recorded as the addon's rpath, so a library outside
  # the loader's path (a build tree, /usr/local/lib) still loads.
  "targets": [
    {
      "target_name": "unmeta",
      "sources": ["src/unmeta_node.c"],
      "cflags": ["<!@(node scripts/pkg-config.js --cflags)"],
      "libraries": ["<!@(node scripts/pkg-config.js --libs)"],
      "ldflags": ["<!@(node scripts/pkg-config.js --rpath)"]
    }
  ]
}
