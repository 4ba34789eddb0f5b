// passgate/gateway (ES module entry): see gateway.js.
import gateway from './gateway.js'

export const { Gateway, createHandler, METADATA_PATH } = gateway
export default gateway
