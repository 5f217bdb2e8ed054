// The replicated KV state machine: what every replica applies, in log order.
import { assert, assertNever } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { bytesEqual, copyBytes } from './bytes.js';
import { decodeCommand, isLeaseCommand, leaseId, validateKey } from './command.js';
import type { Command, KeyCommand, LeaseCommand, LeaseId } from './command.js';
import { keyContribution, sessionContribution, stateDigest, stateDigestBytes, XorAccumulator } from './digest.js';
import type { DigestParts } from './digest.js';
import { KvError } from './errors.js';
import { ChangeHistory, changeRecord } from './history.js';
import type { ChangeEvent, ChangeRecord } from './history.js';
import { LeaseTable } from './lease-table.js';
import type { LeaseInfo } from './lease-table.js';
import { CLIENT_SESSIONS_MAX, LEASES_MAX, LIST_LIMIT_MAX } from './limits.js';
import type { ApplyResult, LeaseApplyResult, LeaseRefusal } from './results.js';
import type { KvValue, Session, StoredResult } from './session.js';
import { PrefetchedSnapshot, readSnapshotStream, writeSnapshotStream } from './snapshot.js';
import type { SnapshotSink } from './snapshot.js';
import { SortedKeys } from './sorted-keys.js';

export type { KvValue } from './session.js';
export type { ApplyResult, LeaseApplyResult } from './results.js';
export type { LeaseInfo } from './lease-table.js';
export type { ChangeEvent, ChangeRecord, HistoryCursor } from './history.js';


export interface KvEntry extends KvValue {
  readonly key: string;
  /** The lease the key is attached to, if any. */
  readonly lease?: LeaseId;
}

/**
 * What watches and the leader's lease timers learn from the machine, synchronously, as entries apply.
 * Observers must not change the machine and must return quickly (they run inside `apply`).
 */
export interface KvObserver {
  /** One revision's changes were applied (and appended to the history). */
  changed?(record: ChangeRecord): void;
  leaseGranted?(id: LeaseId, ttlMs: number): void;
  /** The lease ended (revoked or expired); its keys are gone. */
  leaseEnded?(id: LeaseId): void;
  /** The whole state, history and leases included, was replaced by a snapshot's. */
  restored?(): void;
}

/** What readers of the change history (watches) may do with it. */
export type HistoryReader = Pick<
  ChangeHistory,
  'compactedThrough' | 'oldestRevision' | 'lastRevision' | 'seek' | 'at' | 'bytesFrom' | 'revisionCount' | 'sizeBytes' | 'cursor' | 'totals' | 'trimmedPast'
>;

/**
 * The KV finite state machine, in the manner of hashicorp/raft's FSM.
 *
 * Contract:
 * - `apply` must be deterministic: the same entries in the same order give the same results, the
 *   same state and the same `digest()` on every replica. It depends on nothing but its arguments
 *   and the state (no clock, no randomness, no environment), and never throws for bad entry data:
 *   a malformed command becomes a `rejected` result on every replica alike.
 * - Indexes passed to `apply`/`markApplied` strictly increase. Entries that are not commands
 *   (no-ops, configuration changes) are passed to `markApplied` so the applied index follows the log.
 * - A revision is the index of the entry that made a change. Every entry that changes keys appends
 *   one record of its events to the change history (history.ts), bounded and deterministic, and
 *   tells the observers.
 * - Exactly-once: a command carrying a request id that equals the client's last applied one returns
 *   the stored result without applying it again. Sessions are bounded (CLIENT_SESSIONS_MAX); the
 *   session whose last request was applied at the lowest index is evicted first, which every
 *   replica decides alike. A retry from an evicted client is applied again — clients must not
 *   retry a request after more than CLIENT_SESSIONS_MAX other clients have written since.
 * - Leases: a grant creates lease `index` with a TTL; put and cas may attach their key to a live
 *   lease; revoke or expire deletes the lease's keys (in key order, all at that entry's revision).
 *   The machine keeps no time: the leader decides when a lease expires and proposes it.
 * - `writeSnapshot` captures the state when it is called (before its first await) and streams that
 *   view, so `apply` may continue while the snapshot is written. The snapshot holds the keys,
 *   sessions, leases and the change history.
 * - `restore` must discard all previous state: on success the machine equals the one that wrote the
 *   snapshot; on failure (KvError 'corrupt-snapshot', or an error of the stream) nothing changed.
 *   No `apply`, `markApplied` or other `restore` may run while a restore is in progress.
 * - Reads (`get`, `list`) see the state at `appliedIndex`; they return copies.
 */
export class KvStateMachine {
  private applied = 0 as LogIndex;
  private values = new Map<string, KvValue>();
  private keys = new SortedKeys();
  // Invariant: Map order is ascending session.index, so the first entry is the one to evict.
  private sessions = new Map<string, Session>();
  private leases = new LeaseTable();
  private changes = new ChangeHistory(0 as LogIndex);
  private keysDigest = new XorAccumulator();
  private sessionsDigest = new XorAccumulator();
  private restoring = false;
  /** The events of the entry being applied. */
  private pending: ChangeEvent[] = [];
  private readonly observers = new Set<KvObserver>();

  /** The index of the last entry applied (0: none). */
  get appliedIndex(): LogIndex {
    return this.applied;
  }

  get keyCount(): number {
    return this.values.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get leaseCount(): number {
    return this.leases.size;
  }

  /** The change history (read-only): watches resume from it. */
  get history(): HistoryReader {
    return this.changes;
  }

  /** Registers an observer; returns the function that removes it. */
  observe(observer: KvObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  apply(index: LogIndex, data: Uint8Array): ApplyResult {
    this.advance(index);
    let command: Command;
    try {
      command = decodeCommand(data);
    } catch (e) {
      if (e instanceof KvError) return { kind: 'rejected', code: 'malformed-command', message: e.message };
      throw e;
    }
    assert(this.pending.length === 0, 'no events are left over from a previous entry');
    let result: ApplyResult;
    try {
      result = isLeaseCommand(command) ? this.executeLease(index, command) : this.applyKeyCommand(index, command);
    } finally {
      this.publish(index);
    }
    // After the record of its keys' deletion: observers see the deletes, then the lease's end.
    if (result.kind === 'lease-revoke' && result.revoked && (command.kind === 'lease-revoke' || command.kind === 'lease-expire')) {
      for (const o of this.observers) o.leaseEnded?.(command.lease);
    }
    return result;
  }

  private applyKeyCommand(index: LogIndex, command: KeyCommand): ApplyResult {
    const requestId = command.requestId;
    if (requestId === undefined) return this.execute(index, command);
    const session = this.sessions.get(requestId.clientId);
    if (session !== undefined) {
      if (requestId.seq === session.seq) return session.result;
      if (requestId.seq < session.seq) {
        return {
          kind: 'rejected',
          code: 'request-superseded',
          message: `client ${JSON.stringify(requestId.clientId)} already had request ${session.seq} applied; request ${requestId.seq} is older and was not applied`,
        };
      }
    }
    const result = this.execute(index, command);
    // A refusal changed nothing and is not remembered: a retry is decided again.
    if (result.kind === 'rejected') return result;
    this.setSession(requestId.clientId, { seq: requestId.seq, index, result });
    return result;
  }

  /** Records an entry that is not a command (no-op, configuration change) as applied. */
  markApplied(index: LogIndex): void {
    this.advance(index);
  }

  private advance(index: LogIndex): void {
    assert(!this.restoring, 'no entry may be applied while a snapshot is being restored');
    assert(Number.isSafeInteger(index) && index > this.applied, () => `entries apply in increasing index order: ${index} after ${this.applied}`);
    this.applied = index;
  }

  /** Appends the entry's events to the history and tells the observers. */
  private publish(index: LogIndex): void {
    if (this.pending.length === 0) return;
    const record = changeRecord(index, this.pending);
    this.pending = [];
    this.changes.append(record);
    for (const o of this.observers) o.changed?.(record);
  }

  private execute(index: LogIndex, command: KeyCommand): StoredResult | LeaseRefusal {
    const current = this.values.get(command.key);
    switch (command.kind) {
      case 'put':
        if (command.lease !== undefined && !this.leases.has(command.lease)) return leaseNotFound(command.lease);
        this.setValue(command.key, command.value, index, command.lease);
        return { kind: 'put', revision: index };
      case 'delete':
        if (current !== undefined) this.deleteValue(command.key, current);
        return { kind: 'delete', deleted: current !== undefined };
      case 'cas': {
        if (command.lease !== undefined && !this.leases.has(command.lease)) return leaseNotFound(command.lease);
        const matches = command.expected === undefined ? current === undefined : current !== undefined && bytesEqual(current.value, command.expected);
        if (!matches) return { kind: 'cas', ok: false, currentRevision: current?.revision };
        this.setValue(command.key, command.value, index, command.lease);
        return { kind: 'cas', ok: true, revision: index };
      }
      default:
        return assertNever(command, 'command');
    }
  }

  private executeLease(index: LogIndex, command: LeaseCommand): LeaseApplyResult | LeaseRefusal {
    switch (command.kind) {
      case 'lease-grant': {
        if (this.leases.size >= LEASES_MAX) {
          return { kind: 'rejected', code: 'too-many-leases', message: `${LEASES_MAX} leases exist (LEASES_MAX): revoke leases you no longer use, or wait for some to expire` };
        }
        const id = leaseId(index);
        this.leases.grant(id, command.ttlMs);
        for (const o of this.observers) o.leaseGranted?.(id, command.ttlMs);
        return { kind: 'lease-grant', id, ttlMs: command.ttlMs };
      }
      case 'lease-revoke':
      case 'lease-expire': {
        const keys = this.leases.revoke(command.lease);
        if (keys === undefined) return { kind: 'lease-revoke', revoked: false, keysDeleted: 0, revision: index };
        for (const key of keys) {
          const current = this.values.get(key);
          assert(current !== undefined, 'a lease holds only existing keys');
          // Detached already (the lease is gone): the key's contribution still names it.
          this.keysDigest.toggle(keyContribution(key, current.value, current.revision, command.lease));
          this.values.delete(key);
          this.keys.remove(key);
          this.pending.push({ type: 'delete', key });
        }
        return { kind: 'lease-revoke', revoked: true, keysDeleted: keys.length, revision: index };
      }
      default:
        return assertNever(command, 'lease command');
    }
  }

  private setValue(key: string, value: Uint8Array, revision: LogIndex, lease: LeaseId | undefined): void {
    const previous = this.values.get(key);
    if (previous === undefined) this.keys.insert(key);
    else this.keysDigest.toggle(keyContribution(key, previous.value, previous.revision, this.leases.leaseOf(key)));
    // A copy: the command's bytes are a view into the entry, which the log may reuse.
    const stored: KvValue = { value: copyBytes(value), revision };
    this.values.set(key, stored);
    this.leases.attach(key, lease);
    this.keysDigest.toggle(keyContribution(key, stored.value, revision, lease));
    this.pending.push({ type: 'put', key, value: stored.value, lease });
  }

  private deleteValue(key: string, previous: KvValue): void {
    this.keysDigest.toggle(keyContribution(key, previous.value, previous.revision, this.leases.leaseOf(key)));
    this.leases.attach(key, undefined);
    this.values.delete(key);
    this.keys.remove(key);
    this.pending.push({ type: 'delete', key });
  }

  private setSession(clientId: string, session: Session): void {
    const previous = this.sessions.get(clientId);
    if (previous !== undefined) {
      this.sessionsDigest.toggle(sessionContribution(clientId, previous));
      // Re-inserted below, at the end: the Map stays in ascending index order.
      this.sessions.delete(clientId);
    } else if (this.sessions.size === CLIENT_SESSIONS_MAX) {
      const [oldestId, oldest] = this.sessions.entries().next().value as [string, Session];
      this.sessionsDigest.toggle(sessionContribution(oldestId, oldest));
      this.sessions.delete(oldestId);
    }
    this.sessions.set(clientId, session);
    this.sessionsDigest.toggle(sessionContribution(clientId, session));
    assert(this.sessions.size <= CLIENT_SESSIONS_MAX, 'the session table is bounded');
  }

  private entry(key: string, stored: KvValue): KvEntry {
    const lease = this.leases.leaseOf(key);
    return lease === undefined ? { key, value: copyBytes(stored.value), revision: stored.revision } : { key, value: copyBytes(stored.value), revision: stored.revision, lease };
  }

  /** The value of `key`, or undefined if absent. Throws KvError for an invalid key. */
  get(key: string): KvEntry | undefined {
    validateKey(key);
    const entry = this.values.get(key);
    return entry === undefined ? undefined : this.entry(key, entry);
  }

  /**
   * Up to `limit` entries whose keys start with `prefix` (and sort after `after`, to continue a
   * previous page), in key order; `more` says whether further entries match.
   * Throws KvError for a limit outside 1..LIST_LIMIT_MAX.
   */
  list(prefix: string, limit: number, after?: string): { entries: KvEntry[]; more: boolean } {
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) {
      throw new KvError('invalid-limit', `the list limit must be an integer in 1..${LIST_LIMIT_MAX} (LIST_LIMIT_MAX), got ${limit}`);
    }
    const { keys, more } = this.keys.range(prefix, limit, after);
    const entries = keys.map((key) => {
      const entry = this.values.get(key);
      assert(entry !== undefined, 'every indexed key has a value');
      return this.entry(key, entry);
    });
    return { entries, more };
  }

  /** A lease, or undefined if it does not exist (never granted, revoked or expired). */
  lease(id: LeaseId): LeaseInfo | undefined {
    return this.leases.info(id);
  }

  /** Every live lease, in ascending id order. */
  leaseList(): LeaseInfo[] {
    return this.leases.list();
  }

  private digestParts(): DigestParts {
    return {
      appliedIndex: this.applied,
      keyCount: this.values.size,
      sessionCount: this.sessions.size,
      leaseCount: this.leases.size,
      keys: this.keysDigest,
      sessions: this.sessionsDigest,
      leases: this.leases.digest,
    };
  }

  /**
   * SHA-256 (hex) of the state at `appliedIndex`: applied index, every key with its value, revision
   * and lease, every client session and every lease. Equal states give equal digests on any replica.
   * Costs O(1): contributions are maintained as they change (see digest.ts). The change history is
   * not part of it (it is derived from the same entries; snapshots check it with a hash of their own).
   */
  digest(): string {
    return stateDigest(this.digestParts());
  }

  /**
   * Streams the state as of this call to `sink`, in chunks of SNAPSHOT_CHUNK_SIZE_BYTES,
   * awaiting the sink between chunks. Capturing the view costs O(keys + history records) references,
   * not bytes. `formatVersion` is for tests of older readers.
   */
  writeSnapshot(sink: SnapshotSink, formatVersion?: number): Promise<void> {
    assert(!this.restoring, 'no snapshot may be written while one is being restored');
    const keys = this.keys.snapshot();
    const values = keys.map((key) => {
      const entry = this.values.get(key);
      assert(entry !== undefined, 'every indexed key has a value');
      return entry;
    });
    const keyLeases = keys.map((key) => this.leases.leaseOf(key));
    const leases = this.leases.list().map((l): readonly [LeaseId, number] => [l.id, l.ttlMs]);
    const history = { compactedThrough: this.changes.compactedThrough, records: this.changes.snapshot() };
    const digest = stateDigestBytes(this.digestParts());
    // Stored values, sessions and history records are never mutated in place, so references make a stable view.
    return writeSnapshotStream({ appliedIndex: this.applied, keys, values, keyLeases, sessions: [...this.sessions.entries()], leases, history, digest }, sink, formatVersion);
  }

  /**
   * Replaces the whole state with a snapshot's. See the class contract for failure behaviour.
   * `chunks` may be a PrefetchedSnapshot (see SnapshotPrefetch): its state was parsed already.
   */
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    assert(!this.restoring, 'one restore at a time');
    this.restoring = true;
    try {
      // Verified as it is read, digest contributions included (each value is hashed once). A
      // snapshot parsed while it was received is only swapped in; if that parse failed, the
      // committed bytes are read again (and fail again with the reason, or succeed).
      const contents = chunks instanceof PrefetchedSnapshot ? await chunks.contents.catch(() => readSnapshotStream(chunks)) : await readSnapshotStream(chunks);
      const values = new Map<string, KvValue>();
      for (let i = 0; i < contents.keys.length; i++) values.set(contents.keys[i] as string, contents.values[i] as KvValue);
      // Only now, with everything verified and built, does the old state go.
      this.applied = contents.appliedIndex;
      this.values = values;
      this.keys = SortedKeys.fromSorted(contents.keys);
      this.sessions = new Map(contents.sessions);
      this.leases = LeaseTable.restored(contents.leases, contents.keyLeases);
      this.changes = ChangeHistory.restored(contents.history.compactedThrough, contents.history.records);
      this.keysDigest = contents.keysDigest;
      this.sessionsDigest = contents.sessionsDigest;
      assert(Buffer.from(this.leases.digest.bytes).equals(contents.leasesDigest.bytes), 'the restored leases match their verified digest');
    } finally {
      this.restoring = false;
    }
    for (const o of this.observers) o.restored?.();
  }
}

function leaseNotFound(id: LeaseId): LeaseRefusal {
  return { kind: 'rejected', code: 'lease-not-found', message: `lease ${id} does not exist (it expired or was revoked): grant a new lease` };
}
