// mailauth 4.13's relaxed body hasher (CommonJS, no types for this path): the tests' reference for
// dkim.ts's RelaxedBodyHash. The signer itself imports nothing from mailauth (dkim-header.ts).
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
