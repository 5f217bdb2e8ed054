// One framed TCP connection: decodes incoming frames, hands them to a handler one at a time
// (pausing the socket while an async handler runs, so a slow consumer slows the sender instead of
// growing our memory), and exposes socket backpressure to writers. Nothing a peer sends can make
// it throw: decoding errors and handler failures close this connection and are reported.
import type { Socket } from 'node:net';
import { AssertionError, assert } from '../raft/assert.js';
import { HANDSHAKE_FRAMES_MAX, SOCKET_KEEPALIVE_DELAY_MS } from './constants.js';
import { FrameError } from './errors.js';
import type { Frame } from './frame.js';
import { FrameDecoder, encodeFrame } from './frame.js';

// How long a refusal may take to flush before the socket is destroyed anyway.
const CLOSE_LINGER_MS = 1_000;

export type FrameHandler = (frame: Frame) => void | Promise<void>;

export interface ConnectionHooks {
  /** The largest frame accepted until setFrameSizeMax raises it (default FRAME_SIZE_MAX_BYTES). */
  readonly frameSizeMaxBytes?: number;
  readonly onBytesIn?: (bytes: number) => void;
  readonly onBytesOut?: (bytes: number) => void;
  /** Called once, when the connection closes for any reason. */
  readonly onClose?: (reason: string) => void;
}

/** Raised to a waiting `nextFrame()` when the connection closes first. */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
}

export class FramedConnection {
  private readonly decoder: FrameDecoder;
  private readonly inbox: Frame[] = [];
  private handler: FrameHandler | undefined;
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private handling = false;
  private drainWaiters: (() => void)[] = [];
  private closeReason: string | undefined;
  private readonly closeListeners: ((reason: string) => void)[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Frames sent in one turn of the event loop leave in one writev instead of one syscall each. */
  private corked = false;

  constructor(
    readonly socket: Socket,
    private readonly hooks: ConnectionHooks = {},
  ) {
    this.decoder = new FrameDecoder(hooks.frameSizeMaxBytes);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, SOCKET_KEEPALIVE_DELAY_MS);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.releaseDrainWaiters());
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('end', () => this.close('peer closed the connection'));
    socket.on('close', () => this.close('socket closed'));
    if (hooks.onClose) this.closeListeners.push(hooks.onClose);
  }

  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }

  get reason(): string | undefined {
    return this.closeReason;
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  /** Bytes accepted by `send` that the socket has not yet handed to the kernel. */
  get pendingWriteBytes(): number {
    return this.socket.writableLength;
  }

  /** Frames whose length arrives from now on may be this large. */
  setFrameSizeMax(bytes: number): void {
    this.decoder.setFrameSizeMax(bytes);
  }

  onClose(listener: (reason: string) => void): void {
    if (this.closeReason !== undefined) listener(this.closeReason);
    else this.closeListeners.push(listener);
  }

  /** The next frame, for the handshake (before a handler is set). Rejects if the connection closes. */
  nextFrame(): Promise<Frame> {
    assert(this.handler === undefined && this.waiter === undefined, 'nextFrame while a handler or waiter is set');
    const f = this.inbox.shift();
    if (f) return Promise.resolve(f);
    if (this.closeReason !== undefined) return Promise.reject(new ConnectionClosedError(this.closeReason));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** From now on every frame goes to `handler`, in order, one at a time. */
  setHandler(handler: FrameHandler): void {
    assert(this.handler === undefined && this.waiter === undefined, 'handler set twice or during nextFrame');
    this.handler = handler;
    this.dispatch();
  }

  /**
   * Queues a frame on the socket. Returns false when the socket's buffer is full (or closed): the
   * caller should `await drained()` before sending more.
   */
  send(frame: Frame | Uint8Array): boolean {
    if (this.closeReason !== undefined) return false;
    const bytes = frame instanceof Uint8Array ? frame : encodeFrame(frame);
    this.hooks.onBytesOut?.(bytes.length);
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    return this.socket.write(bytes);
  }

  /** Resolves when the socket can take more bytes, or the connection closed. */
  drained(): Promise<void> {
    if (this.closeReason !== undefined || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Sends a last frame, then closes once it is flushed (or at once if the socket is stuck). */
  sendAndClose(frame: Frame, reason: string): void {
    if (this.closeReason !== undefined) return;
    const bytes = encodeFrame(frame);
    this.hooks.onBytesOut?.(bytes.length);
    this.socket.end(bytes, () => this.close(reason));
    // end() waits for the peer to drain what we wrote; a stalled peer must not hold the socket.
    this.lingerTimer = setTimeout(() => this.close(reason), CLOSE_LINGER_MS);
  }

  close(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    clearTimeout(this.lingerTimer);
    this.socket.destroy();
    this.inbox.length = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new ConnectionClosedError(reason));
    this.releaseDrainWaiters();
    for (const l of this.closeListeners.splice(0)) l(reason);
  }

  private releaseDrainWaiters(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private onData(chunk: Buffer): void {
    if (this.closeReason !== undefined) return;
    this.hooks.onBytesIn?.(chunk.length);
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      if (e instanceof FrameError) {
        this.close(`${e.code}: ${e.message}`);
        return;
      }
      throw e;
    }
    for (const f of frames) {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(f);
      } else this.inbox.push(f);
    }
    if (this.handler === undefined && this.inbox.length > HANDSHAKE_FRAMES_MAX) {
      this.close('protocol: too many frames before the handshake completed');
      return;
    }
    this.dispatch();
  }

  private dispatch(): void {
    const handler = this.handler;
    if (handler === undefined || this.handling) return;
    while (this.closeReason === undefined) {
      const f = this.inbox.shift();
      if (f === undefined) return;
      let result: void | Promise<void>;
      try {
        result = handler(f);
      } catch (e) {
        this.handlerFailed(e);
        return;
      }
      if (result instanceof Promise) {
        // Invariant: while handling is set the socket is paused, so the inbox holds at most the
        // frames of the chunk being processed.
        this.handling = true;
        this.socket.pause();
        result.then(
          () => {
            this.handling = false;
            if (this.closeReason !== undefined) return;
            this.socket.resume();
            this.dispatch();
          },
          (e: unknown) => {
            this.handling = false;
            this.handlerFailed(e);
          },
        );
        return;
      }
    }
  }

  private handlerFailed(e: unknown): void {
    // A bug must stop the process (style: assertions stay on); anything else closes this connection.
    if (e instanceof AssertionError) throw e;
    this.close(`handler failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
