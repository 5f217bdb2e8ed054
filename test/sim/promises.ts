// What a message promises about its sender's stable storage, checked as it leaves the node. A vote
// promises the voter will not vote again in that term; an acknowledged append or snapshot promises
// the entries up to its index survive a crash (the leader counts them toward a commit). The Ready
// contract sends such messages only after the storage they speak for is durable; the core cannot
// check that itself, since only the driver knows what is durable.
import type { Message } from '../../src/raft/types.js';
import type { Disk } from './disk.js';

/** Why `m` promises more than `disk` holds, or undefined when it keeps its promise. */
export function brokenPromise(m: Message, disk: Disk): string | undefined {
  switch (m.type) {
    case 'vote-response': {
      if (m.reject) return undefined;
      const hs = disk.hardState;
      if (hs.term !== m.term || hs.vote !== m.to)
        return `${m.from} granted its vote to ${m.to} in term ${m.term} while its disk holds term ${hs.term}, vote ${hs.vote ?? 'none'}`;
      return undefined;
    }
    case 'append-response': {
      if (m.reject) return undefined;
      const durable = Math.max(disk.lastIndex, disk.snapshotIndex);
      if (m.index > durable) return `${m.from} acknowledged entries up to ${m.index} to ${m.to} while its disk holds them up to ${durable}`;
      return undefined;
    }
    case 'pre-vote':
    case 'pre-vote-response':
    case 'vote':
    case 'append':
    case 'heartbeat':
    case 'heartbeat-response':
    case 'install-snapshot':
    case 'timeout-now':
      // Pre-votes change nothing; a leader's own messages promise nothing about its storage.
      return undefined;
  }
}
