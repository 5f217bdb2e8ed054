// Assembles a node: storage → Raft core → state machine → peer transport → driver → HTTP API,
// and takes them apart in the reverse order on stop.
import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { formatHostPort } from '../config/host-port.js';
import type { NodeConfig } from '../config/node-config.js';
import { encodeCommand } from '../kv/command.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { ReloadingTokens } from '../auth/reload.js';
import type { Logger } from '../log/logger.js';
import { Raft, bootstrapState, type RaftBootState } from '../raft/raft.js';
import { findMember, voters } from '../raft/membership.js';
import type { LogIndex, Member, NodeId } from '../raft/types.js';
import { openStorage, type Storage } from '../storage/index.js';
import { PeerTransport } from '../transport/index.js';
import { packageVersion } from '../version.js';
import { RaftDriver } from './driver.js';
import { NodeError } from './errors.js';
import { clusterView, memberReports } from './cluster-view.js';
import { NodeEventLog } from './events.js';
import { ClientAuth } from './auth.js';
import { createHttpApp, type NodeApi, type StatusBody } from './http-api.js';
import { kvFastPath } from './http-fast.js';
import { hardenHttpServer, httpServerOptions } from './http-server.js';
import { LeaseKeeper, systemLeaseClock } from './leases.js';
import { NodeMetrics } from './metrics.js';
import { loadPageAssets } from './page-assets.js';
import { PeerContact } from './peer-contact.js';
import type { DriverNetwork, DriverStorage, SnapshotWriter } from './ports.js';
import { NodeService, membersOf } from './service.js';
import { WatchHub, systemWatchClock } from './watch.js';

/** Used when no cluster secret is configured: peers are then effectively unauthenticated (logged loudly). */
const INSECURE_DEFAULT_SECRET = 'kuberaft-insecure-default-cluster-secret';
/** A follower within this many entries of the commit index counts as caught up for /readyz. */
export const READY_LAG_ENTRIES_MAX = 1000;
/** Grace for in-flight HTTP requests on stop. */
const HTTP_CLOSE_TIMEOUT_MS = 5_000;

export interface RunningNode {
  stop(): Promise<void>;
  readonly closed: Promise<void>;
  /** Where the API and peer transport actually listen (ports resolved when 0 was asked for). */
  readonly apiAddress: string;
  readonly peerAddress: string;
}

export async function runNode(config: NodeConfig, logger: Logger): Promise<RunningNode> {
  const id = config.id;
  let driver: RaftDriver | undefined;
  const log = logger.withDynamic(() => ({ term: driver?.status().term ?? 0 }));
  let metrics: NodeMetrics | undefined;

  const storage = await openStorage(config.dataDir, {
    nodeId: id,
    onFsync: (s) => metrics?.fsyncSeconds.observe(s),
    onNote: (note) => log.warn('storage recovery', { note }),
  });
  try {
    const advertise = formatHostPort(config.advertisePeer);
    let boot: RaftBootState = { ...storage.boot, applied: storage.boot.snapshot?.index ?? (0 as LogIndex) };
    const empty = boot.entries.length === 0 && boot.snapshot === undefined && boot.hardState.term === 0;
    if (config.bootstrap && empty && storage.dataDir.identity.clusterId === undefined) {
      // --bootstrap founds a cluster only on an empty data dir; a restarted founder just resumes.
      const founders: Member[] = [{ id, address: advertise, role: 'voter' }];
      boot = bootstrapState(founders);
      await storage.dataDir.setClusterId(randomUUID());
      await storage.append(boot.entries, boot.hardState);
      log.info('bootstrapped a new one-node cluster', { clusterId: storage.dataDir.identity.clusterId });
    } else if (config.bootstrap && !empty) {
      log.info('--bootstrap ignored: the data dir already holds a cluster; resuming');
    }

    const raft = new Raft(
      {
        id,
        electionTimeoutTicks: Math.max(2, Math.round(config.electionTimeoutMs / config.tickMs)),
        heartbeatIntervalTicks: Math.max(1, Math.round(config.heartbeatIntervalMs / config.tickMs)),
        random: { nextInt: (max) => randomInt(max) },
      },
      boot,
    );
    const sm = new KvStateMachine();
    if (boot.snapshot !== undefined) {
      const reader = await storage.snapshots.open(boot.snapshot.index, boot.snapshot.term);
      if (reader === undefined) throw new Error(`snapshot at index ${boot.snapshot.index} is missing from ${storage.dir}`);
      await sm.restore(reader.chunks());
    }

    const secret = config.clusterSecret?.reveal() ?? INSECURE_DEFAULT_SECRET;
    if (config.clusterSecret === undefined)
      log.warn('no cluster secret configured: any process that can reach the peer port can join; set --cluster-secret-file');

    let snapshotSize = 0;
    const refreshSnapshotSize = async (): Promise<void> => {
      const r = await storage.snapshots.openLatest({ verifyBody: false });
      snapshotSize = r?.sizeBytes ?? 0;
    };
    await refreshSnapshotSize();

    // For the cluster page: what this node saw happen, and when it last heard from each peer.
    const events = new NodeEventLog();
    const contact = new PeerContact(config.electionTimeoutMs, () => performance.now());
    const snapshotEvent = (kind: 'snapshot-taken' | 'snapshot-installed', index: number): void =>
      events.record({ kind, index, sizeBytes: snapshotSize }, driver?.status().term ?? 0);

    const transport = new PeerTransport({
      id,
      secret,
      clusterId: () => storage.dataDir.identity.clusterId ?? '',
      advertise,
      addressOf: (peer) => {
        const m = driver?.status().membership;
        return m === undefined ? undefined : findMember(m, peer)?.address;
      },
      openSnapshot: async (meta) => {
        const r = await storage.snapshots.open(meta.index, meta.term, { verifyBody: false });
        if (r === undefined) throw new Error(`no snapshot at index ${meta.index} term ${meta.term} to send`);
        return readerSource(r);
      },
      snapshotSink: async (_from, meta, sizeBytes, checksum) => {
        const incoming = await storage.snapshots.incoming({ meta, sizeBytes, bodyCrc32c: checksum });
        return {
          write: (offset, chunk) => incoming.write(offset, chunk),
          commit: async () => {
            await incoming.commit();
          },
          abort: () => incoming.abort(),
        };
      },
      log: (level, msg, fields) => log[level](msg, fields),
    });
    const peerBound = await transport.listen(config.listenPeer.host, config.listenPeer.port);

    const driverStorage = adaptStorage(storage, refreshSnapshotSize, () => snapshotSize, snapshotEvent);
    const network: DriverNetwork = {
      send: (m) => transport.send(m),
      request: (to, payload, timeoutMs) => transport.request(to, payload, timeoutMs),
      onMessage: (h) =>
        transport.onMessage((m) => {
          contact.heard(m.from);
          h(m);
        }),
      onRequest: (h) => transport.onRequest(h),
    };

    // Assigned once the HTTP server runs; before that a fatal failure has nothing to stop but the driver.
    let stopNode: () => Promise<void> = () => driver?.stop() ?? Promise.resolve();
    let resolveClosed: () => void = () => undefined;
    let rejectClosed: (e: Error) => void = () => undefined;
    const closed = new Promise<void>((res, rej) => {
      resolveClosed = res;
      rejectClosed = rej;
    });

    driver = new RaftDriver(
      raft,
      driverStorage,
      network,
      sm,
      log,
      undefined,
      { tickMs: config.tickMs, snapshotThresholdEntries: config.snapshotThresholdEntries, snapshotThresholdBytes: config.snapshotThresholdBytes },
      // A fatal failure (storage) must end the process: report it (`closed` rejects, so the command
      // exits non-zero), and stop serving, so nothing answers with state the node can no longer keep.
      (e) => {
        rejectClosed(e);
        void stopNode().catch((stopErr: unknown) => log.error('stopping after a fatal failure failed', { err: stopErr }));
      },
    );
    const d = driver;
    metrics = new NodeMetrics(id, {
      term: () => d.status().term,
      commitIndex: () => d.status().commit,
      appliedIndex: () => d.status().applied,
      lastLogIndex: () => d.status().lastIndex,
      snapshotIndex: () => d.status().snapshotIndex,
      snapshotSizeBytes: () => snapshotSize,
      isLeader: () => d.status().role === 'leader',
      membersByRole: () => {
        const m = d.status().membership.members;
        return { voter: m.filter((x) => x.role === 'voter').length, learner: m.filter((x) => x.role === 'learner').length };
      },
      peerMatchIndex: () => new Map([...d.status().progress].map(([peer, p]) => [peer, p.match])),
    });
    d.attachMetrics(metrics);
    const nodeMetrics = metrics;
    // A joining node learns its cluster from the first leader that adds it (recorded once: the
    // change listener fires after every Ready, and two writes of the identity file would race).
    let recordingClusterId = false;
    d.onChange(() => {
      const s = d.status();
      if (recordingClusterId || storage.dataDir.identity.clusterId !== undefined) return;
      if (s.leader === undefined || s.leader === id || s.membership.members.length === 0) return;
      const learned = transport.peerClusterId(s.leader);
      if (learned === undefined) return;
      recordingClusterId = true;
      storage.dataDir
        .setClusterId(learned)
        .catch((e: unknown) => log.error('cannot record the cluster id', { err: e }))
        .finally(() => (recordingClusterId = false));
    });
    d.onChange(events.follow(() => d.status()));
    d.onChange(() => contact.leading(d.status().role === 'leader'));
    // The leader's lease timers (leases.ts). A deposed leader may acknowledge keepalives until its
    // randomized election timeout (up to twice the configured one) tells it: a new leader adds that much.
    const leaseKeeper = new LeaseKeeper({
      clock: systemLeaseClock,
      leases: () => sm.leaseList(),
      ttlOf: (lease) => sm.lease(lease)?.ttlMs,
      proposeExpire: async (lease) => {
        const { result } = await d.propose(encodeCommand({ kind: 'lease-expire', lease }));
        if (result?.kind !== 'lease-revoke') throw new NodeError('internal', `a lease expiry produced ${JSON.stringify(result)}`);
      },
      promotionExtensionMs: 2 * config.electionTimeoutMs,
      log,
    });
    sm.observe(leaseKeeper);
    d.onChange(() => {
      const s = d.status();
      leaseKeeper.leadershipChanged(s.role === 'leader', s.term);
    });
    const watchHub = new WatchHub({
      nodeId: id,
      history: () => sm.history,
      appliedIndex: () => sm.appliedIndex,
      leaderKnown: () => d.status().leader !== undefined,
      clock: systemWatchClock,
      log,
    });
    sm.observe(watchHub);
    d.start();

    const timing = { heartbeatIntervalMs: config.heartbeatIntervalMs, electionTimeoutMs: config.electionTimeoutMs };
    const localStatus = (): StatusBody => statusBody(id, d, storage, snapshotSize, timing, contact);
    const service = new NodeService(id, d, network, log, localStatus, leaseKeeper);
    const viewSource = { localStatus, memberStatus: (m: NodeId, timeoutMs: number) => service.memberStatus(m, timeoutMs), caughtUpLagEntriesMax: READY_LAG_ENTRIES_MAX };
    const pageAssets = loadPageAssets();
    if (pageAssets === undefined) log.warn('the cluster page is not built: GET / answers 404; run `npm run build`');
    const tokens = new ReloadingTokens({ tokensFile: config.tokensFile, adminTokenFile: config.adminTokenFile }, config.tokens, (level, msg, fields) =>
      log[level](msg, fields),
    );
    tokens.start();
    if (config.anonymousRole !== undefined) log.warn('requests without a token are served', { anonymousRole: config.anonymousRole });
    let live = true;
    const api: NodeApi = {
      id,
      auth: new ClientAuth({ tokens: () => tokens.current(), anonymousRole: config.anonymousRole, metricsRequireToken: config.metricsRequireToken }),
      execute: (req, principal) => service.execute(req, principal),
      status: localStatus,
      digest: () => ({ index: sm.appliedIndex, digest: sm.digest() }),
      bootstrap: async () => {
        const s = d.status();
        if (storage.dataDir.identity.clusterId !== undefined || s.lastIndex !== 0 || s.term !== 0)
          throw new NodeError('already-initialized', 'this node already belongs to a cluster (it has data or a cluster id); bootstrap only an empty node');
        const clusterId = randomUUID();
        await d.bootstrap([{ id, address: advertise, role: 'voter' }]);
        await storage.dataDir.setClusterId(clusterId);
        log.info('bootstrapped a new one-node cluster', { clusterId });
        return { clusterId };
      },
      isLive: () => live,
      readiness: () => readiness(id, d),
      metrics: async () => ({ contentType: nodeMetrics.registry.contentType, body: await nodeMetrics.registry.metrics() }),
      clusterPage: {
        cluster: () => clusterView(viewSource),
        members: () => memberReports(viewSource),
        events: (after) => ({ events: events.after(after), capacity: events.capacity, latestSeq: events.latestSeq }),
        assets: pageAssets,
      },
      watchStart: async (fromRevision, principal) => fromRevision ?? (await service.readPoint(principal)) + 1,
      openWatch: (request, conn) => watchHub.open(request, conn),
    };
    const app = createHttpApp(api);
    const fast = kvFastPath(api);
    const server: Server = createServer(httpServerOptions(), (req, res) => {
      if (!fast(req, res)) app(req, res);
    });
    hardenHttpServer(server, id);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listenApi.port, config.listenApi.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const apiBound = server.address() as AddressInfo;
    const apiAddress = `${apiBound.address.includes(':') ? `[${apiBound.address}]` : apiBound.address}:${apiBound.port}`;
    const peerAddress = `${peerBound.host}:${peerBound.port}`;
    log.info('node started', { api: `http://${apiAddress}`, page: `http://${apiAddress}/`, peer: peerAddress, advertisePeer: advertise, role: d.status().role });

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        live = false;
        tokens.stop();
        // Watch streams never end by themselves: end them (with a resume revision) so the server can close.
        watchHub.stop();
        leaseKeeper.stop();
        const httpClosed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const t = setTimeout(() => server.closeAllConnections(), HTTP_CLOSE_TIMEOUT_MS);
        await d.stop();
        await transport.close();
        await httpClosed;
        clearTimeout(t);
        await storage.close();
        log.info('node stopped');
        resolveClosed();
      })();
      return stopping;
    };
    stopNode = stop;
    return { stop, closed, apiAddress, peerAddress };
  } catch (e) {
    await storage.close();
    throw e;
  }
}

/** Bytes read from a snapshot file per read while streaming it to a peer. */
const SNAPSHOT_SEND_READ_BYTES = 1024 * 1024;

/** Serves the transport's consecutive range reads from one sequential pass over the file. */
function readerSource(r: { sizeBytes: number; bodyCrc32c: number; chunks(from?: number, chunkBytes?: number): AsyncGenerator<Uint8Array> }) {
  let it: AsyncGenerator<Uint8Array> | undefined;
  let pos = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  return {
    sizeBytes: r.sizeBytes,
    checksum: r.bodyCrc32c,
    read: async (offset: number, length: number): Promise<Uint8Array> => {
      if (it === undefined || offset !== pos) {
        await it?.return(undefined);
        it = r.chunks(offset, SNAPSHOT_SEND_READ_BYTES);
        pos = offset;
        pending = [];
        pendingBytes = 0;
      }
      while (pendingBytes < length) {
        const next = await it.next();
        if (next.done) throw new Error(`snapshot ended at ${pos + pendingBytes} of ${r.sizeBytes} bytes`);
        pending.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
        pendingBytes += next.value.byteLength;
      }
      const all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
      const out = all.subarray(0, length);
      const rest = all.subarray(length);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
      pos += length;
      return out;
    },
    close: async () => {
      await it?.return(undefined);
    },
  };
}

function adaptStorage(
  storage: Storage,
  refreshSnapshotSize: () => Promise<void>,
  snapshotSizeBytes: () => number,
  onSnapshot: (kind: 'snapshot-taken' | 'snapshot-installed', index: number) => void,
): DriverStorage {
  return {
    append: (entries, hardState) => storage.append(entries, hardState),
    installReceivedSnapshot: async (meta) => {
      await storage.installSnapshot(meta);
      await refreshSnapshotSize();
      onSnapshot('snapshot-installed', meta.index);
      const r = await storage.snapshots.open(meta.index, meta.term);
      if (r === undefined) throw new Error(`received snapshot at index ${meta.index} vanished`);
      return r.chunks();
    },
    snapshotSizeBytes,
    createSnapshot: async (meta): Promise<SnapshotWriter> => {
      const w = await storage.snapshots.create(meta);
      return {
        write: (chunk) => w.write(chunk),
        commit: async () => {
          await w.commit();
          await refreshSnapshotSize();
          onSnapshot('snapshot-taken', meta.index);
        },
        abort: () => w.abort(),
      };
    },
    compact: (index) => storage.compact(index),
  };
}

function nodeState(id: NodeId, d: RaftDriver): StatusBody['state'] {
  const m = d.status().membership;
  if (m.members.length === 0) return 'joining';
  return findMember(m, id) === undefined ? 'removed' : 'member';
}

function statusBody(
  id: NodeId,
  d: RaftDriver,
  storage: Storage,
  snapshotSize: number,
  timing: { readonly heartbeatIntervalMs: number; readonly electionTimeoutMs: number },
  contact: PeerContact,
): StatusBody {
  const s = d.status();
  const leading = s.role === 'leader';
  return {
    id,
    version: packageVersion(),
    pid: process.pid,
    clusterId: storage.dataDir.identity.clusterId ?? null,
    state: nodeState(id, d),
    role: s.role,
    term: s.term,
    leader: s.leader ?? null,
    commitIndex: s.commit,
    appliedIndex: s.applied,
    lastIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    snapshotSizeBytes: snapshotSize,
    pendingMembershipIndex: s.pendingMembershipIndex,
    ...timing,
    members: membersOf(s.membership).map((m) => {
      const self = m.id === id;
      const matchIndex = self ? s.lastIndex : leading ? (s.progress.get(m.id as NodeId)?.match ?? 0) : null;
      const c = leading && !self ? contact.of(m.id as NodeId) : undefined;
      return {
        ...m,
        matchIndex,
        lastContactMs: !leading ? null : self ? 0 : (c?.lastContactMs ?? null),
        lagEntries: leading && matchIndex !== null ? Math.max(0, s.lastIndex - matchIndex) : null,
        active: !leading ? null : self ? true : (c?.active ?? false),
      };
    }),
  };
}

function readiness(id: NodeId, d: RaftDriver): { ready: boolean; reason: string } {
  if (d.fatalError() !== undefined) return { ready: false, reason: 'stopped after a storage failure' };
  const s = d.status();
  switch (nodeState(id, d)) {
    case 'joining':
      return { ready: true, reason: 'waiting to be added to a cluster' };
    case 'removed':
      return { ready: false, reason: 'removed from the cluster' };
    case 'member':
      if (s.leader === undefined) return { ready: false, reason: 'no leader known' };
      if (s.applied + READY_LAG_ENTRIES_MAX < s.commit) return { ready: false, reason: `catching up: applied ${s.applied} of ${s.commit}` };
      return { ready: true, reason: voters(s.membership).includes(id) ? 'voter, caught up' : 'learner, caught up' };
  }
}
