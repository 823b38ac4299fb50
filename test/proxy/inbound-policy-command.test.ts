// `mesh proxy --inbound-policy` / MESH_PROXY_INBOUND_POLICY on the real binary: the flag wins
// over the variable, a bad value exits 1 naming the flag (or the variable) and the fix, and a
// policy that needs client certificates refuses to start without a mesh identity.
import {describe, expect, it} from 'vitest'
import {spawnMesh} from '../helpers/run.js'

const ADDRS = ['--inbound-listen-addr', '127.0.0.1:0', '--outbound-listen-addr', '127.0.0.1:0', '--admin-listen-addr', '127.0.0.1:0', '--tap-listen-addr', '127.0.0.1:0']

describe('mesh proxy --inbound-policy', () => {
  it('names the flag and the fix for a bad value; exits 1; nothing on stdout', async () => {
    const r = await spawnMesh(['proxy', ...ADDRS, '--inbound-policy', 'everyone'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: --inbound-policy="everyone" is not an inbound policy/)
    expect(r.stderr).toMatch(/Try this: .*all-unauthenticated/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('the flag wins over MESH_PROXY_INBOUND_POLICY; a bad variable is named as the variable', async () => {
    const flagWins = await spawnMesh(['proxy', ...ADDRS, '--inbound-policy', 'nobody'], {env: {MESH_PROXY_INBOUND_POLICY: 'all-authenticated'}})
    expect(flagWins.stderr).toMatch(/^Error: --inbound-policy="nobody"/)
    const fromEnv = await spawnMesh(['proxy', ...ADDRS], {env: {MESH_PROXY_INBOUND_POLICY: 'nobody'}})
    expect(fromEnv.exitCode).toBe(1)
    expect(fromEnv.stderr).toMatch(/^Error: MESH_PROXY_INBOUND_POLICY="nobody"/)
  })

  it('all-authenticated without a mesh identity refuses to start, saying what to configure', async () => {
    const r = await spawnMesh(['proxy', ...ADDRS, '--inbound-policy', 'all-authenticated'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/Error: the inbound policy .*all-authenticated.* needs a mesh identity/)
  })
})
