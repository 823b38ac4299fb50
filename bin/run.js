#!/usr/bin/env node
// The production entry point: runs the compiled commands in dist/. The few answers that need no
// command parsing come from bin/fast.js without loading oclif (start-up time), and so does
// `mesh proxy` as the injector runs it (settings from the environment only: no oclif in the
// sidecar's memory).
// (first: on an unsupported Node, one line and exit 1, before any other module loads)
import './supported-node.js'
import {fastPath, fastProxy, pinnedWidth} from './fast.js'

const argv = process.argv.slice(2)
if (!fastPath(argv) && !(await fastProxy(argv))) {
  // One help width everywhere (the cached root help is 80 columns wide): see bin/fast.js.
  if (process.stdout.isTTY && pinnedWidth()) process.env.OCLIF_COLUMNS ??= '80'
  const {main} = await import('./main.js')
  await main(import.meta.url, false)
}
