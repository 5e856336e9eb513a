#!/usr/bin/env node
// tsc compiles TypeScript only; copy the non-TS files the relay loads at run
// time (Redis Lua scripts, ...) next to the compiled code in dist/.
import { cpSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const ASSET = /\.(lua|html|css|gif|svg|json)$/;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (ASSET.test(name) && !name.endsWith(".test.json")) cpSync(path, join("dist", path));
  }
}
for (const root of ["relay", "operator"]) {
  try {
    walk(root);
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
}
