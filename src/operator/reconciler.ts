// One reconcile pass of one RaftCluster: a straight list of steps, each of which may end the pass.
//   ensure the owned objects (Secret, Services, PDB, StatefulSet template) → observe pods, volumes and
//   every node's own status → plan one step (plan.ts) → take it (unless paused) → write status.
// Everything is read afresh each pass; a failed node call is recorded and the pass goes on.
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { effectiveSpec } from './api.js';
import type { EffectiveSpec, RaftCluster } from './api.js';
import { AdminClient, AdminError } from './admin-client.js';
import type { Kube } from './kube.js';
import type { Logger } from '../log/logger.js';
import type { MembershipChangeKind, OperatorMetrics, ReconcileOutcome } from './metrics.js';
import { ordinalOf, plan, podName, stepReason } from './plan.js';
import type { Action, Observation, PodView } from './plan.js';
import {
  MEMBER_MARK_ANNOTATION,
  SECRET_KEY_ADMIN,
  TEMPLATE_HASH_ANNOTATION,
  authSecret,
  authSecretName,
  claimName,
  clientService,
  clientServiceName,
  pdbName,
  peersService,
  podDisruptionBudget,
  podOrdinal,
  selectorString,
  statefulSet,
  statefulSetName,
} from './resources.js';
import { peersServiceName } from './plan.js';
import { computeStatus, statusPatch } from './status.js';
import { assertNever } from '../raft/assert.js';

/** While a change is under way, look again soon. */
export const REQUEUE_PROGRESSING_MS = 1_000;
/** A degraded cluster is looked at less often: nothing is changed until it recovers. */
export const REQUEUE_DEGRADED_MS = 3_000;

export interface ReconcileResult {
  readonly outcome: ReconcileOutcome;
  /** undefined = wait for a watch event or the resync. */
  readonly requeueAfterMs: number | undefined;
}

export interface ReconcilerOptions {
  readonly kube: Kube;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Image of the nodes when a RaftCluster names none. */
  readonly defaultImage: string;
  /** Events' source component. */
  readonly component: string;
  /** For tests: the client of the nodes' admin API. */
  readonly adminClient?: (token: string | undefined) => AdminClient;
}

export class StepFailedError extends Error {
  readonly code = 'STEP_FAILED';
}

export class Reconciler {
  constructor(private readonly o: ReconcilerOptions) {}

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { kube } = this.o;
    const rc = await kube.getCluster(namespace, name);
    if (rc === undefined || rc.metadata.deletionTimestamp !== undefined) {
      this.o.metrics.forgetCluster(namespace, name);
      return { outcome: 'gone', requeueAfterMs: undefined };
    }
    const spec = effectiveSpec(rc.spec ?? {}, this.o.defaultImage);
    const log = this.o.log.child({ cluster: `${namespace}/${name}` });

    const token = await this.ensureOwnedObjects(rc);
    const sts = await kube.getStatefulSet(namespace, statefulSetName(name));
    if (sts !== undefined && !spec.paused) await this.ensureTemplate(rc, spec, sts);

    const admin = this.o.adminClient?.(token) ?? new AdminClient({ adminToken: token });
    const obs = await this.observe(rc, spec, sts, admin);
    const p = plan(obs);

    let clusterId = obs.clusterId;
    let stepError: string | undefined;
    if (!spec.paused) {
      const reason = stepReason(p.action);
      if (reason !== undefined) log.info('reconcile step', { step: reason, action: describeAction(p.action) });
      try {
        const recorded = await this.take(rc, spec, p.action, admin, log);
        if (recorded !== undefined) clusterId = recorded;
      } catch (err) {
        stepError = err instanceof Error ? err.message : String(err);
        log.warn('reconcile step failed', { step: stepReason(p.action), err: stepError });
        await this.event(rc, 'Warning', `${stepReason(p.action) ?? 'Step'}Failed`, stepError);
      }
    }

    const status = computeStatus({
      plan: p,
      paused: spec.paused,
      generation: rc.metadata.generation,
      selector: selectorString(name),
      clusterId,
      previous: rc.status,
      stepError,
      now: new Date(),
    });
    const patch = statusPatch(rc.status, status);
    if (patch !== undefined) await kube.patchClusterStatus(namespace, name, patch);
    this.updateGauges(namespace, name, spec, status);

    const action = p.action;
    if (spec.paused) return { outcome: 'paused', requeueAfterMs: undefined };
    if (stepError !== undefined) return { outcome: 'error', requeueAfterMs: REQUEUE_DEGRADED_MS };
    if (action.kind === 'degraded') return { outcome: 'degraded', requeueAfterMs: REQUEUE_DEGRADED_MS };
    if (action.kind === 'stable') return { outcome: 'stable', requeueAfterMs: undefined };
    return { outcome: 'progressing', requeueAfterMs: REQUEUE_PROGRESSING_MS };
  }

  /** Creates what is missing; returns the admin token. The Secret is never rewritten once it exists. */
  private async ensureOwnedObjects(rc: RaftCluster): Promise<string | undefined> {
    const { kube } = this.o;
    const { namespace, name } = rc.metadata;
    let secret = await kube.getSecret(namespace, authSecretName(name));
    if (secret === undefined) {
      await kube.createSecret(authSecret(rc));
      secret = await kube.getSecret(namespace, authSecretName(name));
    }
    const tokenB64 = secret?.data?.[SECRET_KEY_ADMIN];
    const token = tokenB64 === undefined ? undefined : Buffer.from(tokenB64, 'base64').toString('utf8');
    if ((await kube.getService(namespace, peersServiceName(name))) === undefined) await kube.createService(peersService(rc));
    if ((await kube.getService(namespace, clientServiceName(name))) === undefined) await kube.createService(clientService(rc));
    if ((await kube.getPdb(namespace, pdbName(name))) === undefined) await kube.createPdb(podDisruptionBudget(rc));
    return token;
  }

  /** Rolls a changed pod template out (image, tuning, resources); replicas are the membership steps' business. */
  private async ensureTemplate(rc: RaftCluster, spec: EffectiveSpec, sts: V1StatefulSet): Promise<void> {
    const want = statefulSet(rc, spec, sts.spec?.replicas ?? 0);
    const wantHash = want.spec?.template.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION];
    const haveHash = sts.spec?.template.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION];
    const wantRetention = want.spec?.persistentVolumeClaimRetentionPolicy;
    const haveRetention = sts.spec?.persistentVolumeClaimRetentionPolicy;
    if (wantHash === haveHash && wantRetention?.whenScaled === haveRetention?.whenScaled) return;
    this.o.log.info('updating the StatefulSet template', { cluster: rc.metadata.name, hash: wantHash });
    await this.o.kube.patchStatefulSet(rc.metadata.namespace, statefulSetName(rc.metadata.name), {
      spec: { template: want.spec?.template, persistentVolumeClaimRetentionPolicy: wantRetention },
    });
  }

  private async observe(rc: RaftCluster, spec: EffectiveSpec, sts: V1StatefulSet | undefined, admin: AdminClient): Promise<Observation> {
    const { kube } = this.o;
    const { namespace, name, uid } = rc.metadata;
    const selector = selectorString(name);
    const [pods, claims] = await Promise.all([kube.listPods(namespace, selector), kube.listClaims(namespace, selector)]);
    const marks = new Map(claims.map((c) => [c.metadata?.name ?? '', c.metadata?.annotations?.[MEMBER_MARK_ANNOTATION]]));
    const views = await Promise.all(
      pods.map(async (pod): Promise<PodView | undefined> => {
        const podNameValue = pod.metadata?.name ?? '';
        const ordinal = podOrdinal(name, podNameValue);
        if (ordinal === undefined) return undefined;
        const ip = pod.status?.podIP;
        const terminating = pod.metadata?.deletionTimestamp !== undefined;
        const claim = claimName(podNameValue);
        const volumeMarked = marks.has(claim) ? marks.get(claim) === uid : undefined;
        let node: PodView['node'];
        if (ip !== undefined && ip !== '' && !terminating) {
          try {
            node = await admin.status(ip);
          } catch (err) {
            node = { error: err instanceof AdminError ? err.code : String(err) };
          }
        }
        return { name: podNameValue, ordinal, ip: ip === '' ? undefined : ip, ready: podReady(pod), terminating, volumeMarked, node };
      }),
    );
    const byOrdinal = new Map<number, PodView>();
    for (const v of views) if (v !== undefined) byOrdinal.set(v.ordinal, v);
    return {
      name,
      namespace,
      desiredReplicas: spec.replicas,
      clusterId: rc.status?.clusterId,
      statefulSetReplicas: sts === undefined ? undefined : (sts.spec?.replicas ?? 1),
      pods: byOrdinal,
    };
  }

  /** Takes one step; returns a cluster id when the step established or found one. */
  private async take(rc: RaftCluster, spec: EffectiveSpec, action: Action, admin: AdminClient, log: Logger): Promise<string | undefined> {
    const { kube } = this.o;
    const { namespace, name, uid } = rc.metadata;
    const mark = async (pod: string): Promise<void> => kube.annotateClaim(namespace, claimName(pod), { [MEMBER_MARK_ANNOTATION]: uid });
    const ipOf = (pod: PodView): string => {
      if (pod.ip === undefined) throw new StepFailedError(`pod ${pod.name} has no IP address yet`);
      return pod.ip;
    };
    switch (action.kind) {
      case 'create-statefulset': {
        // A StatefulSet deleted by hand after bootstrap comes back with a pod for every recorded member.
        const recorded = rc.status?.members?.map((m) => ordinalOf(name, m.id)).filter(Number.isFinite) ?? [];
        const replicas = rc.status?.clusterId === undefined ? action.replicas : Math.max(action.replicas, ...recorded.map((o) => o + 1));
        await kube.createStatefulSet(statefulSet(rc, spec, replicas));
        log.info('created the StatefulSet', { replicas });
        return undefined;
      }
      case 'scale-statefulset':
        await kube.patchStatefulSet(namespace, statefulSetName(name), { spec: { replicas: action.replicas } });
        await this.event(rc, 'Normal', 'ScalingStatefulSet', `StatefulSet ${statefulSetName(name)} scaled to ${action.replicas}`);
        return undefined;
      case 'bootstrap': {
        // Marked first: a volume the cluster knows is never mistaken for a lost one (plan.ts).
        await mark(action.pod.name);
        const { clusterId } = await admin.bootstrap(ipOf(action.pod));
        // Recorded at once, before anything else can fail: the only defence against a second bootstrap.
        await kube.patchClusterStatus(namespace, name, { clusterId });
        this.changed('bootstrap');
        await this.event(rc, 'Normal', 'Bootstrapping', `bootstrapped cluster ${clusterId} on ${action.pod.name}`);
        return clusterId;
      }
      case 'record-cluster-id':
        await kube.patchClusterStatus(namespace, name, { clusterId: action.clusterId });
        await this.event(rc, 'Normal', 'RecordingClusterId', `recorded cluster id ${action.clusterId} found on ${podName(name, 0)}`);
        return action.clusterId;
      case 'add-learner':
        await mark(action.pod.name);
        await admin.addLearner(ipOf(action.via), action.pod.name, action.address);
        this.changed('add-learner');
        await this.event(rc, 'Normal', 'AddingLearner', `added ${action.pod.name} (${action.address}) as a learner`);
        return undefined;
      case 'promote':
        await admin.promote(ipOf(action.via), action.id);
        this.changed('promote');
        await this.event(rc, 'Normal', 'Promoting', `promoted ${action.id} to voter`);
        return undefined;
      case 'remove':
        await admin.remove(ipOf(action.via), action.id);
        this.changed(action.lost ? 'replace-lost' : 'remove');
        await this.event(
          rc,
          'Normal',
          action.lost ? 'ReplacingLostMember' : 'RemovingMember',
          action.lost ? `removed ${action.id}: its node came back without its data; it will be added again` : `removed member ${action.id}`,
        );
        return undefined;
      case 'transfer':
        await admin.transferLeadership(ipOf(action.via), action.to);
        this.changed('transfer-leadership');
        await this.event(rc, 'Normal', 'TransferringLeadership', `leadership moved from ${action.from} to ${action.to}`);
        return undefined;
      case 'wait':
      case 'degraded':
      case 'stable':
        return undefined;
      default:
        return assertNever(action, 'action');
    }
  }

  private changed(kind: MembershipChangeKind): void {
    this.o.metrics.membershipChanges.inc({ kind });
  }

  /** Events are best effort: a failure to record one never fails the pass. */
  private async event(rc: RaftCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    try {
      await this.o.kube.createEvent({ cluster: rc, type, reason, message, component: this.o.component });
    } catch (err) {
      this.o.log.warn('cannot record an event', { reason, err: err instanceof Error ? err.message : String(err) });
    }
  }

  private updateGauges(namespace: string, cluster: string, spec: EffectiveSpec, status: ReturnType<typeof computeStatus>): void {
    const m = this.o.metrics;
    const l = { namespace, cluster };
    m.desiredReplicas.set(l, spec.replicas);
    m.voters.set(l, status.replicas ?? 0);
    m.readyVoters.set(l, status.readyReplicas ?? 0);
    if (status.term !== undefined) m.term.set(l, status.term);
    if (status.commitIndex !== undefined) m.commitIndex.set(l, status.commitIndex);
    for (const c of status.conditions ?? []) m.conditionTrue.set({ ...l, condition: c.type }, c.status === 'True' ? 1 : 0);
  }
}

/** The action without its pod objects, for a log line. */
function describeAction(a: Action): Record<string, unknown> {
  switch (a.kind) {
    case 'bootstrap':
      return { kind: a.kind, pod: a.pod.name };
    case 'add-learner':
      return { kind: a.kind, pod: a.pod.name, address: a.address, via: a.via.name };
    case 'promote':
    case 'remove':
    case 'transfer':
      return { ...a, via: a.via.name };
    default:
      return { ...a };
  }
}

function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

