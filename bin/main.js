// Shared by run.js and dev.js: run oclif, and render any error that escapes a command
// (unknown command, broken install) the way commands render theirs. Errors inside commands
// are rendered by the base command (src/lib/base-command.ts); this is the last line of defence.
import {run, settings} from '@oclif/core'

export async function main(dir, development) {
  // oclif asks os.userInfo() for the shell when SHELL is unset, and that throws for a uid with
  // no passwd entry, as the proxy's uid 2102 is in most images: never let it stop `mesh proxy`.
  process.env.SHELL ??= '/bin/sh'
  if (development) {
    process.env.NODE_ENV ??= 'development'
    settings.debug = Boolean(process.env.MESH_DEBUG)
  }
  try {
    await run(process.argv.slice(2), dir)
    await drained(process.stdout)
  } catch (error) {
    renderTopLevel(error)
  }
}

/**
 * Waits until what was written to `stream` is out. oclif's flush() waits for 'drain' alone,
 * which never comes once the reader is gone (`mesh inject big.yaml | head -1`): the promise
 * stays pending, the event loop empties and Node exits 13. A closed or failed stream has
 * nothing left to wait for.
 */
function drained(stream) {
  if (stream.destroyed || stream.writableEnded || !stream.writableNeedDrain) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      stream.off('error', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
    stream.on('error', done)
  })
}

function renderTopLevel(error) {
  const err = error ?? new Error('unknown error')
  // oclif's own ExitError carries an exit code and nothing to print.
  if (err.oclif?.exit !== undefined && err.code === 'EEXIT') {
    process.exitCode = err.oclif.exit
    return
  }
  const debug = process.env.MESH_DEBUG === '1'
  let message = String(err.message ?? err).split('\n')[0]
  // A MeshError (e.g. the command_not_found hook's) brings its own hints and exit code.
  const hints = Array.isArray(err.suggestions) ? err.suggestions : ['Run `mesh --help` to see the commands.']
  let exit = typeof err.exitCode === 'number' ? err.exitCode : err.oclif?.exit ?? 1
  const notFound = /^command (.+) not found$/i.exec(message)
  if (notFound) {
    message = `unknown command "${notFound[1].replaceAll(':', ' ')}"`
    exit = 2
  }
  if (exit === 127) exit = 2
  process.stderr.write(`Error: ${message}\n${hints.map((h) => `  Try this: ${h}\n`).join('')}`)
  if (debug && err.stack) process.stderr.write(`${err.stack}\n`)
  process.exitCode = exit
}
