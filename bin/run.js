#!/usr/bin/env node
// The production entry point: runs the compiled commands in dist/.
import {main} from './main.js'

await main(import.meta.url, false)
