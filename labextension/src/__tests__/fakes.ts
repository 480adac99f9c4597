/**
 * Stand-ins for the few JupyterLab objects the views take, for tests without a browser.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

/** Replace `%1`, `%2`… as JupyterLab's translation does (no translation). */
function format(text: string, args: unknown[]): string {
  return text.replace(/%(\d+)/g, (_, i) => String(args[Number(i) - 1]));
}

/** A translation bundle that returns the English text, with its placeholders filled. */
export const trans = {
  __: (text: string, ...args: unknown[]) => format(text, args),
  _n: (one: string, many: string, n: number, ...args: unknown[]) =>
    format(n === 1 ? one : many, args)
} as unknown as TranslationBundle;
