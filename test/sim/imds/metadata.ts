/**
 * The metadata tree a request is answered from, rebuilt from the instance and
 * the scenario on every request, and path lookup with IMDS-style directory
 * listings. Pure.
 *
 * Paths follow the EC2 User Guide, "Instance metadata categories". Items that
 * exist only while a notice is posted (`spot/`, `events/recommendations/`,
 * `autoscaling/`) are absent otherwise, so reading them gives 404 as on EC2.
 * `events/maintenance/scheduled` always exists and is `[]` when empty (the Node
 * Termination Handler treats any non-2xx there as an error, so EC2 answers 200).
 * `events/maintenance/history` lists the canceled and completed events.
 */
import { instanceActionBody, formatImdsTime, rebalanceBody, scheduledEventsBody } from './formats.ts'
import { identityDocument, type InstanceInfo } from './instance.ts'
import type { Scenario } from './scenario.ts'

/** An item of the metadata tree: renders its body when read (so a broken item fails alone). */
export type MetadataItem = () => string

/** A directory of the metadata tree: names to items or subdirectories. */
export interface MetadataDir { readonly [name: string]: MetadataItem | MetadataDir }

/** What a path names: an item with its body, or a directory with its listing. */
export type Lookup = { kind: 'item', body: string } | { kind: 'dir', listing: string }

/** The whole tree, from `/` down, as it looks right now. */
export function metadataTree (instance: InstanceInfo, scenario: Scenario): MetadataDir {
  const spot = scenario.visibleSpotInterruption()
  const rebalance = scenario.rebalanceNoticeTime()
  const lifecycle = scenario.targetLifecycleState()
  const events = scenario.scheduledEvents()
  const metaData: Record<string, MetadataItem | MetadataDir> = {
    'ami-id': () => instance.amiId,
    hostname: () => instance.localHostname,
    'instance-id': () => instance.instanceId,
    'instance-life-cycle': () => instance.instanceLifeCycle,
    'instance-type': () => instance.instanceType,
    'local-hostname': () => instance.localHostname,
    'local-ipv4': () => instance.localIpv4,
    placement: { 'availability-zone': () => instance.availabilityZone, region: () => instance.region },
    events: {
      maintenance: {
        scheduled: () => scheduledEventsBody(events),
        history: () => scheduledEventsBody(events.filter(e => e.state !== 'active'))
      },
      ...(rebalance === undefined ? {} : { recommendations: { rebalance: () => rebalanceBody(rebalance) } })
    }
  }
  if (spot !== undefined) {
    metaData.spot = {
      'instance-action': () => instanceActionBody(spot.action, spot.time),
      // "present only if the Spot Instance has been marked for termination" (EC2 User Guide).
      ...(spot.action === 'terminate' ? { 'termination-time': () => formatImdsTime(spot.time) } : {})
    }
  }
  if (lifecycle !== undefined) metaData.autoscaling = { 'target-lifecycle-state': () => lifecycle }
  return {
    latest: {
      'meta-data': metaData,
      dynamic: { 'instance-identity': { document: () => identityDocument(instance) } }
    }
  }
}

/** A directory listing: one name per line, sorted, subdirectories with a trailing `/`. */
export function listing (dir: MetadataDir): string {
  return Object.keys(dir).sort().map(name => typeof dir[name] === 'function' ? name : `${name}/`).join('\n')
}

/**
 * Resolves a URL path (`/latest/meta-data/placement/region`). Directories are
 * found with or without a trailing slash; items only without one.
 */
export function lookup (tree: MetadataDir, path: string): Lookup | undefined {
  const trailingSlash = path.endsWith('/')
  const names = path.split('/').slice(1, trailingSlash ? -1 : undefined)
  let node: MetadataItem | MetadataDir = tree
  for (const name of names) {
    if (typeof node === 'function' || !Object.hasOwn(node, name)) return undefined
    node = node[name]!
  }
  if (typeof node === 'function') return trailingSlash ? undefined : { kind: 'item', body: node() }
  return { kind: 'dir', listing: listing(node) }
}
