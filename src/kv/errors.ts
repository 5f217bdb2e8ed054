// Operating errors of the KV layer. Each has a stable `code`; the message says what to do.
// The node maps them to HTTP statuses (invalid-* → 400, *-too-large → 413).

export type KvErrorCode =
  /** The key is empty, not well-formed Unicode, or otherwise unusable. */
  | 'invalid-key'
  /** The key is longer than KEY_SIZE_MAX_BYTES. */
  | 'key-too-large'
  /** The value is longer than VALUE_SIZE_MAX_BYTES. */
  | 'value-too-large'
  /** A request id is malformed (client id empty or too long, sequence not a safe integer). */
  | 'invalid-request-id'
  /** A list limit outside 1..LIST_LIMIT_MAX. */
  | 'invalid-limit'
  /** A lease TTL outside LEASE_TTL_MIN_MS..LEASE_TTL_MAX_MS, or a lease id that is not a positive integer. */
  | 'invalid-lease'
  /** A watch's start revision is older than the oldest change the history still holds. */
  | 'compacted'
  /** Bytes that claim to be a command do not decode as one. */
  | 'malformed-command'
  /** A snapshot stream fails its format, version or checksum checks. */
  | 'corrupt-snapshot';

export class KvError extends Error {
  override readonly name = 'KvError';
  constructor(
    readonly code: KvErrorCode,
    message: string,
  ) {
    super(message);
  }
}
