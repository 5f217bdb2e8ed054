// The runtime of one pod: its network sandbox, one local process per container (restarted per
// restartPolicy with back-off), probes, the pod status the kubelet reports, and graceful termination.
//
// Each container runs as
//   ip netns exec <netns> unshare --uts -- /bin/sh -c <mount script> <hostname> <src> <dst>... -- <argv>
// i.e. inside the pod's network namespace (own IP; /etc/resolv.conf and /etc/hosts from /etc/netns/<netns>),
// with the pod's hostname, and with each volume bind-mounted at its mountPath in a mount namespace of its
// own (`ip netns exec` makes one, slave to the host's, so the mounts are invisible outside the pod).
// Mount points that do not exist on the host are created there as empty directories.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { ClusterNetwork, PodSandbox } from './network.js';
import { ProbeRunner } from './probes.js';
import { ContainerConfigError, containerArgv, containerEnv } from './spec.js';
import type { EnvSources } from './spec.js';

const RESTART_BACKOFF_BASE_MS = 1_000;
const RESTART_BACKOFF_MAX_MS = 10_000;
const START_RETRY_MS = 2_000;
const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
const MOUNT_FAILED_EXIT_CODE = 126;
const MOUNT_SCRIPT = [
  'hostname "$1" || exit 126; shift',
  'while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 126; shift 2; done',
  'shift',
  'exec "$@"',
].join('\n');

export interface PodRuntimeDeps {
  readonly network: ClusterNetwork;
  readonly repoRoot: string;
  readonly nodeExecutable: string;
  readonly hostIp: string;
  readonly apiserverPort: number;
  readonly envSources: EnvSources;
  readonly log: (line: string) => void;
  /** Called whenever something the pod status shows has changed. */
  readonly onChange: () => void;
}

interface Terminated {
  readonly exitCode: number;
  readonly signal?: number;
  readonly reason: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}

class ContainerRuntime {
  child: ChildProcess | undefined;
  startedAt: Date | undefined;
  restartCount = 0;
  lastTerminated: Terminated | undefined;
  finalTerminated: Terminated | undefined;
  waiting: { reason: string; message?: string } | undefined = { reason: 'ContainerCreating' };
  ready = false;
  readiness: ProbeRunner | undefined;
  liveness: ProbeRunner | undefined;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void> = Promise.resolve();

  constructor(readonly spec: V1Container) {}

  stopProbes(): void {
    this.readiness?.stop();
    this.liveness?.stop();
    this.readiness = undefined;
    this.liveness = undefined;
  }
}

function signalGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

export class PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  sandbox: PodSandbox | undefined;
  private readonly containers: ContainerRuntime[];
  private readonly startTime = new Date();
  private readonly transitions = new Map<string, { status: string; at: Date }>();
  private terminating = false;

  constructor(
    private pod: V1Pod,
    private readonly volumeDirs: ReadonlyMap<string, string>,
    private readonly podDir: string,
    private readonly deps: PodRuntimeDeps,
  ) {
    this.uid = pod.metadata?.uid ?? '';
    this.namespace = pod.metadata?.namespace ?? 'default';
    this.name = pod.metadata?.name ?? '';
    this.containers = (pod.spec?.containers ?? []).map((c) => new ContainerRuntime(c));
  }

  get hostname(): string {
    return this.pod.spec?.hostname ?? this.name;
  }

  start(): void {
    const fqdn = this.pod.spec?.subdomain ? `${this.hostname}.${this.pod.spec.subdomain}.${this.namespace}.svc.cluster.local` : '';
    const resolv = `nameserver ${this.deps.network.gateway}\nsearch ${this.namespace}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`;
    this.sandbox = this.deps.network.createSandbox(
      resolv,
      (ip) => `127.0.0.1\tlocalhost\n::1\tlocalhost\n${ip}\t${fqdn ? `${fqdn} ` : ''}${this.hostname}\n`,
    );
    mkdirSync(this.podDir, { recursive: true });
    for (const c of this.containers) void this.startContainer(c);
  }

  updateSpec(pod: V1Pod): void {
    this.pod = pod;
  }

  private restartPolicy(): string {
    return this.pod.spec?.restartPolicy ?? 'Always';
  }

  /** Starts the container's process; any failure leaves it waiting with the reason and retries later. */
  private async startContainer(c: ContainerRuntime): Promise<void> {
    try {
      await this.spawnContainer(c);
    } catch (err) {
      if (this.terminating) return;
      const reason = err instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'StartError';
      c.waiting = { reason, message: err instanceof Error ? err.message : String(err) };
      this.deps.log(`${this.namespace}/${this.name}/${c.spec.name}: ${reason}: ${c.waiting.message} (retrying)`);
      this.deps.onChange();
      c.timer = setTimeout(() => void this.startContainer(c), START_RETRY_MS);
    }
  }

  private async spawnContainer(c: ContainerRuntime): Promise<void> {
    if (this.terminating || !this.sandbox) return;
    const sandbox = this.sandbox;
    const argv = containerArgv(c.spec, this.deps.repoRoot, this.deps.nodeExecutable);
    const env = await containerEnv(this.pod, c.spec, this.deps.envSources, sandbox.ip, this.deps.hostIp, this.baseEnv());
    if (this.terminating) return;
    const mounts: string[] = [];
    for (const m of c.spec.volumeMounts ?? []) {
      const dir = this.volumeDirs.get(m.name);
      if (dir === undefined) continue; // a volume kind this kubelet does not provide
      const src = m.subPath ? join(dir, m.subPath) : dir;
      mkdirSync(src, { recursive: true });
      if (!existsSync(m.mountPath)) mkdirSync(m.mountPath, { recursive: true });
      mounts.push(src, m.mountPath);
    }
    const cwd = c.spec.workingDir ?? this.podDir;
    mkdirSync(cwd, { recursive: true });
    const logFd = openSync(join(this.podDir, `${c.spec.name}.log`), 'a');
    const args = ['netns', 'exec', sandbox.netns, 'unshare', '--uts', '--', '/bin/sh', '-c', MOUNT_SCRIPT, 'sh', this.hostname, ...mounts, '--', ...argv];
    const child = spawn(process.env.IP_COMMAND ?? 'ip', args, { cwd, env, detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    c.child = child;
    c.startedAt = new Date();
    c.waiting = undefined;
    c.ready = false;
    this.deps.log(`started ${this.namespace}/${this.name}/${c.spec.name} pid ${child.pid ?? '?'}: ${argv.join(' ')}`);
    c.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.onExit(c, code, signal);
        resolve();
      });
      child.on('error', (err) => {
        this.deps.log(`spawning ${c.spec.name} failed: ${err.message}`);
      });
    });
    this.startProbes(c, sandbox.ip);
    this.deps.onChange();
  }

  private startProbes(c: ContainerRuntime, ip: string): void {
    if (c.spec.readinessProbe) {
      c.readiness = new ProbeRunner(c.spec.readinessProbe, c.spec, ip, false, (ok) => {
        c.ready = ok;
        this.deps.onChange();
      });
      c.readiness.start();
    } else {
      c.ready = true;
    }
    if (c.spec.livenessProbe) {
      c.liveness = new ProbeRunner(c.spec.livenessProbe, c.spec, ip, true, (ok) => {
        if (ok) return;
        this.deps.log(`liveness probe of ${this.namespace}/${this.name}/${c.spec.name} failed: restarting it`);
        signalGroup(c.child, 'SIGTERM');
        const grace = (this.pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS) * 1000;
        const child = c.child;
        setTimeout(() => signalGroup(child, 'SIGKILL'), grace).unref();
      });
      c.liveness.start();
    }
  }

  private onExit(c: ContainerRuntime, code: number | null, signal: NodeJS.Signals | null): void {
    c.stopProbes();
    c.ready = false;
    c.child = undefined;
    const exitCode = code ?? 128 + 9;
    const term: Terminated = {
      exitCode,
      ...(signal ? { signal: osConstants.signals[signal] } : {}),
      reason: exitCode === 0 ? 'Completed' : exitCode === MOUNT_FAILED_EXIT_CODE ? 'StartError' : 'Error',
      startedAt: c.startedAt ?? new Date(),
      finishedAt: new Date(),
    };
    this.deps.log(`${this.namespace}/${this.name}/${c.spec.name} exited (code ${code}, signal ${signal})`);
    const policy = this.restartPolicy();
    const restart = !this.terminating && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
    if (!restart) {
      c.finalTerminated = term;
      this.deps.onChange();
      return;
    }
    c.lastTerminated = term;
    const backoff = Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_BASE_MS * 2 ** c.restartCount);
    c.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${backoff / 1000}s restarting failed container` };
    this.deps.onChange();
    c.timer = setTimeout(() => {
      c.restartCount++;
      void this.startContainer(c);
    }, backoff);
  }

  private baseEnv(): Record<string, string> {
    const host = this.deps.network.gateway;
    const port = String(this.deps.apiserverPort);
    return {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      HOSTNAME: this.hostname,
      KUBERNETES_SERVICE_HOST: host,
      KUBERNETES_SERVICE_PORT: port,
      KUBERNETES_SERVICE_PORT_HTTPS: port,
      KUBERNETES_PORT: `tcp://${host}:${port}`,
    };
  }

  /** SIGTERM to every container, SIGKILL after the grace period, then the sandbox is removed. */
  async terminate(graceSeconds: number): Promise<void> {
    this.terminating = true;
    for (const c of this.containers) {
      if (c.timer) clearTimeout(c.timer);
      c.stopProbes();
      signalGroup(c.child, 'SIGTERM');
    }
    const exited = Promise.all(this.containers.map((c) => c.exited));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceSeconds * 1000))),
    ]);
    if (timer) clearTimeout(timer);
    if (timedOut) {
      this.deps.log(`${this.namespace}/${this.name}: grace period of ${graceSeconds}s over, sending SIGKILL`);
      for (const c of this.containers) signalGroup(c.child, 'SIGKILL');
      await exited;
    }
    if (this.sandbox) this.deps.network.destroySandbox(this.sandbox);
  }

  terminationGraceSeconds(pod: V1Pod): number {
    return pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS;
  }

  private condition(type: string, ok: boolean): V1PodCondition {
    const status = ok ? 'True' : 'False';
    const prev = this.transitions.get(type);
    if (prev?.status !== status) this.transitions.set(type, { status, at: new Date() });
    return { type, status, lastTransitionTime: this.transitions.get(type)?.at ?? new Date() };
  }

  private containerStatus(c: ContainerRuntime): V1ContainerStatus {
    const status: V1ContainerStatus = {
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: '',
      ready: c.ready,
      started: c.child !== undefined,
      restartCount: c.restartCount,
      state: {},
    };
    if (c.child?.pid !== undefined) status.containerID = `kuberaft://${c.child.pid}`;
    if (c.child && c.startedAt) status.state = { running: { startedAt: c.startedAt } };
    else if (c.finalTerminated) status.state = { terminated: c.finalTerminated };
    else if (c.waiting) status.state = { waiting: c.waiting };
    if (c.lastTerminated) status.lastState = { terminated: c.lastTerminated };
    return status;
  }

  status(): V1PodStatus {
    const statuses = this.containers.map((c) => this.containerStatus(c));
    const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
    const finals = this.containers.map((c) => c.finalTerminated);
    let phase = 'Running';
    if (finals.every((t) => t !== undefined)) phase = finals.every((t) => t?.exitCode === 0) ? 'Succeeded' : 'Failed';
    else if (this.containers.every((c) => c.child === undefined && c.restartCount === 0 && !c.lastTerminated)) phase = 'Pending';
    const ip = this.sandbox?.ip;
    return {
      phase,
      hostIP: this.deps.hostIp,
      hostIPs: [{ ip: this.deps.hostIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: this.startTime,
      qosClass: qosClass(this.pod),
      conditions: [
        this.condition('PodReadyToStartContainers', this.sandbox !== undefined),
        this.condition('Initialized', true),
        this.condition('Ready', allReady),
        this.condition('ContainersReady', allReady),
        this.condition('PodScheduled', true),
      ],
      containerStatuses: statuses,
    };
  }
}

/**
 * The pod's QoS class as Kubernetes computes it (the API server rejects a status whose class differs
 * from the spec's): Guaranteed when every container limits cpu and memory with requests equal to the
 * limits, BestEffort when no container requests or limits anything, else Burstable.
 */
export function qosClass(pod: V1Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const requests = c.resources?.requests ?? {};
    const limits = c.resources?.limits ?? {};
    if (Object.keys(requests).length > 0 || Object.keys(limits).length > 0) any = true;
    for (const r of ['cpu', 'memory']) {
      const limit = limits[r];
      const request = requests[r] ?? limit;
      if (limit === undefined || String(request) !== String(limit)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
