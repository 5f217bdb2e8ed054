// Summarises a V8 .cpuprofile (what `node --cpu-prof` writes): self time per function, heaviest first,
// and per source file, so the report can say where the leader spends its CPU.
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  /** Where: a file path relative to the repository (or a Node internal), with the line. */
  readonly where: string;
  readonly selfMs: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Samples in (idle) — time the event loop waited for I/O. */
  readonly idlePercent: number;
  readonly topFunctions: readonly SelfTime[];
  readonly topFiles: readonly SelfTime[];
}

function shortUrl(url: string, repoRoot: string): string {
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  return path.startsWith(repoRoot) ? path.slice(repoRoot.length + 1) : path;
}

export function summarizeProfile(profile: CpuProfile, repoRoot: string, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time of each node: the time deltas of the samples that landed in it (hitCount if absent).
  const selfUs = new Map<number, number>();
  if (profile.samples !== undefined && profile.timeDeltas !== undefined) {
    profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas?.[i + 1] ?? 0)));
  } else {
    const total = profile.endTime - profile.startTime;
    const hits = profile.nodes.reduce((n, p) => n + (p.hitCount ?? 0), 0);
    for (const n of profile.nodes) selfUs.set(n.id, ((n.hitCount ?? 0) * total) / Math.max(1, hits));
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const file = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalUs += us;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') idleUs += us;
    const path = shortUrl(node.callFrame.url, repoRoot);
    const where = node.callFrame.url === '' ? path : `${path}:${node.callFrame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const entry = fn.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    file.set(path, (file.get(path) ?? 0) + us);
  }
  const pct = (us: number): number => (totalUs > 0 ? (100 * us) / totalUs : 0);
  const topFunctions = [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, percent: pct(e.us) }));
  const topFiles = [...file.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([where, us]) => ({ name: where, where, selfMs: us / 1000, percent: pct(us) }));
  return { totalMs: totalUs / 1000, idlePercent: pct(idleUs), topFunctions, topFiles };
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}
