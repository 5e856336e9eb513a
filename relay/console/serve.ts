/**
 * The web console: a static single page under /console/ on the API
 * listener. It holds no data of its own; the page calls the /v1 API with the
 * token the user signs in with.
 *
 * Its browser modules are TypeScript in ./app. `npm run build` compiles them
 * next to this file in dist/; when the relay runs from source (tsx, tests) the
 * .js is missing and the .ts is transpiled on first request with the
 * typescript dev dependency, then kept in memory.
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";

const APP_DIR = new URL("./app/", import.meta.url);

/**
 * No inline script or style, no third-party origin, nothing framed, and with
 * Trusted Types required a stray innerHTML throws instead of parsing markup:
 * the page builds every element with createElement and textContent.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-cache",
} as const;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  svg: "image/svg+xml",
};

/** One flat name per file: nothing outside ./app can be named, whatever the path says. */
const FILE_NAME = /^[a-z][a-z0-9-]{0,40}\.(html|css|js|svg)$/;

export function isConsolePath(pathname: string): boolean {
  return pathname === "/console" || pathname.startsWith("/console/");
}

/** Which file a console path names, or undefined (404); pure. */
export function consoleFileFor(pathname: string): string | undefined {
  const rest = pathname.slice("/console/".length);
  if (rest === "") return "index.html";
  return FILE_NAME.test(rest) ? rest : undefined;
}

const transpiled = new Map<string, string>();

async function readAsset(name: string): Promise<string | undefined> {
  try {
    return await readFile(new URL(name, APP_DIR), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (!name.endsWith(".js")) return undefined;
  const cached = transpiled.get(name);
  if (cached !== undefined) return cached;
  let source: string;
  try {
    source = await readFile(new URL(name.replace(/\.js$/, ".ts"), APP_DIR), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const ts = (await import("typescript")).default;
  const output = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  transpiled.set(name, output);
  return output;
}

function plain(response: ServerResponse, status: number, text: string, extra: Record<string, string> = {}) {
  response.writeHead(status, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8", ...extra });
  response.end(text);
}

export async function serveConsole(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const pathname = new URL(request.url ?? "/", "http://console.invalid").pathname;
  if (request.method !== "GET" && request.method !== "HEAD") {
    plain(response, 405, "use GET\n", { allow: "GET, HEAD" });
    return;
  }
  if (pathname === "/console") {
    plain(response, 301, "moved to /console/\n", { location: "/console/" });
    return;
  }
  const name = consoleFileFor(pathname);
  const body = name ? await readAsset(name) : undefined;
  if (!name || body === undefined) {
    plain(response, 404, "not found\n");
    return;
  }
  const type = TYPES[name.split(".").pop() ?? ""] ?? "application/octet-stream";
  response.writeHead(200, { ...SECURITY_HEADERS, "content-type": type });
  response.end(request.method === "HEAD" ? undefined : body);
}
