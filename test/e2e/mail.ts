/**
 * Talking to the fleet the way its users do: the pool's DNS name resolved from
 * the DNSEndpoint the operator wrote (round robin over its A records, as a
 * client resolver would), an account made through a relay's admin API, and
 * mail sent over SMTP. Each message carries a unique Message-ID and a
 * tracked link so the receiving side can be checked message by message.
 */
import { createTransport } from "nodemailer";
import type { TestApiServer } from "../kube/index.js";

type Json = Record<string, unknown>;

const find = (server: TestApiServer, apiVersion: string, kind: string, namespace: string, name: string) => {
  const type = server.api.types.findByKind(apiVersion, kind);
  return type ? (server.api.objects.find(type, namespace, name) as Json | undefined) : undefined;
};

/** The A records the operator published for the pool (empty when none is ready). */
export function aRecords(server: TestApiServer, pool = "marathon", namespace = "mail"): string[] {
  const endpoint = find(server, "externaldns.k8s.io/v1alpha1", "DNSEndpoint", namespace, pool);
  const endpoints = ((endpoint?.spec as Json | undefined)?.endpoints ?? []) as {
    recordType: string;
    targets: string[];
  }[];
  return endpoints.filter((e) => e.recordType === "A").flatMap((e) => e.targets);
}

/** The pool's admin token, from the Secret the operator made. */
export function adminToken(server: TestApiServer, pool = "marathon", namespace = "mail"): string {
  const secret = find(server, "v1", "Secret", namespace, `${pool}-api-token`);
  const data = (secret?.data ?? {}) as Record<string, string>;
  if (!data.token) throw new Error(`no ${pool}-api-token Secret yet`);
  return Buffer.from(data.token, "base64").toString("utf8");
}

/**
 * Creates the sending account (mail from loopback). It names no route: it takes the pool's
 * SenderRoute (spec.senderRoute, mail/default), which the relays know as their defaultRoute.
 */
export async function putAccount(
  relayIp: string,
  token: string,
  name = "sandbox",
  credentials: { username: string; password: string }[] = [],
): Promise<void> {
  const response = await fetch(`http://${relayIp}:8081/v1/accounts/${name}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ allowedIps: ["127.0.0.0/8"], allowedFrom: ["*"], credentials }),
  });
  if (!response.ok) throw new Error(`PUT account: HTTP ${response.status} ${await response.text()}`);
}

export interface SendResult {
  messageId: string;
  to: string;
  relay: string;
  accepted: boolean;
  /** The relay's ID for the message, from "250 2.0.0 Ok: queued as ID". */
  queueId?: string;
  error?: string;
}

export function messageText(messageId: string, to: string): string {
  return [
    "From: news@shop.example",
    `To: ${to}`,
    `Subject: sandbox ${messageId}`,
    `Message-ID: <${messageId}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/html; charset=utf-8",
    "",
    `<html><body><p>Hello ${to}</p><p><a href="https://shop.example/offer?id=${messageId}">the offer</a></p></body></html>`,
    "",
  ].join("\r\n");
}

/**
 * Sends `count` messages, `concurrency` at a time, to recipients spread over
 * `domains`; each connection goes to the next A record (looked up afresh for
 * every message, as a resolver with a short TTL would).
 */
export async function sendMail(options: {
  records: () => string[];
  domains: readonly string[];
  count: number;
  concurrency: number;
  idPrefix: string;
  onResult?: (result: SendResult) => void;
}): Promise<SendResult[]> {
  const results: SendResult[] = [];
  let next = 0;
  let turn = 0;
  const worker = async () => {
    while (next < options.count) {
      const index = next++;
      const domain = options.domains[index % options.domains.length] as string;
      const to = `user${index}@${domain}`;
      const messageId = `${options.idPrefix}-${index}@shop.example`;
      const records = options.records();
      const relay = records[turn++ % Math.max(records.length, 1)];
      let result: SendResult;
      if (!relay) result = { messageId, to, relay: "", accepted: false, error: "no A record" };
      else {
        const transport = createTransport({ host: relay, port: 25, secure: false, ignoreTLS: true });
        result = await transport
          .sendMail({ envelope: { from: "news@shop.example", to: [to] }, raw: messageText(messageId, to) })
          .then(
            (info: { response?: string }) => {
              const queueId = /queued as (\S+)/.exec(info.response ?? "")?.[1];
              return { messageId, to, relay, accepted: true, ...(queueId ? { queueId } : {}) };
            },
            (error: Error) => ({ messageId, to, relay, accepted: false, error: error.message }),
          );
        transport.close();
      }
      results.push(result);
      options.onResult?.(result);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return results;
}
