// Lines of a streamed answer, as they arrive, with a limit on the time between chunks (a node that
// stopped, or a cut network, sends nothing: the reader gives up and the caller reconnects).
import type { IncomingMessage } from 'node:http';
import { KuberaftError } from './errors.js';

/** The longest line accepted: one revision's changes (a lease's end may delete many keys at once). */
export const LINE_MAX_BYTES = 512 * 1024 * 1024;

export async function* readLines(res: IncomingMessage, idleTimeoutMs: number): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending = '';
  try {
    for (;;) {
      // Only while waiting for bytes: a consumer that takes its time is not an idle connection.
      const timer = setTimeout(() => res.destroy(new KuberaftError('timeout', `nothing arrived for ${idleTimeoutMs} ms: the node may be stopped or cut off`)), idleTimeoutMs);
      let next: IteratorResult<Buffer>;
      try {
        next = await it.next();
      } finally {
        clearTimeout(timer);
      }
      if (next.done === true) return;
      pending += decoder.decode(next.value, { stream: true });
      if (pending.includes('\n')) {
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.length > 0) yield line;
      }
      if (pending.length > LINE_MAX_BYTES) throw new KuberaftError('bad-response', `a line of the stream exceeds ${LINE_MAX_BYTES} bytes`);
    }
  } finally {
    res.destroy();
  }
}
