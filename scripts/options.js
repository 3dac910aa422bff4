// The measurement scripts' command line: `--name value` for each option the
// script names, every value a string with its default; an unknown option or
// a missing value is parseArgs' usage error.
'use strict';

const { parseArgs } = require('node:util');

/** `{ connections: '64', size: '64' }` -> the values given, or those defaults. */
function options(defaults) {
  const spec = Object.fromEntries(Object.entries(defaults).map(([name, value]) => [name, { type: 'string', default: value }]));
  return parseArgs({ options: spec }).values;
}

module.exports = { options };
