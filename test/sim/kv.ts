// The simulated nodes' state machine: a string map. Commands travel in entry data as JSON (fine in
// the simulator); snapshots are canonical JSON of the map and the applied index, so that two
// replicas at one index can be compared byte for byte.
import { assert } from '../../src/raft/assert.js';
import type { Entry, LogIndex } from '../../src/raft/types.js';
import { index } from '../../src/raft/types.js';
import type { KvInput, KvOutput } from '../lincheck/index.js';

/** A write as it travels through the log; reads never enter the log (they use ReadIndex). */
export type KvWrite = Exclude<KvInput, { op: 'get' }>;

export interface KvCommand {
  readonly clientId: number;
  readonly input: KvWrite;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const c = JSON.parse(decoder.decode(data)) as KvCommand;
  assert(typeof c.clientId === 'number' && typeof c.input === 'object', 'malformed KV command in the log');
  return c;
}

interface SnapshotBody {
  readonly applied: number;
  /** Sorted by key: the canonical form. */
  readonly data: [string, string][];
}

export class KvStateMachine {
  private readonly data = new Map<string, string>();
  private appliedIndex: LogIndex = index(0);

  get applied(): LogIndex {
    return this.appliedIndex;
  }

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  /** Applies one committed entry (the next one); returns the client-visible output of a normal entry. */
  apply(entry: Entry): KvOutput | undefined {
    assert(entry.index === this.appliedIndex + 1, () => `apply out of order: entry ${entry.index} after ${this.appliedIndex}`);
    this.appliedIndex = entry.index;
    if (entry.kind !== 'normal') return undefined;
    const { input } = decodeCommand(entry.data);
    const current = this.data.get(input.key);
    switch (input.op) {
      case 'put':
        this.data.set(input.key, input.value);
        return {};
      case 'delete':
        this.data.delete(input.key);
        return { ok: current !== undefined };
      case 'cas': {
        const ok = current === input.expected;
        if (ok) this.data.set(input.key, input.value);
        return { ok };
      }
    }
  }

  snapshot(): Uint8Array {
    const body: SnapshotBody = { applied: this.appliedIndex, data: [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
    return encoder.encode(JSON.stringify(body));
  }

  /** Discards all state and loads a snapshot; returns the index it covers. */
  restore(bytes: Uint8Array): LogIndex {
    const body = JSON.parse(decoder.decode(bytes)) as SnapshotBody;
    this.data.clear();
    for (const [k, v] of body.data) this.data.set(k, v);
    this.appliedIndex = index(body.applied);
    return this.appliedIndex;
  }
}

export function snapshotIndexOf(bytes: Uint8Array): LogIndex {
  return index((JSON.parse(decoder.decode(bytes)) as SnapshotBody).applied);
}
