/**
 * The notices the rehearsal can post (pure apart from the IMDS simulator
 * calls in `post`): which IMDS change each one is, which agent settings it
 * needs, and when its deadline falls.
 */
import type { NoticeKind } from '../../agent/notices.ts'
import type { ImdsSim } from '../sim/imds/server.ts'

/** Scenario names accepted by `--scenario`. */
export const SCENARIO_NAMES = ['spot-itn', 'rebalance', 'scheduled-reboot', 'asg'] as const

/** One of SCENARIO_NAMES. */
export type ScenarioName = typeof SCENARIO_NAMES[number]

/** What a scenario posts and how the agent is set up for it. */
export interface Scenario {
  name: ScenarioName
  /** The agent's notice kind (taint key spot-handler.io/<kind>). */
  kind: NoticeKind
  /** What appears in IMDS, for the timeline. */
  notice: string
  /** Agent variables beyond the defaults. */
  agentEnv: Record<string, string>
  /** Time from the notice to when the instance goes away (or the agent's drain budget when the notice has no deadline). */
  deadlineMs: number
  /** Makes the notice appear in the simulator; `now` is the moment it appears. */
  post: (imds: ImdsSim, now: number) => void
}

/** The two minutes a Spot interruption notice gives. */
export const SPOT_NOTICE_MS = 120_000

/** NODE_TERMINATION_GRACE_PERIOD: the agent's drain budget for notices without a deadline. */
export const NO_DEADLINE_BUDGET_MS = 120_000

/** Every scenario by name. */
export const SCENARIOS: Record<ScenarioName, Scenario> = {
  'spot-itn': {
    name: 'spot-itn',
    kind: 'spot-itn',
    notice: 'Spot interruption notice: spot/instance-action {"action":"terminate"} two minutes ahead',
    agentEnv: {},
    deadlineMs: SPOT_NOTICE_MS,
    post: imds => imds.postSpotInterruption()
  },
  rebalance: {
    name: 'rebalance',
    kind: 'rebalance-recommendation',
    notice: 'rebalance recommendation: events/recommendations/rebalance (drained because ENABLE_REBALANCE_DRAINING=true; by default the agent only taints and cordons)',
    agentEnv: { ENABLE_REBALANCE_MONITORING: 'true', ENABLE_REBALANCE_DRAINING: 'true' },
    deadlineMs: NO_DEADLINE_BUDGET_MS,
    post: imds => imds.postRebalanceRecommendation()
  },
  'scheduled-reboot': {
    name: 'scheduled-reboot',
    kind: 'scheduled-maintenance',
    notice: 'scheduled maintenance: events/maintenance/scheduled instance-reboot, active, not before two minutes from now',
    agentEnv: {},
    deadlineMs: SPOT_NOTICE_MS,
    post: (imds, now) => imds.setScheduledEvents([{
      code: 'instance-reboot',
      state: 'active',
      eventId: 'instance-event-0a1b2c3d4e5f60718',
      // Whole seconds: the IMDS date format has no milliseconds.
      notBefore: new Date(Math.ceil((now + SPOT_NOTICE_MS) / 1000) * 1000),
      description: 'scheduled reboot'
    }])
  },
  asg: {
    name: 'asg',
    kind: 'asg-lifecycle-termination',
    notice: 'Auto Scaling termination: autoscaling/target-lifecycle-state Terminated',
    agentEnv: { ENABLE_ASG_LIFECYCLE_DRAINING: 'true' },
    deadlineMs: NO_DEADLINE_BUDGET_MS,
    post: imds => imds.setTargetLifecycleState('Terminated')
  }
}

/** The node's instance facts for the IMDS simulator: instance id from an AWS providerID, type and zone from the well-known labels. */
export function instanceFacts (node: { metadata?: { name?: string, labels?: Record<string, string> }, spec?: { providerID?: string } }): { instanceId?: string, instanceType?: string, availabilityZone?: string, localHostname?: string, instanceLifeCycle: string } {
  const labels = node.metadata?.labels ?? {}
  const instanceId = /\/(i-[0-9a-f]+)$/.exec(node.spec?.providerID ?? '')?.[1]
  const instanceType = labels['node.kubernetes.io/instance-type']
  const availabilityZone = labels['topology.kubernetes.io/zone']
  return {
    instanceLifeCycle: 'spot',
    ...(instanceId === undefined ? {} : { instanceId }),
    ...(instanceType === undefined ? {} : { instanceType }),
    ...(availabilityZone === undefined ? {} : { availabilityZone }),
    ...(node.metadata?.name === undefined ? {} : { localHostname: node.metadata.name })
  }
}
