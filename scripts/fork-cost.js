#!/usr/bin/env node
// Kept for the figures recorded with it: now `netmodels bench --experiment
// churn` (connections/s and server CPU per connection, a fork server's
// reaped children included), which this runs with the given flags.
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
const r = spawnSync(process.execPath, [cli, 'bench', '--experiment', 'churn', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
