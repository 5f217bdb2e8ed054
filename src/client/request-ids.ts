// Request ids for exactly-once writes. A node remembers, per client id, only the latest applied sequence
// number (src/kv/session.ts): two writes in flight under one id could refuse each other. So each write
// in flight gets a lane of its own — a client id `<clientId>.<n>` with its own sequence — and lanes are
// reused once their write has finished. A client has as many lanes as it ever had writes in flight at once.
import { randomBytes } from 'node:crypto';

/** A client id must leave room for `.<lane>` within the node's 128-byte limit. */
export const CLIENT_ID_SIZE_MAX_BYTES = 96;

export interface Lane {
  readonly id: string;
  seq: number;
}

export function randomClientId(): string {
  return `kc-${randomBytes(9).toString('base64url')}`;
}

export class RequestIds {
  private readonly free: Lane[] = [];
  private lanes = 0;

  constructor(readonly clientId: string) {
    if (clientId.length === 0 || Buffer.byteLength(clientId) > CLIENT_ID_SIZE_MAX_BYTES || clientId.includes(':')) {
      throw new TypeError(`clientId must be 1..${CLIENT_ID_SIZE_MAX_BYTES} bytes without ":", got ${JSON.stringify(clientId)}`);
    }
  }

  /** How many lanes (node-side sessions) this client has used. */
  get laneCount(): number {
    return this.lanes;
  }

  /** A lane for one write; the same header value must be sent on every retry of that write. */
  acquire(): { lane: Lane; header: string } {
    const lane = this.free.pop() ?? { id: `${this.clientId}.${this.lanes++}`, seq: 0 };
    lane.seq++;
    return { lane, header: `${lane.id}:${lane.seq}` };
  }

  /** The write is finished (answered, refused, or given up on): its lane may carry the next one. */
  release(lane: Lane): void {
    this.free.push(lane);
  }
}
