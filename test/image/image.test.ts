/**
 * The container image (issue 14), built and run here: `npm run image`'s build,
 * then the relay started from the image with its own ENTRYPOINT and CMD (a
 * test config mounted over /etc/relayfleet/relay.yaml, a host folder as the
 * data volume), a message sent through it to an SMTP peer on loopback, and the
 * operator entry point. Skipped, saying why, only where buildah cannot run.
 */
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type BuiltImage, buildImage, packageVersion } from "../../scripts/image/build.js";
import { buildahUnavailable, megabytes } from "../../scripts/image/buildah.js";
import { freePort } from "../support/free-port.js";
import { type SmtpPeer, startSmtpPeer } from "../support/smtp-peer.js";
import { type Container, type ContainerProcess, createContainer } from "./container.js";

/** The image's user (Containerfile USER); the data volume must be writable by it. */
const IMAGE_UID = 10001;
/** A small image: node alone is ~100 MB. Fails the test if a change bloats it. */
const MAX_IMAGE_BYTES = 220_000_000;

const unavailable = await buildahUnavailable();
if (unavailable) console.warn(`SKIPPED test/image: ${unavailable}`);

async function waitForHttp(url: string, deadlineMs: number, relay: ContainerProcess): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const status = await fetch(url).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return status;
    if (relay.child.exitCode !== null) throw new Error(`the relay exited:\n${relay.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${url} answered ${status} after ${deadlineMs} ms:\n${relay.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(unavailable !== undefined)("the container image", () => {
  let image: BuiltImage;
  let container: Container;

  beforeAll(async () => {
    // A cold build (debootstrap, npm ci with the addon compiled) takes ~5 minutes on two
    // cores; with buildah's layer cache from an earlier build, ~1.5 minutes.
    image = await buildImage({ log: (line) => console.log(`image: ${line}`) });
    console.log(
      `image ${image.name}: ${megabytes(image.bytes)} in ${image.layers} layers, ${image.seconds} s`,
    );
    container = await createContainer(image.name, image.config);
  }, 900_000);

  afterAll(async () => {
    await container?.remove();
  });

  it("is small, runs as a non-root user, works in its data directory, and is labelled", () => {
    expect(image.bytes).toBeLessThan(MAX_IMAGE_BYTES);
    expect(image.config.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(image.config.WorkingDir).toBe("/var/lib/relayfleet");
    expect(Object.keys(image.config.ExposedPorts ?? {}).sort()).toEqual([
      "2525/tcp",
      "8080/tcp",
      "8081/tcp",
      "9464/tcp",
    ]);
    expect(image.config.Entrypoint).toEqual(["/usr/local/bin/node", "/app/dist/bin/relayfleet.js"]);
    expect(image.config.Cmd).toEqual(["relay", "--config", "/etc/relayfleet/relay.yaml"]);
    expect(image.config.Labels).toMatchObject({
      "org.opencontainers.image.version": packageVersion(),
      "org.opencontainers.image.licenses": "Apache-2.0",
      "org.opencontainers.image.source": expect.stringMatching(/^https:\/\//),
    });
  });

  it("has no shell, no compiler and no TypeScript sources, only node and the compiled relay", async () => {
    const root = container.root;
    await expect(stat(join(root, "bin/sh"))).rejects.toThrow();
    await expect(stat(join(root, "usr/bin"))).rejects.toThrow();
    expect((await readdir(join(root, "app"))).sort()).toEqual(["dist", "node_modules", "package.json"]);
    expect(await readdir(join(root, "app/node_modules"))).not.toContain("typescript");
    expect((await readFile(join(root, "etc/relayfleet/relay.yaml"), "utf8")).includes("0.0.0.0:2525")).toBe(
      true,
    );
    const data = await stat(join(root, "var/lib/relayfleet"));
    expect(data.uid).toBe(IMAGE_UID);
  });

  describe("the relay from the image", () => {
    let peer: SmtpPeer;
    let relay: ContainerProcess;
    let dir: string;
    let dataDir: string;
    let ports: { smtp: number; api: number };

    beforeAll(async () => {
      peer = await startSmtpPeer({ name: "isp.test" });
      dir = await mkdtemp(join(tmpdir(), "relayfleet-image-"));
      dataDir = join(dir, "data");
      await mkdir(dataDir);
      await chown(dataDir, IMAGE_UID, IMAGE_UID);
      ports = { smtp: await freePort(), api: await freePort() };
      // Loopback listeners on free ports: chroot isolation shares the host's network.
      const config = {
        hostname: "relay.image.test",
        listen: {
          smtp: [`127.0.0.1:${ports.smtp}`],
          tracking: `127.0.0.1:${await freePort()}`,
          api: `127.0.0.1:${ports.api}`,
          metrics: `127.0.0.1:${await freePort()}`,
        },
        dataDir: "/var/lib/relayfleet",
        logLevel: "warn",
        accounts: [{ name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] }],
        routes: {
          default: {
            policy: "failover",
            senders: [{ name: "out1", host: "127.0.0.1", port: peer.port, tls: "none" }],
          },
        },
      };
      await writeFile(join(dir, "relay.yaml"), stringify(config));
      relay = container.start({
        volumes: [
          `${join(dir, "relay.yaml")}:/etc/relayfleet/relay.yaml:ro`,
          `${dataDir}:/var/lib/relayfleet`,
        ],
      });
      await waitForHttp(`http://127.0.0.1:${ports.api}/healthz`, 30_000, relay);
    }, 60_000);

    afterAll(async () => {
      await relay?.stop();
      await peer?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("answers the Kubernetes probes on /healthz and /readyz", async () => {
      expect((await fetch(`http://127.0.0.1:${ports.api}/healthz`)).status).toBe(200);
      expect(await waitForHttp(`http://127.0.0.1:${ports.api}/readyz`, 10_000, relay)).toBe(200);
    });

    it("accepts a message (250, spooled) and delivers it to the SMTP peer", async () => {
      const transport = createTransport({
        host: "127.0.0.1",
        port: ports.smtp,
        secure: false,
        ignoreTLS: true,
      });
      const info = await transport.sendMail({
        envelope: { from: "app@office.test", to: ["someone@isp.test"] },
        raw: "From: app@office.test\r\nTo: someone@isp.test\r\nSubject: from the image\r\n\r\nimage smoke test\r\n",
      });
      transport.close();
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as \S+$/);

      const [received] = await peer.waitForMessages(1, 30_000);
      expect(received?.from).toBe("app@office.test");
      expect(received?.to).toEqual(["someone@isp.test"]);
      expect(received?.heloName).toBe("relay.image.test");
      const text = received?.raw.toString() ?? "";
      expect(text).toContain("Subject: from the image");
      expect(text).toContain("image smoke test");
      // Delivered, so the spool on the volume is empty again; it was written by the image's user.
      await expect.poll(() => readdir(join(dataDir, "spool", "queue")), { timeout: 10_000 }).toEqual([]);
      expect((await stat(join(dataDir, "spool"))).uid).toBe(IMAGE_UID);
    });

    it("writes nothing outside its data volume", async () => {
      expect(await readdir(join(container.root, "tmp"))).toEqual([]);
    });

    it("drains and exits 0 on SIGTERM, as Kubernetes stops a pod", async () => {
      expect(await relay.stop(20_000), relay.output()).toBe(0);
    }, 30_000);
  });

  it("starts the operator entry point, which prints the version", async () => {
    const version = container.start({ args: ["--version"] });
    expect(await version.exited).toBe(0);
    expect(version.output().trim().split("\n")).toContain(packageVersion());
    // `relayfleet operator` reaches the operator, and what it loads is in the image: without a
    // cluster it may stop at once or keep trying; either way no module may be missing.
    const operator = container.start({ args: ["operator", "--kubeconfig", "/nonexistent/kubeconfig"] });
    const settled = await Promise.race([
      operator.exited.then(() => "exited"),
      new Promise((resolve) => setTimeout(() => resolve("running"), 10_000)),
    ]);
    if (settled === "running") await operator.stop();
    expect(operator.output()).not.toMatch(
      /unknown command|ERR_MODULE_NOT_FOUND|Cannot find (module|package)|ERR_DLOPEN_FAILED/,
    );
  }, 60_000);
});
