#!/usr/bin/env -S node --import tsx --no-warnings
// The development entry point: runs the TypeScript sources in src/ through tsx.
import {main} from './main.js'

await main(import.meta.url, true)
