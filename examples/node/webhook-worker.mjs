// Deliver passgate's decision events as webhooks, at least once (the Node twin of
// examples/python/webhook_worker.py: same flags, same behaviour).
//
// passgate never makes a network call: each decision event (an escalation a human must see, an
// approval's outcome, an expired hold, a policy change; denies if the policy records them) is
// written to the store's outbox with the record that caused it. This worker reads the outbox,
// POSTs each event's JSON to its target and acknowledges it (`ackEvent`) only after a 2xx answer.
// A crash between the POST and the ack means the event is delivered again on the next run:
// receivers deduplicate on the event's `id` (also the `X-Passgate-Event-Id` header) and verify its
// `attestation` with the engine's did:key (`verifyAttestation(event.attestation, did)`).
//
//   node examples/node/webhook-worker.mjs --store sqlite:///var/lib/passgate.db \
//     --url https://hooks.example.com/passgate --channel finance=https://hooks.example.com/fin
//
// The target of an event: its `notify` channel mapped with `--channel name=url`; its `notify`
// URL only if that URL's origin is allowed with `--allow-origin` (a notify may come from a request
// an agent shaped: the worker never calls an arbitrary URL); else `--url`. An event with no target
// stays in the outbox. `--once`: one pass, then exit; else a pass every `--interval` seconds.
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

import { Engine } from 'passgate'

/** `scheme://host:port` of a URL (the default port spelled out), lowercased. */
export function origin(url) {
  const u = new URL(url)
  const port = u.port || { 'http:': '80', 'https:': '443' }[u.protocol] || '0'
  return `${u.protocol}//${u.hostname.toLowerCase()}:${port}`
}

function allowedOrigin(notify, allowed) {
  try {
    return allowed.has(origin(notify))
  } catch {
    return false
  }
}

/** Where `event` goes, or null. */
export function target(event, fallback, channels, allowed) {
  const notify = event.notify
  if (typeof notify === 'string') {
    if (channels.has(notify)) return channels.get(notify)
    if (/^https?:\/\//i.test(notify) && allowedOrigin(notify, allowed)) return notify
  }
  return fallback ?? null
}

/** POSTs the event's JSON; returns the HTTP status (0: no answer). */
async function post(url, event, timeoutMs) {
  try {
    const response = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(event),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'passgate-webhook-worker/1',
        'x-passgate-event-id': String(event.id ?? ''),
        'x-passgate-event-kind': String(event.kind ?? ''),
      },
      signal: AbortSignal.timeout(timeoutMs),
    })
    await response.arrayBuffer()
    return response.status
  } catch {
    return 0
  }
}

/** One pass over the outbox: `{ delivered, left }`. */
export async function deliverOnce(engine, { fallback, channels, allowed, kinds = null, timeoutMs = 10_000, log = console.error }) {
  let delivered = 0
  let left = 0
  let since = null
  for (;;) {
    const page = engine.events({ since, kinds, limit: 100 })
    if (page.events.length === 0) return { delivered, left }
    for (const event of page.events) {
      const url = target(event, fallback, channels, allowed)
      if (url === null || !/^https?:\/\//i.test(url)) {
        log(`webhook-worker: event ${event.id} (${event.kind}) has no target; left in the outbox`)
        left += 1
        continue
      }
      const status = await post(url, event, timeoutMs)
      if (status >= 200 && status < 300) {
        // Acknowledged only now: a crash before this line delivers the event again.
        engine.ackEvent({ id: event.id })
        delivered += 1
      } else {
        log(`webhook-worker: event ${event.id} to ${url}: status ${status || 'no answer'}; retried later`)
        left += 1
      }
    }
    since = page.cursor
  }
}

async function main() {
  const env = process.env
  const { values } = parseArgs({
    options: {
      store: { type: 'string', default: env.PASSGATE_STORE },
      url: { type: 'string', default: env.PASSGATE_WEBHOOK_URL },
      channel: { type: 'string', multiple: true, default: [] },
      'allow-origin': { type: 'string', multiple: true, default: [] },
      kind: { type: 'string', multiple: true },
      once: { type: 'boolean', default: false },
      interval: { type: 'string', default: '2' },
      timeout: { type: 'string', default: '10' },
    },
  })
  if (!values.store) {
    console.error('webhook-worker: --store (or PASSGATE_STORE) is required: the outbox lives in the engines\' store')
    process.exit(2)
  }
  const channels = new Map()
  for (const c of values.channel) {
    const at = c.indexOf('=')
    if (at < 1 || at === c.length - 1) {
      console.error(`webhook-worker: --channel ${JSON.stringify(c)}: use NAME=URL`)
      process.exit(2)
    }
    channels.set(c.slice(0, at), c.slice(at + 1))
  }
  const allowed = new Set(values['allow-origin'].map(origin))
  // An engine on the shared store, used only to read and acknowledge the outbox.
  const engine = new Engine({ store: values.store })
  for (;;) {
    const { delivered, left } = await deliverOnce(engine, {
      fallback: values.url,
      channels,
      allowed,
      kinds: values.kind ?? null,
      timeoutMs: Number(values.timeout) * 1000,
    })
    if (delivered || left) console.error(`webhook-worker: delivered ${delivered}, left ${left}`)
    if (values.once) return
    await new Promise((resolve) => setTimeout(resolve, Number(values.interval) * 1000))
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
