// Requests this node sent and is waiting on. A request is "unsent" while it sits in a peer's send
// queue and "sent" once written to a connection; the difference decides the error on failure:
// unsent requests certainly did not run (safe to retry elsewhere), sent ones may have.
import { assert } from '../raft/assert.js';
import type { NodeId } from '../raft/types.js';
import type { RequestErrorCode } from './errors.js';
import { RequestError } from './errors.js';
import type { Frame } from './frame.js';

interface Pending {
  readonly to: NodeId;
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (e: RequestError) => void;
  readonly timer: NodeJS.Timeout;
  sent: boolean;
}

export type ResponseFrame = Extract<Frame, { type: 'response' }>;

export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** Registers a request; `onTimeout` lets the owner drop it from its queue if still unsent. */
  create(to: NodeId, timeoutMs: number, onTimeout: (id: number) => void): { id: number; response: Promise<Uint8Array> } {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, () => `request timeout must be positive, got ${timeoutMs}`);
    const id = this.nextId++;
    const response = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(id);
        if (p === undefined) return;
        this.pending.delete(id);
        onTimeout(id);
        const maybe = p.sent ? '; it may or may not have run' : '; it was never sent';
        reject(new RequestError('request-timeout', `no response from ${to} within ${timeoutMs} ms${maybe}`));
      }, timeoutMs);
      this.pending.set(id, { to, resolve, reject, timer, sent: false });
    });
    return { id, response };
  }

  /** Marks a request as written to a connection; false if it already ended (timed out). */
  markSent(id: number): boolean {
    const p = this.pending.get(id);
    if (p === undefined) return false;
    p.sent = true;
    return true;
  }

  settle(frame: ResponseFrame): void {
    const p = this.pending.get(frame.id);
    if (p === undefined) return; // timed out already
    this.pending.delete(frame.id);
    clearTimeout(p.timer);
    if (frame.ok) p.resolve(frame.payload);
    else {
      p.reject(new RequestError('remote-error', `${p.to} failed the request: ${frame.message}`, frame.code));
    }
  }

  fail(id: number, code: RequestErrorCode, message: string): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(new RequestError(code, message));
  }

  failAll(code: RequestErrorCode, message: string): void {
    for (const id of [...this.pending.keys()]) this.fail(id, code, message);
  }

  get size(): number {
    return this.pending.size;
  }
}
