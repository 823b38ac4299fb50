// `mesh version`'s server version, from mesh-config's install record (the cluster read itself is
// in test/integration/install.test.ts).
import {describe, expect, it} from 'vitest'
import {configMapData, serverVersionOf} from '../../src/install/cluster.js'

const SERVER = 'https://127.0.0.1:6443'
const record = (r: unknown): Record<string, string> => ({install: JSON.stringify(r)})

describe('serverVersionOf', () => {
  it('is the image tag the control plane was rendered with, which a pinned tag keeps', () => {
    expect(serverVersionOf(record({cliVersion: '0.1.0', values: {image: {tag: '0.1.0'}}}), SERVER)).toBe('0.1.0')
    expect(serverVersionOf(record({cliVersion: '0.2.0', values: {image: {tag: '0.1.5'}}}), SERVER)).toBe('0.1.5')
  })

  it('falls back to the CLI version that rendered it', () => {
    expect(serverVersionOf(record({cliVersion: '0.1.0', values: {}}), SERVER)).toBe('0.1.0')
  })

  it('says what is missing: no mesh-config, no record, a record without a version', () => {
    expect(() => serverVersionOf(undefined, SERVER)).toThrow(`no mesh control plane is installed on ${SERVER}`)
    expect(() => serverVersionOf({}, SERVER)).toThrow(/has no "install" key: it was not written by `mesh install`/)
    expect(() => serverVersionOf({install: '{not json'}, SERVER)).toThrow(/key "install" is not valid JSON/)
    expect(() => serverVersionOf(record({values: {image: {tag: ''}}}), SERVER)).toThrow(/key "install" names no version/)
  })
})

describe('configMapData', () => {
  const WHERE = `${SERVER}/api/v1/namespaces/mesh-system/configmaps/mesh-config`
  it('is the data of a ConfigMap, empty when it has none', () => {
    expect(configMapData(JSON.stringify({kind: 'ConfigMap', data: {install: '{}'}}), WHERE)).toEqual({install: '{}'})
    expect(configMapData(JSON.stringify({kind: 'ConfigMap'}), WHERE)).toEqual({})
  })

  it('names the URL when the answer is not a ConfigMap', () => {
    expect(() => configMapData('<html>login</html>', WHERE)).toThrow(`the answer to GET ${WHERE} is not JSON`)
    expect(() => configMapData('[1]', WHERE)).toThrow(`the answer to GET ${WHERE} is not a ConfigMap`)
    expect(() => configMapData('{"data": "x"}', WHERE)).toThrow(`the answer to GET ${WHERE} has a "data" that is not a map`)
  })
})
