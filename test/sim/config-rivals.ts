// One membership change at a time, across the cluster: when a leader appends a configuration, no
// configuration left behind by an earlier leader (an uncommitted entry the new leader's log does not
// hold) may still be able to elect a leader. Otherwise the two configurations can go on side by side,
// and single-server changes only guarantee overlapping majorities between a configuration and the one
// it was derived from, not between two siblings (the bug in single-server changes described on the
// raft-dev list in 2015).
//
// "Able to elect" is judged from durable logs alone: the rival's holder is a voter of its own
// configuration, and a majority of that configuration's voters hold logs no more up to date than the
// holder's, so they would grant it their votes. In a correct Raft, the entry of its own term that the
// appending leader has committed sits on a majority that overlaps every majority of the rival's
// configuration with logs of a newer term, so this never holds. The check runs where it is cheap and
// decisive: when a leader makes a configuration entry of its own term durable.
import { decodeMembership, quorumSize, voters } from '../../src/raft/index.js';
import type { Entry, NodeId, Term } from '../../src/raft/types.js';
import type { Disk } from './disk.js';

export interface DiskHolder {
  readonly id: NodeId;
  readonly disk: Disk;
  /** A stopped node was removed from the cluster for good: it neither campaigns nor votes again. */
  readonly state: 'running' | 'crashed' | 'stopped';
}

/**
 * Called when `leader`, leading `leaderTerm`, has just made `entries` durable. Returns why a rival
 * configuration is still alive, or undefined.
 */
export function liveRivalConfiguration(leader: NodeId, leaderTerm: Term, entries: readonly Entry[], nodes: ReadonlyMap<NodeId, DiskHolder>): string | undefined {
  const appended = entries.find((e) => e.kind === 'config' && e.term === leaderTerm);
  const own = nodes.get(leader);
  if (appended === undefined || own === undefined) return undefined;
  for (const n of nodes.values()) {
    if (n.id === leader || n.state === 'stopped') continue;
    const d = n.disk;
    const at = d.configIndexes[d.configIndexes.length - 1];
    if (at === undefined) continue; // its configuration is in its snapshot: committed
    const atTerm = d.termAt(at);
    const leaderTermAt = own.disk.termAt(at);
    // Not a rival: an entry the leader holds, one it compacted (committed), or one of a newer term.
    if (atTerm === undefined || atTerm >= leaderTerm || leaderTermAt === atTerm || (leaderTermAt === undefined && at <= own.disk.snapshotIndex)) continue;
    const entry = d.entryAt(at);
    if (entry === undefined) continue;
    const vs = voters(decodeMembership(entry.data));
    if (!vs.includes(n.id)) continue;
    const lastIndex = d.lastIndex;
    const lastTerm = d.termAt(lastIndex) ?? 0;
    const granting = vs.filter((v) => {
      if (v === n.id) return true;
      const voter = nodes.get(v);
      if (voter === undefined || voter.state === 'stopped') return false;
      const vi = voter.disk.lastIndex;
      const vt = voter.disk.termAt(vi) ?? 0;
      return lastTerm > vt || (lastTerm === vt && lastIndex >= vi);
    });
    if (granting.length >= quorumSize(vs.length))
      return `${leader} appended configuration ${appended.index} in term ${leaderTerm} while ${n.id}'s configuration ${at} of term ${atTerm}, which ${leader}'s log does not hold, can still elect it: ${granting.join(', ')} of its voters ${vs.join(', ')} would vote for it`;
  }
  return undefined;
}
