/**
 * What a kubelet would hand a rendered container, on this machine: its
 * environment with the downward API, Secret and ConfigMap references
 * resolved, and its volume mounts made real (a hostPath is the host's path, a
 * ConfigMap volume a directory of files), so paths in the environment that
 * point into a mount point at the local copy. Lets a test run a program with
 * exactly the environment a manifest gives it.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What the references in a pod spec resolve to. */
export interface PodSources {
  /** Downward API values by fieldPath (spec.nodeName, metadata.name, metadata.namespace). */
  fields: Record<string, string>
  /** Secrets by name: key → value. */
  secrets?: Record<string, Record<string, string>>
  /** ConfigMaps by name: key → value. */
  configMaps?: Record<string, Record<string, string>>
}

/** One env entry's value; throws naming the reference a source lacks. */
function envValue (entry: any, sources: PodSources): string {
  if (entry.value !== undefined) return String(entry.value)
  const from = entry.valueFrom ?? {}
  const lookup = (kind: string, table: Record<string, Record<string, string>> | undefined, ref: { name: string, key: string }): string => {
    const value = table?.[ref.name]?.[ref.key]
    if (value === undefined) throw new Error(`${entry.name}: no ${kind} ${ref.name} with key ${ref.key}`)
    return value
  }
  if (from.fieldRef !== undefined) {
    const value = sources.fields[from.fieldRef.fieldPath]
    if (value === undefined) throw new Error(`${entry.name}: no value for field ${from.fieldRef.fieldPath}`)
    return value
  }
  if (from.secretKeyRef !== undefined) return lookup('Secret', sources.secrets, from.secretKeyRef)
  if (from.configMapKeyRef !== undefined) return lookup('ConfigMap', sources.configMaps, from.configMapKeyRef)
  throw new Error(`${entry.name}: unsupported env source ${JSON.stringify(from)}`)
}

/** The container's environment as the kubelet sets it (later entries win, as in Kubernetes). */
export function resolveEnv (container: any, sources: PodSources): Record<string, string> {
  const env: Record<string, string> = {}
  for (const entry of container.env ?? []) env[entry.name] = envValue(entry, sources)
  return env
}

/**
 * Makes the container's mounts real under `dir` and returns the local path of
 * each mount path: a hostPath volume is the host's own path, a ConfigMap
 * volume is written out as files.
 */
export async function mountVolumes (spec: any, container: any, sources: PodSources, dir: string): Promise<Map<string, string>> {
  const mounts = new Map<string, string>()
  for (const mount of container.volumeMounts ?? []) {
    const volume = (spec.volumes ?? []).find((v: any) => v.name === mount.name)
    if (volume?.hostPath !== undefined) {
      mounts.set(mount.mountPath, volume.hostPath.path)
    } else if (volume?.configMap !== undefined) {
      const data = sources.configMaps?.[volume.configMap.name]
      if (data === undefined) throw new Error(`volume ${mount.name}: no ConfigMap ${volume.configMap.name}`)
      const local = join(dir, mount.name)
      await mkdir(local, { recursive: true })
      for (const [key, value] of Object.entries(data)) await writeFile(join(local, key), value)
      mounts.set(mount.mountPath, local)
    } else {
      throw new Error(`volume ${mount.name}: only hostPath and configMap volumes are supported`)
    }
  }
  return mounts
}

/** `env` with every value that is a path inside a mount pointed at the mount's local copy. */
export function localPaths (env: Record<string, string>, mounts: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    let local = value
    for (const [mountPath, path] of mounts) {
      const inside = mountPath.endsWith('/') ? mountPath : `${mountPath}/`
      if (value === mountPath) local = path
      else if (value.startsWith(inside)) local = join(path, value.slice(inside.length))
    }
    out[name] = local
  }
  return out
}
