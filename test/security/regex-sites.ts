/**
 * Every regular expression written in a set of TypeScript files, found with the TypeScript
 * compiler (not by grepping, which misses `new RegExp(...)` built from constants and trips on
 * division): regex literals, `new RegExp(...)` / `RegExp(...)`, and the string patterns that
 * `match` and `search` turn into regexes. Template parts whose type is a literal (a `const`
 * string or number, wherever it is declared) are filled in; anything else is left as
 * `${expression}` and the site is marked dynamic, for a person to review.
 */
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

export interface RegexSite {
  /** Relative to the root given to findRegexSites, with forward slashes. */
  file: string;
  line: number;
  /** The pattern as written, constants filled in; dynamic parts as `${expression}`. */
  source: string;
  flags: string;
  /** Some part is only known at run time (its `${expression}` remains in `source`). */
  dynamic: boolean;
}

/** The .ts files under `dir` that ship: no tests, no declaration files. */
export function shippedSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...shippedSources(path));
    else if (/\.ts$/.test(entry.name) && !/\.(test|d)\.ts$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

export function findRegexSites(files: readonly string[], root: string): RegexSite[] {
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const sites: RegexSite[] = [];
  for (const file of files) {
    const sourceFile = program.getSourceFile(file);
    if (!sourceFile) throw new Error(`TypeScript did not load ${file}`);
    const name = relative(root, file).split("\\").join("/");
    const at = (node: ts.Node) =>
      sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1;
    const visit = (node: ts.Node): void => {
      if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
        const text = node.getText(sourceFile);
        const slash = text.lastIndexOf("/");
        sites.push({
          file: name,
          line: at(node),
          source: text.slice(1, slash),
          flags: text.slice(slash + 1),
          dynamic: false,
        });
      } else if (isRegExpConstruction(node)) {
        const [patternArg, flagsArg] = node.arguments ?? [];
        if (patternArg) {
          const pattern = constantText(patternArg, checker, sourceFile);
          const flags = flagsArg ? constantText(flagsArg, checker, sourceFile) : { text: "", dynamic: false };
          sites.push({
            file: name,
            line: at(node),
            source: pattern.text,
            flags: flags.text,
            dynamic: pattern.dynamic || flags.dynamic,
          });
        }
      } else if (isStringPatternCall(node)) {
        const pattern = node.arguments[0] as ts.StringLiteralLike;
        sites.push({ file: name, line: at(node), source: pattern.text, flags: "", dynamic: false });
      }
      ts.forEachChild(node, visit);
    };
    visit(sourceFile);
  }
  return sites;
}

function isRegExpConstruction(node: ts.Node): node is ts.NewExpression | ts.CallExpression {
  return (
    (ts.isNewExpression(node) || ts.isCallExpression(node)) &&
    ts.isIdentifier(node.expression) &&
    node.expression.text === "RegExp"
  );
}

/** `text.match("...")` and `text.search("...")`: the string becomes a regex. */
function isStringPatternCall(node: ts.Node): node is ts.CallExpression {
  if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return false;
  const method = node.expression.name.text;
  const first = node.arguments[0];
  return (method === "match" || method === "search") && first !== undefined && ts.isStringLiteralLike(first);
}

/** The run-time text of an expression when the compiler knows it; `${...}` where it does not. */
function constantText(
  expression: ts.Expression,
  checker: ts.TypeChecker,
  sourceFile: ts.SourceFile,
): { text: string; dynamic: boolean } {
  if (ts.isStringLiteralLike(expression)) return { text: expression.text, dynamic: false };
  if (ts.isTemplateExpression(expression)) {
    let text = expression.head.text;
    let dynamic = false;
    for (const span of expression.templateSpans) {
      const part = constantText(span.expression, checker, sourceFile);
      text += part.text + span.literal.text;
      dynamic ||= part.dynamic;
    }
    return { text, dynamic };
  }
  const type = checker.getTypeAtLocation(expression);
  if (type.isStringLiteral()) return { text: type.value, dynamic: false };
  if (type.isNumberLiteral()) return { text: String(type.value), dynamic: false };
  return { text: `\${${expression.getText(sourceFile)}}`, dynamic: true };
}
