// Quorum arithmetic as pure functions over a set of voters. Learners never appear here.
import type { LogIndex, NodeId } from './types.js';

/** The smallest number of voters that forms a majority. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of voters has acknowledged: sort the voters' acknowledged
 * indexes descending and take the quorum-th. Voters without an entry count as 0.
 * An empty voter set commits nothing (0).
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => LogIndex): LogIndex {
  if (voters.length === 0) return 0 as LogIndex;
  const matches = voters.map(acked).sort((a, b) => b - a);
  return matches[quorumSize(voters.length) - 1] as LogIndex;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Tallies an election: granted/refused answers by voter id; voters that have not answered are pending. */
export function voteOutcome(voters: readonly NodeId[], answers: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const need = quorumSize(voters.length);
  let granted = 0;
  let refused = 0;
  for (const id of voters) {
    const a = answers.get(id);
    if (a === true) granted++;
    else if (a === false) refused++;
  }
  if (granted >= need) return 'won';
  if (voters.length - refused < need) return 'lost';
  return 'pending';
}

/** The largest round that a majority of voters has confirmed (same rule as committedIndex). */
export function confirmedRound(voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const rounds = voters.map(acked).sort((a, b) => b - a);
  return rounds[quorumSize(voters.length) - 1] ?? 0;
}
