// The addon outside any namespace: it loads, and a connection nobody redirected reports
// no original destination. (The redirected case is in netns.test.ts.)
import {execFileSync} from 'node:child_process'
import {createServer, connect, type Socket} from 'node:net'
import {beforeAll, describe, expect, it} from 'vitest'
import {originalDst, originalDstSupport} from '../../src/proxy/net/original-dst.js'
import {ROOT} from '../helpers/run.js'
import {requireNative} from '../helpers/needs.js'

requireNative('test/proxy-init/original-dst.test.ts', 'original_dst', 'the suite tests it')

beforeAll(() => {
  execFileSync('sh', [`${ROOT}scripts/build-native.sh`], {env: {...process.env, BUILD_NATIVE_REQUIRED: '1'}, stdio: 'pipe'})
})

describe('originalDst', () => {
  it('loads the native addon', () => {
    expect(originalDstSupport()).toEqual({available: true})
  })

  it('is undefined for a connection that was not redirected, and for a socket without a handle', async () => {
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((s) => {
        resolve(s)
        server.close()
      }).listen(0, '127.0.0.1', () => {
        const c = connect((server.address() as {port: number}).port, '127.0.0.1')
        c.on('error', () => {})
      })
    })
    const s = await accepted
    expect(originalDst(s)).toBeUndefined()
    s.destroy()
    expect(originalDst(s)).toBeUndefined()
  })
})
