// Turns a container spec into what a local process needs: its argv (the image is ignored) and its
// environment (env, envFrom, downward-API fieldRef, secret/configmap references, $(VAR) expansion).
//
// Command rule (the project ships one image whose entrypoint is `kuberaft`):
//   argv = (container.command ?? ['kuberaft']) ++ (container.args ?? [])
//   argv[0] == 'kuberaft' → `<node> <repoRoot>/bin/kuberaft.js ...` (the checkout's build)
//   argv[0] == 'node'     → this Node.js executable
//   otherwise             → run as given (looked up on PATH)
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';

export const DEFAULT_ENTRYPOINT = 'kuberaft';

export class ContainerConfigError extends Error {
  readonly code = 'CREATE_CONTAINER_CONFIG_ERROR';
}

export function containerArgv(container: V1Container, repoRoot: string, nodeExecutable: string): string[] {
  const argv = [...(container.command ?? [DEFAULT_ENTRYPOINT]), ...(container.args ?? [])];
  const [first, ...rest] = argv;
  if (first === undefined) throw new ContainerConfigError(`container ${container.name} has an empty command`);
  if (first === DEFAULT_ENTRYPOINT) return [nodeExecutable, `${repoRoot}/bin/kuberaft.js`, ...rest];
  if (first === 'node') return [nodeExecutable, ...rest];
  return argv;
}

/** Reads referenced Secrets and ConfigMaps; `undefined` = the object or key does not exist. */
export interface EnvSources {
  secretKey(namespace: string, name: string, key: string): Promise<string | undefined>;
  configMapKey(namespace: string, name: string, key: string): Promise<string | undefined>;
  secretData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** Kubernetes' $(VAR) expansion: known names are replaced, `$$` escapes, unknown references stay as written. */
export function expandVars(value: string, vars: ReadonlyMap<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return vars.get(name) ?? match;
  });
}

function bracketKey(path: string, prefix: string): string | undefined {
  const m = new RegExp(`^${prefix.replaceAll('.', '\\.')}\\['(.+)'\\]$`).exec(path);
  return m?.[1];
}

export function fieldRefValue(pod: V1Pod, fieldPath: string, podIp: string, hostIp: string): string {
  const meta = pod.metadata ?? {};
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return podIp;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIp;
  }
  const label = bracketKey(fieldPath, 'metadata.labels');
  if (label !== undefined) return meta.labels?.[label] ?? '';
  const annotation = bracketKey(fieldPath, 'metadata.annotations');
  if (annotation !== undefined) return meta.annotations?.[annotation] ?? '';
  throw new ContainerConfigError(`unsupported fieldRef ${fieldPath}`);
}

async function envVarValue(
  pod: V1Pod,
  container: V1Container,
  v: V1EnvVar,
  vars: ReadonlyMap<string, string>,
  sources: EnvSources,
  podIp: string,
  hostIp: string,
): Promise<string | undefined> {
  const ns = pod.metadata?.namespace ?? 'default';
  if (v.valueFrom === undefined) return expandVars(v.value ?? '', vars);
  const from = v.valueFrom;
  if (from.fieldRef) return fieldRefValue(pod, from.fieldRef.fieldPath, podIp, hostIp);
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const value = await sources.secretKey(ns, ref.name ?? '', ref.key);
    if (value === undefined && !ref.optional) throw new ContainerConfigError(`secret ${ns}/${ref.name} has no key ${ref.key}`);
    return value;
  }
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const value = await sources.configMapKey(ns, ref.name ?? '', ref.key);
    if (value === undefined && !ref.optional) throw new ContainerConfigError(`configmap ${ns}/${ref.name} has no key ${ref.key}`);
    return value;
  }
  if (from.resourceFieldRef) {
    const resource = from.resourceFieldRef.resource;
    const [kind, name] = resource.split('.');
    const quantities = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
    return name === undefined ? '' : String(quantities?.[name] ?? '0');
  }
  throw new ContainerConfigError(`env ${v.name}: unsupported valueFrom`);
}

/** The environment of one container, in the order Kubernetes builds it (envFrom, then env). */
export async function containerEnv(
  pod: V1Pod,
  container: V1Container,
  sources: EnvSources,
  podIp: string,
  hostIp: string,
  base: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const vars = new Map<string, string>(Object.entries(base));
  const ns = pod.metadata?.namespace ?? 'default';
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const data = from.configMapRef
      ? await sources.configMapData(ns, from.configMapRef.name ?? '')
      : from.secretRef
        ? await sources.secretData(ns, from.secretRef.name ?? '')
        : undefined;
    const optional = from.configMapRef?.optional ?? from.secretRef?.optional ?? false;
    if (data === undefined && !optional) throw new ContainerConfigError(`envFrom of ${container.name} names a missing object`);
    for (const [k, val] of Object.entries(data ?? {})) vars.set(prefix + k, val);
  }
  for (const v of container.env ?? []) {
    const value = await envVarValue(pod, container, v, vars, sources, podIp, hostIp);
    if (value !== undefined) vars.set(v.name, value);
  }
  return Object.fromEntries(vars);
}
