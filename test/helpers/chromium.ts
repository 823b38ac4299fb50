// Debian's Chromium, driven by playwright-core (no browser download: the package has none).
// `apt-get install -y chromium` (.ci/run installs it).
import {existsSync} from 'node:fs'
import {beforeAll} from 'vitest'
import type {Browser} from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

export function requireChromium(suite: string): void {
  beforeAll(() => {
    if (existsSync(CHROMIUM)) return
    throw new Error(`${suite} drives a real browser: ${CHROMIUM} is missing. Install Debian's Chromium: apt-get install -y chromium (.ci/run does), or run "npm run test:unit", which leaves the browser suites out.`)
  })
}

export async function launchChromium(): Promise<Browser> {
  const {chromium} = await import('playwright-core')
  // --no-sandbox: the tests run as root (CI), where Chromium's sandbox refuses to start.
  return chromium.launch({executablePath: CHROMIUM, headless: true, args: ['--no-sandbox']})
}
