// The Helm chart as users get it, checked with the real helm binary: lint, render with default and
// non-default values, least-privilege RBAC, the operator Deployment's shape, the dashboard ConfigMap, and
// that what is generated from the chart (its CRD copies, appVersion, manifests/install.yaml) is in step.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { load, loadAll } from 'js-yaml';
import { ensureHelm } from '../controlplane/binaries.js';
import {
  CHART_CRD_DIR,
  CHART_DIR,
  CRD_SOURCE_DIR,
  INSTALL_MANIFEST_PATH,
  INSTALL_NAMESPACE,
  REPO_ROOT,
  helm,
  packageVersion,
  readYamlFiles,
  renderInstallManifest,
} from '../../scripts/render-manifests.js';

const NS = 'kuberaft-system';
const DASHBOARD_PATH = join(CHART_DIR, 'dashboards', 'kuberaft.json');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
}

interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: { serviceAccountName: string; securityContext: { runAsNonRoot?: boolean; runAsUser?: number }; containers: Container[] };
  };
}

let helmPath = '';

async function render(values: readonly string[] = []): Promise<K8sObject[]> {
  const out = await helm(helmPath, ['template', 'kuberaft', CHART_DIR, '--namespace', NS, ...values.flatMap((v) => ['--set', v])]);
  return loadAll(out).filter((d): d is K8sObject => d !== null && typeof d === 'object');
}

function only(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `expected exactly one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as K8sObject;
}

function deployment(objects: readonly K8sObject[]): { spec: DeploymentSpec; container: Container } {
  const spec = only(objects, 'Deployment').spec as DeploymentSpec;
  assert.equal(spec.template.spec.containers.length, 1);
  return { spec, container: spec.template.spec.containers[0] as Container };
}

/** "group/resource verb" strings, one per granted pair, so a comparison shows exactly what differs. */
function grants(rules: readonly PolicyRule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    assert.equal(r.resourceNames, undefined, 'no rule is limited by resourceNames here');
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.push(`${g || 'core'}/${res} ${v}`);
  }
  return out.sort();
}

const OPERATOR_SOURCE_DIR = join(REPO_ROOT, 'src', 'operator');
/** API group of each @kubernetes/client-node API object the operator's Kube wrapper holds. */
const API_GROUPS: Record<string, string> = { core: 'core', apps: 'apps', policy: 'policy', coordination: 'coordination.k8s.io', custom: 'kuberaft.io' };
const VERBS: Record<string, string> = { read: 'get', get: 'get', list: 'list', create: 'create', patch: 'patch', replace: 'update', delete: 'delete' };
/** Not a call of its own: owner references with blockOwnerDeletion (every owned object has one). */
const IMPLIED_GRANTS = ['kuberaft.io/raftclusters/finalizers update'];

/**
 * The grants the operator's code needs, read from its API calls (`core.readNamespacedSecret(` →
 * `core/secrets get`), plus watch for every informer of the controller.
 */
function grantsUsedBySource(): { operator: string[]; leaderElection: string[] } {
  const used = new Set<string>(IMPLIED_GRANTS);
  for (const file of readdirSync(OPERATOR_SOURCE_DIR)) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
    const text = readFileSync(join(OPERATOR_SOURCE_DIR, file), 'utf8');
    for (const m of text.matchAll(/\b(core|apps|policy|coordination|custom)\.(read|get|list|create|patch|replace|delete)(\w+)\(/g)) {
      const [, api, action, rest] = m as unknown as [string, string, string, string];
      const kind = rest.replace(/^Namespaced|^Cluster|ForAllNamespaces$/g, '');
      const resource = api === 'custom' ? (kind.endsWith('Status') ? 'raftclusters/status' : 'raftclusters') : `${kind.charAt(0).toLowerCase()}${kind.slice(1).toLowerCase()}s`;
      const grant = `${API_GROUPS[api]}/${resource}`;
      used.add(`${grant} ${VERBS[action]}`);
    }
  }
  // The controller's informers (`#watch('pods', ...)`) list and watch.
  const controller = readFileSync(join(OPERATOR_SOURCE_DIR, 'controller.ts'), 'utf8');
  for (const [, resource] of controller.matchAll(/#watch\('(\w+)'/g)) {
    const list = [...used].find((g) => g.endsWith(`/${resource} list`));
    assert.ok(list, `the informer on ${resource} lists it`);
    used.add(list.replace(/ list$/, ' watch'));
  }
  const all = [...used].sort();
  return { operator: all.filter((g) => !g.startsWith('coordination.k8s.io/')), leaderElection: all.filter((g) => g.startsWith('coordination.k8s.io/')) };
}

const NEEDED = grantsUsedBySource();
const OPERATOR_GRANTS = NEEDED.operator;
const LEADER_ELECTION_GRANTS = NEEDED.leaderElection;

/** Paths of values.yaml keys preceded by a `# --` comment block. */
function documentedValuePaths(text: string): Set<string> {
  const documented = new Set<string>();
  const stack: { indent: number; key: string }[] = [];
  let commented = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('# --')) {
      commented = true;
      continue;
    }
    if (trimmed.startsWith('#')) continue;
    const key = /^(\s*)([A-Za-z_][\w-]*):/.exec(line);
    if (!key) {
      if (trimmed === '') commented = false;
      continue;
    }
    const indent = (key[1] as string).length;
    while (stack.length > 0 && (stack[stack.length - 1] as { indent: number }).indent >= indent) stack.pop();
    stack.push({ indent, key: key[2] as string });
    if (commented) documented.add(stack.map((s) => s.key).join('.'));
    commented = false;
  }
  return documented;
}

/** Paths of the leaves of a values tree (an empty map or a list is a leaf). */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length === 0) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

before(async () => {
  helmPath = await ensureHelm();
});

describe('the chart', () => {
  test('helm lint --strict passes with default and with every optional part enabled', async () => {
    for (const sets of [[], ['metrics.serviceMonitor.enabled=true', 'metrics.podMonitor.enabled=true', 'operator.watchNamespace=apps']]) {
      const out = await helm(helmPath, ['lint', '--strict', CHART_DIR, '--namespace', NS, ...sets.flatMap((s) => ['--set', s])]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/, out);
    }
  });

  test('Chart.yaml: version 0.1.0, appVersion is package.json version', () => {
    const chart = load(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string; name: string };
    assert.equal(chart.name, 'kuberaft');
    assert.equal(chart.version, '0.1.0');
    assert.equal(chart.appVersion, packageVersion(), 'run `npm run manifests` to update Chart.yaml');
  });

  test('every value in values.yaml is documented by a `# --` comment on it or on its parent', () => {
    const text = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
    const documented = documentedValuePaths(text);
    const undocumented = leafPaths(load(text)).filter((leaf) => {
      const parts = leaf.split('.');
      return !parts.some((_, i) => documented.has(parts.slice(0, i + 1).join('.')));
    });
    assert.deepEqual(undocumented, []);
  });

  test("the chart's crds/ holds exactly the files of crds/, byte for byte", () => {
    const sources = readYamlFiles(CRD_SOURCE_DIR);
    assert.ok(sources.has('raftclusters.kuberaft.io.yaml'), 'crds/raftclusters.kuberaft.io.yaml is the source of the CRD');
    assert.deepEqual(readYamlFiles(CHART_CRD_DIR), sources, 'run `npm run manifests` to copy crds/ into the chart');
  });

  test('manifests/install.yaml is the chart rendered with default values', async () => {
    const committed = readFileSync(INSTALL_MANIFEST_PATH, 'utf8');
    assert.ok(committed === (await renderInstallManifest(helmPath)), 'manifests/install.yaml is stale: run `npm run manifests`');
    const objects = loadAll(committed) as K8sObject[];
    assert.equal(objects[0]?.kind, 'Namespace');
    assert.equal(objects[0]?.metadata.name, INSTALL_NAMESPACE);
    assert.equal(objects[1]?.kind, 'CustomResourceDefinition', 'the CRD comes before anything that could use it');
    for (const o of objects.slice(1)) {
      if (o.kind === 'CustomResourceDefinition' || o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') continue;
      assert.equal(o.metadata.namespace, INSTALL_NAMESPACE, `${o.kind} ${o.metadata.name} has its namespace set`);
    }
  });
});

describe('the operator Deployment', () => {
  test('runs `kuberaft operator` from the image entrypoint, non-root, read-only, with probes on its metrics port', async () => {
    const objects = await render();
    const { spec, container } = deployment(objects);
    assert.equal(spec.replicas, 1);
    assert.equal(container.image, `ghcr.io/kuberaft/kuberaft:${packageVersion()}`);
    assert.equal(container.command, undefined, 'the image ENTRYPOINT is the kuberaft CLI');
    assert.deepEqual(container.args, [
      'operator',
      '--metrics-port=8080',
      `--leader-election-namespace=${NS}`,
      `--node-image=ghcr.io/kuberaft/kuberaft:${packageVersion()}`,
      '--log-level=info',
    ]);
    // The replica's Lease identity and namespace come from the downward API.
    const env = (container as Container & { env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }).env;
    assert.deepEqual(
      env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
      [
        ['POD_NAME', 'metadata.name'],
        ['POD_NAMESPACE', 'metadata.namespace'],
      ],
    );
    assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
    assert.equal(spec.template.spec.securityContext.runAsNonRoot, true);
    assert.equal(spec.template.spec.securityContext.runAsUser, 65532);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities?.drop, ['ALL']);
    assert.ok(container.resources.requests?.cpu && container.resources.requests.memory && container.resources.limits?.memory);
    const sa = only(objects, 'ServiceAccount');
    assert.equal(spec.template.spec.serviceAccountName, sa.metadata.name);
    // The selector picks the operator's pods only, never a RaftCluster's node pods.
    assert.equal(spec.selector.matchLabels['app.kubernetes.io/component'], 'operator');
    for (const [k, v] of Object.entries(spec.selector.matchLabels)) assert.equal(spec.template.metadata.labels[k], v);
  });

  test('values reach the Deployment: replicas, image, watched namespace, node image, extra args', async () => {
    const { spec, container } = deployment(
      await render([
        'operator.replicas=2',
        'image.repository=registry.example/kr',
        'image.tag=dev',
        'operator.watchNamespace=apps',
        'operator.nodeImage=registry.example/kr-node:7',
        'operator.metricsPort=9090',
        'operator.logLevel=debug',
        'operator.extraArgs[0]=--resync-seconds=30',
      ]),
    );
    assert.equal(spec.replicas, 2);
    assert.equal(container.image, 'registry.example/kr:dev');
    assert.deepEqual(container.args, [
      'operator',
      '--metrics-port=9090',
      `--leader-election-namespace=${NS}`,
      '--node-image=registry.example/kr-node:7',
      '--log-level=debug',
      '--namespace=apps',
      '--resync-seconds=30',
    ]);
    assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 9090, protocol: 'TCP' }]);
  });

  test('the metrics Service selects the operator pods on the named metrics port', async () => {
    const objects = await render();
    const svc = only(objects, 'Service').spec as { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
    assert.deepEqual(svc.selector, deployment(objects).spec.selector.matchLabels);
    assert.deepEqual(svc.ports, [{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
    assert.equal((await render(['metrics.service.enabled=false'])).filter((o) => o.kind === 'Service').length, 0);
  });
});

describe('RBAC', () => {
  test('the grants read from the operator source cover what it obviously does', () => {
    for (const g of ['kuberaft.io/raftclusters watch', 'kuberaft.io/raftclusters/status patch', 'apps/statefulsets create', 'core/secrets create', 'coordination.k8s.io/leases update']) {
      assert.ok([...OPERATOR_GRANTS, ...LEADER_ELECTION_GRANTS].includes(g), g);
    }
  });

  test('cluster-wide by default: exactly the operator rules, bound to its ServiceAccount; Lease rights only in its namespace', async () => {
    const objects = await render();
    const role = only(objects, 'ClusterRole', 'kuberaft-operator');
    assert.deepEqual(grants(role.rules as PolicyRule[]), OPERATOR_GRANTS);
    const binding = only(objects, 'ClusterRoleBinding', 'kuberaft-operator') as K8sObject & { roleRef: { kind: string; name: string }; subjects: unknown[] };
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kuberaft-operator' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kuberaft', namespace: NS }]);
    const lease = only(objects, 'Role', 'kuberaft-leader-election');
    assert.equal(lease.metadata.namespace, NS);
    assert.deepEqual(grants(lease.rules as PolicyRule[]), LEADER_ELECTION_GRANTS);
    only(objects, 'RoleBinding', 'kuberaft-leader-election');
  });

  test('no wildcard anywhere, and secrets can never be listed or watched', async () => {
    for (const objects of [await render(), await render(['operator.watchNamespace=apps'])]) {
      for (const o of objects.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
        for (const g of grants(o.rules as PolicyRule[])) {
          assert.doesNotMatch(g, /\*/, `${o.metadata.name}: ${g}`);
          assert.doesNotMatch(g, /^core\/secrets (list|watch)$/, `${o.metadata.name}: ${g}`);
        }
      }
    }
  });

  test('operator.watchNamespace confines the operator to a Role in that namespace', async () => {
    const objects = await render(['operator.watchNamespace=apps']);
    assert.equal(objects.filter((o) => o.kind === 'ClusterRole' && o.metadata.name === 'kuberaft-operator').length, 0);
    assert.equal(objects.filter((o) => o.kind === 'ClusterRoleBinding').length, 0);
    const role = only(objects, 'Role', 'kuberaft-operator');
    assert.equal(role.metadata.namespace, 'apps');
    assert.deepEqual(grants(role.rules as PolicyRule[]), OPERATOR_GRANTS);
    const binding = only(objects, 'RoleBinding', 'kuberaft-operator') as K8sObject & { roleRef: { kind: string } };
    assert.equal(binding.metadata.namespace, 'apps');
    assert.equal(binding.roleRef.kind, 'Role');
  });

  test('users of the built-in edit/admin roles may scale RaftClusters; viewers may read them', async () => {
    const objects = await render();
    const edit = only(objects, 'ClusterRole', 'kuberaft-raftclusters-edit');
    assert.equal(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-edit'], 'true');
    assert.ok(grants(edit.rules as PolicyRule[]).includes('kuberaft.io/raftclusters/scale update'));
    const view = only(objects, 'ClusterRole', 'kuberaft-raftclusters-view');
    assert.equal(view.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
    assert.ok(grants(view.rules as PolicyRule[]).every((g) => / (get|list|watch)$/.test(g)));
    const without = await render(['rbac.aggregateToDefaultRoles=false']);
    assert.equal(without.filter((o) => o.metadata.name.startsWith('kuberaft-raftclusters-')).length, 0);
  });
});

describe('monitoring', () => {
  test('ServiceMonitor and PodMonitor are off by default', async () => {
    const kinds = (await render()).map((o) => o.kind);
    assert.ok(!kinds.includes('ServiceMonitor') && !kinds.includes('PodMonitor'));
  });

  test('the ServiceMonitor scrapes the operator Service, the PodMonitor every node pod with its cluster as `raftcluster`', async () => {
    const objects = await render(['metrics.serviceMonitor.enabled=true', 'metrics.podMonitor.enabled=true', 'metrics.podMonitor.labels.release=prom']);
    const sm = only(objects, 'ServiceMonitor');
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    const smSpec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; honorLabels: boolean }[] };
    const svc = only(objects, 'Service');
    for (const [k, v] of Object.entries(smSpec.selector.matchLabels)) assert.equal(svc.metadata.labels?.[k], v);
    assert.equal(smSpec.endpoints[0]?.port, 'metrics');
    assert.equal(smSpec.endpoints[0]?.path, '/metrics');
    assert.equal(smSpec.endpoints[0]?.honorLabels, true);
    const pm = only(objects, 'PodMonitor');
    assert.equal(pm.metadata.labels?.release, 'prom');
    const pmSpec = pm.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { any?: boolean; matchNames?: string[] };
      podMetricsEndpoints: { port: string; path: string; relabelings: { sourceLabels: string[]; targetLabel: string }[] }[];
    };
    assert.deepEqual(pmSpec.selector.matchLabels, { 'app.kubernetes.io/name': 'kuberaft', 'app.kubernetes.io/component': 'node' });
    assert.deepEqual(pmSpec.namespaceSelector, { any: true });
    const ep = pmSpec.podMetricsEndpoints[0];
    assert.equal(ep?.port, 'api');
    assert.equal(ep?.path, '/metrics');
    assert.deepEqual(ep?.relabelings, [{ sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_instance'], targetLabel: 'raftcluster' }]);
    const scoped = only(await render(['metrics.podMonitor.enabled=true', 'operator.watchNamespace=apps']), 'PodMonitor');
    assert.deepEqual((scoped.spec as { namespaceSelector: unknown }).namespaceSelector, { matchNames: ['apps'] });
  });

  test('a ServiceMonitor without the metrics Service is refused with a message', async () => {
    await assert.rejects(render(['metrics.serviceMonitor.enabled=true', 'metrics.service.enabled=false']), /needs metrics\.service\.enabled/);
  });

  test('the dashboard ConfigMap carries grafana_dashboard: "1" and dashboards/kuberaft.json verbatim', async () => {
    const cm = only(await render(), 'ConfigMap', 'kuberaft-dashboard');
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    const json = (cm.data as Record<string, string>)['kuberaft.json'] as string;
    assert.equal(json, readFileSync(DASHBOARD_PATH, 'utf8').trimEnd());
    const dashboard = JSON.parse(json) as { uid: string; panels: { title: string }[] };
    assert.equal(dashboard.uid, 'kuberaft');
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of [
      'Term',
      'Commit and applied index',
      'Snapshot size',
      'Leader changes',
      'Proposal rate by result',
      'WAL fsync latency',
      'Commit latency',
      'Members per cluster by role',
      'Peer match index lag',
      'Reconcile rate by result',
      'Reconcile duration',
      'Membership changes',
    ]) {
      assert.ok(titles.includes(t), `panel "${t}"`);
    }
    const other = only(await render(['dashboard.namespace=grafana']), 'ConfigMap', 'kuberaft-dashboard');
    assert.equal(other.metadata.namespace, 'grafana');
    assert.equal((await render(['dashboard.enabled=false'])).filter((o) => o.kind === 'ConfigMap').length, 0);
  });
});

describe('examples', () => {
  /** Field names the CRD's schema knows, by dotted path, so an example cannot use a field that does not exist. */
  function schemaPaths(schema: { properties?: Record<string, unknown> }, prefix: string, out: Set<string>): Set<string> {
    for (const [k, v] of Object.entries(schema.properties ?? {})) {
      const path = `${prefix}.${k}`;
      out.add(path);
      const child = v as { type?: string; properties?: Record<string, unknown> };
      if (child.properties) schemaPaths(child, path, out);
    }
    return out;
  }

  function usedPaths(value: unknown, prefix: string, stopAt: ReadonlySet<string>): string[] {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || stopAt.has(prefix)) return [];
    return Object.entries(value).flatMap(([k, v]) => [`${prefix}.${k}`, ...usedPaths(v, `${prefix}.${k}`, stopAt)]);
  }

  test('the valid examples use only fields of the CRD', () => {
    const crd = load(readFileSync(join(REPO_ROOT, 'crds', 'raftclusters.kuberaft.io.yaml'), 'utf8')) as {
      spec: { versions: { name: string; schema: { openAPIV3Schema: { properties: { spec: { properties?: Record<string, unknown> } } } } }[] };
    };
    const version = crd.spec.versions[0];
    assert.ok(version);
    const known = schemaPaths(version.schema.openAPIV3Schema.properties.spec, 'spec', new Set());
    // spec.resources is a core/v1 ResourceRequirements the schema leaves open.
    const open = new Set(['spec.resources']);
    for (const file of ['raftcluster-3.yaml', 'raftcluster-5-tuned.yaml']) {
      const rc = load(readFileSync(join(REPO_ROOT, 'manifests', 'examples', file), 'utf8')) as K8sObject & { spec: unknown };
      assert.equal(rc.apiVersion, `kuberaft.io/${version.name}`);
      assert.equal(rc.kind, 'RaftCluster');
      assert.deepEqual(usedPaths(rc.spec, 'spec', open).filter((p) => !known.has(p)), [], file);
    }
  });
});
