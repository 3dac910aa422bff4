#!/usr/bin/env node
// select() can only watch fds below FD_SETSIZE (1024): an fd_set is a fixed
// 1024-bit array, and FD_SET on a higher fd writes past its end. sys.select
// refuses such an fd with a RangeError before touching any fd_set; poll()
// and epoll have no such limit.
//
// The demo opens pipes until it holds an fd >= FD_SETSIZE (it needs
// `ulimit -n` above 1024; otherwise it says so), shows all three calls on
// it, and closes everything it opened.
//
//   node examples/select-fd-setsize.js
'use strict';

const { sys } = require('..');

console.log(`FD_SETSIZE = ${sys.FD_SETSIZE}`);

const opened = [];
try {
  // Open pipes until one end lands at or above FD_SETSIZE. Bounded: the
  // fds are numbered from the lowest free one, so 600 pipes always suffice.
  let high = -1;
  for (let i = 0; i < 600 && high < 0; i++) {
    let fds;
    try {
      fds = sys.pipe({ nonBlocking: true });
    } catch (error) {
      if (error.code !== 'EMFILE') throw error;
      console.log(`EMFILE after ${opened.length} fds: raise \`ulimit -n\` above ${sys.FD_SETSIZE} to see an fd past the limit.`);
      break;
    }
    opened.push(...fds);
    if (fds[0] >= sys.FD_SETSIZE) high = fds[0];
    // Keep the writer of the high pipe; data makes the reader readable.
    if (high >= 0) sys.write(fds[1], Buffer.from('!'));
  }

  const low = opened[0];
  console.log(`select() on fd ${low}:`, sys.select([low], [], [], 0));

  for (const fd of [high, sys.FD_SETSIZE, 5000].filter((fd) => fd >= 0)) {
    try {
      sys.select([fd], [], [], 0);
      console.log(`select() on fd ${fd}: no error?!`);
    } catch (error) {
      console.log(`select() on fd ${fd}: ${error.name} [${error.code}] ${error.message}`);
    }
  }

  if (high >= 0) {
    console.log(`poll() on fd ${high}:`, sys.poll([{ fd: high, events: sys.POLLIN }], 0));
    const epoll = new sys.Epoll();
    try {
      epoll.add(high, sys.EPOLLIN);
      console.log(`Epoll on fd ${high}:`, epoll.wait(8, 0));
    } finally {
      epoll.close();
    }
  }
} finally {
  for (const fd of opened) sys.close(fd);
  console.log(`closed the ${opened.length} fds this demo opened`);
}
