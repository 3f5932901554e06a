/**
 * Renders the two install paths with the real tools and parses the result:
 * `helm template` of deploy/chart and `kubectl kustomize` of deploy/ (or an
 * overlay), read with the tests' one YAML reader (test/helpers/yaml.ts).
 */
import { join } from 'node:path'
import { parseYamlDocument, parseYamlStream } from '../helpers/yaml.ts'
import { ensureTool, REPO_ROOT, runOk } from './tools.ts'

/** A rendered Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [field: string]: any
}

/** Path of the Helm chart. */
export const CHART_DIR = join(REPO_ROOT, 'deploy', 'chart')

/** Path of the kustomization `kubectl apply -k deploy/` uses. */
export const KUSTOMIZE_DIR = join(REPO_ROOT, 'deploy')

/** The Kubernetes objects of a rendered multi-document YAML stream. */
export function parseManifests (text: string): KubeObject[] {
  return parseYamlStream<KubeObject>(text)
}

/** Parses a YAML file that is not a Kubernetes object (e.g. values.yaml) into plain JSON. */
export function parseYaml (text: string): any {
  return parseYamlDocument(text)
}

/** `helm template <release> deploy/chart <args>`, parsed. */
export async function helmTemplate (args: readonly string[] = [], release = 'spot-handler'): Promise<KubeObject[]> {
  const helm = await ensureTool('helm')
  return parseManifests(await runOk(helm, ['template', release, CHART_DIR, ...args]))
}

/** `kubectl kustomize <dir>`, parsed. */
export async function kustomizeBuild (dir = KUSTOMIZE_DIR): Promise<KubeObject[]> {
  const kubectl = await ensureTool('kubectl')
  return parseManifests(await runOk(kubectl, ['kustomize', dir]))
}

/** The one object of `kind` (and `name`, when given); throws naming what is missing or ambiguous. */
export function only (objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter(o => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}${name === undefined ? '' : ` named ${name}`}, found ${found.length}`)
  return found[0]!
}

/** Workload kinds and where their pod spec sits. */
const POD_SPEC_PATHS: Record<string, (o: KubeObject) => any> = {
  Deployment: o => o.spec?.template?.spec,
  DaemonSet: o => o.spec?.template?.spec,
  Job: o => o.spec?.template?.spec,
  CronJob: o => o.spec?.jobTemplate?.spec?.template?.spec
}

/** Every pod spec in `objects`, with the workload that holds it. */
export function podSpecs (objects: readonly KubeObject[]): Array<{ owner: string, spec: any }> {
  return objects.flatMap(o => {
    const at = POD_SPEC_PATHS[o.kind]
    return at === undefined ? [] : [{ owner: `${o.kind}/${o.metadata.name}`, spec: at(o) }]
  })
}
