/**
 * The course passages an answer is grounded in ("Sources from the course"): one button
 * per passage that opens the course notebook at its cell.  A passage of a Markdown or
 * Python file has no cell (`cell` null): it names the file only.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import type { ICitation } from './state';

/** Longest passage shown as a source's tooltip (characters). */
const TOOLTIP_CHARS = 300;

/** Where a passage is, for the student: `path, cell N` (1-based), or the path alone. */
export function citationPlace(trans: TranslationBundle, citation: ICitation): string {
  return citation.cell === null
    ? citation.path
    : trans.__('%1, cell %2', citation.path, citation.cell + 1);
}

export class CitationList {
  constructor(options: CitationList.IOptions) {
    this._options = options;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Citations';
    this.node.dataset.testid = 'tutor-citations';
  }

  readonly node: HTMLElement;

  /** Show `citations` (hidden when there are none). */
  render(citations: readonly ICitation[]): void {
    const trans = this._options.trans;
    this.node.textContent = '';
    this.node.hidden = citations.length === 0;
    if (!citations.length) {
      return;
    }
    const title = document.createElement('div');
    title.className = 'jp-tutor-Citations-title';
    title.textContent = trans.__('Sources from the course');
    const list = document.createElement('ul');
    for (const c of citations) {
      const item = document.createElement('li');
      item.appendChild(this._createLink(c));
      list.appendChild(item);
    }
    this.node.append(title, list);
  }

  private _createLink(c: ICitation): HTMLButtonElement {
    const trans = this._options.trans;
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'jp-tutor-Citation';
    link.dataset.testid = 'tutor-citation';
    link.dataset.path = c.path;
    if (c.cell !== null) {
      link.dataset.cell = String(c.cell);
    }
    const where = citationPlace(trans, c);
    link.setAttribute('aria-label', trans.__('Open %1 at %2', c.heading || c.path, where));
    if (c.text) {
      link.title =
        c.text.length > TOOLTIP_CHARS ? c.text.slice(0, TOOLTIP_CHARS - 1) + '…' : c.text;
    }
    const heading = document.createElement('span');
    heading.className = 'jp-tutor-Citation-heading';
    heading.textContent = c.heading || c.path;
    const meta = document.createElement('span');
    meta.className = 'jp-tutor-Citation-meta';
    meta.textContent = c.course ? `${c.course} · ${where}` : where;
    link.append(heading, meta);
    link.addEventListener('click', () => this._options.openCitation(c));
    return link;
  }

  private readonly _options: CitationList.IOptions;
}

export namespace CitationList {
  export interface IOptions {
    trans: TranslationBundle;
    /** Open the course file of a passage (at its cell, if it has one). */
    openCitation: (citation: ICitation) => void;
  }
}
