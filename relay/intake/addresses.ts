/**
 * Envelope address rules: route only on the
 * domain after the last "@"; "%" and "!" are never routing; no control
 * characters anywhere.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why an envelope address is unacceptable, or undefined when it is fine. */
export function envelopeAddressProblem(address: string, kind: "sender" | "recipient"): string | undefined {
  if (CONTROL.test(address)) return "control characters in the address";
  if (address.length > 320) return "address too long";
  if (kind === "sender" && address === "") return undefined;
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return "address must be local-part@domain";
  const domain = address.slice(at + 1);
  if (domain.startsWith("[")) {
    if (!/^\[(\d{1,3}\.){3}\d{1,3}\]$|^\[IPv6:[0-9a-f:.]+\]$/i.test(domain)) return "bad address literal";
  } else if (
    !/^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}[\p{L}\p{N}])?)*$/u.test(
      domain,
    )
  ) {
    return "bad domain";
  }
  return undefined;
}
