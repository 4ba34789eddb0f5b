#!/usr/bin/env node
// The `passgate` command: the core's command line (passgate::cli), run natively.
'use strict'

const path = require('node:path')
const { cliMain } = require('../index.js')

// How a client starts this command again (`passgate init` writes it into the client's config):
// absolute paths, since a desktop client's PATH need not hold this node or this package.
process.env.PASSGATE_CLI_LAUNCHER = JSON.stringify([process.execPath, path.resolve(__filename)])

process.exit(cliMain(process.argv.slice(2)))
