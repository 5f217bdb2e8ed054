// The test cluster itself, end to end: a real kube-apiserver, controller-manager and etcd, and the test
// kubelet running pods as processes. A StatefulSet of a small HTTP server (a `node` script) is applied,
// scaled and deleted with kubectl; the test checks the processes, their addresses, DNS names,
// environment, volumes, graceful termination and network cut-off from the outside.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubectlError, startTestCluster } from '../controlplane/cluster.js';
import type { TestCluster } from '../controlplane/cluster.js';
import { processAlive, tcpReachable, waitFor } from './lib/wait.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const NS = 'e2e';
const APP = 'web';
const PORT = 8080;
const POD_READY_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 1_000;
const HTTP_TIMEOUT_MS = 2_000;

/** The pod program: answers who it is, resolves names on request, counts its starts and SIGTERMs in /data. */
const SERVER_JS = `
const http = require('node:http'), fs = require('node:fs'), dns = require('node:dns'), os = require('node:os');
const starts = (fs.existsSync('/data/starts') ? Number(fs.readFileSync('/data/starts', 'utf8')) : 0) + 1;
fs.writeFileSync('/data/starts', String(starts));
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://local');
  if (url.pathname === '/resolve') {
    dns.lookup(url.searchParams.get('name'), { family: 4 }, (err, address) => res.end(JSON.stringify(err ? { error: err.code } : { address })));
    return;
  }
  res.end(JSON.stringify({ pod: process.env.POD_NAME, ip: process.env.POD_IP, starts, pid: process.pid,
    hostname: os.hostname(), greeting: process.env.GREETING, color: process.env.COLOR, peer: process.env.PEER }));
});
server.listen(${PORT}, process.env.POD_IP);
process.on('SIGTERM', () => { fs.appendFileSync('/data/sigterms', 'x'); process.exit(0); });
`;

/** What an in-cluster client does: token and CA from the mounted service-account volume, API from the env. */
const IN_CLUSTER_JS = [
  "const fs = require('node:fs'), https = require('node:https');",
  "const dir = '/var/run/secrets/kubernetes.io/serviceaccount';",
  "const ns = fs.readFileSync(dir + '/namespace', 'utf8');",
  'const req = https.get({ host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,',
  "  path: '/api/v1/namespaces/' + ns + '/secrets', ca: fs.readFileSync(dir + '/ca.crt'),",
  "  headers: { Authorization: 'Bearer ' + fs.readFileSync(dir + '/token', 'utf8') } }, (res) => {",
  "  let body = ''; res.on('data', (d) => (body += d));",
  "  res.on('end', () => { console.log(res.statusCode + ' ' + JSON.parse(body).message); process.exit(0); });",
  '});',
  "req.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });",
].join('\n');

function manifests(serverPath: string): string {
  return `
apiVersion: v1
kind: Secret
metadata: {name: web-secret, namespace: ${NS}}
stringData: {greeting: hello-from-secret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: ${NS}}
data: {color: green}
---
apiVersion: v1
kind: Service
metadata: {name: ${APP}, namespace: ${NS}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: ${APP}}
  ports: [{name: http, port: ${PORT}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ${APP}, namespace: ${NS}}
spec:
  serviceName: ${APP}
  replicas: 1
  selector: {matchLabels: {app: ${APP}}}
  template:
    metadata: {labels: {app: ${APP}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: server
        image: kuberaft:ignored
        command: [node, ${serverPath}]
        ports: [{name: http, containerPort: ${PORT}}]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: GREETING, valueFrom: {secretKeyRef: {name: web-secret, key: greeting}}}
        - {name: COLOR, valueFrom: {configMapKeyRef: {name: web-config, key: color}}}
        - {name: PEER, value: "$(POD_NAME).${APP}.${NS}.svc.cluster.local"}
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
        livenessProbe: {httpGet: {path: /, port: http}, periodSeconds: 2, failureThreshold: 5}
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`;
}

interface Hello {
  readonly pod: string;
  readonly ip: string;
  readonly starts: number;
  readonly pid: number;
  readonly hostname: string;
  readonly greeting: string;
  readonly color: string;
  readonly peer: string;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  assert.equal(res.status, 200);
  return (await res.json()) as T;
}

describe('test control plane and kubelet', () => {
  let cluster: TestCluster;
  let scratch: string;

  const hello = (pod: string): Promise<Hello> => getJson<Hello>(`http://${cluster.podIp(NS, pod)}:${PORT}/`);

  async function readyPods(): Promise<string[]> {
    const { stdout } = await cluster.kubectl([
      'get', 'pods', '-n', NS, '-l', `app=${APP}`, '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.phase}/{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
    ]);
    return stdout.split('\n').filter((l) => l.endsWith('=Running/True')).map((l) => l.split('=')[0] ?? '').sort();
  }

  async function waitForPods(names: readonly string[]): Promise<void> {
    await waitFor(`pods ${names.join(',')} Running/Ready (and no others)`, POD_READY_TIMEOUT_MS, async () => {
      const { stdout } = await cluster.kubectl(['get', 'pods', '-n', NS, '-l', `app=${APP}`, '-o', 'name']);
      const all = stdout.split('\n').filter(Boolean).map((n) => n.replace('pod/', '')).sort();
      const ready = await readyPods();
      return JSON.stringify(all) === JSON.stringify([...names].sort()) && JSON.stringify(ready) === JSON.stringify(all) ? true : undefined;
    });
  }

  before(async () => {
    cluster = await startTestCluster({ repoRoot: REPO_ROOT });
    scratch = mkdtempSync(join(tmpdir(), 'kuberaft-e2e-'));
    const serverPath = join(scratch, 'server.js');
    writeFileSync(serverPath, SERVER_JS);
    await cluster.kubectl(['create', 'namespace', NS]);
    // A namespace's `default` ServiceAccount is created by the controller-manager; pods need it.
    await waitFor('the default service account', POD_READY_TIMEOUT_MS, async () => (await cluster.kubectl(['get', 'sa', 'default', '-n', NS])).stdout || undefined);
    await cluster.kubectl(['apply', '-f', '-'], manifests(serverPath));
  });

  after(async () => {
    await cluster?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('the API server reports the pinned version and kubectl works with the admin kubeconfig', async () => {
    const version = JSON.parse((await cluster.kubectl(['version', '-o', 'json'])).stdout) as { serverVersion: { gitVersion: string } };
    assert.equal(version.serverVersion.gitVersion, 'v1.34.4');
    const node = (await cluster.kubectl(['get', 'node', cluster.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout;
    assert.equal(node, 'True');
    await cluster.kubectl(['create', 'configmap', 'scratch', '-n', NS, '--from-literal=k=v']);
    assert.equal((await cluster.kubectl(['get', 'configmap', 'scratch', '-n', NS, '-o', 'jsonpath={.data.k}'])).stdout, 'v');
    await cluster.kubectl(['delete', 'configmap', 'scratch', '-n', NS]);
    await assert.rejects(cluster.kubectl(['get', 'configmap', 'scratch', '-n', NS]), /NotFound/);
    // RBAC is on: an unprivileged service account is refused.
    const can = await cluster.kubectl(['auth', 'can-i', 'delete', 'pods', '-n', NS, `--as=system:serviceaccount:${NS}:default`]).catch((e: Error) => e);
    assert.ok(can instanceof KubectlError && can.exitCode === 1, 'the default service account must not be allowed to delete pods');
  });

  test('a StatefulSet scales 1→3→1 with real processes, own addresses, stable DNS names and resolved env', async () => {
    await waitForPods(['web-0']);
    const first = await hello('web-0');
    assert.equal(first.pod, 'web-0');
    assert.equal(first.ip, cluster.podIp(NS, 'web-0'));
    assert.equal(first.hostname, 'web-0');
    assert.equal(first.greeting, 'hello-from-secret');
    assert.equal(first.color, 'green');
    assert.equal(first.peer, `web-0.${APP}.${NS}.svc.cluster.local`);
    assert.ok(processAlive(first.pid), 'the pod process runs on this machine');

    await cluster.kubectl(['scale', `statefulset/${APP}`, '-n', NS, '--replicas=3']);
    await waitForPods(['web-0', 'web-1', 'web-2']);
    const pods = await Promise.all(['web-0', 'web-1', 'web-2'].map(hello));
    assert.equal(new Set(pods.map((p) => p.ip)).size, 3, 'each pod has its own address');
    for (const p of pods) assert.ok(processAlive(p.pid));
    // Names resolve inside a pod the way they do in a cluster.
    for (const name of ['web-2.web', `web-2.${APP}.${NS}.svc.cluster.local`]) {
      const r = await getJson<{ address?: string }>(`http://${cluster.podIp(NS, 'web-0')}:${PORT}/resolve?name=${name}`);
      assert.equal(r.address, cluster.podIp(NS, 'web-2'), name);
    }
    const missing = await getJson<{ error?: string }>(`http://${cluster.podIp(NS, 'web-0')}:${PORT}/resolve?name=web-9.web`);
    assert.equal(missing.error, 'ENOTFOUND');

    await cluster.kubectl(['scale', `statefulset/${APP}`, '-n', NS, '--replicas=1']);
    await waitForPods(['web-0']);
    const [, web1, web2] = pods;
    assert.ok(web1 && web2);
    await waitFor('the scaled-down processes to exit', POD_READY_TIMEOUT_MS, async () => (!processAlive(web1.pid) && !processAlive(web2.pid)) || undefined);
    assert.equal((await hello('web-0')).pid, first.pid, 'web-0 was not restarted');
    assert.equal(await tcpReachable(web2.ip, PORT, CONNECT_TIMEOUT_MS), false, 'the removed pod no longer answers');
  });

  test('a PVC directory survives a pod delete, SIGTERM is delivered, and the directory goes with its claim', async () => {
    await waitForPods(['web-0']);
    const before = await hello('web-0');
    const pvName = (await cluster.kubectl(['get', 'pvc', `data-web-0`, '-n', NS, '-o', 'jsonpath={.spec.volumeName}'])).stdout;
    const dir = (await cluster.kubectl(['get', 'pv', pvName, '-o', 'jsonpath={.spec.hostPath.path}'])).stdout;
    assert.equal(readFileSync(join(dir, 'starts'), 'utf8'), String(before.starts));

    await cluster.kubectl(['delete', 'pod', 'web-0', '-n', NS]);
    assert.equal(processAlive(before.pid), false, 'kubectl delete returns after the process is gone');
    assert.equal(readFileSync(join(dir, 'sigterms'), 'utf8').length, 1, 'the process got SIGTERM');
    await waitForPods(['web-0']);
    const after = await hello('web-0');
    assert.notEqual(after.pid, before.pid);
    assert.equal(after.starts, before.starts + 1, 'the new pod sees the data of the old one');

    // web-2's claim outlived the scale-down; deleting it removes its directory.
    const pv2 = (await cluster.kubectl(['get', 'pvc', 'data-web-2', '-n', NS, '-o', 'jsonpath={.spec.volumeName}'])).stdout;
    const dir2 = (await cluster.kubectl(['get', 'pv', pv2, '-o', 'jsonpath={.spec.hostPath.path}'])).stdout;
    assert.ok(existsSync(join(dir2, 'starts')));
    await cluster.kubectl(['delete', 'pvc', 'data-web-2', '-n', NS]);
    await waitFor('the claim directory to be removed', POD_READY_TIMEOUT_MS, async () => !existsSync(dir2) || undefined);
    await waitFor('the volume to be deleted', POD_READY_TIMEOUT_MS, async () =>
      (await cluster.kubectl(['get', 'pv', pv2, '--ignore-not-found', '-o', 'name'])).stdout === '' || undefined,
    );
  });

  test('a pod reaches the API server with its in-cluster service-account credentials and then succeeds', async () => {
    const pod = `
apiVersion: v1
kind: Pod
metadata: {name: whoami, namespace: ${NS}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: ignored
    command: [node, -e, ${JSON.stringify(IN_CLUSTER_JS)}]
`;
    await cluster.kubectl(['apply', '-f', '-'], pod);
    await waitFor('the pod to succeed', POD_READY_TIMEOUT_MS, async () => {
      const phase = (await cluster.kubectl(['get', 'pod', 'whoami', '-n', NS, '-o', 'jsonpath={.status.phase}'])).stdout;
      assert.notEqual(phase, 'Failed', readFileSync(cluster.podLogPath(NS, 'whoami', 'main'), 'utf8'));
      return phase === 'Succeeded' || undefined;
    });
    // Authenticated as its service account (a bad token would be 401), and RBAC denies it the list.
    const out = readFileSync(cluster.podLogPath(NS, 'whoami', 'main'), 'utf8');
    assert.match(out, /^403 .*system:serviceaccount:e2e:default/m);
    await cluster.kubectl(['delete', 'pod', 'whoami', '-n', NS]);
  });

  test('a pod cut off the network is unreachable until restored', async () => {
    await cluster.kubectl(['scale', `statefulset/${APP}`, '-n', NS, '--replicas=2']);
    await waitForPods(['web-0', 'web-1']);
    const ip1 = cluster.podIp(NS, 'web-1');
    assert.equal(await tcpReachable(ip1, PORT, CONNECT_TIMEOUT_MS), true);
    cluster.cutOff(NS, 'web-1');
    assert.equal(await tcpReachable(ip1, PORT, CONNECT_TIMEOUT_MS), false, 'unreachable from the host');
    const fromPeer = await getJson<{ address?: string }>(`http://${cluster.podIp(NS, 'web-0')}:${PORT}/resolve?name=web-1.web`);
    assert.equal(fromPeer.address, ip1, 'its name still resolves (the Service publishes not-ready addresses)');
    assert.equal(await tcpReachable(ip1, PORT, CONNECT_TIMEOUT_MS), false, 'still unreachable');
    cluster.restore(NS, 'web-1');
    await waitFor('web-1 to be reachable again', POD_READY_TIMEOUT_MS, async () => (await tcpReachable(ip1, PORT, CONNECT_TIMEOUT_MS)) || undefined);
    assert.equal((await hello('web-1')).pod, 'web-1');

    await cluster.kubectl(['delete', 'statefulset', APP, '-n', NS]);
    await waitFor('all pods gone', POD_READY_TIMEOUT_MS, async () =>
      (await cluster.kubectl(['get', 'pods', '-n', NS, '-o', 'name'])).stdout === '' || undefined,
    );
  });
});
