/**
 * A subset of CEL, enough for the x-kubernetes-validations rules CRDs usually
 * carry: self/oldSelf, field access, has(), size(), comparisons, arithmetic,
 * && || ! ?:, `in`, string methods and the all/exists/exists_one/map/filter
 * macros. A rule outside the subset is refused when the CRD is created, so a
 * test never passes on a rule nobody evaluated.
 */
import { isObject, type Json } from "./json.js";

type Node =
  | { kind: "literal"; value: Json }
  | { kind: "ident"; name: string }
  | { kind: "select"; target: Node; field: string }
  | { kind: "index"; target: Node; index: Node }
  | { kind: "call"; name: string; target?: Node; args: Node[] }
  | { kind: "unary"; op: string; operand: Node }
  | { kind: "binary"; op: string; left: Node; right: Node }
  | { kind: "ternary"; condition: Node; then: Node; otherwise: Node }
  | { kind: "list"; items: Node[] };

export class CelError extends Error {}

const TOKEN =
  /\s*(?:(\d+\.\d+|\d+)(u?)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()[\]{}]))/y;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const match = TOKEN.exec(source);
    if (!match) throw new CelError(`Syntax error: unexpected character at ${TOKEN.lastIndex}`);
    tokens.push(match[0].trim().replace(/u$/, ""));
  }
  return tokens;
}

const METHODS = new Set([
  "size",
  "startsWith",
  "endsWith",
  "contains",
  "matches",
  "lowerAscii",
  "upperAscii",
  "trim",
  "split",
  "join",
  "indexOf",
]);
const FUNCTIONS = new Set(["size", "int", "double", "string", "has", "matches"]);
const MACROS = new Set(["all", "exists", "exists_one", "map", "filter"]);

class Parser {
  private position = 0;
  constructor(private readonly tokens: string[]) {}

  parse(): Node {
    const node = this.ternary();
    if (this.position < this.tokens.length)
      throw new CelError(`Syntax error: unexpected '${this.tokens[this.position]}'`);
    return node;
  }

  private peek(): string | undefined {
    return this.tokens[this.position];
  }

  private take(expected?: string): string {
    const token = this.tokens[this.position];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new CelError(
        `Syntax error: expected '${expected ?? "a token"}', found '${token ?? "end of input"}'`,
      );
    }
    this.position += 1;
    return token;
  }

  private ternary(): Node {
    const condition = this.binary(0);
    if (this.peek() !== "?") return condition;
    this.take("?");
    const then = this.ternary();
    this.take(":");
    return { kind: "ternary", condition, then, otherwise: this.ternary() };
  }

  private static readonly LEVELS = [
    ["||"],
    ["&&"],
    ["==", "!=", "<", "<=", ">", ">=", "in"],
    ["+", "-"],
    ["*", "/", "%"],
  ];

  private binary(level: number): Node {
    const ops = Parser.LEVELS[level];
    if (!ops) return this.unary();
    let left = this.binary(level + 1);
    for (let op = this.peek(); op !== undefined && ops.includes(op); op = this.peek()) {
      this.take();
      left = { kind: "binary", op, left, right: this.binary(level + 1) };
    }
    return left;
  }

  private unary(): Node {
    const op = this.peek();
    if (op === "!" || op === "-") {
      this.take();
      return { kind: "unary", op, operand: this.unary() };
    }
    return this.member();
  }

  private member(): Node {
    let node = this.primary();
    for (;;) {
      if (this.peek() === ".") {
        this.take(".");
        const field = this.take();
        if (this.peek() === "(") {
          if (!METHODS.has(field) && !MACROS.has(field))
            throw new CelError(`undeclared reference to '${field}'`);
          node = { kind: "call", name: field, target: node, args: this.args() };
        } else node = { kind: "select", target: node, field };
      } else if (this.peek() === "[") {
        this.take("[");
        node = { kind: "index", target: node, index: this.ternary() };
        this.take("]");
      } else return node;
    }
  }

  private args(): Node[] {
    this.take("(");
    const args: Node[] = [];
    while (this.peek() !== ")") {
      args.push(this.ternary());
      if (this.peek() === ",") this.take(",");
    }
    this.take(")");
    return args;
  }

  private primary(): Node {
    const token = this.take();
    if (token === "(") {
      const inner = this.ternary();
      this.take(")");
      return inner;
    }
    if (token === "[") {
      const items: Node[] = [];
      while (this.peek() !== "]") {
        items.push(this.ternary());
        if (this.peek() === ",") this.take(",");
      }
      this.take("]");
      return { kind: "list", items };
    }
    if (/^\d/.test(token)) return { kind: "literal", value: Number(token) };
    if (/^["']/.test(token))
      return {
        kind: "literal",
        value: JSON.parse(`"${token.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`),
      };
    if (token === "true" || token === "false") return { kind: "literal", value: token === "true" };
    if (token === "null") return { kind: "literal", value: null };
    if (/^[A-Za-z_]/.test(token)) {
      if (this.peek() === "(") {
        if (!FUNCTIONS.has(token)) throw new CelError(`undeclared reference to '${token}'`);
        return { kind: "call", name: token, args: this.args() };
      }
      return { kind: "ident", name: token };
    }
    throw new CelError(`Syntax error: unexpected '${token}'`);
  }
}

export function compileRule(rule: string): Node {
  return new Parser(tokenize(rule)).parse();
}

type Scope = Record<string, Json | undefined>;

function truthy(value: Json | undefined, what: string): boolean {
  if (typeof value !== "boolean") throw new CelError(`no such overload: ${what} on ${typeof value}`);
  return value;
}

function sizeOf(value: Json | undefined): number {
  if (typeof value === "string") return [...value].length;
  if (Array.isArray(value)) return value.length;
  if (isObject(value)) return Object.keys(value).length;
  throw new CelError("no matching overload for 'size'");
}

function equal(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function select(target: Json | undefined, field: string): Json {
  if (!isObject(target) || target[field] === undefined) throw new CelError(`no such key: ${field}`);
  return target[field] as Json;
}

function evaluate(node: Node, scope: Scope): Json {
  switch (node.kind) {
    case "literal":
      return node.value;
    case "ident": {
      if (!(node.name in scope)) throw new CelError(`undeclared reference to '${node.name}'`);
      return scope[node.name] ?? null;
    }
    case "list":
      return node.items.map((item) => evaluate(item, scope));
    case "select":
      return select(evaluate(node.target, scope), node.field);
    case "index": {
      const target = evaluate(node.target, scope);
      const index = evaluate(node.index, scope);
      if (Array.isArray(target) && typeof index === "number") {
        const item = target[index];
        if (item === undefined) throw new CelError(`index out of bounds: ${index}`);
        return item;
      }
      return select(target, String(index));
    }
    case "unary": {
      const operand = evaluate(node.operand, scope);
      if (node.op === "!") return !truthy(operand, "!");
      if (typeof operand !== "number") throw new CelError("no such overload: -");
      return -operand;
    }
    case "ternary":
      return truthy(evaluate(node.condition, scope), "?:")
        ? evaluate(node.then, scope)
        : evaluate(node.otherwise, scope);
    case "binary":
      return evaluateBinary(node.op, node.left, node.right, scope);
    case "call":
      return evaluateCall(node, scope);
  }
}

function evaluateBinary(op: string, leftNode: Node, rightNode: Node, scope: Scope): Json {
  if (op === "&&" || op === "||") {
    // CEL's commutative logic: an error on one side is absorbed if the other side decides.
    let left: boolean | CelError;
    try {
      left = truthy(evaluate(leftNode, scope), op);
    } catch (error) {
      if (!(error instanceof CelError)) throw error;
      left = error;
    }
    if (left === (op === "||")) return left;
    const right = truthy(evaluate(rightNode, scope), op);
    if (left instanceof CelError) {
      if (right === (op === "||")) return right;
      throw left;
    }
    return right;
  }
  const left = evaluate(leftNode, scope);
  const right = evaluate(rightNode, scope);
  switch (op) {
    case "==":
      return equal(left, right);
    case "!=":
      return !equal(left, right);
    case "in":
      if (Array.isArray(right)) return right.some((item) => equal(item, left));
      if (isObject(right)) return typeof left === "string" && left in right;
      throw new CelError("no such overload: in");
  }
  if (op === "+" && typeof left === "string" && typeof right === "string") return left + right;
  if (op === "+" && Array.isArray(left) && Array.isArray(right)) return [...left, ...right];
  if (typeof left === "string" && typeof right === "string") {
    if (op === "<") return left < right;
    if (op === "<=") return left <= right;
    if (op === ">") return left > right;
    if (op === ">=") return left >= right;
  }
  if (typeof left !== "number" || typeof right !== "number") throw new CelError(`no such overload: ${op}`);
  const integers = Number.isInteger(left) && Number.isInteger(right);
  switch (op) {
    case "<":
      return left < right;
    case "<=":
      return left <= right;
    case ">":
      return left > right;
    case ">=":
      return left >= right;
    case "+":
      return left + right;
    case "-":
      return left - right;
    case "*":
      return left * right;
    case "/":
      if (right === 0 && integers) throw new CelError("division by zero");
      return integers ? Math.trunc(left / right) : left / right;
    case "%":
      if (right === 0) throw new CelError("modulus by zero");
      return left % right;
  }
  throw new CelError(`unknown operator ${op}`);
}

function evaluateCall(node: Extract<Node, { kind: "call" }>, scope: Scope): Json {
  if (!node.target) {
    const [first] = node.args;
    if (!first) throw new CelError(`${node.name} needs an argument`);
    if (node.name === "has") {
      if (first.kind !== "select") throw new CelError("invalid argument to has() macro");
      const target = evaluate(first.target, scope);
      return isObject(target) && target[first.field] !== undefined;
    }
    const value = evaluate(first, scope);
    if (node.name === "size") return sizeOf(value);
    if (node.name === "int") return Math.trunc(Number(value));
    if (node.name === "double") return Number(value);
    if (node.name === "string") return typeof value === "string" ? value : JSON.stringify(value);
    if (node.name === "matches")
      return new RegExp(String(evaluate(node.args[1] ?? first, scope)), "u").test(String(value));
    throw new CelError(`undeclared reference to '${node.name}'`);
  }
  const target = evaluate(node.target, scope);
  if (MACROS.has(node.name)) return evaluateMacro(node.name, target, node.args, scope);
  const args = node.args.map((arg) => evaluate(arg, scope));
  const text = typeof target === "string" ? target : undefined;
  const arg = typeof args[0] === "string" ? args[0] : "";
  switch (node.name) {
    case "size":
      return sizeOf(target);
    case "startsWith":
      return text?.startsWith(arg) ?? false;
    case "endsWith":
      return text?.endsWith(arg) ?? false;
    case "contains":
      return text?.includes(arg) ?? false;
    case "matches":
      return new RegExp(arg, "u").test(text ?? "");
    case "lowerAscii":
      return text?.toLowerCase() ?? "";
    case "upperAscii":
      return text?.toUpperCase() ?? "";
    case "trim":
      return text?.trim() ?? "";
    case "split":
      return text?.split(arg) ?? [];
    case "join":
      return Array.isArray(target) ? target.map(String).join(arg) : "";
    case "indexOf":
      return text?.indexOf(arg) ?? -1;
  }
  throw new CelError(`undeclared reference to '${node.name}'`);
}

function evaluateMacro(name: string, target: Json, args: Node[], scope: Scope): Json {
  const [variable, body] = args;
  if (variable?.kind !== "ident" || !body) throw new CelError(`${name}() needs a variable and an expression`);
  const items = Array.isArray(target) ? target : isObject(target) ? Object.keys(target) : [];
  const run = (item: Json) => evaluate(body, { ...scope, [variable.name]: item });
  switch (name) {
    case "all":
      return items.every((item) => truthy(run(item), "all"));
    case "exists":
      return items.some((item) => truthy(run(item), "exists"));
    case "exists_one":
      return items.filter((item) => truthy(run(item), "exists_one")).length === 1;
    case "map":
      return items.map(run);
    default:
      return items.filter((item) => truthy(run(item), "filter"));
  }
}

/** Whether a compiled rule mentions oldSelf: such transition rules only run on updates. */
export function usesOldSelf(node: Node): boolean {
  return JSON.stringify(node).includes('"name":"oldSelf"');
}

export function evaluateRule(node: Node, self: Json, oldSelf: Json | undefined): Json {
  return evaluate(node, { self, oldSelf });
}
