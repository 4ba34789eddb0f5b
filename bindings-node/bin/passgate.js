#!/usr/bin/env node
// The `passgate` command: the core's command line (passgate::cli), run natively.
'use strict'

const { cliMain } = require('../index.js')

process.exit(cliMain(process.argv.slice(2)))
