// The one logger of kuberaft: JSON lines, one object per line, on stderr by default.
//
//   {"ts":"2026-01-01T00:00:00.000Z","level":"info","msg":"became leader","node":"node-1","term":3,...}
//
// Base fields (node id) are bound once; a dynamic provider adds fields computed at each line (the current
// term), so callers never thread that state through. Lines below the logger's level cost one comparison.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** In increasing severity. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Longest stack kept when an error is serialised, in characters: a log line must stay a line of sane size. */
export const ERROR_STACK_MAX_CHARS = 4096;
/** How deep `cause` chains are followed when an error is serialised. */
export const ERROR_CAUSE_DEPTH_MAX = 4;

export type LogFields = Readonly<Record<string, unknown>>;

/** Fields computed each time a line is written (e.g. `() => ({ term: raft.term })`). */
export type DynamicFields = () => LogFields;

/** Where lines go: a writable stream or anything with `write(string)`. */
export interface LogSink {
  write(line: string): unknown;
}

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** True when a line at `level` would be written: guards costly field computation. */
  isEnabled(level: LogLevel): boolean;
  /** A logger writing to the same sink with more bound fields (later keys win). */
  child(fields: LogFields): Logger;
  /** A logger that adds `provider()`'s fields to every line (after bound fields, before call fields). */
  withDynamic(provider: DynamicFields): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Default `process.stderr`. */
  readonly stream?: LogSink;
  /** Bound to every line, e.g. `{ node: 'node-1' }`. */
  readonly fields?: LogFields;
  /** For tests: the time of each line. */
  readonly clock?: () => Date;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const state: SharedState = {
    rank: LEVEL_RANK[options.level ?? 'info'],
    level: options.level ?? 'info',
    sink: options.stream ?? process.stderr,
    clock: options.clock ?? (() => new Date()),
  };
  return new JsonLogger(state, { ...(options.fields ?? {}) }, []);
}

/** A logger that drops everything: for components under test that need one. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', stream: { write: () => undefined }, fields: {} });
}

interface SharedState {
  readonly rank: number;
  readonly level: LogLevel;
  readonly sink: LogSink;
  readonly clock: () => Date;
}

class JsonLogger implements Logger {
  constructor(
    private readonly state: SharedState,
    private readonly bound: LogFields,
    private readonly dynamics: readonly DynamicFields[],
  ) {}

  get level(): LogLevel {
    return this.state.level;
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  isEnabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= this.state.rank;
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.state, { ...this.bound, ...fields }, this.dynamics);
  }

  withDynamic(provider: DynamicFields): Logger {
    return new JsonLogger(this.state, this.bound, [...this.dynamics, provider]);
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (LEVEL_RANK[level] < this.state.rank) return;
    // ts, level and msg come first and cannot be overridden by fields.
    const line: Record<string, unknown> = { ts: '', level, msg };
    Object.assign(line, this.bound);
    for (const provider of this.dynamics) {
      try {
        Object.assign(line, provider());
      } catch (err) {
        // A broken provider must not take logging down with it.
        line['dynamicFieldsError'] = err;
      }
    }
    if (fields !== undefined) Object.assign(line, fields);
    line['ts'] = this.state.clock().toISOString();
    line['level'] = level;
    line['msg'] = msg;
    this.state.sink.write(stringify(line) + '\n');
  }
}

function stringify(line: Record<string, unknown>): string {
  try {
    return JSON.stringify(line, replacer);
  } catch {
    // Circular structures: keep the line, lose the fields.
    return JSON.stringify({ ts: line['ts'], level: line['level'], msg: line['msg'], logError: 'unserialisable fields' });
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return serializeError(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  return value;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | number;
  readonly stack?: string;
  readonly cause?: SerializedError | string;
}

/** `{name, message, code?, stack?, cause?}`: what a log line (or an HTTP error body) can carry of an error. */
export function serializeError(err: Error, depth = 0): SerializedError {
  const code = (err as { code?: unknown }).code;
  const out: { -readonly [K in keyof SerializedError]: SerializedError[K] } = { name: err.name, message: err.message };
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.stack !== undefined) out.stack = err.stack.slice(0, ERROR_STACK_MAX_CHARS);
  if (err.cause !== undefined && depth < ERROR_CAUSE_DEPTH_MAX) {
    out.cause = err.cause instanceof Error ? serializeError(err.cause, depth + 1) : String(err.cause);
  }
  return out;
}
