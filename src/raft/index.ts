// The public surface of the Raft core.
export { Raft, bootstrapState, emptyBootState, type RaftBootState, type RaftStatus, type PeerProgress } from './raft.js';
export type { Ready, ProposalTicket } from './ready.js';
export { resolveOptions, type RaftOptions } from './config.js';
export { RaftError, type RaftErrorCode } from './errors.js';
export { AssertionError, assert, assertNever } from './assert.js';
export { encodeMembership, decodeMembership, applyChange, voters, learners, findMember, isVoter, membershipOf } from './membership.js';
export { quorumSize } from './quorum.js';
export * from './types.js';
