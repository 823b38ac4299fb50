// oclif's command_not_found hook: an unknown command is a usage error (exit 2) that names the
// nearest commands (`mesh stats` -> "Did you mean `mesh stat`?"), as kubectl and git do. No
// prompt: scripts read the error, people read the hint. bin/main.js renders it.
import type {Hook} from '@oclif/core'
import {UsageError} from '../lib/errors.js'
import {closest} from '../lib/suggest.js'

const hook: Hook<'command_not_found'> = async function (opts) {
  const visible = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id)
  // oclif joins the words it could not place (`mesh stats deploy` -> "stats:deploy"): the
  // unknown command is the first word below a known topic.
  const parts = opts.id.split(':')
  let known = 0
  while (known < parts.length - 1 && visible.some((id) => id.startsWith(parts.slice(0, known + 1).join(':') + ':'))) known++
  const typed = parts.slice(0, known + 1).join(':')
  const spaced = (id: string): string => id.replaceAll(':', ' ')
  const near = closest(typed, visible, Math.min(2, Math.max(1, Math.floor(typed.length / 3)))).slice(0, 3)
  throw new UsageError(`unknown command "${spaced(typed)}"`, {
    code: 'MESH_UNKNOWN_COMMAND',
    suggestions: [
      ...(near.length > 0 ? [`Did you mean ${near.map((id) => `\`mesh ${spaced(id)}\``).join(' or ')}?`] : []),
      'Run `mesh --help` to see the commands.',
    ],
  })
}

export default hook
