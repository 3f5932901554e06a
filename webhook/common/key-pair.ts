/** Serving certificate checks shared by the webhook (loading) and the certificate job (deciding whether to renew). */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'

/** A certificate and the private key that belongs to it. */
export interface MatchedKeyPair {
  cert: X509Certificate
  key: KeyObject
}

/** Parses `tls.crt` and `tls.key` and checks that the key belongs to the certificate; throws an Error saying which part is wrong. */
export function matchKeyPair (certPem: string, keyPem: string): MatchedKeyPair {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch (err) {
    throw new Error(`tls.crt is not a valid PEM certificate: ${(err as Error).message}`)
  }
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch (err) {
    throw new Error(`tls.key is not a valid PEM private key: ${(err as Error).message}`)
  }
  if (!cert.checkPrivateKey(key)) throw new Error('tls.key does not belong to the certificate in tls.crt')
  return { cert, key }
}
