// passgate/pkce (ES module entry): see pkce.js.
import pkce from './pkce.js'

export const { AuthorizationFlow, generateVerifier, challengeS256, verifyS256 } = pkce
export default pkce
