// A real Kubernetes control plane for tests, and a test cluster around it.
//
//   startControlPlane({ runDir?, advertiseAddress?, log? })
//     → { kubeconfigPath, apiUrl, apiserverPort, runDir, processGroups, stop() }
//     etcd + kube-apiserver (RBAC, service-account keys, generated certificates) + kube-controller-manager,
//     on free loopback ports; resolves once the API is ready and the controllers work.
//
//   startTestCluster({ repoRoot, log? })
//     → { kubeconfigPath, apiUrl, runDir, nodeName, helmPath, kubectl(args, input?), podIp(ns, pod),
//         cutOff(ns, pod), restore(ns, pod), podLogPath(ns, pod, container), stop() }
//     the control plane plus one test kubelet (test/kubelet/) whose pods run as processes of `repoRoot`'s
//     build, each in its own network namespace on a bridge of this cluster, with cluster DNS.
//
// Binaries are built once per machine and cached (binaries.ts). `stop()` kills every process group it
// started and removes the bridge and namespaces; if the test process dies instead, the kubelet notices
// and cleans up (test/kubelet/main.ts). Needs root (network namespaces) and iproute2, openssl, kubectl.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureControlPlaneBinaries, ensureHelm } from './binaries.js';
import type { Logger } from './binaries.js';
import { generateClusterCerts, kubeconfigYaml } from './certs.js';
import type { ClusterCerts } from './certs.js';
import { ClusterNetwork } from '../kubelet/network.js';
import { sandboxInfoPath } from '../kubelet/kubelet.js';
import type { SandboxInfo } from '../kubelet/kubelet.js';
import type { KubeletProcessConfig } from '../kubelet/main.js';

export { GoToolchainMissingError, ensureControlPlaneBinaries, ensureHelm } from './binaries.js';

const LOOPBACK = '127.0.0.1';
const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
const SERVICE_CLUSTER_FIRST_IP = '10.96.0.1';
const STARTUP_TIMEOUT_MS = 180_000;
const HEALTH_POLL_INTERVAL_MS = 250;
const HEALTH_REQUEST_TIMEOUT_MS = 2_000;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_BYTES = 4_000;
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
export const TEST_NODE_NAME = 'kuberaft-test-node';
const CONTROLLERS = [
  '*',
  '-node-lifecycle-controller',
  '-taint-eviction-controller',
  '-node-ipam-controller',
  '-service-lb-controller',
  '-node-route-controller',
  '-cloud-node-lifecycle-controller',
].join(',');

export class ControlPlaneStartError extends Error {
  readonly code = 'CONTROL_PLANE_START_FAILED';
}

export class KubectlError extends Error {
  readonly code = 'KUBECTL_FAILED';
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`kubectl ${args.join(' ')} exited ${exitCode}: ${stderr.trim()}`);
  }
}

export class PodNotRunningHereError extends Error {
  readonly code = 'POD_NOT_RUNNING';
  constructor(namespace: string, name: string) {
    super(`pod ${namespace}/${name} has no sandbox on the test kubelet (not scheduled, not started yet, or gone)`);
  }
}

export interface ControlPlaneOptions {
  /** Where certificates, etcd data and logs go; a fresh temporary directory by default. */
  readonly runDir?: string;
  /** The address the apiserver advertises (and pods use); loopback-only when left out. */
  readonly advertiseAddress?: string;
  readonly log?: Logger;
}

export interface ControlPlane {
  readonly kubeconfigPath: string;
  readonly apiUrl: string;
  readonly apiserverPort: number;
  readonly runDir: string;
  readonly certs: ClusterCerts;
  /** Process groups of etcd, kube-apiserver, kube-controller-manager. */
  readonly processGroups: readonly number[];
  stop(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function tail(path: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.slice(-LOG_TAIL_BYTES);
  } catch {
    return '(no log)';
  }
}

interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  exited: boolean;
}

function startProcess(name: string, bin: string, args: string[], logDir: string, cwd: string, env?: NodeJS.ProcessEnv): Managed {
  const logPath = join(logDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  const child = spawn(bin, args, { cwd, env: env ?? process.env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const managed: Managed = { name, child, logPath, exited: false };
  child.on('exit', () => (managed.exited = true));
  child.on('error', () => (managed.exited = true));
  return managed;
}

async function stopProcess(m: Managed): Promise<void> {
  const pid = m.child.pid;
  if (pid === undefined || m.exited) return;
  const exited = new Promise<void>((resolve) => {
    if (m.exited) resolve();
    m.child.once('exit', () => resolve());
  });
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
  // The group may hold children that outlived the leader.
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

async function waitFor(what: string, procs: readonly Managed[], check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    const dead = procs.find((p) => p.exited);
    if (dead) throw new ControlPlaneStartError(`${dead.name} exited while waiting for ${what}; its log ends with:\n${tail(dead.logPath)}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new ControlPlaneStartError(`${what} not reached within ${STARTUP_TIMEOUT_MS / 1000}s; logs in ${procs.map((p) => p.logPath).join(', ')}`);
    }
    await sleep(HEALTH_POLL_INTERVAL_MS);
  }
}

function httpGetOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS) }).then((r) => r.ok);
}

function apiGet(certs: ClusterCerts, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: LOOPBACK,
        port,
        path,
        ca: readFileSync(certs.caCert),
        cert: readFileSync(certs.adminCert),
        key: readFileSync(certs.adminKey),
        timeout: HEALTH_REQUEST_TIMEOUT_MS,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Starts etcd, kube-apiserver and kube-controller-manager; see the top of this file. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const bins = await ensureControlPlaneBinaries(log);
  const runDir = opts.runDir ?? mkdtempSync(join(tmpdir(), 'kuberaft-cluster-'));
  const logDir = join(runDir, 'logs');
  const pkiDir = join(runDir, 'pki');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(pkiDir, { recursive: true });
  const advertise = opts.advertiseAddress ?? LOOPBACK;
  const certs = generateClusterCerts(pkiDir, [...new Set([LOOPBACK, advertise, SERVICE_CLUSTER_FIRST_IP])], [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ]);
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const procs: Managed[] = [];
  const stop = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await stopProcess(p);
  };
  try {
    procs.push(
      startProcess(
        'etcd',
        bins.etcd,
        [
          '--name=default',
          `--data-dir=${join(runDir, 'etcd')}`,
          `--listen-client-urls=http://${LOOPBACK}:${etcdPort}`,
          `--advertise-client-urls=http://${LOOPBACK}:${etcdPort}`,
          `--listen-peer-urls=http://${LOOPBACK}:${etcdPeerPort}`,
          `--initial-advertise-peer-urls=http://${LOOPBACK}:${etcdPeerPort}`,
          `--initial-cluster=default=http://${LOOPBACK}:${etcdPeerPort}`,
          // A throwaway test store: durability across power loss buys nothing and costs fsyncs.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        logDir,
        runDir,
      ),
    );
    await waitFor('etcd health', procs, () => httpGetOk(`http://${LOOPBACK}:${etcdPort}/health`));
    procs.push(
      startProcess(
        'kube-apiserver',
        bins.kubeApiserver,
        [
          `--etcd-servers=http://${LOOPBACK}:${etcdPort}`,
          `--bind-address=${advertise === LOOPBACK ? LOOPBACK : '0.0.0.0'}`,
          `--advertise-address=${advertise}`,
          `--secure-port=${apiPort}`,
          `--cert-dir=${pkiDir}`,
          `--tls-cert-file=${certs.apiserverCert}`,
          `--tls-private-key-file=${certs.apiserverKey}`,
          `--client-ca-file=${certs.caCert}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${certs.serviceAccountPub}`,
          `--service-account-signing-key-file=${certs.serviceAccountKey}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          '--authorization-mode=RBAC',
          '--allow-privileged=true',
          '--profiling=false',
          '--enable-priority-and-fairness=false',
        ],
        logDir,
        runDir,
      ),
    );
    await waitFor('apiserver readiness', procs, async () => (await apiGet(certs, apiPort, '/readyz')).status === 200);
    const apiUrl = `https://${LOOPBACK}:${apiPort}`;
    const kubeconfigPath = join(runDir, 'admin.kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(apiUrl, certs.caCert, certs.adminCert, certs.adminKey, 'kubernetes-admin'));
    const kcmKubeconfig = join(runDir, 'controller-manager.kubeconfig');
    writeFileSync(kcmKubeconfig, kubeconfigYaml(apiUrl, certs.caCert, certs.controllerManagerCert, certs.controllerManagerKey, 'system:kube-controller-manager'));
    procs.push(
      startProcess(
        'kube-controller-manager',
        bins.kubeControllerManager,
        [
          `--kubeconfig=${kcmKubeconfig}`,
          `--service-account-private-key-file=${certs.serviceAccountKey}`,
          `--root-ca-file=${certs.caCert}`,
          '--use-service-account-credentials=true',
          '--leader-elect=false',
          '--secure-port=0',
          `--controllers=${CONTROLLERS}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        ],
        logDir,
        runDir,
      ),
    );
    // The serviceaccount controller creating `default` in `default` shows the controllers are running.
    await waitFor('the controller-manager', procs, async () => (await apiGet(certs, apiPort, '/api/v1/namespaces/default/serviceaccounts/default')).status === 200);
    log(`control plane up: ${apiUrl}, kubeconfig ${kubeconfigPath}`);
    return {
      kubeconfigPath,
      apiUrl,
      apiserverPort: apiPort,
      runDir,
      certs,
      processGroups: procs.map((p) => p.child.pid ?? 0).filter((pid) => pid > 0),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface TestClusterOptions {
  /** The checkout whose `bin/kuberaft.js` pods run for the `kuberaft` command. */
  readonly repoRoot: string;
  readonly log?: Logger;
  /** Keep the run directory (logs, data) after stop() for inspection. */
  readonly keepRunDir?: boolean;
}

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly apiUrl: string;
  readonly runDir: string;
  readonly nodeName: string;
  readonly helmPath: string;
  /** Runs kubectl with the admin kubeconfig; rejects with KubectlError on a non-zero exit. */
  kubectl(args: readonly string[], input?: string): Promise<KubectlResult>;
  /** The address of the pod's current sandbox (PodNotRunningHereError when it has none). */
  podIp(namespace: string, pod: string): string;
  /** Drops every packet to and from the pod (its link goes down) until restore(). */
  cutOff(namespace: string, pod: string): void;
  restore(namespace: string, pod: string): void;
  /** stdout+stderr of a container of the pod's current incarnation. */
  podLogPath(namespace: string, pod: string, container: string): string;
  stop(): Promise<void>;
}

/** The control plane, a Ready node run by the test kubelet, pod networking and DNS; see the top of the file. */
export async function startTestCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const log = opts.log ?? (() => {});
  const [, helmPath] = await Promise.all([ensureControlPlaneBinaries(log), ensureHelm(log)]);
  const runDir = mkdtempSync(join(tmpdir(), 'kuberaft-cluster-'));
  const network = ClusterNetwork.create(process.pid);
  let cp: ControlPlane | undefined;
  let kubelet: Managed | undefined;
  const stop = async (): Promise<void> => {
    if (kubelet) await stopProcess(kubelet);
    if (cp) await cp.stop();
    network.destroy();
    if (!opts.keepRunDir) rmSync(runDir, { recursive: true, force: true });
  };
  try {
    cp = await startControlPlane({ runDir, advertiseAddress: network.gateway, log });
    const dataRoot = join(runDir, 'kubelet');
    const config: KubeletProcessConfig = {
      kubeconfigPath: cp.kubeconfigPath,
      nodeName: TEST_NODE_NAME,
      networkSlot: network.slot,
      dataRoot,
      repoRoot: opts.repoRoot,
      apiserverPort: cp.apiserverPort,
      ownerPid: process.pid,
      orphanProcessGroups: cp.processGroups,
      orphanDirs: opts.keepRunDir ? [] : [runDir],
    };
    const configPath = join(runDir, 'kubelet.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const kubeletMain = new URL('../kubelet/main.ts', import.meta.url).pathname;
    kubelet = startProcess('kubelet', process.execPath, ['--import', 'tsx', kubeletMain, configPath], join(runDir, 'logs'), opts.repoRoot);
    const kubeconfigPath = cp.kubeconfigPath;
    const kubectl = (args: readonly string[], input?: string): Promise<KubectlResult> =>
      new Promise((resolve, reject) => {
        const child = execFile(KUBECTL, ['--kubeconfig', kubeconfigPath, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
          if (err) reject(new KubectlError(args, child.exitCode, stderr));
          else resolve({ stdout, stderr });
        });
        if (input !== undefined) child.stdin?.end(input);
        else child.stdin?.end();
      });
    const managedKubelet = kubelet;
    await waitFor('the test node to be Ready', [managedKubelet], async () => {
      const { stdout } = await kubectl(['get', 'node', TEST_NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return stdout.trim() === 'True';
    });
    const sandbox = (namespace: string, pod: string): SandboxInfo => {
      const path = sandboxInfoPath(dataRoot, namespace, pod);
      if (!existsSync(path)) throw new PodNotRunningHereError(namespace, pod);
      return JSON.parse(readFileSync(path, 'utf8')) as SandboxInfo;
    };
    log(`test cluster up: node ${TEST_NODE_NAME}, pods on ${network.subnetCidr}, logs in ${join(runDir, 'logs')}`);
    return {
      kubeconfigPath,
      apiUrl: cp.apiUrl,
      runDir,
      nodeName: TEST_NODE_NAME,
      helmPath,
      kubectl,
      podIp: (ns, pod) => sandbox(ns, pod).ip,
      cutOff: (ns, pod) => network.setLink(sandbox(ns, pod).hostVeth, false),
      restore: (ns, pod) => network.setLink(sandbox(ns, pod).hostVeth, true),
      podLogPath: (ns, pod, container) => {
        const info = sandbox(ns, pod);
        return join(dataRoot, 'pods', `${ns}_${pod}_${info.uid}`, `${container}.log`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
