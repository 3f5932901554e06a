/**
 * Simulated EC2 worker nodes (pure): Node objects labelled the way EKS and the
 * Spot workshop label them, and the `--nodes spot:2,on-demand:1` plan syntax.
 */
import type { KubeObject } from './store.ts'
import type { Taint } from './scheduling.ts'

/** Capacity type of a simulated instance. */
export type Lifecycle = 'spot' | 'on-demand'

/** What to vary on a simulated node; everything has a default. */
export interface NodeInput {
  name?: string
  lifecycle?: Lifecycle
  instanceType?: string
  zone?: string
  /** Extra labels (win over the defaults). */
  labels?: Record<string, string>
  taints?: Taint[]
  unschedulable?: boolean
  /** Ready condition (default true). */
  ready?: boolean
}

const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c']

/**
 * Builds a Node: labels `lifecycle=Ec2Spot` + `eks.amazonaws.com/capacityType=SPOT`
 * for spot (`OnDemand` / `ON_DEMAND` otherwise), hostname, instance type, zone,
 * region, os/arch; a Ready condition, addresses, capacity and an AWS providerID.
 * `index` (1-based) picks the default name, zone and IP.
 */
export function makeNode (input: NodeInput, index: number): KubeObject {
  const lifecycle = input.lifecycle ?? 'spot'
  const name = input.name ?? `${lifecycle}-node-${index}`
  const zone = input.zone ?? ZONES[(index - 1) % ZONES.length]!
  const instanceType = input.instanceType ?? 'm5.large'
  const ip = `10.0.${Math.floor(index / 250) + 1}.${(index % 250) + 4}`
  const instanceId = `i-0${index.toString(16).padStart(16, '0')}`
  const ready = input.ready ?? true
  const node: KubeObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/instance-type': instanceType,
        'node.kubernetes.io/instance-type': instanceType,
        'topology.kubernetes.io/zone': zone,
        'topology.kubernetes.io/region': zone.slice(0, -1),
        lifecycle: lifecycle === 'spot' ? 'Ec2Spot' : 'OnDemand',
        'eks.amazonaws.com/capacityType': lifecycle === 'spot' ? 'SPOT' : 'ON_DEMAND',
        ...input.labels
      }
    },
    spec: { providerID: `aws:///${zone}/${instanceId}` },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
        { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure' },
        { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID' },
        ready ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' } : { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }
      ],
      addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }, { type: 'InternalDNS', address: `ip-${ip.replaceAll('.', '-')}.ec2.internal` }],
      capacity: { cpu: '2', memory: '7934688Ki', pods: '29', 'ephemeral-storage': '20959212Ki' },
      allocatable: { cpu: '1930m', memory: '7244512Ki', pods: '29', 'ephemeral-storage': '18242267924' },
      nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', osImage: 'Amazon Linux 2023', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.7.0', kubeletVersion: 'v1.32.0-eks', kubeProxyVersion: 'v1.32.0-eks', machineID: instanceId, systemUUID: instanceId, bootID: instanceId }
    }
  }
  if (input.taints !== undefined) node.spec.taints = input.taints
  if (input.unschedulable === true) node.spec.unschedulable = true
  return node
}

/** Parses `spot:2,on-demand:1` (a bare `spot` means one) into node inputs, spot first as written. */
export function parseNodePlan (text: string): NodeInput[] {
  const out: NodeInput[] = []
  for (const part of text.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const m = /^(spot|on-?demand)(?::(\d+))?$/i.exec(part)
    if (m === null) throw new Error(`expected entries like spot:2 or on-demand:1, got "${part}"`)
    const lifecycle: Lifecycle = m[1]!.toLowerCase() === 'spot' ? 'spot' : 'on-demand'
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push({ lifecycle })
  }
  return out
}
