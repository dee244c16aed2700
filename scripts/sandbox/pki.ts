// The sandbox's own certificate authority, made once with openssl and kept in
// .sandbox/pki: the API servers' serving certificate, the admin client
// certificate (group system:masters), the service-account signing key, a
// serving certificate for other local HTTPS servers (the cloud simulator), and
// named serving certificates made on demand (ensureServingCert: Kueue's webhooks).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function signed(
  dir: string,
  name: string,
  subject: string,
  extensions: string,
  pki: { caCert: string; caKey: string },
): void {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "3650",
    "-extfile",
    ext,
  ]);
}

/** The sandbox PKI in `dir`, created on first use. */
export function ensurePki(dir: string): Pki {
  const pki: Pki = {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: join(dir, "serving.crt"),
    servingKey: join(dir, "serving.key"),
    adminCert: join(dir, "admin.crt"),
    adminKey: join(dir, "admin.key"),
    serviceAccountKey: join(dir, "sa.key"),
    serviceAccountPub: join(dir, "sa.pub"),
  };
  if (Object.values(pki).every((p) => existsSync(p))) return pki;
  mkdirSync(dir, { recursive: true });
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=crosscloud-sandbox-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  signed(
    dir,
    "serving",
    "/CN=crosscloud-sandbox",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
    pki,
  );
  signed(
    dir,
    "admin",
    "/O=system:masters/CN=crosscloud-admin",
    "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
    pki,
  );
  openssl(dir, ["genrsa", "-out", "sa.key", "2048"]);
  openssl(dir, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  return pki;
}

/**
 * A serving certificate `<name>.crt` / `<name>.key` in the PKI's dir, signed by its CA, for
 * `subjectAltName` (OpenSSL form, e.g. "IP:127.0.0.1"); made on first use.
 */
export function ensureServingCert(pki: Pki, name: string, subjectAltName: string): { cert: string; key: string } {
  const files = { cert: join(pki.dir, `${name}.crt`), key: join(pki.dir, `${name}.key`) };
  // One made under an earlier CA (the PKI was made again) is made again too.
  const current = existsSync(files.cert) && statSync(files.cert).mtimeMs >= statSync(pki.caCert).mtimeMs;
  if (current && existsSync(files.key)) return files;
  signed(
    pki.dir,
    name,
    `/CN=crosscloud-sandbox-${name}`,
    `subjectAltName=${subjectAltName}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`,
    pki,
  );
  return files;
}

/** A file's contents as base64, the form kubeconfig's *-data fields take. */
export function base64File(path: string): string {
  return readFileSync(path).toString("base64");
}
