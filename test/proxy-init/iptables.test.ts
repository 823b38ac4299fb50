import {describe, expect, it} from 'vitest'
import {FirewallConfigError, firewallConfig, parsePortList, parseSubnets} from '../../src/proxy/init/config.js'
import {buildRestoreInput, buildRules, multiportGroups} from '../../src/proxy/init/iptables.js'
import {runMesh} from '../helpers/run.js'

const strip = (rule: string) => rule.replace(/ -m comment --comment "[^"]*"/, '')

describe('proxy-init rules', () => {
  it('builds Linkerd\'s chains with the defaults', () => {
    expect(buildRules(firewallConfig()).map(strip)).toEqual([
      '-A MESH_INBOUND -p tcp -m multiport --dports 4190,4191 -j RETURN',
      '-A MESH_INBOUND -p tcp -j REDIRECT --to-ports 4143',
      '-A MESH_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 2102 -j MESH_INBOUND',
      '-A MESH_OUTPUT -m owner --uid-owner 2102 -j RETURN',
      '-A MESH_OUTPUT -o lo -j RETURN',
      '-A MESH_OUTPUT -p tcp -j REDIRECT --to-ports 4140',
      '-A PREROUTING -j MESH_INBOUND',
      '-A OUTPUT -j MESH_OUTPUT',
    ])
  })

  it('applies every flag', () => {
    const config = firewallConfig({
      incomingProxyPort: '5143', outgoingProxyPort: '5140', proxyUid: '1000',
      inboundPortsToIgnore: '22, 4191,9000-9010', outboundPortsToIgnore: '5432,3306', subnetsToIgnore: '10.0.0.0/8,192.168.1.7', iptablesMode: 'legacy',
    })
    expect(config.mode).toBe('legacy')
    expect(buildRules(config).map(strip)).toEqual([
      '-A MESH_INBOUND -p tcp -m multiport --dports 4190,4191,22,9000:9010 -j RETURN',
      '-A MESH_INBOUND -s 10.0.0.0/8 -j RETURN',
      '-A MESH_INBOUND -s 192.168.1.7/32 -j RETURN',
      '-A MESH_INBOUND -p tcp -j REDIRECT --to-ports 5143',
      '-A MESH_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1000 -j MESH_INBOUND',
      '-A MESH_OUTPUT -m owner --uid-owner 1000 -j RETURN',
      '-A MESH_OUTPUT -o lo -j RETURN',
      '-A MESH_OUTPUT -p tcp -m multiport --dports 5432,3306 -j RETURN',
      '-A MESH_OUTPUT -p tcp -j REDIRECT --to-ports 5140',
      '-A PREROUTING -j MESH_INBOUND',
      '-A OUTPUT -j MESH_OUTPUT',
    ])
  })

  it('does not add the jumps again when iptables-save shows them (idempotent)', () => {
    const existing = '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment "mesh-proxy-init/install-prerouting" -j MESH_INBOUND\n-A OUTPUT -j MESH_OUTPUT\nCOMMIT\n'
    const rules = buildRules(firewallConfig(), {existingNat: existing})
    expect(rules.some((r) => r.startsWith('-A PREROUTING') || r.startsWith('-A OUTPUT'))).toBe(false)
  })

  it('writes one iptables-restore transaction that declares (and so flushes) both chains', () => {
    const input = buildRestoreInput(firewallConfig())
    expect(input.split('\n').slice(0, 3)).toEqual(['*nat', ':MESH_INBOUND - [0:0]', ':MESH_OUTPUT - [0:0]'])
    expect(input.endsWith('COMMIT\n')).toBe(true)
  })

  it('splits ports into multiport groups of at most 15 (a range counts 2)', () => {
    const ports = Array.from({length: 20}, (_, i) => String(1000 + i))
    expect(multiportGroups(ports).map((g) => g.length)).toEqual([15, 5])
    expect(multiportGroups(['1:2', '3:4', '5:6', '7:8', '9:10', '11:12', '13:14', '15'])).toEqual([['1:2', '3:4', '5:6', '7:8', '9:10', '11:12', '13:14', '15']])
    expect(multiportGroups(['1:2', '3:4', '5:6', '7:8', '9:10', '11:12', '13:14', '15:16']).length).toBe(2)
    const many = firewallConfig({outboundPortsToIgnore: ports.join(',')})
    expect(buildRules(many).filter((r) => r.includes('ignore-outbound-ports')).length).toBe(2)
  })

  it.each([
    [{incomingProxyPort: '0'}, /invalid --incoming-proxy-port "0": expected a port 1-65535/],
    [{outgoingProxyPort: 'abc'}, /invalid --outgoing-proxy-port "abc"/],
    [{proxyUid: '-1'}, /invalid --proxy-uid "-1": expected a numeric uid/],
    [{proxyUid: 'root'}, /invalid --proxy-uid "root"/],
    [{inboundPortsToIgnore: '80,http'}, /invalid --inbound-ports-to-ignore entry "http"/],
    [{outboundPortsToIgnore: '9000-8000'}, /the first port must not exceed the second/],
    [{subnetsToIgnore: '10.0.0.0/33'}, /invalid --subnets-to-ignore entry "10.0.0.0\/33": expected an IPv4 CIDR/],
    [{subnetsToIgnore: 'example.com'}, /expected an IPv4 CIDR/],
    [{iptablesMode: 'ebpf'}, /invalid --iptables-mode "ebpf": expected legacy or nft/],
  ])('rejects %j', (flags, message) => {
    expect(() => firewallConfig(flags)).toThrow(FirewallConfigError)
    expect(() => firewallConfig(flags)).toThrow(message)
  })

  it('normalizes lists', () => {
    expect(parsePortList(' 80, 80 ,443,1-1,', 'x')).toEqual(['80', '443', '1'])
    expect(parseSubnets('1.2.3.4', 'x')).toEqual(['1.2.3.4/32'])
  })
})

describe('mesh proxy-init (command)', () => {
  it('--dry-run prints the restore input on stdout and nothing else', async () => {
    const r = await runMesh(['proxy-init', '--dry-run', '--outbound-ports-to-ignore', '5432'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(buildRestoreInput(firewallConfig({outboundPortsToIgnore: '5432'})))
  })

  it('a bad flag value is a usage error naming the flag, with nothing on stdout', async () => {
    const r = await runMesh(['proxy-init', '--dry-run', '--outbound-ports-to-ignore', '5432,x'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: invalid --outbound-ports-to-ignore entry "x"/)
    expect(r.stderr).toContain('Try this:')
  })

  it('a missing iptables binary is a clear failure with a fix', async () => {
    const path = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      const r = await runMesh(['proxy-init'])
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^Error: cannot run iptables-nft-save -t nat: command not found/)
      expect(r.stderr).toContain('apt-get install -y iptables')
    } finally {
      process.env.PATH = path
    }
  })
})
