// Builds (or finds in ~/.cache/kuberaft) etcd, kube-apiserver, kube-controller-manager and helm, and
// prints where they are and how long it took. CI runs it before the tests so a build failure or a missing
// Go toolchain is reported on its own, with what to install.
import { ensureControlPlaneBinaries, ensureHelm } from '../test/controlplane/binaries.js';

const started = Date.now();
const log = (line: string): void => console.log(`[${Math.round((Date.now() - started) / 1000)}s] ${line}`);
try {
  const bins = await ensureControlPlaneBinaries(log);
  const helm = await ensureHelm(log);
  for (const path of [bins.etcd, bins.kubeApiserver, bins.kubeControllerManager, helm]) console.log(`  ${path}`);
  console.log(`test cluster binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
