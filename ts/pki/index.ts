// Owns the public face of the group PKI: what the daemon, the CLI and tests import.
// It must not add behaviour; each module below owns its part (see their headers).
export { parseCertificate, type NodeCert, type ParseResult } from './cert.js';
export { TrustAnchor, caKeyId, type VerifyCode, type VerifyOptions, type VerifyResult } from './anchor.js';
export { parseCrl, RevokedSet, type CrlResult, type CrlCode } from './crl.js';
export {
  encodeRevocation, signRevocation, decodeRevocation, verifyRevocation, REVOCATION_MAX_BYTES,
  type Revocation, type RevocationResult, type RevocationCode,
} from './revocation.js';
export { createRequest, parseRequest, loadOrCreateIdentityKey, type NodeRequest, type CreatedRequest } from './request.js';
export { initCa, loadCa, signRequest, revoke, refreshCrl, caPaths, type CaState, type SignOptions, type RevokeResult } from './ca.js';
export { normalizeSerial } from './x509.js';
