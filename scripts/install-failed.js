// Run by npm's install step when node-gyp-build failed: no prebuilt addon
// fits this machine and building one from source failed too (node-gyp's own
// error is above). Says what to do, and fails the install as it was failing.
'use strict';

process.stderr.write(
  `\nnetmodels: no prebuilt addon fits this machine (${process.platform}-${process.arch}, Node ${process.version}), ` +
    'and building it from source failed (the error above).\n' +
    '  - Install a C++ compiler, make and Python 3 (Debian/Ubuntu: apt-get install build-essential python3),\n' +
    '    then run: npm rebuild netmodels\n' +
    '  - The npm package carries prebuilds for Linux x64 and arm64 with glibc 2.28 or newer only (none for musl:\n' +
    '    on Alpine, apk add build-base python3 linux-headers, then npm rebuild netmodels).\n',
);
process.exit(1);
