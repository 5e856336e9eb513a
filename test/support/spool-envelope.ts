/** A spooled envelope for tests that write straight to a spool: an authenticated client's, one recipient. */
import type { SpooledEnvelope } from "../../relay/spool/envelope.js";

export function testEnvelope(overrides: Partial<SpooledEnvelope> = {}): SpooledEnvelope {
  return {
    v: 1,
    id: `m${Math.random().toString(36).slice(2, 10)}`,
    account: "acme",
    from: "a@acme.com",
    to: ["r@example.net"],
    clientIp: "192.0.2.1",
    heloName: "client.test",
    receivedAt: Date.now(),
    listener: "127.0.0.1:2525",
    transmissionType: "ESMTPA",
    refused: [],
    ...overrides,
  };
}
