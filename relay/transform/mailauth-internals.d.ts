// The canonicalization pieces of mailauth 4.13 (CommonJS, no types for these paths) that the
// streaming DKIM signer reuses, so both sides of our tests share no code with python3-dkim.
declare module "mailauth/lib/tools.js" {
  export interface ParsedHeaderLine {
    key: string | null;
    casedKey: string | undefined;
    line: Buffer;
  }
  export interface SigningHeaderLines {
    keys: string;
    headers: ParsedHeaderLine[];
  }
  export function parseHeaders(buf: Buffer): { parsed: ParsedHeaderLine[]; original: Buffer };
  export function getSigningHeaderLines(parsed: ParsedHeaderLine[], fieldNames?: string): SigningHeaderLines;
  export function formatSignatureHeaderLine(
    type: "DKIM",
    values: Record<string, unknown>,
    folded: boolean,
  ): string;
}

declare module "mailauth/lib/dkim/body/index.js" {
  export interface BodyHasher {
    update(chunk: Buffer): void;
    digest(encoding: "base64"): string;
  }
  export function dkimBody(
    canonicalization: string,
    algorithm: string,
    maxBodyLength: number | false,
  ): BodyHasher;
}

declare module "mailauth/lib/dkim/header/index.js" {
  import type { SigningHeaderLines } from "mailauth/lib/tools.js";
  export function generateCanonicalizedHeader(
    type: "DKIM",
    signingHeaderLines: SigningHeaderLines,
    options: Record<string, unknown>,
  ): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, unknown> };
}
