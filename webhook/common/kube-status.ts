/** Reading errors of @kubernetes/client-node 2.x. */
import { ApiException } from '@kubernetes/client-node'

/** HTTP status of a client-node error, if it is one. */
export function statusOf (err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined
}
