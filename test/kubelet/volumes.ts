// Volumes for the test kubelet.
// - PersistentVolumeClaims: a static "provisioner" creates one hostPath PersistentVolume per claim,
//   pre-bound to it through claimRef (the controller-manager's persistentvolume-binder completes the
//   binding), backed by a directory under the kubelet's data root. The directory outlives pods; when the
//   claim is gone the kubelet deletes the PV and the directory.
// - emptyDir, configMap, secret and projected (service-account token, configMap, secret, downwardAPI)
//   volumes are materialized as files in the pod's own directory when the pod starts.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CoreV1Api, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Volume } from '@kubernetes/client-node';
import { fieldRefValue } from './spec.js';

export const MANAGED_PV_LABEL = 'kuberaft.io/test-kubelet-volume';
const PV_NAME_PREFIX = 'kuberaft-pv-';
const SERVICE_ACCOUNT_TOKEN_DEFAULT_SECONDS = 3600;

export class VolumeNotReadyError extends Error {
  readonly code = 'VOLUME_NOT_READY';
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === 404;
}

function pvDir(dataRoot: string, pvc: V1PersistentVolumeClaim): string {
  return join(dataRoot, 'pv', `${pvc.metadata?.namespace}_${pvc.metadata?.name}_${pvc.metadata?.uid}`);
}

/** Creates a PV for every claim that has none, and deletes PVs (and their directories) whose claim is gone. */
export async function reconcilePersistentVolumes(
  api: CoreV1Api,
  dataRoot: string,
  claims: readonly V1PersistentVolumeClaim[],
  volumes: readonly V1PersistentVolume[],
  log: (line: string) => void,
): Promise<void> {
  const managed = volumes.filter((v) => v.metadata?.labels?.[MANAGED_PV_LABEL] !== undefined);
  const claimUids = new Set(claims.map((c) => c.metadata?.uid));
  const provisioned = new Set(managed.map((v) => v.spec?.claimRef?.uid));
  for (const pvc of claims) {
    const uid = pvc.metadata?.uid;
    if (!uid || pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp || provisioned.has(uid)) continue;
    const dir = pvDir(dataRoot, pvc);
    mkdirSync(dir, { recursive: true });
    const body: V1PersistentVolume = {
      metadata: { name: `${PV_NAME_PREFIX}${uid}`, labels: { [MANAGED_PV_LABEL]: 'true' } },
      spec: {
        capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
        accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: pvc.spec?.storageClassName ?? '',
        volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
        hostPath: { path: dir, type: 'Directory' },
        claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: pvc.metadata?.namespace, name: pvc.metadata?.name, uid },
      },
    };
    try {
      await api.createPersistentVolume({ body });
      log(`provisioned ${body.metadata?.name} at ${dir} for ${pvc.metadata?.namespace}/${pvc.metadata?.name}`);
    } catch (err) {
      if (!(typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === 409)) throw err;
    }
  }
  for (const pv of managed) {
    const uid = pv.spec?.claimRef?.uid;
    if (uid !== undefined && claimUids.has(uid)) continue;
    const path = pv.spec?.hostPath?.path;
    if (path?.startsWith(join(dataRoot, 'pv'))) rmSync(path, { recursive: true, force: true });
    try {
      await api.deletePersistentVolume({ name: pv.metadata?.name ?? '' });
      log(`claim of ${pv.metadata?.name} is gone: deleted it and ${path}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

function writeFiles(dir: string, files: ReadonlyMap<string, string | Buffer>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of files) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
}

function pickItems(
  data: Readonly<Record<string, string | Buffer>>,
  items: readonly { key: string; path: string }[] | undefined,
  out: Map<string, string | Buffer>,
): void {
  if (items && items.length > 0) {
    for (const item of items) {
      const value = data[item.key];
      if (value !== undefined) out.set(item.path, value);
    }
  } else {
    for (const [k, v] of Object.entries(data)) out.set(k, v);
  }
}

async function configMapData(api: CoreV1Api, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    return (await api.readNamespacedConfigMap({ name, namespace })).data ?? {};
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function secretData(api: CoreV1Api, namespace: string, name: string): Promise<Record<string, Buffer> | undefined> {
  try {
    const data = (await api.readNamespacedSecret({ name, namespace })).data ?? {};
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function volumeDir(api: CoreV1Api, pod: V1Pod, volume: V1Volume, podDir: string): Promise<string | undefined> {
  const ns = pod.metadata?.namespace ?? 'default';
  const own = join(podDir, 'volumes', volume.name);
  if (volume.persistentVolumeClaim) {
    const claimName = volume.persistentVolumeClaim.claimName;
    let pvc: V1PersistentVolumeClaim;
    try {
      pvc = await api.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
    } catch (err) {
      if (isNotFound(err)) throw new VolumeNotReadyError(`claim ${ns}/${claimName} does not exist yet`);
      throw err;
    }
    if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) throw new VolumeNotReadyError(`claim ${ns}/${claimName} is not bound yet`);
    const pv = await api.readPersistentVolume({ name: pvc.spec.volumeName });
    const path = pv.spec?.hostPath?.path;
    if (!path) throw new VolumeNotReadyError(`volume ${pvc.spec.volumeName} has no hostPath this kubelet can mount`);
    return path;
  }
  if (volume.hostPath) return volume.hostPath.path;
  if (volume.emptyDir) {
    mkdirSync(own, { recursive: true });
    return own;
  }
  const files = new Map<string, string | Buffer>();
  if (volume.configMap) {
    const data = await configMapData(api, ns, volume.configMap.name ?? '');
    if (data === undefined && !volume.configMap.optional) throw new VolumeNotReadyError(`configmap ${ns}/${volume.configMap.name} does not exist`);
    pickItems(data ?? {}, volume.configMap.items, files);
  } else if (volume.secret) {
    const data = await secretData(api, ns, volume.secret.secretName ?? '');
    if (data === undefined && !volume.secret.optional) throw new VolumeNotReadyError(`secret ${ns}/${volume.secret.secretName} does not exist`);
    pickItems(data ?? {}, volume.secret.items, files);
  } else if (volume.projected) {
    for (const source of volume.projected.sources ?? []) {
      if (source.serviceAccountToken) {
        const sat = source.serviceAccountToken;
        const token = await api.createNamespacedServiceAccountToken({
          name: pod.spec?.serviceAccountName ?? 'default',
          namespace: ns,
          body: {
            spec: {
              audiences: sat.audience ? [sat.audience] : [],
              expirationSeconds: sat.expirationSeconds ?? SERVICE_ACCOUNT_TOKEN_DEFAULT_SECONDS,
              boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name, uid: pod.metadata?.uid },
            },
          },
        });
        files.set(sat.path, token.status?.token ?? '');
      } else if (source.configMap) {
        pickItems((await configMapData(api, ns, source.configMap.name ?? '')) ?? {}, source.configMap.items, files);
      } else if (source.secret) {
        pickItems((await secretData(api, ns, source.secret.name ?? '')) ?? {}, source.secret.items, files);
      } else if (source.downwardAPI) {
        for (const item of source.downwardAPI.items ?? []) {
          if (item.fieldRef) files.set(item.path, fieldRefValue(pod, item.fieldRef.fieldPath, '', ''));
        }
      }
    }
  } else {
    return undefined; // not a kind this kubelet provides
  }
  writeFiles(own, files);
  return own;
}

/** Host directories for the pod's volumes, by volume name; VolumeNotReadyError while a claim is unbound. */
export async function podVolumeDirs(api: CoreV1Api, pod: V1Pod, podDir: string): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    const dir = await volumeDir(api, pod, volume, podDir);
    if (dir !== undefined) dirs.set(volume.name, dir);
  }
  return dirs;
}
