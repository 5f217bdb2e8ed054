// The test cluster's parts on their own: the cluster DNS server over real UDP with Node's resolver, the
// container command and environment rules, and the error for a missing Go toolchain.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { GoToolchainMissingError, findGo } from '../controlplane/binaries.js';
import { ClusterDnsServer } from '../kubelet/dns.js';
import type { DnsSnapshot } from '../kubelet/dns.js';
import { ContainerConfigError, containerArgv, containerEnv, expandVars } from '../kubelet/spec.js';
import type { EnvSources } from '../kubelet/spec.js';
import { qosClass } from '../kubelet/pod.js';
import { macForPodIp } from '../kubelet/network.js';

const DNS_TEST_PORT_BASE = 20_000;
const DNS_TEST_PORT_SPAN = 20_000;

const snapshot: DnsSnapshot = {
  apiserverIp: '10.244.9.1',
  services: [
    { namespace: 'db', name: 'peers', headless: true, selector: { app: 'raft' }, publishNotReadyAddresses: true },
    { namespace: 'db', name: 'client', headless: false, selector: { app: 'raft' }, publishNotReadyAddresses: false },
  ],
  pods: [
    { namespace: 'db', ip: '10.244.9.2', ready: true, hostname: 'raft-0', subdomain: 'peers', labels: { app: 'raft' } },
    { namespace: 'db', ip: '10.244.9.3', ready: false, hostname: 'raft-1', subdomain: 'peers', labels: { app: 'raft' } },
    { namespace: 'other', ip: '10.244.9.4', ready: true, hostname: 'raft-0', subdomain: 'peers', labels: { app: 'raft' } },
  ],
};

describe('cluster DNS server', () => {
  let server: ClusterDnsServer;
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });

  before(async () => {
    const port = DNS_TEST_PORT_BASE + (process.pid % DNS_TEST_PORT_SPAN);
    server = await ClusterDnsServer.listen('127.0.0.1', snapshot.apiserverIp, port);
    server.update(snapshot);
    resolver.setServers([`127.0.0.1:${port}`]);
  });
  after(() => server.close());

  test('a StatefulSet pod name resolves to that pod, not-ready included when the Service publishes it', async () => {
    assert.deepEqual(await resolver.resolve4('raft-0.peers.db.svc.cluster.local'), ['10.244.9.2']);
    assert.deepEqual(await resolver.resolve4('RAFT-1.peers.db.svc.cluster.local'), ['10.244.9.3']);
  });

  test('a Service name resolves to its ready pods only, unless it publishes not-ready addresses', async () => {
    assert.deepEqual(await resolver.resolve4('client.db.svc.cluster.local'), ['10.244.9.2']);
    assert.deepEqual((await resolver.resolve4('peers.db.svc.cluster.local')).sort(), ['10.244.9.2', '10.244.9.3']);
    assert.deepEqual(await resolver.resolve4('kubernetes.default.svc.cluster.local'), ['10.244.9.1']);
    assert.deepEqual(await resolver.resolve4('10-244-9-4.other.pod.cluster.local'), ['10.244.9.4']);
  });

  test('unknown names are NXDOMAIN and known names without an A query answer empty', async () => {
    await assert.rejects(resolver.resolve4('raft-2.peers.db.svc.cluster.local'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('raft-0.client.db.svc.cluster.local'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('example.com'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve6('raft-0.peers.db.svc.cluster.local'), { code: 'ENODATA' });
  });
});

describe('container command and environment', () => {
  const container = (c: Partial<V1Container>): V1Container => ({ name: 'main', ...c });

  test('the kuberaft entrypoint runs the checkout, node runs this Node, anything else runs as given', () => {
    assert.deepEqual(containerArgv(container({ args: ['node', 'start'] }), '/repo', '/usr/bin/node20'), ['/usr/bin/node20', '/repo/bin/kuberaft.js', 'node', 'start']);
    assert.deepEqual(containerArgv(container({ command: ['kuberaft', 'operator'] }), '/repo', '/n'), ['/n', '/repo/bin/kuberaft.js', 'operator']);
    assert.deepEqual(containerArgv(container({ command: ['node', '-e', 'x'] }), '/repo', '/n'), ['/n', '-e', 'x']);
    assert.deepEqual(containerArgv(container({ command: ['sleep'], args: ['5'] }), '/repo', '/n'), ['sleep', '5']);
    assert.throws(() => containerArgv(container({ command: [] }), '/repo', '/n'), ContainerConfigError);
  });

  test('$(VAR) expands known names, keeps unknown ones and unescapes $$', () => {
    const vars = new Map([['A', 'x']]);
    assert.equal(expandVars('$(A)-$(B)-$$(A)', vars), 'x-$(B)-$(A)');
  });

  test('env resolves fieldRef, secret and configmap references in order, and names a missing key', async () => {
    const pod: V1Pod = { metadata: { name: 'raft-0', namespace: 'db', labels: { app: 'raft' } }, spec: { containers: [] } };
    const sources: EnvSources = {
      secretKey: async (ns, name, key) => (ns === 'db' && name === 's' && key === 'k' ? 'secret!' : undefined),
      configMapKey: async (_ns, name, key) => (name === 'c' && key === 'k' ? 'conf' : undefined),
      secretData: async () => undefined,
      configMapData: async (_ns, name) => (name === 'c' ? { k: 'conf', j: 'other' } : undefined),
    };
    const env = await containerEnv(
      pod,
      container({
        envFrom: [{ prefix: 'CM_', configMapRef: { name: 'c' } }],
        env: [
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { name: 'C', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } },
          { name: 'ADDR', value: '$(NAME).peers:$(PORT)' },
        ],
      }),
      sources,
      '10.244.1.7',
      '10.244.1.1',
      { PORT: '7000' },
    );
    assert.deepEqual(
      { NAME: env.NAME, IP: env.IP, APP: env.APP, S: env.S, C: env.C, ADDR: env.ADDR, CM_j: env.CM_j },
      { NAME: 'raft-0', IP: '10.244.1.7', APP: 'raft', S: 'secret!', C: 'conf', ADDR: 'raft-0.peers:7000', CM_j: 'other' },
    );
    await assert.rejects(
      containerEnv(pod, container({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'nope' } } }] }), sources, '', '', {}),
      (err: unknown) => err instanceof ContainerConfigError && /secret db\/s has no key nope/.test(err.message),
    );
  });
});

describe('Go toolchain', () => {
  test('a missing toolchain is an error that says what to install', () => {
    assert.throws(
      () => findGo(['/nonexistent/bin/go']),
      (err: unknown) => err instanceof GoToolchainMissingError && err.code === 'GO_TOOLCHAIN_MISSING' && /Install Go/.test(err.message),
    );
    assert.match(findGo(), /go$/);
  });
});

describe('pod QoS class', () => {
  const pod = (...resources: V1Container['resources'][]): V1Pod => ({
    spec: { containers: resources.map((r, i) => ({ name: `c${i}`, ...(r ? { resources: r } : {}) })) },
  });
  test('matches what the API server computes, so that pods with resources get their status accepted', () => {
    assert.equal(qosClass(pod(undefined)), 'BestEffort');
    assert.equal(qosClass(pod({ requests: { cpu: '100m' } })), 'Burstable');
    assert.equal(qosClass(pod({ limits: { cpu: '1', memory: '1Gi' } })), 'Guaranteed');
    assert.equal(qosClass(pod({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })), 'Guaranteed');
    assert.equal(qosClass(pod({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })), 'Burstable');
    assert.equal(qosClass(pod({ limits: { cpu: '1', memory: '1Gi' } }, undefined)), 'Burstable');
  });
});

describe('pod hardware addresses', () => {
  test('follow from the pod address: stable across re-creation, distinct between pods, locally administered', () => {
    assert.equal(macForPodIp(3, 7), macForPodIp(3, 7));
    const macs = new Set<string>();
    for (let slot = 0; slot < 4; slot++) for (let host = 2; host < 255; host++) macs.add(macForPodIp(slot, host));
    assert.equal(macs.size, 4 * 253);
    for (const mac of macs) assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
  });
});
