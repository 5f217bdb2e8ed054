// Certificates for a throwaway control plane, made with the openssl CLI (node:crypto makes keys but not
// X.509 certificates): a CA, the apiserver's serving certificate, client certificates for the admin
// (system:masters) and the controller-manager, and the service-account signing key pair.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OPENSSL = process.env.OPENSSL ?? 'openssl';
const CERT_VALIDITY_DAYS = 3650;

export interface ClusterCerts {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly apiserverCert: string;
  readonly apiserverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly controllerManagerCert: string;
  readonly controllerManagerKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, subject: string, ext: string): void {
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', String(CERT_VALIDITY_DAYS), '-extfile', extFile, '-out', `${name}.crt`], dir);
}

/** Writes every certificate and key into `dir`; `serverIps`/`serverNames` become the apiserver's SANs. */
export function generateClusterCerts(dir: string, serverIps: readonly string[], serverNames: readonly string[]): ClusterCerts {
  openssl(['req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', String(CERT_VALIDITY_DAYS), '-subj', '/CN=kuberaft-test-ca'], dir);
  const sans = [...serverIps.map((ip) => `IP:${ip}`), ...serverNames.map((n) => `DNS:${n}`)].join(',');
  issue(dir, 'apiserver', '/CN=kube-apiserver', `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment`);
  const client = 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment';
  issue(dir, 'admin', '/O=system:masters/CN=kubernetes-admin', client);
  issue(dir, 'controller-manager', '/CN=system:kube-controller-manager', client);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    apiserverCert: p('apiserver.crt'),
    apiserverKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    controllerManagerCert: p('controller-manager.crt'),
    controllerManagerKey: p('controller-manager.key'),
    serviceAccountKey: p('sa.key'),
    serviceAccountPub: p('sa.pub'),
  };
}

/** A kubeconfig that embeds the CA and a client certificate (paths, so the files must outlive it). */
export function kubeconfigYaml(server: string, caCert: string, clientCert: string, clientKey: string, user: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kuberaft-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caCert}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate: ${clientCert}`,
    `    client-key: ${clientKey}`,
    'contexts:',
    '- name: kuberaft-test',
    '  context:',
    '    cluster: kuberaft-test',
    `    user: ${user}`,
    'current-context: kuberaft-test',
    '',
  ].join('\n');
}
