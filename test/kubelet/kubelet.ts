// The test kubelet: one Node whose pods run as local processes (see pod.ts), with pod networking from
// network.ts, names from dns.ts and volumes from volumes.ts. It works level-based, like the real one:
// every SYNC_INTERVAL_MS it lists pods, services, claims and volumes and drives the local state towards
// them, so a missed event or a failed API call is repaired by the next pass.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { ClusterDnsServer } from './dns.js';
import type { DnsSnapshot } from './dns.js';
import { ClusterNetwork } from './network.js';
import { PodRuntime } from './pod.js';
import type { EnvSources } from './spec.js';
import { VolumeNotReadyError, podVolumeDirs, reconcilePersistentVolumes } from './volumes.js';

const SYNC_INTERVAL_MS = 500;
const NODE_HEARTBEAT_INTERVAL_MS = 10_000;
const NODE_LEASE_DURATION_SECONDS = 40;
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const DEFAULT_SCHEDULER = 'default-scheduler';
const NODE_CAPACITY = { cpu: '64', memory: '256Gi', pods: '250', 'ephemeral-storage': '100Gi' } as const;

export interface KubeletConfig {
  readonly nodeName: string;
  readonly networkSlot: number;
  /** Pod directories, PV directories and the per-pod info files live here. */
  readonly dataRoot: string;
  /** The checkout whose bin/kuberaft.js runs for the `kuberaft` command. */
  readonly repoRoot: string;
  readonly apiserverPort: number;
}

/** What the harness needs to reach a pod's sandbox; written to `<dataRoot>/sandboxes/<ns>_<name>.json`. */
export interface SandboxInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly netns: string;
  readonly hostVeth: string;
  readonly ip: string;
}

export function sandboxInfoPath(dataRoot: string, namespace: string, name: string): string {
  return join(dataRoot, 'sandboxes', `${namespace}_${name}.json`);
}

function apiCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'number'
    ? (err as { code: number }).code
    : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class Kubelet {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly network: ClusterNetwork;
  private readonly pods = new Map<string, PodRuntime>();
  private readonly starting = new Set<string>();
  private readonly terminating = new Map<string, Promise<void>>();
  private readonly written = new Map<string, string>();
  private readonly waitingLogged = new Set<string>();
  private dns: ClusterDnsServer | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private dirty = false;

  constructor(
    kubeConfig: KubeConfig,
    private readonly config: KubeletConfig,
    private readonly log: (line: string) => void,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = kubeConfig.makeApiClient(CoordinationV1Api);
    this.network = ClusterNetwork.attach(config.networkSlot);
    mkdirSync(join(config.dataRoot, 'sandboxes'), { recursive: true });
  }

  async start(): Promise<void> {
    this.dns = await ClusterDnsServer.listen(this.network.gateway, this.network.gateway);
    await this.registerNode();
    await this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat().catch((e: unknown) => this.log(`heartbeat failed: ${describe(e)}`)), NODE_HEARTBEAT_INTERVAL_MS);
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        await this.syncOnce();
      } catch (err) {
        this.log(`sync failed (retrying): ${describe(err)}`);
      }
      if (!this.stopped) this.syncTimer = setTimeout(() => void loop(), this.dirty ? 0 : SYNC_INTERVAL_MS);
      this.dirty = false;
    };
    void loop();
  }

  /** Kills every pod at once (no grace: the cluster is going away) and releases the sandboxes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await Promise.all([...this.pods.values()].map((p) => p.terminate(0)));
    await Promise.all(this.terminating.values());
    await this.dns?.close();
  }

  private async registerNode(): Promise<void> {
    const body: V1Node = {
      metadata: {
        name: this.config.nodeName,
        labels: { 'kubernetes.io/hostname': this.config.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
      },
      spec: { podCIDR: this.network.subnetCidr, podCIDRs: [this.network.subnetCidr] },
    };
    try {
      await this.core.createNode({ body });
    } catch (err) {
      if (apiCode(err) !== 409) throw err;
    }
  }

  private async heartbeat(): Promise<void> {
    const now = new Date();
    const status = {
      status: {
        capacity: NODE_CAPACITY,
        allocatable: NODE_CAPACITY,
        addresses: [
          { type: 'InternalIP', address: this.network.gateway },
          { type: 'Hostname', address: this.config.nodeName },
        ],
        conditions: [
          { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now },
          { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: now, lastTransitionTime: now },
          { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', lastHeartbeatTime: now, lastTransitionTime: now },
          { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', lastHeartbeatTime: now, lastTransitionTime: now },
        ],
        nodeInfo: {
          architecture: 'amd64',
          operatingSystem: 'linux',
          kubeletVersion: 'kuberaft-test-kubelet',
          kubeProxyVersion: '',
          containerRuntimeVersion: 'process://local',
          bootID: '',
          machineID: '',
          systemUUID: '',
          kernelVersion: '',
          osImage: 'host',
        },
      },
    };
    await this.core.patchNodeStatus({ name: this.config.nodeName, body: status }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    // Lease times are MicroTime (six fractional digits); the client's Date serialisation has three.
    const renewTime = now.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const patch = { spec: { holderIdentity: this.config.nodeName, leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS, renewTime } };
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    try {
      await this.coordination.patchNamespacedLease({ name: this.config.nodeName, namespace: NODE_LEASE_NAMESPACE, body: patch }, merge);
    } catch (err) {
      if (apiCode(err) !== 404) throw err;
      const lease: V1Lease = { metadata: { name: this.config.nodeName, namespace: NODE_LEASE_NAMESPACE }, spec: { holderIdentity: this.config.nodeName } };
      await this.coordination.createNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, body: lease });
      await this.coordination.patchNamespacedLease({ name: this.config.nodeName, namespace: NODE_LEASE_NAMESPACE, body: patch }, merge);
    }
  }

  private envSources(): EnvSources {
    const core = this.core;
    const read = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await f();
      } catch (err) {
        if (apiCode(err) === 404) return undefined;
        throw err;
      }
    };
    const secretData = async (namespace: string, name: string): Promise<Record<string, string> | undefined> => {
      const s = await read(() => core.readNamespacedSecret({ name, namespace }));
      if (!s) return undefined;
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    };
    const configMapData = async (namespace: string, name: string): Promise<Record<string, string> | undefined> =>
      (await read(() => core.readNamespacedConfigMap({ name, namespace })))?.data ?? undefined;
    return {
      secretData,
      configMapData,
      secretKey: async (ns, name, key) => (await secretData(ns, name))?.[key],
      configMapKey: async (ns, name, key) => (await configMapData(ns, name))?.[key],
    };
  }

  private async syncOnce(): Promise<void> {
    const [podList, serviceList, claimList, volumeList] = await Promise.all([
      this.core.listPodForAllNamespaces(),
      this.core.listServiceForAllNamespaces(),
      this.core.listPersistentVolumeClaimForAllNamespaces(),
      this.core.listPersistentVolume(),
    ]);
    await this.bindPending(podList.items);
    await reconcilePersistentVolumes(this.core, this.config.dataRoot, claimList.items, volumeList.items, this.log);
    const mine = podList.items.filter((p) => p.spec?.nodeName === this.config.nodeName);
    const live = new Set<string>();
    for (const pod of mine) {
      const uid = pod.metadata?.uid ?? '';
      live.add(uid);
      const runtime = this.pods.get(uid);
      if (pod.metadata?.deletionTimestamp) {
        if (!this.terminating.has(uid)) this.terminating.set(uid, this.terminatePod(pod, runtime));
        continue;
      }
      if (runtime) runtime.updateSpec(pod);
      else if (!this.starting.has(uid) && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') {
        this.starting.add(uid);
        void this.startPod(pod)
          .catch((err: unknown) => this.log(`starting ${pod.metadata?.namespace}/${pod.metadata?.name} failed (retrying): ${describe(err)}`))
          .finally(() => this.starting.delete(uid));
      }
    }
    for (const [uid, runtime] of this.pods) {
      if (!live.has(uid) && !this.terminating.has(uid)) {
        this.log(`${runtime.namespace}/${runtime.name} vanished from the API: killing it`);
        this.terminating.set(uid, this.finishTermination(uid, runtime, 0));
      }
    }
    await this.writeStatuses();
    this.dns?.update(this.dnsSnapshot(podList.items, serviceList.items));
  }

  private async bindPending(pods: readonly V1Pod[]): Promise<void> {
    for (const pod of pods) {
      if (pod.spec?.nodeName || pod.metadata?.deletionTimestamp) continue;
      if ((pod.spec?.schedulerName ?? DEFAULT_SCHEDULER) !== DEFAULT_SCHEDULER) continue;
      const name = pod.metadata?.name ?? '';
      const namespace = pod.metadata?.namespace ?? 'default';
      try {
        await this.core.createNamespacedPodBinding({
          name,
          namespace,
          body: { metadata: { name, namespace, uid: pod.metadata?.uid }, target: { kind: 'Node', apiVersion: 'v1', name: this.config.nodeName } },
        });
        this.log(`bound ${namespace}/${name} to ${this.config.nodeName}`);
      } catch (err) {
        if (apiCode(err) !== 409 && apiCode(err) !== 404) throw err;
      }
    }
  }

  private async startPod(pod: V1Pod): Promise<void> {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const podDir = join(this.config.dataRoot, 'pods', `${ns}_${name}_${uid}`);
    let volumeDirs: Map<string, string>;
    try {
      volumeDirs = await podVolumeDirs(this.core, pod, podDir);
    } catch (err) {
      if (!(err instanceof VolumeNotReadyError)) throw err;
      if (!this.waitingLogged.has(uid)) this.log(`${ns}/${name} waits for its volumes: ${err.message}`);
      this.waitingLogged.add(uid);
      return;
    }
    if (this.stopped) return;
    const runtime = new PodRuntime(pod, volumeDirs, podDir, {
      network: this.network,
      repoRoot: this.config.repoRoot,
      nodeExecutable: process.execPath,
      hostIp: this.network.gateway,
      apiserverPort: this.config.apiserverPort,
      envSources: this.envSources(),
      log: this.log,
      onChange: () => (this.dirty = true),
    });
    runtime.start();
    this.pods.set(uid, runtime);
    const sandbox = runtime.sandbox;
    if (sandbox) {
      const info: SandboxInfo = { namespace: ns, name, uid, netns: sandbox.netns, hostVeth: sandbox.hostVeth, ip: sandbox.ip };
      writeFileSync(sandboxInfoPath(this.config.dataRoot, ns, name), JSON.stringify(info));
      this.log(`${ns}/${name} runs in ${sandbox.netns} at ${sandbox.ip}`);
    }
  }

  private async terminatePod(pod: V1Pod, runtime: PodRuntime | undefined): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    if (runtime) await this.finishTermination(uid, runtime, runtime.terminationGraceSeconds(pod));
    else this.terminating.delete(uid);
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? 'default',
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
    } catch (err) {
      if (apiCode(err) !== 404 && apiCode(err) !== 409) this.log(`deleting ${pod.metadata?.name} failed: ${describe(err)}`);
    }
  }

  private async finishTermination(uid: string, runtime: PodRuntime, graceSeconds: number): Promise<void> {
    this.log(`stopping ${runtime.namespace}/${runtime.name} (grace ${graceSeconds}s)`);
    await runtime.terminate(graceSeconds);
    const infoPath = sandboxInfoPath(this.config.dataRoot, runtime.namespace, runtime.name);
    try {
      const info = JSON.parse(readFileSync(infoPath, 'utf8')) as SandboxInfo;
      if (info.uid === uid) rmSync(infoPath, { force: true });
    } catch {
      // no info file
    }
    this.pods.delete(uid);
    this.written.delete(uid);
    this.terminating.delete(uid);
  }

  private async writeStatuses(): Promise<void> {
    for (const [uid, runtime] of this.pods) {
      if (this.terminating.has(uid)) continue;
      const status = runtime.status();
      const json = JSON.stringify(status);
      if (this.written.get(uid) === json) continue;
      try {
        await this.core.patchNamespacedPodStatus(
          { name: runtime.name, namespace: runtime.namespace, body: { metadata: { uid }, status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        this.written.set(uid, json);
      } catch (err) {
        if (apiCode(err) !== 404 && apiCode(err) !== 409) this.log(`status of ${runtime.name} not written: ${describe(err)}`);
      }
    }
  }

  private dnsSnapshot(pods: readonly V1Pod[], services: readonly V1Service[]): DnsSnapshot {
    return {
      apiserverIp: this.network.gateway,
      pods: pods
        .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
        .map((p) => ({
          namespace: p.metadata?.namespace ?? '',
          ip: p.status?.podIP ?? '',
          ready: isReady(p),
          labels: p.metadata?.labels ?? {},
          ...(p.spec?.hostname ? { hostname: p.spec.hostname } : {}),
          ...(p.spec?.subdomain ? { subdomain: p.spec.subdomain } : {}),
        })),
      services: services.map((s) => ({
        namespace: s.metadata?.namespace ?? '',
        name: s.metadata?.name ?? '',
        headless: s.spec?.clusterIP === 'None',
        publishNotReadyAddresses: s.spec?.publishNotReadyAddresses ?? false,
        ...(s.spec?.selector ? { selector: s.spec.selector } : {}),
      })),
    };
  }
}
