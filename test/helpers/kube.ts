/** Test helper for calls made with @kubernetes/client-node. */
import { ApiException } from '@kubernetes/client-node'

/** What a failed client-node call answered: HTTP status, the body (JSON decoded) and the response headers. */
export interface CallFailure {
  code: number
  body: any
  headers: Record<string, string>
}

/** Awaits a call that must fail with an HTTP answer and unwraps its ApiException; any other outcome rejects. */
export async function failure (call: Promise<unknown>): Promise<CallFailure> {
  try {
    await call
  } catch (err) {
    if (err instanceof ApiException) return { code: err.code, body: typeof err.body === 'string' ? JSON.parse(err.body) : err.body, headers: err.headers }
    throw err
  }
  throw new Error('expected the call to fail')
}
