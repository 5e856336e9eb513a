import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DataGuard } from "./data-guard.js";

function run(chunks: (string | Buffer)[], maxBytes = 1 << 20) {
  const guard = new DataGuard({ maxBytes });
  const out: Buffer[] = [];
  for (const chunk of chunks)
    out.push(...guard.feed(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, "latin1")));
  out.push(...guard.end());
  return { guard, text: Buffer.concat(out).toString("latin1") };
}

/** Every way to cut `text` in two, to prove chunk boundaries never matter. */
function splits(text: string): string[][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
}

describe("DataGuard", () => {
  it("passes CRLF mail through untouched and finds the header block", () => {
    const mail = "From: a@b.test\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n.line\r\n";
    for (const chunks of splits(mail)) {
      const { guard, text } = run(chunks);
      expect(text).toBe(mail);
      expect(guard.problem).toBeUndefined();
      expect(guard.header?.toString()).toBe("From: a@b.test\r\nReceived: x\r\nSubject: hi\r\n\r\n");
    }
  });

  it.each([
    ["bare LF before the dot", "Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@victim.test>\r\n"],
    ["bare LF on both sides", "Subject: x\r\n\r\nhello\n.\nMAIL FROM:<ceo@victim.test>\r\n"],
    ["bare CR before the dot", "Subject: x\r\n\r\nhello\r.\r\nMAIL FROM:<ceo@victim.test>\r\n"],
    ["bare CR on both sides", "Subject: x\r\n\r\nhello\r.\rMAIL FROM:<ceo@victim.test>\r\n"],
    ["bare LF after the dot", "Subject: x\r\n\r\nhello\r\n.\nMAIL FROM:<ceo@victim.test>\r\n"],
    ["bare CR after the dot", "Subject: x\r\n\r\nhello\r\n.\rMAIL FROM:<ceo@victim.test>\r\n"],
  ])("refuses a smuggling attempt: %s, wherever the chunks split", (_name, mail) => {
    for (const chunks of splits(mail)) {
      const { guard, text } = run(chunks);
      expect(guard.problem?.code).toBe("smuggling");
      expect(text).not.toContain("MAIL FROM");
    }
  });

  it("turns other bare LF and CR into CRLF", () => {
    for (const chunks of splits("Subject: x\n\nline one\nline two\rline three\r\n")) {
      const { guard, text } = run(chunks);
      expect(guard.problem).toBeUndefined();
      expect(text).toBe("Subject: x\r\n\r\nline one\r\nline two\r\nline three\r\n");
      expect(guard.header?.toString()).toBe("Subject: x\r\n\r\n");
    }
  });

  it("keeps a dot-only line sent with CRLF (the client dot-stuffed it)", () => {
    const { guard, text } = run(["Subject: x\r\n\r\na\r\n.\r\nb\r\n"]);
    expect(guard.problem).toBeUndefined();
    expect(text).toBe("Subject: x\r\n\r\na\r\n.\r\nb\r\n");
  });

  it("refuses NUL bytes", () => {
    expect(run(["Subject: x\r\n\r\nab\0c\r\n"]).guard.problem?.code).toBe("nul");
  });

  it("stops at the size limit", () => {
    const { guard, text } = run(["Subject: x\r\n\r\n", "a".repeat(100)], 50);
    expect(guard.problem?.code).toBe("too_large");
    expect(text).not.toContain("a");
  });

  it("caps the header block and counts Received: lines", () => {
    const bomb = `${"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(40_000)}\r\nbody\r\n`;
    expect(run([bomb], 10 << 20).guard.problem?.code).toBe("header_too_large");
    const loop = `${"Received: from a by b\r\n".repeat(101)}Subject: x\r\n\r\nbody\r\n`;
    expect(run([loop]).guard.problem?.code).toBe("too_many_hops");
    const fine = `${"Received: from a by b\r\n".repeat(100)}Subject: x\r\n\r\nbody\r\n`;
    expect(run([fine]).guard.problem).toBeUndefined();
  });

  it("takes a message without a body as all header", () => {
    const { guard, text } = run(["From: a@b.test\r\nSubject: only headers\r\n"]);
    expect(guard.problem).toBeUndefined();
    expect(text).toBe("From: a@b.test\r\nSubject: only headers\r\n");
    expect(guard.header?.toString()).toBe("From: a@b.test\r\nSubject: only headers\r\n");
  });

  it("handles a message with no header", () => {
    const { guard } = run(["\r\nbody only\r\n"]);
    expect(guard.header?.length).toBe(0);
  });

  it("property: output has only CRLF line ends and equals the input with bare ends replaced", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "b", ".", "\r", "\n", "\r\n", "Received: x", ":"), { maxLength: 60 }),
        fc.nat(),
        (pieces, cut) => {
          const input = `Subject: t\r\n\r\n${pieces.join("")}\r\n`;
          const at = cut % (input.length + 1);
          const { guard, text } = run([input.slice(0, at), input.slice(at)]);
          if (guard.problem) return guard.problem.code === "smuggling";
          const expected = input.replace(/\r\n|\r|\n/g, "\r\n");
          return text === expected && !/\r(?!\n)|(?<!\r)\n/.test(text);
        },
      ),
    );
  });
});
