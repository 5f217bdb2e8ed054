// For the HTTP API's tests: a node that keeps keys in a map behind the real authorization, and a
// token set with one token per role.
import { TokenSet, tokenDigest } from '../auth/tokens.js';
import type { ClientRole } from '../auth/roles.js';
import { ClientAuth, type Principal } from './auth.js';
import { NodeError } from './errors.js';
import type { NodeApi } from './http-api.js';
import type { NodeRequest, NodeResponse, Served } from './requests.js';

/** One token per role: `TEST_TOKENS.read` has the read role, and so on. */
export const TEST_TOKENS: Readonly<Record<ClientRole, string>> = {
  read: 'read-token-read-token',
  write: 'write-token-write-token',
  admin: 'admin-token-admin-token',
};

export function testTokenSet(): TokenSet {
  return new TokenSet((Object.keys(TEST_TOKENS) as ClientRole[]).map((role) => ({ name: `test-${role}`, role, digest: tokenDigest(TEST_TOKENS[role]) })));
}

export function bearer(role: ClientRole): Record<string, string> {
  return { authorization: `Bearer ${TEST_TOKENS[role]}` };
}

export interface MemoryNodeOptions {
  readonly anonymousRole?: ClientRole;
  readonly metricsRequireToken?: boolean;
}

/** A node that keeps keys in a map; keys starting with "follower-" answer as a follower would. */
export function memoryNode(options: MemoryNodeOptions = {}): NodeApi & { readonly seen: { req: NodeRequest; principal: Principal }[] } {
  const values = new Map<string, { value: Uint8Array; revision: number }>();
  let revision = 0;
  const seen: { req: NodeRequest; principal: Principal }[] = [];
  const tokens = testTokenSet();
  const served = (result: NodeResponse, servedBy = 'node-1'): Promise<Served<NodeResponse>> => Promise.resolve({ servedBy, result });
  return {
    id: 'node-1',
    auth: new ClientAuth({ tokens: () => tokens, anonymousRole: options.anonymousRole, metricsRequireToken: options.metricsRequireToken ?? false }),
    seen,
    execute(req: NodeRequest, principal: Principal): Promise<Served<NodeResponse>> {
      seen.push({ req, principal });
      if ('key' in req && req.key.startsWith('follower-')) return Promise.reject(new NodeError('not-leader', 'ask node-2', 'node-2'));
      switch (req.kind) {
        case 'put':
          values.set(req.key, { value: Uint8Array.from(req.value), revision: ++revision });
          return served({ kind: 'put', revision });
        case 'get': {
          const e = values.get(req.key);
          // Keys starting with "leased-" are attached to lease 7.
          const lease = e !== undefined && req.key.startsWith('leased-') ? { lease: 7 } : {};
          return served({ kind: 'get', value: e?.value ?? null, revision: e?.revision ?? 0, ...lease }, req.consistency === 'serializable' ? 'node-3' : 'node-1');
        }
        case 'delete':
          return served({ kind: 'delete', deleted: values.delete(req.key), revision: ++revision });
        case 'cas':
          return served({ kind: 'cas', ok: false, revision: ++revision });
        case 'list': {
          const keys = [...values.keys()].filter((k) => k.startsWith(req.prefix)).sort();
          return served({ kind: 'list', items: keys.map((key) => ({ key, value: values.get(key)?.value ?? new Uint8Array(0), revision: values.get(key)?.revision ?? 0 })), more: false });
        }
        case 'add-learner':
        case 'promote':
        case 'remove':
        case 'join':
        case 'leave':
          return served({ kind: 'membership', index: ++revision, members: [] });
        case 'transfer':
          return served({ kind: 'transfer', leader: req.to });
        case 'status':
        case 'lease-grant':
        case 'lease-keepalive':
        case 'lease-revoke':
        case 'lease-get':
        case 'read-index':
          return Promise.reject(new NodeError('internal', `${req.kind} is not asked of the memory node`));
      }
    },
    status: () => ({
      id: 'node-1',
      version: 'test',
      pid: 1,
      clusterId: null,
      state: 'member',
      role: 'leader',
      term: 1,
      leader: 'node-1',
      commitIndex: 0,
      appliedIndex: 0,
      lastIndex: 0,
      snapshotIndex: 0,
      snapshotSizeBytes: 0,
      pendingMembershipIndex: 0,
      members: [],
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
    }),
    digest: () => ({ index: 0, digest: '0'.repeat(64) }),
    bootstrap: () => Promise.reject(new NodeError('already-initialized', 'test node')),
    isLive: () => true,
    readiness: () => ({ ready: true, reason: 'test' }),
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: 'up 1\n' }),
    watchStart: () => Promise.reject(new NodeError('internal', 'watches are not served by the memory node')),
    openWatch: () => {
      throw new NodeError('internal', 'watches are not served by the memory node');
    },
  };
}
