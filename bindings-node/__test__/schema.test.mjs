// The policy JSON Schema shipped in the package (`passgate/policy.schema.json`): the core's own file,
// reachable through package.json exports, and a policy naming it in "$schema" is accepted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { passgate, Engine, Issuer } from './helpers.mjs'

const { PolicyError } = passgate

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

test("the shipped policy.schema.json is the core's schema/policy.schema.json", () => {
  // bindings-node/policy.schema.json is a copy: copy it again when the core's schema changes.
  assert.ok(readFileSync(join(root, 'policy.schema.json')).equals(readFileSync(join(root, '..', 'schema', 'policy.schema.json'))))
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  assert.equal(pkg.exports['./policy.schema.json'], './policy.schema.json')
  assert.ok(pkg.files.includes('policy.schema.json'))
})

test('the packaged copies of LICENSE and CHANGELOG.md are current (make copies)', () => {
  for (const f of ['LICENSE', 'CHANGELOG.md']) {
    assert.ok(readFileSync(join(root, f)).equals(readFileSync(join(root, '..', f))), `${f} is stale: make copies`)
  }
})

test("require('passgate/policy.schema.json') and import … with { type: 'json' } resolve through exports", () => {
  const cwd = join(root, '__test__', 'consumer')
  const schema = createRequire(join(cwd, 'x.js'))('passgate/policy.schema.json')
  assert.equal(schema.title, 'passgate policy document')
  assert.deepEqual(schema.properties.$schema, { type: 'string' })
  const script = "import s from 'passgate/policy.schema.json' with { type: 'json' }; console.log(s.$id)"
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  assert.equal(out, 'https://passgate.dev/schema/policy.schema.json')
})

test('a policy may name its schema in "$schema"; other unknown top-level keys are refused', () => {
  const issuer = Issuer.generate()
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['p'] })
  const engine = new Engine({
    policy: { $schema: 'https://passgate.dev/schema/policy.schema.json', version: 1, gates: { g: { require: ['p'] } } },
    trustedIssuers: [issuer.did],
  })
  assert.equal(engine.enforce({ gate: 'g', passport: passport.token, payload: {} }).decision, 'allow')
  for (const key of ['schema', '$id', '$Schema']) {
    assert.throws(() => new Engine({ policy: { [key]: 'x', version: 1 } }), PolicyError, key)
  }
  assert.throws(() => new Engine({ policy: { $schema: 1, version: 1 } }), (e) => e instanceof PolicyError && e.path === '/$schema')
})
