// Shell completion for real: the `mesh __complete` protocol through the real binary, and the
// scripts of `mesh completion bash|zsh|fish` loaded into real shells (bash's complete/COMPREPLY,
// with and without bash-completion; fish's `complete -C`; zsh with its completion widgets'
// helpers recorded), resource names from a running demo's tap server, and a mute server
// answered with nothing rather than a hang.
import {execFile, spawnSync} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {kubeconfigYaml} from '../helpers/kubeconfig.js'
import {ROOT, spawnMesh} from '../helpers/run.js'
import {startWebAndBooks, type Plane} from '../tap/harness.js'

let dir: string
let shim: string
const NO_DEMO = {MESH_HOME: '/nonexistent/mesh-home', KUBECONFIG: '/nonexistent/kubeconfig'}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-completion-'))
  // `mesh` on PATH, as the scripts call it.
  shim = join(dir, 'bin')
  spawnSync('mkdir', ['-p', shim])
  writeFileSync(join(shim, 'mesh'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/run.js')}" "$@"\n`)
  chmodSync(join(shim, 'mesh'), 0o755)
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** `mesh __complete -- <words>`: the candidate values, the descriptions, the directive. */
async function protocol(words: string[], env: Record<string, string> = NO_DEMO): Promise<{values: string[]; described: Record<string, string>; directive: number}> {
  const r = await spawnMesh(['__complete', '--', ...words], {compiled: true, env})
  expect(r.exitCode).toBe(0)
  expect(r.stderr).toBe('')
  const lines = r.stdout.trimEnd().split('\n')
  const last = lines.pop()!
  expect(last).toMatch(/^:\d+$/)
  const described: Record<string, string> = {}
  const values = lines.map((l) => {
    const [v, d] = l.split('\t')
    if (d !== undefined) described[v!] = d
    return v!
  })
  return {values, described, directive: Number(last.slice(1))}
}

function shell(cmd: string, args: string[], env: Record<string, string> = NO_DEMO): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, {env: {...process.env, ...env, NO_COLOR: '1', PATH: `${shim}:${process.env.PATH}`, HOME: dir}, timeout: 60_000}, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} failed: ${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

function installed(name: string): void {
  // zsh, fish and bash-completion are CI packages (.ci/run installs them).
  expect(spawnSync('sh', ['-c', `command -v ${name}`]).status, `${name} is not installed: apt-get install ${name}`).toBe(0)
}

describe('mesh __complete (the protocol)', {timeout: 60_000}, () => {
  it('commands and topics, with their summaries; no file names', async () => {
    const r = await protocol(['st'])
    expect(r.values).toEqual(['stat'])
    expect(r.described.stat).toMatch(/^Show success rate/)
    expect(r.directive).toBe(4)
    expect((await protocol(['demo', 'st'])).values).toEqual(['status', 'stop'])
    const all = await protocol([''])
    expect(all.values).toContain('completion')
    expect(all.values).not.toContain('__complete')
  })

  it('flags and their values', async () => {
    expect((await protocol(['tap', '--max-'])).values).toEqual(['--max-rps', '--max-events'])
    expect((await protocol(['top', 'deploy/web', '-o', ''])).values).toEqual(['table', 'json'])
    expect((await protocol(['check', '--output=j'])).values).toEqual(['--output=json'])
    expect((await protocol(['completion', ''])).values).toEqual(['bash', 'zsh', 'fish'])
  })

  it('resource kinds (no space after `deploy/`), after the last comma for stat', async () => {
    const r = await protocol(['tap', 'de'])
    expect(r.values).toEqual(['deploy', 'deploy/'])
    expect(r.directive & 2).toBe(2)
    expect((await protocol(['stat', 'deploy,st'])).values).toEqual(['deploy,sts', 'deploy,sts/'])
    // The day-two commands: resources where they take one, nothing where they do not.
    expect((await protocol(['explain', 'deploy/web', 'sv'])).values).toEqual(['svc', 'svc/'])
    expect((await protocol(['identity', 'de'])).values).toEqual(['deploy', 'deploy/'])
    expect((await protocol(['proxy', 'log-level', 'po'])).values).toEqual(['po', 'po/'])
    expect((await protocol(['proxy', 'log-level', 'po/web-0', ''])).values).toEqual([])
  })

  it('files where a command takes files', async () => {
    expect((await protocol(['inject', ''])).directive).toBe(0)
    expect((await protocol(['inject', '--identity-trust-anchors-file', ''])).directive).toBe(0)
    expect((await protocol(['tap', ''])).directive & 4).toBe(4)
  })
})

describe('the scripts in real shells', {timeout: 120_000}, () => {
  const bashComplete = (line: string, bashCompletion: boolean) => {
    const words = line.split(' ')
    const prelude = bashCompletion ? 'source /usr/share/bash-completion/bash_completion\n' : ''
    return shell('bash', ['-c', `${prelude}source <(mesh completion bash)
COMP_LINE=${JSON.stringify(line)}; COMP_POINT=\${#COMP_LINE}
COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}
complete -p mesh >&2
_mesh_complete
printf '%s\\n' "\${COMPREPLY[@]}"`])
  }

  it('bash: COMPREPLY holds the candidates, with and without bash-completion', async () => {
    installed('bash')
    for (const withLib of [false, true]) {
      expect(await bashComplete('mesh st', withLib)).toBe('stat\n')
      expect(await bashComplete('mesh demo s', withLib)).toBe('status\nstop\n')
      expect(await bashComplete('mesh tap -o j', withLib)).toBe('json\n')
      expect(await bashComplete('mesh tap dep', withLib)).toBe('deploy\ndeploy/\n')
    }
  })

  it('bash: file names where the command takes files', async () => {
    writeFileSync(join(dir, 'app-manifest.yaml'), 'kind: Service\n')
    const out = await shell('bash', ['-c', `cd ${JSON.stringify(dir)}; source <(mesh completion bash)
COMP_WORDS=(mesh inject app-); COMP_CWORD=2; _mesh_complete; printf '%s\\n' "\${COMPREPLY[@]}"`])
    expect(out).toBe('app-manifest.yaml\n')
  })

  it('fish: complete -C lists the candidates with their descriptions', async () => {
    installed('fish')
    const out = await shell('fish', ['-c', 'mesh completion fish | source; complete -C "mesh st"; complete -C "mesh tap -o "'])
    // (fish sorts what it shows)
    expect(out).toBe('stat\tShow success rate, request rate, latency and TCP connections per resource.\njson\ntext\nwide\n')
  })

  it('zsh: the widget hands _describe the candidates with descriptions (no space after deploy/), _files where files go', async () => {
    installed('zsh')
    // The completion system's helpers, recorded: what _mesh hands them is what zsh would show.
    const out = await shell('zsh', ['-f', '-c', `
_describe() { local opts=("$@"); print -r -- "describe ${'$'}{opts[*]}"; print -rl -- "${'$'}{(@P)opts[4]}" }
_files() { print -r -- "files" }
compdef() { : }
source <(mesh completion zsh)
words=(mesh tap dep); CURRENT=3; _mesh
words=(mesh st); CURRENT=2; _mesh
words=(mesh inject ''); CURRENT=3; _mesh`])
    expect(out).toBe([
      'describe -t mesh mesh candidates -S ',
      'deploy:deployment', 'deploy/:a deployment by name',
      'describe -t mesh mesh candidates',
      'stat:Show success rate, request rate, latency and TCP connections per resource.',
      'files', '',
    ].join('\n'))
  })
})

describe('names from a running demo', {timeout: 120_000}, () => {
  let plane: Plane
  let close: () => Promise<void>
  beforeAll(async () => {
    ;({plane, close} = await startWebAndBooks())
  })
  afterAll(async () => {
    await close?.()
  })

  it('mesh tap deploy/<TAB> offers the deployments; po/<TAB> the pods', async () => {
    const env = {...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'}
    expect((await protocol(['tap', 'deploy/'], env)).values).toEqual(['deploy/books', 'deploy/web'])
    expect((await protocol(['top', 'deploy/w'], env)).values).toEqual(['deploy/web'])
    expect((await protocol(['stat', 'deploy/books,po/'], env)).values).toEqual(['deploy/books,po/books-0', 'deploy/books,po/web-0'])
    expect(await shell('bash', ['-c', `source <(mesh completion bash)
COMP_WORDS=(mesh tap deploy/b); COMP_CWORD=2; _mesh_complete; printf '%s\\n' "\${COMPREPLY[@]}"`], env)).toBe('deploy/books\n')
  })
})

describe('a lookup that gets no answer', {timeout: 120_000}, () => {
  it('ends with no candidates (its deadline is short), not an error and not a hang', async () => {
    const sockets: net.Socket[] = []
    const mute = net.createServer((s) => sockets.push(s.on('error', () => {})))
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve))
    try {
      const kubeconfig = join(dir, 'mute-kubeconfig')
      writeFileSync(kubeconfig, kubeconfigYaml(`https://127.0.0.1:${(mute.address() as net.AddressInfo).port}`))
      const r = await protocol(['tap', 'deploy/'], {MESH_HOME: '/nonexistent/mesh-home', KUBECONFIG: kubeconfig})
      expect(r).toEqual({values: [], described: {}, directive: 4})
      expect(sockets.length).toBeGreaterThan(0)
    } finally {
      for (const s of sockets) s.destroy()
      mute.close()
    }
  })
})
