/**
 * The intake's certificate: read and checked at start, and re-read when the
 * files change so that a renewed certificate (a Kubernetes Secret volume that
 * cert-manager updates swaps the `..data` symlink to a new directory) reaches
 * new sessions without a restart (docs/configuration.md, "TLS").
 *
 * A renewal that does not check out (unreadable, not PEM, key not matching the
 * certificate) keeps the certificate in use: the listeners must never be left
 * with none. Errors name the files, never their contents (the key is a secret).
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createSecureContext } from "node:tls";

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's notAfter. */
  notAfter: Date;
  /** SHA-256 of the leaf certificate (colon-separated hex, as X509Certificate gives it). */
  fingerprint256: string;
}

/** Old clients get no TLS 1.0/1.1 (RFC 8996); applies to STARTTLS and smtps alike. */
export const TLS_MIN_VERSION = "TLSv1.2" as const;

/** A certificate or key file that cannot be used; the message names the file and the config key. */
export class TlsMaterialError extends Error {
  override readonly name = "TlsMaterialError";
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

/**
 * Checks a certificate and key pair as read from `files`: PEM, parsable, the
 * key matching the leaf certificate, and accepted by OpenSSL as a context.
 */
export function checkTlsMaterial(cert: Buffer, key: Buffer, files: TlsFiles): TlsMaterial {
  if (!cert.toString("latin1").includes(PEM_CERTIFICATE))
    throw new TlsMaterialError(files.cert, `tls.cert ${files.cert}: no PEM certificate in the file`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsMaterialError(files.cert, `tls.cert ${files.cert}: the certificate cannot be parsed`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    // The parser's message can quote the input; this one says which file only.
    throw new TlsMaterialError(files.key, `tls.key ${files.key}: no usable PEM private key in the file`);
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new TlsMaterialError(
      files.key,
      `tls.key ${files.key}: the key does not match the certificate in ${files.cert}`,
    );
  try {
    createSecureContext({ cert, key, minVersion: TLS_MIN_VERSION });
  } catch (error) {
    const reason = error instanceof Error && "code" in error ? ` (${String(error.code)})` : "";
    throw new TlsMaterialError(
      files.cert,
      `tls.cert ${files.cert}: OpenSSL refuses the certificate and key${reason}`,
    );
  }
  return { cert, key, notAfter: new Date(leaf.validTo), fingerprint256: leaf.fingerprint256 };
}

function readOrThrow(file: string, key: "tls.cert" | "tls.key"): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new TlsMaterialError(file, `${key} ${file}: cannot read the file (${code})`);
  }
}

/** Reads and checks the pair at start; a TlsMaterialError stops the relay with a clear message. */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  return checkTlsMaterial(readOrThrow(files.cert, "tls.cert"), readOrThrow(files.key, "tls.key"), files);
}

export interface TlsWatchOptions {
  files: TlsFiles;
  /** What the listeners use now (from readTlsMaterial). */
  current: TlsMaterial;
  onReload(material: TlsMaterial): void;
  /** A renewal that was refused; the old certificate stays. Called once per distinct bad content. */
  onFailure(error: TlsMaterialError): void;
  /** Fallback poll for file systems where watching misses the change. Default 5000. */
  pollMs?: number;
  /** Watch events come in bursts (a symlink swap is several renames): wait this long. Default 250. */
  settleMs?: number;
  /** Watch the directories (default true); false leaves the poll alone, as on a file system without events. */
  watch?: boolean;
}

export interface TlsWatch {
  close(): void;
}

function digestOf(cert: Buffer, key: Buffer): string {
  return createHash("sha256").update(cert).update("\0").update(key).digest("hex");
}

/**
 * Watches the directories holding the files (a symlink swap changes the
 * directory, not the file the watch would hold open) and polls the contents
 * every `pollMs`. Each distinct content is checked once: a good one is
 * handed to onReload, a bad one to onFailure, and the same bad files are not
 * counted again on every poll. A bad pair is read a second time before it
 * counts: the two files are read one after the other, and a swap between the
 * reads gives an old certificate with a new key.
 */
export function watchTlsMaterial(options: TlsWatchOptions): TlsWatch {
  const { files } = options;
  let lastSeen = digestOf(options.current.cert, options.current.key);
  let unconfirmed: string | undefined;
  let closed = false;
  let checking = false;
  let again = false;
  let settleTimer: NodeJS.Timeout | undefined;

  const read = async (): Promise<{ state: string; result: TlsMaterial | TlsMaterialError }> => {
    try {
      const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
      const state = digestOf(cert, key);
      if (state === lastSeen) return { state, result: options.current };
      try {
        return { state, result: checkTlsMaterial(cert, key, files) };
      } catch (error) {
        return {
          state,
          result: error instanceof TlsMaterialError ? error : new TlsMaterialError(files.cert, "unusable"),
        };
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
      const path = (error as NodeJS.ErrnoException).path ?? files.cert;
      const which = path === files.key ? "tls.key" : "tls.cert";
      return {
        state: `unreadable:${path}:${code}`,
        result: new TlsMaterialError(path, `${which} ${path}: cannot read the file (${code})`),
      };
    }
  };

  const check = async (): Promise<void> => {
    if (closed) return;
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      const { state, result } = await read();
      if (closed || state === lastSeen) {
        unconfirmed = undefined;
        return;
      }
      if (!(result instanceof TlsMaterialError)) {
        lastSeen = state;
        unconfirmed = undefined;
        options.onReload(result);
      } else if (unconfirmed === state) {
        lastSeen = state;
        unconfirmed = undefined;
        options.onFailure(result);
      } else {
        unconfirmed = state;
        soon();
      }
    } finally {
      checking = false;
      if (again) {
        again = false;
        void check();
      }
    }
  };

  const soon = () => {
    if (closed) return;
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => void check(), options.settleMs ?? 250);
    settleTimer.unref();
  };

  const watchers: FSWatcher[] = [];
  const dirs = options.watch === false ? [] : [...new Set([dirname(files.cert), dirname(files.key)])];
  for (const dir of dirs) {
    try {
      const watcher = watch(dir, { persistent: false }, soon);
      // A watch that fails (the directory went away, inotify limits) leaves the poll to do the job.
      watcher.on("error", () => watcher.close());
      watchers.push(watcher);
    } catch {
      // As above: polling alone still picks renewals up.
    }
  }
  const poll = setInterval(() => void check(), options.pollMs ?? 5000);
  poll.unref();

  return {
    close() {
      closed = true;
      clearInterval(poll);
      clearTimeout(settleTimer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
