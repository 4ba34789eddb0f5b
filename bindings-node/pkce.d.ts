// passgate/pkce: PKCE (RFC 7636, S256) and an authorization-code flow minting short-lived passports.
export { AuthorizationFlow } from './index'

/** A fresh code verifier: 43 characters of RFC 7636's unreserved set. */
export declare function generateVerifier(): string
/** The S256 code challenge of `verifier` (base64url of its SHA-256); `INVALID_ARGUMENT` if malformed. */
export declare function challengeS256(verifier: string): string
/** Whether `challenge` is the S256 challenge of `verifier` (constant-time). */
export declare function verifyS256(verifier: string, challenge: string): boolean
