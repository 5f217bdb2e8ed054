// The replicated KV state machine: what every replica applies, in log order.
import { assert, assertNever } from '../raft/assert.js';
import type { LogIndex } from '../raft/types.js';
import { bytesEqual, copyBytes } from './bytes.js';
import { decodeCommand, validateKey } from './command.js';
import type { Command } from './command.js';
import { keyContribution, sessionContribution, stateDigest, stateDigestBytes, XorAccumulator } from './digest.js';
import { KvError } from './errors.js';
import { CLIENT_SESSIONS_MAX, LIST_LIMIT_MAX } from './limits.js';
import type { ApplyResult, KvValue, Session, StoredResult } from './session.js';
import { PrefetchedSnapshot, readSnapshotStream, writeSnapshotStream } from './snapshot.js';
import type { SnapshotSink } from './snapshot.js';
import { SortedKeys } from './sorted-keys.js';

export type { ApplyResult, KvValue } from './session.js';


export interface KvEntry extends KvValue {
  readonly key: string;
}

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
 * - Exactly-once: a command carrying a request id that equals the client's last applied one returns
 *   the stored result without applying it again. Sessions are bounded (CLIENT_SESSIONS_MAX); the
 *   session whose last request was applied at the lowest index is evicted first, which every
 *   replica decides alike. A retry from an evicted client is applied again — clients must not
 *   retry a request after more than CLIENT_SESSIONS_MAX other clients have written since.
 * - `writeSnapshot` captures the state when it is called (before its first await) and streams that
 *   view, so `apply` may continue while the snapshot is written.
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
  private keysDigest = new XorAccumulator();
  private sessionsDigest = new XorAccumulator();
  private restoring = false;

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

  apply(index: LogIndex, data: Uint8Array): ApplyResult {
    this.advance(index);
    let command: Command;
    try {
      command = decodeCommand(data);
    } catch (e) {
      if (e instanceof KvError) return { kind: 'rejected', code: 'malformed-command', message: e.message };
      throw e;
    }
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

  private execute(index: LogIndex, command: Command): StoredResult {
    const current = this.values.get(command.key);
    switch (command.kind) {
      case 'put':
        this.setValue(command.key, command.value, index);
        return { kind: 'put', revision: index };
      case 'delete':
        if (current !== undefined) this.deleteValue(command.key, current);
        return { kind: 'delete', deleted: current !== undefined };
      case 'cas': {
        const matches = command.expected === undefined ? current === undefined : current !== undefined && bytesEqual(current.value, command.expected);
        if (!matches) return { kind: 'cas', ok: false, currentRevision: current?.revision };
        this.setValue(command.key, command.value, index);
        return { kind: 'cas', ok: true, revision: index };
      }
      default:
        return assertNever(command, 'command');
    }
  }

  private setValue(key: string, value: Uint8Array, revision: LogIndex): void {
    const previous = this.values.get(key);
    if (previous === undefined) this.keys.insert(key);
    else this.keysDigest.toggle(keyContribution(key, previous.value, previous.revision));
    // A copy: the command's bytes are a view into the entry, which the log may reuse.
    const stored: KvValue = { value: copyBytes(value), revision };
    this.values.set(key, stored);
    this.keysDigest.toggle(keyContribution(key, stored.value, revision));
  }

  private deleteValue(key: string, previous: KvValue): void {
    this.keysDigest.toggle(keyContribution(key, previous.value, previous.revision));
    this.values.delete(key);
    this.keys.remove(key);
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

  /** The value of `key`, or undefined if absent. Throws KvError for an invalid key. */
  get(key: string): KvEntry | undefined {
    validateKey(key);
    const entry = this.values.get(key);
    return entry === undefined ? undefined : { key, value: copyBytes(entry.value), revision: entry.revision };
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
      return { key, value: copyBytes(entry.value), revision: entry.revision };
    });
    return { entries, more };
  }

  /**
   * SHA-256 (hex) of the state at `appliedIndex`: applied index, every key with its value and
   * revision, and every client session. Equal states give equal digests on any replica. Costs
   * O(1): per-key and per-session hashes are maintained as they change (see digest.ts).
   */
  digest(): string {
    return stateDigest(this.applied, this.values.size, this.sessions.size, this.keysDigest, this.sessionsDigest);
  }

  /**
   * Streams the state as of this call to `sink`, in chunks of SNAPSHOT_CHUNK_SIZE_BYTES,
   * awaiting the sink between chunks. Capturing the view costs O(keys) references, not bytes.
   */
  writeSnapshot(sink: SnapshotSink): Promise<void> {
    assert(!this.restoring, 'no snapshot may be written while one is being restored');
    const keys = this.keys.snapshot();
    const values = keys.map((key) => {
      const entry = this.values.get(key);
      assert(entry !== undefined, 'every indexed key has a value');
      return entry;
    });
    const digest = stateDigestBytes(this.applied, this.values.size, this.sessions.size, this.keysDigest, this.sessionsDigest);
    // Stored values and sessions are never mutated in place, so references make a stable view.
    return writeSnapshotStream({ appliedIndex: this.applied, keys, values, sessions: [...this.sessions.entries()], digest }, sink);
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
      this.keysDigest = contents.keysDigest;
      this.sessionsDigest = contents.sessionsDigest;
    } finally {
      this.restoring = false;
    }
  }
}
