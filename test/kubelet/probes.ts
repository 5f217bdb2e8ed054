// HTTP and TCP probes with Kubernetes' defaults and thresholds. Exec probes are not supported (the pod's
// processes run on the host's filesystem, so an exec probe would test nothing a test cares about).
import { request } from 'node:http';
import { connect } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export const PROBE_DEFAULT_PERIOD_SECONDS = 10;
export const PROBE_DEFAULT_TIMEOUT_SECONDS = 1;
export const PROBE_DEFAULT_FAILURE_THRESHOLD = 3;
export const PROBE_DEFAULT_SUCCESS_THRESHOLD = 1;
const HTTP_SUCCESS_MIN = 200;
const HTTP_SUCCESS_MAX_EXCLUSIVE = 400;

function resolvePort(container: V1Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port);
  if (named) return named.containerPort;
  const n = Number(port);
  return Number.isInteger(n) ? n : -1;
}

/** One probe attempt against the pod's address: true on success. */
export function probeOnce(probe: V1Probe, container: V1Container, podIp: string): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? PROBE_DEFAULT_TIMEOUT_SECONDS) * 1000;
  if (probe.httpGet) {
    const get = probe.httpGet;
    const port = resolvePort(container, get.port);
    return new Promise((resolve) => {
      const req = request(
        { host: get.host ?? podIp, port, path: get.path ?? '/', method: 'GET', timeout: timeoutMs, headers: Object.fromEntries((get.httpHeaders ?? []).map((h) => [h.name, h.value])) },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          resolve(status >= HTTP_SUCCESS_MIN && status < HTTP_SUCCESS_MAX_EXCLUSIVE);
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(container, probe.tcpSocket.port);
    return new Promise((resolve) => {
      const socket = connect({ host: probe.tcpSocket?.host ?? podIp, port, timeout: timeoutMs });
      socket.on('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.on('error', () => resolve(false));
    });
  }
  return Promise.resolve(false);
}

/**
 * Runs a probe periodically and keeps its verdict with Kubernetes' thresholds.
 * Invariant: `healthy` changes only after successThreshold consecutive successes or failureThreshold
 * consecutive failures.
 */
export class ProbeRunner {
  healthy: boolean;
  private successes = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly probe: V1Probe,
    private readonly container: V1Container,
    private readonly podIp: string,
    initiallyHealthy: boolean,
    private readonly onChange: (healthy: boolean) => void,
  ) {
    this.healthy = initiallyHealthy;
  }

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), ms);
  }

  private async run(): Promise<void> {
    const ok = await probeOnce(this.probe, this.container, this.podIp);
    if (this.stopped) return;
    if (ok) {
      this.successes++;
      this.failures = 0;
      if (!this.healthy && this.successes >= (this.probe.successThreshold ?? PROBE_DEFAULT_SUCCESS_THRESHOLD)) this.flip(true);
    } else {
      this.failures++;
      this.successes = 0;
      if (this.healthy && this.failures >= (this.probe.failureThreshold ?? PROBE_DEFAULT_FAILURE_THRESHOLD)) this.flip(false);
    }
    this.schedule((this.probe.periodSeconds ?? PROBE_DEFAULT_PERIOD_SECONDS) * 1000);
  }

  private flip(healthy: boolean): void {
    this.healthy = healthy;
    this.onChange(healthy);
  }
}
