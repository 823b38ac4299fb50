import {describe, expect, it} from 'vitest'
import {canonicalAuthority, parseAuthority} from '../../src/control/destination/authority.js'
import {parseRegistryDocument} from '../../src/control/destination/local-registry.js'
import {parsePortList} from '../../src/control/destination/registry.js'

describe('parseAuthority', () => {
  const svc = (namespace: string, service: string, port: number, qualified: boolean) => ({kind: 'service', namespace, service, port, qualified})
  it('maps every cluster form to the service', () => {
    expect(parseAuthority('web.shop.svc.cluster.local:80', 'x')).toEqual(svc('shop', 'web', 80, true))
    expect(parseAuthority('web.shop.svc:8080', 'x')).toEqual(svc('shop', 'web', 8080, true))
    expect(parseAuthority('web.shop:80', 'x')).toEqual(svc('shop', 'web', 80, false))
    expect(parseAuthority('web:80', 'shop')).toEqual(svc('shop', 'web', 80, false))
    expect(parseAuthority('web', 'shop')).toEqual(svc('shop', 'web', 80, false))
    expect(parseAuthority('web.shop.svc.example.org:80', 'x', 'example.org')).toEqual(svc('shop', 'web', 80, true))
    expect(canonicalAuthority(parseAuthority('web:80', 'shop'))).toBe('web.shop.svc.cluster.local:80')
  })
  it('treats IPs, other domains and short names without a namespace as external', () => {
    expect(parseAuthority('10.0.0.1:80', 'shop')).toEqual({kind: 'external', host: '10.0.0.1', port: 80})
    expect(parseAuthority('[::1]:443', 'shop')).toEqual({kind: 'external', host: '::1', port: 443})
    expect(parseAuthority('api.example.com:443', 'shop').kind).toBe('external')
    expect(parseAuthority('web.shop.svc.other.domain:80', 'shop').kind).toBe('external')
    expect(parseAuthority('web:80', undefined).kind).toBe('external')
  })
  it('rejects garbage with a reason', () => {
    expect(() => parseAuthority('', 'x')).toThrow(/host:port/)
    expect(() => parseAuthority('web:99999', 'x')).toThrow(/out of range/)
    expect(() => parseAuthority('we b:80', 'x')).toThrow(/not a valid host name/)
    expect(() => parseAuthority('a'.repeat(600), 'x')).toThrow(/512/)
  })
})

describe('registry file validation', () => {
  it('names the file, the field and the problem', async () => {
    await expect(parseRegistryDocument('services: {}', 'r.yaml')).rejects.toThrow('r.yaml: services: must be a list')
    await expect(parseRegistryDocument('services: [{namespace: a, ports: []}]', 'r.yaml')).rejects.toThrow('r.yaml: services[0].name: is required')
    await expect(parseRegistryDocument('services: [{name: a, ports: [{port: 0}]}]', 'r.yaml')).rejects.toThrow('services[0].ports[0].port: must be a port number')
    await expect(parseRegistryDocument('services: [{name: a, ports: [{port: 80, endpoints: [{port: 1}]}]}]', 'r.yaml')).rejects.toThrow('endpoints[0].address: is required')
    await expect(parseRegistryDocument('services: [{name: a, ports: []}, {name: a, ports: []}]', 'r.yaml')).rejects.toThrow('duplicate service default/a')
    await expect(parseRegistryDocument('services: [ {name', 'r.yaml')).rejects.toThrow(/r.yaml: document: not valid YAML/)
    expect((await parseRegistryDocument('', 'r.yaml')).size).toBe(0)
    await expect(parseRegistryDocument('services: [{name: a, clusterIP: web, ports: []}]', 'r.yaml')).rejects.toThrow('r.yaml: services[0].clusterIP: "web" is not an IP address')
    await expect(parseRegistryDocument('services: [{name: a, clusterIP: 10.96.0.1, ports: []}, {name: b, clusterIP: 10.96.0.1, ports: []}]', 'r.yaml')).rejects.toThrow('services[1].clusterIP: 10.96.0.1 is already the cluster IP of default/a')
  })
  it('opaque port lists', () => {
    const f = parsePortList('3306, 8000-8010,x')
    expect([3306, 8000, 8005, 8010, 8011, 80].map(f)).toEqual([true, true, true, true, false, false])
  })
})
