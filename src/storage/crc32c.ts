// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record and
// snapshot body. Table-driven, eight bytes per step ("slicing-by-8"): snapshots may be a gigabyte,
// and a byte-at-a-time loop would make verifying them the slowest part of a restart.

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const SLICES = 8;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes. */
const TABLES: readonly Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    first[b] = c >>> 0;
  }
  tables.push(first);
  for (let k = 1; k < SLICES; k++) {
    const prev = tables[k - 1] as Uint32Array;
    const t = new Uint32Array(256);
    for (let b = 0; b < 256; b++) {
      const p = prev[b] as number;
      t[b] = ((p >>> 8) ^ (first[p & 0xff] as number)) >>> 0;
    }
    tables.push(t);
  }
  return tables;
}

/**
 * The CRC-32C of `data`. Pass the result of a previous call as `previous` to continue over
 * concatenated input: crc32c(b, crc32c(a)) === crc32c(a ++ b). Returns an unsigned 32-bit integer.
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let crc = ~previous >>> 0;
  let i = 0;
  const n = data.length;
  const fast = n - (n % SLICES);
  // Indexes below are in range by construction (masked to 0..255, i < n); the non-null
  // assertions only satisfy noUncheckedIndexedAccess in this hot loop.
  while (i < fast) {
    const lo = (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
    i += SLICES;
  }
  while (i < n) {
    crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
    i++;
  }
  return ~crc >>> 0;
}
