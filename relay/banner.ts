/**
 * The lines `relayfleet relay` prints for a person once the relay is up.
 * Secrets the relay generated (the admin API token, the demo account's
 * password) appear only when stdout is a terminal (`npm start` by hand);
 * anywhere else (a pod, whose output goes to a log collector) the banner
 * names the 0600 files that hold them instead. A token given in config is
 * never printed: whoever set it knows it.
 */

export interface BannerFacts {
  smtp: string;
  api: { host: string; port: number };
  metrics: { host: string; port: number };
  apiToken: string;
  /** Set when the relay generated the token. */
  apiTokenFile?: string;
  demo?: { username: string; password: string };
  demoPasswordFile?: string;
  firstSmtp?: { host: string; port: number };
}

export function startupBanner(facts: BannerFacts, interactive: boolean): string[] {
  const lines = [
    "",
    `relayfleet relay is up. SMTP on ${facts.smtp}; API on ${facts.api.host}:${facts.api.port}; metrics on ${facts.metrics.host}:${facts.metrics.port}/metrics`,
  ];
  if (facts.apiTokenFile)
    lines.push(
      interactive
        ? `API token: ${facts.apiToken} (kept in ${facts.apiTokenFile})`
        : `API token: generated, in ${facts.apiTokenFile} (readable by this user only)`,
    );
  else lines.push("API token: as configured (apiToken / RELAYFLEET_API_TOKEN)");
  if (facts.demo) {
    const { username, password } = facts.demo;
    const where = facts.demoPasswordFile ?? "the data directory";
    if (interactive) {
      const server = facts.firstSmtp ? `${facts.firstSmtp.host}:${facts.firstSmtp.port}` : "HOST:PORT";
      lines.push(
        `Demo account SMTP credentials: username ${username}, password ${password}`,
        `Try: swaks --server ${server} --auth PLAIN --auth-user ${username} --auth-password '${password}' --from you@example.com --to someone@example.net`,
      );
    } else lines.push(`Demo account SMTP credentials: username ${username}, password in ${where}`);
  }
  lines.push("");
  return lines;
}
