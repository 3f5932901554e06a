/** The static facts IMDS reports about the simulated instance. Pure. */
import { formatImdsTime } from './formats.ts'

/** What the simulated instance is; every field can be overridden through `ImdsSimOptions.instance`. */
export interface InstanceInfo {
  instanceId: string
  instanceType: string
  /** `instance-life-cycle`: `spot`, `on-demand` or `scheduled`. */
  instanceLifeCycle: string
  localHostname: string
  localIpv4: string
  availabilityZone: string
  /** Derived from `availabilityZone` when not given. */
  region: string
  amiId: string
  accountId: string
  architecture: string
  /** When the instance was launched (identity document `pendingTime`). */
  pendingTime: Date
}

const DEFAULT_ZONE = 'eu-west-1a'

/** The region an availability zone belongs to: `us-east-1a` → `us-east-1`, `us-west-2-lax-1a` → `us-west-2`. */
export function regionOfZone (zone: string): string {
  const m = /^([a-z]+(?:-[a-z]+)+-\d+)/.exec(zone)
  if (m === null) throw new Error(`cannot derive a region from availability zone "${zone}"`)
  return m[1]!
}

/** Fills in defaults (a Spot m5.large in eu-west-1a) and derives the region from the zone. */
export function resolveInstance (given: Partial<InstanceInfo>, launchedAt: Date): InstanceInfo {
  const availabilityZone = given.availabilityZone ?? DEFAULT_ZONE
  return {
    instanceId: 'i-0123456789abcdef0',
    instanceType: 'm5.large',
    instanceLifeCycle: 'spot',
    localHostname: 'ip-10-0-1-23.eu-west-1.compute.internal',
    localIpv4: '10.0.1.23',
    amiId: 'ami-0abcdef1234567890',
    accountId: '123456789012',
    architecture: 'x86_64',
    pendingTime: launchedAt,
    ...given,
    availabilityZone,
    region: given.region ?? regionOfZone(availabilityZone)
  }
}

/**
 * `/latest/dynamic/instance-identity/document`. Field set and names follow the
 * EC2 User Guide, "Instance identity documents"; AWS pretty-prints it.
 */
export function identityDocument (i: InstanceInfo): string {
  return JSON.stringify({
    accountId: i.accountId,
    architecture: i.architecture,
    availabilityZone: i.availabilityZone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: i.amiId,
    instanceId: i.instanceId,
    instanceType: i.instanceType,
    kernelId: null,
    pendingTime: formatImdsTime(i.pendingTime),
    privateIp: i.localIpv4,
    ramdiskId: null,
    region: i.region,
    version: '2017-09-30'
  }, null, 2)
}
