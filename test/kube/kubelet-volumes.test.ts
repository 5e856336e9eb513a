import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectVolume } from "../support/projected-volume.js";
import { tempDir } from "../support/temp-dir.js";
import { planVolumes } from "./kubelet-pods.js";

const files = (entries: Record<string, string>) =>
  new Map(Object.entries(entries).map(([name, text]) => [name, Buffer.from(text)]));

describe("the kubelet's projected volumes", () => {
  it("write files through a ..data symlink and swap the whole set at once", async () => {
    const dir = await tempDir();
    expect(projectVolume(dir, files({ "tls.crt": "one", "tls.key": "k1" }))).toBe(true);
    expect(lstatSync(join(dir, "tls.crt")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, "tls.crt"))).toBe("..data/tls.crt");
    const first = readlinkSync(join(dir, "..data"));
    expect(readFileSync(join(dir, "tls.crt"), "utf8")).toBe("one");

    expect(projectVolume(dir, files({ "tls.crt": "one", "tls.key": "k1" }))).toBe(false);
    expect(readlinkSync(join(dir, "..data"))).toBe(first);

    expect(projectVolume(dir, files({ "tls.crt": "two", "tls.key": "k2" }))).toBe(true);
    expect(readlinkSync(join(dir, "..data"))).not.toBe(first);
    expect(readFileSync(join(dir, "tls.crt"), "utf8")).toBe("two");
    expect(readFileSync(join(dir, "tls.key"), "utf8")).toBe("k2");
    // The old generation is gone; only ..data, one timestamped directory and the links remain.
    expect(readdirSync(dir).sort()).toEqual(
      ["..data", readlinkSync(join(dir, "..data")), "tls.crt", "tls.key"].sort(),
    );

    expect(projectVolume(dir, files({ "tls.crt": "three" }))).toBe(true);
    expect(readdirSync(dir).filter((name) => !name.startsWith(".."))).toEqual(["tls.crt"]);
  });

  it("decode a Secret's data and honour items; a missing Secret or key is an error unless optional", () => {
    const pod = {
      metadata: { name: "p", namespace: "mail" },
      spec: {
        volumes: [
          { name: "tls", secret: { secretName: "smtp-tls" } },
          { name: "one", secret: { secretName: "smtp-tls", items: [{ key: "tls.key", path: "key.pem" }] } },
          { name: "maybe", secret: { secretName: "absent", optional: true } },
        ],
      },
    };
    const container = {
      name: "relay",
      volumeMounts: [
        { name: "tls", mountPath: "/etc/tls" },
        { name: "one", mountPath: "/etc/one" },
        { name: "maybe", mountPath: "/etc/maybe" },
      ],
    };
    const secret = {
      data: {
        "tls.crt": Buffer.from("CERT").toString("base64"),
        "tls.key": Buffer.from("KEY").toString("base64"),
      },
    };
    const lookups = {
      secret: (name: string) => (name === "smtp-tls" ? secret : undefined),
      configMap: () => undefined,
    };
    const plan = planVolumes(pod, container, { pod: "/pods/p", claims: "/claims" }, lookups);
    expect(plan.mounts.map((m) => [m.mountPath, Object.keys(m.files ?? {})])).toEqual([
      ["/etc/tls", ["tls.crt", "tls.key"]],
      ["/etc/one", ["key.pem"]],
      ["/etc/maybe", []],
    ]);
    expect(plan.mounts[0]?.files?.["tls.crt"]?.toString()).toBe("CERT");

    const strict = { ...pod, spec: { volumes: [{ name: "tls", secret: { secretName: "absent" } }] } };
    expect(() =>
      planVolumes(
        strict,
        { name: "relay", volumeMounts: [{ name: "tls", mountPath: "/x" }] },
        { pod: "/p", claims: "/c" },
        lookups,
      ),
    ).toThrow("secret absent not found");
    const badItem = {
      ...pod,
      spec: {
        volumes: [
          { name: "tls", secret: { secretName: "smtp-tls", items: [{ key: "ca.crt", path: "ca" }] } },
        ],
      },
    };
    expect(() =>
      planVolumes(
        badItem,
        { name: "relay", volumeMounts: [{ name: "tls", mountPath: "/x" }] },
        { pod: "/p", claims: "/c" },
        lookups,
      ),
    ).toThrow("secret smtp-tls has no key ca.crt");
  });
});
