#!/usr/bin/env node
/**
 * relayfleet: `relayfleet relay [--config FILE]` runs a relay;
 * `relayfleet operator [--kubeconfig FILE]` runs the operator.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { OperatorUsageError, runOperator } from "../operator/main.js";
import { startupBanner } from "../relay/banner.js";
import { ConfigError, loadConfig } from "../relay/config/load.js";
import { TlsMaterialError } from "../relay/intake/tls.js";
import { createLogger } from "../relay/log/logger.js";
import { startRelay } from "../relay/main.js";

const USAGE = `usage:
  relayfleet relay [--config FILE]          run a relay (defaults: embedded store in ./.relayfleet, SMTP 127.0.0.1:2525)
  relayfleet operator [--kubeconfig FILE]   run the operator (in-cluster config by default)
  relayfleet --version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function relay(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } }, strict: true });
  const config = await loadConfig(values.config === undefined ? {} : { file: values.config });
  const logger = createLogger({ level: config.logLevel });
  const relay = await startRelay(config, logger);
  const smtp = relay.intake.addresses
    .map((a) => `${a.host}:${a.port}${a.implicitTls ? " (smtps)" : ""}`)
    .join(", ");
  logger.info({ smtp, api: relay.apiAddress, metrics: relay.metricsAddress }, "relay started");
  // The one thing printed for a person rather than a log collector (relay/banner.ts).
  const first = relay.intake.addresses[0];
  process.stderr.write(
    startupBanner(
      {
        smtp,
        api: relay.apiAddress,
        metrics: relay.metricsAddress,
        apiToken: relay.apiToken,
        ...(relay.apiTokenFile ? { apiTokenFile: relay.apiTokenFile } : {}),
        ...(relay.demo ? { demo: relay.demo } : {}),
        ...(relay.demoPasswordFile ? { demoPasswordFile: relay.demoPasswordFile } : {}),
        ...(first ? { firstSmtp: first } : {}),
      },
      process.stdout.isTTY === true && process.stderr.isTTY === true,
    ).join("\n"),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "draining and stopping");
    relay.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "relay":
      await relay(rest);
      return -1;
    case "operator":
      await runOperator(rest);
      return -1;
    case "--version":
    case "-v":
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`relayfleet: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (
      error instanceof ConfigError ||
      error instanceof OperatorUsageError ||
      error instanceof TlsMaterialError
    )
      process.stderr.write(`relayfleet: ${error.message}\n`);
    else process.stderr.write(`relayfleet: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
