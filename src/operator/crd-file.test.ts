import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SPEC_SCHEMA, STATUS_SCHEMA, effectiveSpec } from './api.js';
import type { EffectiveSpec, RaftClusterSpec, RaftClusterStatus } from './api.js';
import { committedCrdYaml, renderCrdYaml } from './crd-file.js';

test('crds/raftclusters.kuberaft.io.yaml is what `npm run crds` generates from api.ts', () => {
  assert.equal(committedCrdYaml(), renderCrdYaml(), 'the committed CRD is stale: run `npm run crds` and commit the result');
});

test('the schema names exactly the fields of the TypeScript types', () => {
  // Every key of these literals is required by its type, so a field added to a type fails to compile here.
  const spec: Required<RaftClusterSpec> = { replicas: 1, image: 'i', storage: {}, resources: {}, raft: {}, pvcRetention: 'Delete', paused: false };
  const status: Required<RaftClusterStatus> = {
    replicas: 0, readyReplicas: 0, selector: '', clusterId: '', leader: '', term: 0, commitIndex: 0, members: [], observedGeneration: 0, conditions: [],
  };
  assert.deepEqual(Object.keys(SPEC_SCHEMA.properties ?? {}).sort(), Object.keys(spec).sort());
  assert.deepEqual(Object.keys(STATUS_SCHEMA.properties ?? {}).sort(), Object.keys(status).sort());
  const eff: EffectiveSpec = effectiveSpec({}, 'img');
  assert.deepEqual(Object.keys(SPEC_SCHEMA.properties?.raft?.properties ?? {}).sort(), Object.keys(eff.raft).sort());
  assert.deepEqual(Object.keys(SPEC_SCHEMA.properties?.storage?.properties ?? {}).sort(), Object.keys(eff.storage).sort());
});

test('the generated CRD carries the CEL rules, subresources and printer columns', () => {
  const yaml = renderCrdYaml();
  assert.match(yaml, /x-kubernetes-validations:/);
  assert.match(yaml, /self\.electionTimeoutMs > 5 \* self\.heartbeatIntervalMs/);
  assert.match(yaml, /specReplicasPath: \.spec\.replicas/);
  assert.match(yaml, /labelSelectorPath: \.status\.selector/);
  for (const col of ['Replicas', 'Ready', 'Leader', 'Term', 'Commit', 'Age']) assert.match(yaml, new RegExp(`name: ${col}\\n`));
});

test('effective spec fills every default', () => {
  assert.deepEqual(effectiveSpec({ replicas: 5, raft: { heartbeatIntervalMs: 50 } }, 'img:1'), {
    replicas: 5,
    image: 'img:1',
    storage: { size: '1Gi', storageClassName: undefined },
    resources: undefined,
    raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 50, snapshotThreshold: 10000 },
    pvcRetention: 'Delete',
    paused: false,
  });
});
