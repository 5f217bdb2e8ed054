// What the orchestrator needs of a benchmarked cluster, whichever system runs it.
import type { SystemName } from '../loadgen/protocol.js';

export interface ClusterMember {
  readonly id: string;
  /** Base URL of the member's client API (kuberaft /v1, etcd's JSON gateway /v3). */
  readonly clientUrl: string;
}

/** Timing of one learner catching up, measured from the membership change being requested. */
export interface CatchUpTiming {
  /** From the add-learner request until the learner has applied everything committed at that moment, in ms. */
  readonly catchUpMs: number;
  /** The committed index the learner had to reach. */
  readonly targetIndex: number;
  /** How the state reached the learner, as far as the system reports it (e.g. a snapshot index). */
  readonly path: string;
}

export interface BenchCluster {
  readonly system: SystemName;
  /** Settings that decide failover time, stated in the report. */
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Other non-default settings and notable defaults, for the report. */
  readonly notes: readonly string[];
  start(): Promise<void>;
  /** Stops every process (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  members(): readonly ClusterMember[];
  /** The current leader, once one answers as leader (waits up to `timeoutMs`). */
  leader(timeoutMs: number): Promise<ClusterMember>;
  /** SIGKILLs the member's process; resolves once it is gone. */
  kill(id: string): Promise<void>;
  /** Starts a killed member again and waits until it has applied what the leader had committed. */
  restart(id: string): Promise<void>;
  /** Adds a fresh learner, measures its catch-up (failing after `timeoutMs`), then removes it and deletes its data. */
  measureLearnerCatchUp(timeoutMs: number): Promise<CatchUpTiming>;
}
