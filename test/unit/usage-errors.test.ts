// Usage errors are complete and exit 2: the missing argument is named and described, a refused
// flag value comes with the reason, -h is help, and a mistyped command or flag gets a "did you
// mean". Through the real binary (bin/run.js).
import {describe, expect, it} from 'vitest'
import {spawnMesh} from '../helpers/run.js'

const NO_DEMO = {MESH_HOME: '/nonexistent/mesh-home', KUBECONFIG: '/nonexistent/kubeconfig'}
const mesh = (args: string[]) => spawnMesh(args, {compiled: true, env: NO_DEMO})

describe('usage errors (exit 2, nothing on stdout)', {timeout: 60_000}, () => {
  it('a missing argument is named and described, with an example', async () => {
    const r = await mesh(['tap'])
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: 'Error: missing argument RESOURCE: what to tap: deploy/web, po/web-1, ns/shop, sts/db, ds/x, job/x, svc/web\n' +
        '  Try this: For example: `mesh tap deploy/web`\n' +
        '  Try this: Run `mesh tap --help` to see the flags and examples.\n',
    })
  })

  it('a refused flag value says why', async () => {
    const r = await mesh(['demo', '--rps', '-5'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.split('\n')[0]).toBe('Error: --rps: expected an integer greater than or equal to 1 but received: -5')
    const bad = await mesh(['stat', 'deploy', '--window', 'soon'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr.split('\n')[0]).toBe('Error: --window "soon" is not a duration')
    expect(bad.stderr).toMatch(/such as 30s, 5m or 1m30s/)
  })

  it('stat --window beyond what the proxies keep (1h) is a usage error before any connection', async () => {
    const r = await mesh(['stat', 'deploy', '--window', '2h'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe('Error: --window 2h is out of range: between 1s and 1h without a Prometheus\n  Try this: Pass e.g. --window 10m, or --prometheus-url <url> for longer windows.\n')
  })

  it('an unknown command offers the nearest ones', async () => {
    for (const [typed, near] of [['stats', 'stat'], ['chek', 'check'], ['unistall', 'uninstall'], ['demo stats', 'demo status']]) {
      const r = await mesh(typed.split(' '))
      expect(r.exitCode).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`Error: unknown command "${typed}"\n  Try this: Did you mean \`mesh ${near}\`?\n  Try this: Run \`mesh --help\` to see the commands.\n`)
    }
    const none = await mesh(['frobnicate', 'x'])
    expect(none).toEqual({exitCode: 2, stdout: '', stderr: 'Error: unknown command "frobnicate"\n  Try this: Run `mesh --help` to see the commands.\n'})
  })

  it('an unknown flag offers the nearest one', async () => {
    const r = await mesh(['stat', 'deploy', '--windw', '1m'])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toBe('Error: Nonexistent flag: --windw\n  Try this: Did you mean --window?\n  Try this: Run `mesh stat --help` to see the flags and examples.\n')
  })
})

describe('-h', {timeout: 60_000}, () => {
  it('shows the help, as --help does, with exit 0', async () => {
    const [short, long] = await Promise.all([mesh(['tap', '-h']), mesh(['tap', '--help'])])
    expect(short.exitCode).toBe(0)
    expect(short.stdout).toContain('USAGE\n  $ mesh tap RESOURCE')
    expect(short).toEqual(long)
  })
})
