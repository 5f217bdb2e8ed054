// Pod networking for the test cluster, built from Linux primitives the way a CNI bridge plugin does:
// one bridge per cluster on the host (gateway 10.244.<k>.1/24, so host processes reach every pod), and one
// network namespace per pod joined to it by a veth pair. Cutting a pod off = taking its host-side veth down.
//
// Several clusters may run on one machine at once (parallel test files, other checkouts): each claims a
// slot <k> by creating bridge `krbr<k>` (creation is atomic: it fails if the name exists) and records its
// owner pid; a slot whose owner died is reclaimed, together with the namespaces it left behind.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const IP = process.env.IP_COMMAND ?? 'ip';
const SLOT_MIN = 1;
const SLOT_MAX = 250;
/** Host addresses .0 (network), .1 (gateway) and .255 (broadcast) of each /24 are not pods'. */
const POD_HOST_MIN = 2;
const POD_HOST_MAX = 254;
const SUBNET_PREFIX_BITS = 24;
const SLOT_STATE_DIR = '/run/kuberaft-net';
const NETNS_DIR = '/run/netns';
const NETNS_ETC_DIR = '/etc/netns';

export class NetworkSetupError extends Error {
  readonly code = 'NETWORK_SETUP_FAILED';
  constructor(what: string, cause: unknown) {
    super(
      `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}. The test cluster needs root ` +
        'and the `ip` command (iproute2) to create a bridge and network namespaces.',
    );
  }
}

function ip(args: string[]): string {
  return execFileSync(IP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryIp(args: string[]): boolean {
  try {
    ip(args);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A locally administered unicast MAC (02:…) derived from the pod's address, e.g. 02:6b:72:0a:03:07. */
export function macForPodIp(slot: number, host: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `02:6b:72:${hex(10)}:${hex(slot & 0xff)}:${hex(host & 0xff)}`;
}

export interface PodSandbox {
  readonly netns: string;
  readonly hostVeth: string;
  readonly ip: string;
}

/** The bridge of one cluster and the pod sandboxes attached to it. */
export class ClusterNetwork {
  readonly bridge: string;
  readonly gateway: string;
  readonly subnetCidr: string;
  private readonly used = new Set<number>();
  private nextSandboxId = 1;

  private constructor(readonly slot: number) {
    this.bridge = `krbr${slot}`;
    this.gateway = `10.244.${slot}.1`;
    this.subnetCidr = `10.244.${slot}.0/${SUBNET_PREFIX_BITS}`;
  }

  /** Claims a free slot and creates its bridge, owned by `ownerPid` (the process that will tear it down). */
  static create(ownerPid: number): ClusterNetwork {
    mkdirSync(SLOT_STATE_DIR, { recursive: true });
    for (let slot = SLOT_MIN; slot <= SLOT_MAX; slot++) {
      reclaimIfStale(slot);
      if (!tryIp(['link', 'add', `krbr${slot}`, 'type', 'bridge'])) continue;
      writeFileSync(join(SLOT_STATE_DIR, `${slot}.pid`), String(ownerPid));
      const net = new ClusterNetwork(slot);
      try {
        ip(['addr', 'add', `${net.gateway}/${SUBNET_PREFIX_BITS}`, 'dev', net.bridge]);
        ip(['link', 'set', net.bridge, 'up']);
      } catch (err) {
        destroySlot(slot);
        throw new NetworkSetupError(`configuring bridge ${net.bridge}`, err);
      }
      return net;
    }
    throw new NetworkSetupError('claiming a network slot', new Error(`all of krbr${SLOT_MIN}..krbr${SLOT_MAX} are in use`));
  }

  /** Re-attaches to a slot another process created (the kubelet runs apart from the harness). */
  static attach(slot: number): ClusterNetwork {
    return new ClusterNetwork(slot);
  }

  /** Creates a namespace with `eth0` at a free address, a default route via the bridge, and DNS files. */
  createSandbox(resolvConf: string, hostsFor: (podIp: string) => string): PodSandbox {
    let host = POD_HOST_MIN;
    while (this.used.has(host) && host <= POD_HOST_MAX) host++;
    if (host > POD_HOST_MAX) throw new NetworkSetupError('allocating a pod address', new Error(`${this.subnetCidr} is full`));
    this.used.add(host);
    const id = this.nextSandboxId++;
    const netns = `kr${this.slot}-${id}`;
    const hostVeth = `krv${this.slot}-${id}`;
    const podVeth = `krp${this.slot}-${id}`;
    const podIp = `10.244.${this.slot}.${host}`;
    try {
      const etc = join(NETNS_ETC_DIR, netns);
      mkdirSync(etc, { recursive: true });
      writeFileSync(join(etc, 'hosts'), hostsFor(podIp));
      writeFileSync(join(etc, 'resolv.conf'), resolvConf);
      ip(['netns', 'add', netns]);
      ip(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', podVeth]);
      ip(['link', 'set', podVeth, 'netns', netns]);
      ip(['link', 'set', hostVeth, 'master', this.bridge, 'up']);
      ip(['-n', netns, 'link', 'set', podVeth, 'name', 'eth0']);
      // The hardware address follows from the IP, so a pod that is recreated at its old address is
      // reachable at once: the host and other pods may still hold its neighbour entry for ~30 s.
      ip(['-n', netns, 'link', 'set', 'eth0', 'address', macForPodIp(this.slot, host)]);
      ip(['-n', netns, 'addr', 'add', `${podIp}/${SUBNET_PREFIX_BITS}`, 'dev', 'eth0']);
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', netns, 'route', 'add', 'default', 'via', this.gateway]);
    } catch (err) {
      this.destroySandbox({ netns, hostVeth, ip: podIp });
      throw new NetworkSetupError(`creating the sandbox ${netns}`, err);
    }
    return { netns, hostVeth, ip: podIp };
  }

  destroySandbox(sandbox: PodSandbox): void {
    tryIp(['link', 'del', sandbox.hostVeth]); // deletes the peer too
    tryIp(['netns', 'del', sandbox.netns]);
    rmSync(join(NETNS_ETC_DIR, sandbox.netns), { recursive: true, force: true });
    const host = Number(sandbox.ip.split('.')[3]);
    this.used.delete(host);
  }

  /** Takes the pod's link down (cutOff) or up (restore): packets to and from the pod are dropped while down. */
  setLink(hostVeth: string, up: boolean): void {
    ip(['link', 'set', hostVeth, up ? 'up' : 'down']);
  }

  destroy(): void {
    destroySlot(this.slot);
  }
}

function destroySlot(slot: number): void {
  let names: string[] = [];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    names = [];
  }
  for (const ns of names.filter((n) => n.startsWith(`kr${slot}-`))) {
    killNamespaceProcesses(ns);
    tryIp(['netns', 'del', ns]);
    rmSync(join(NETNS_ETC_DIR, ns), { recursive: true, force: true });
  }
  tryIp(['link', 'del', `krbr${slot}`]);
  rmSync(join(SLOT_STATE_DIR, `${slot}.pid`), { force: true });
}

/** Kills whatever still runs in a namespace (left by a kubelet that died without cleaning up). */
function killNamespaceProcesses(netns: string): void {
  let pids: number[] = [];
  try {
    pids = ip(['netns', 'pids', netns]).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    pids = [];
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function reclaimIfStale(slot: number): void {
  let owner: number;
  try {
    owner = Number(readFileSync(join(SLOT_STATE_DIR, `${slot}.pid`), 'utf8'));
  } catch {
    return; // no owner file: either free, or being claimed right now
  }
  if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) destroySlot(slot);
}
