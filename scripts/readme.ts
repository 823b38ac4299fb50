// Generates the README's command reference from the commands themselves, so it cannot drift:
// `npm run readme` rewrites it; test/unit/readme.test.ts fails when it is out of date.
import {readFileSync, writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {Config, type Command} from '@oclif/core'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const START = '<!-- commands -->'
export const STOP = '<!-- commandsstop -->'

function flagUsage(name: string, flag: Command.Flag.Any): string {
  const short = flag.char ? `-${flag.char}, ` : ''
  const help = flag.type === 'option' && flag.helpValue ? [flag.helpValue].flat().join(' ') : undefined
  const value = flag.type === 'option' ? (help ? ` ${help}` : flag.options ? ` ${flag.options.join('|')}` : ` <value>`) : ''
  return `${short}--${name}${value}`
}

export async function renderCommandReference(): Promise<string> {
  const config = await Config.load(ROOT)
  const commands = config.commands.filter((c) => !c.hidden && c.pluginType === 'core').sort((a, b) => a.id.localeCompare(b.id))
  const parts: string[] = []
  for (const cmd of commands) {
    const id = cmd.id.replaceAll(':', ' ')
    parts.push(`### \`mesh ${id}\``, '', (cmd.summary ?? cmd.description ?? '').replaceAll('<%= config.bin %>', 'mesh'), '')
    const lines: string[] = []
    const args = Object.values(cmd.args ?? {})
    lines.push(`USAGE`, `  $ mesh ${id}${args.map((a) => (a.required ? ` ${a.name.toUpperCase()}` : ` [${a.name.toUpperCase()}]`)).join('')}${cmd.strict === false ? ' ...' : ''} [FLAGS]`)
    const own = Object.entries(cmd.flags ?? {}).filter(([, f]) => f.helpGroup !== 'GLOBAL' && !f.hidden)
    if (own.length > 0) {
      lines.push('', 'FLAGS')
      const rows = own.map(([name, f]) => [flagUsage(name, f), (f.summary ?? f.description ?? '').split('\n')[0] + (f.default !== undefined && f.type === 'option' ? ` (default: ${String(f.default)})` : '')])
      const width = Math.max(...rows.map(([u]) => u.length))
      for (const [u, d] of rows) lines.push(`  ${u.padEnd(width)}  ${d}`.trimEnd())
    }
    const examples = (cmd.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command))
    if (examples.length > 0) {
      lines.push('', 'EXAMPLES')
      for (const e of examples) lines.push(`  $ ${e.replaceAll('<%= config.bin %>', 'mesh')}`)
    }
    parts.push('```', ...lines, '```', '')
  }
  const globals = Object.entries(commands[0]?.flags ?? {}).filter(([, f]) => f.helpGroup === 'GLOBAL').map(([name, f]) => `\`${f.char ? `-${f.char}/` : ''}--${name}\``)
  parts.push(
    `Every command also takes the global flags ${globals.slice(0, -1).join(', ')} and ${globals.at(-1)}. ` +
      '`--request-timeout` bounds each call to the API server or the tap server (default 30s, as `10s` or `2m`; `0` waits forever, as in kubectl).',
  )
  return parts.join('\n')
}

export function spliceReference(readme: string, reference: string): string {
  const start = readme.indexOf(START)
  const stop = readme.indexOf(STOP)
  if (start < 0 || stop < start) throw new Error(`README.md lacks the ${START} ... ${STOP} markers`)
  return `${readme.slice(0, start + START.length)}\n${reference}\n${readme.slice(stop)}`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Read the commands from src/, not from a possibly stale dist/.
  process.env.NODE_ENV ??= 'development'
  const path = `${ROOT}README.md`
  const updated = spliceReference(readFileSync(path, 'utf8'), await renderCommandReference())
  writeFileSync(path, updated)
  process.stderr.write('README.md command reference updated\n')
}
