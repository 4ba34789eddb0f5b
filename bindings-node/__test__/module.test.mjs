// The package loads as CommonJS and as an ES module, by path and by name.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import * as esm from '../passgate.mjs'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

test('require and import expose the same API', () => {
  const cjs = require('..')
  for (const name of ['Engine', 'Issuer', 'IssuedPassport', 'verifyAttestation', 'verifyChain', 'constraintTypes', 'templates', 'errorCodes', 'PassgateError', 'PolicyError', 'PassportError', 'InputError', 'IdempotencyConflictError', 'StoreError', 'AttestationError', 'isPassgateError']) {
    assert.equal(typeof cjs[name], 'function', name)
    assert.equal(esm[name], cjs[name], name)
  }
  assert.equal(esm.default, cjs)
})

test("import { Engine } from 'passgate' and require('passgate') resolve through package.json exports", () => {
  const script = "import { Engine, Issuer } from 'passgate'; import { createRequire } from 'node:module'; const r = createRequire(import.meta.url); console.log(typeof Engine, typeof Issuer, r('passgate').Engine === Engine)"
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(root, '__test__', 'consumer') }).toString().trim()
  assert.equal(out, 'function function true')
})

test('the public types have no `any`', async () => {
  const { readFileSync } = await import('node:fs')
  for (const file of ['index.d.ts', 'passgate.d.ts', 'mcp.d.ts']) {
    const code = readFileSync(join(root, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '')
    assert.doesNotMatch(code, /\bany\b/, file)
  }
})

test("the README's Node quickstart runs", async () => {
  const { readFileSync } = await import('node:fs')
  const readme = readFileSync(join(root, '..', 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Quickstart (Node)'))
  const snippet = section.slice(section.indexOf('```js') + 5, section.indexOf('```', section.indexOf('```js') + 5))
  assert.match(snippet, /from 'passgate'/)
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', snippet], { cwd: join(root, '__test__', 'consumer') }).toString()
  // `remaining` keeps the scale the policy wrote its cap with ('1000.00').
  assert.match(out, /^allow 600\.00 \[\]/)
})
