/**
 * Answer Markdown rendered through JupyterLab's rendermime: the app's Markdown parser
 * (code highlighting), its LaTeX typesetter and its HTML sanitizer.
 *
 * Model text is never trusted: it is always rendered with `trusted: false`, so the
 * sanitizer strips scripts, event-handler attributes and other active content before
 * anything reaches the page, and `sanitize.ts` hardens what it lets through.
 *
 * While an answer streams, its text changes many times a second; rendering is
 * throttled, never overlaps (a render that finds newer text waiting renders again),
 * and math is typeset only once the answer is complete.
 */

import { IRenderMime, IRenderMimeRegistry, renderMarkdown } from '@jupyterlab/rendermime';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';

import { makeButton } from './dom';
import { guardLinkClick, strictSanitizer } from './sanitize';

/** Milliseconds between two renders of a streaming text. */
export const RENDER_INTERVAL_MS = 60;

/** What the code-block buttons do. */
export interface ICodeActions {
  /** Copy code to the clipboard. */
  copy(code: string): void;
  /** Insert code as a new cell below the active cell of the active notebook. */
  insert(code: string): void;
}

/**
 * One run of answer Markdown.
 */
export class MarkdownView {
  constructor(options: MarkdownView.IOptions) {
    this._rendermime = options.rendermime;
    this._actions = options.actions;
    this._translator = options.translator;
    this._trans = options.trans;
    this._onRender = options.onRender;
    this._sanitizer = strictSanitizer(options.rendermime.sanitizer);
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Markdown jp-RenderedHTMLCommon jp-RenderedMarkdown';
    this.node.addEventListener('click', guardLinkClick, true);
  }

  /** The rendered Markdown. */
  readonly node: HTMLElement;

  /**
   * Show `text`.  While `final` is false the render is throttled; the final render
   * happens as soon as possible and typesets math.
   */
  setText(text: string, final: boolean): void {
    if (this._disposed) {
      return;
    }
    this._text = text;
    this._final = final;
    if (final) {
      if (this._timer !== null) {
        window.clearTimeout(this._timer);
        this._timer = null;
      }
      void this._render();
      return;
    }
    if (this._timer === null) {
      this._timer = window.setTimeout(() => {
        this._timer = null;
        void this._render();
      }, RENDER_INTERVAL_MS);
    }
  }

  /** Resolves when the text given last is on screen. */
  get rendered(): Promise<void> {
    return this._renderDone;
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    this.node.remove();
  }

  private async _render(): Promise<void> {
    if (this._rendering) {
      this._again = true;
      return;
    }
    this._rendering = true;
    let resolve: () => void = () => undefined;
    this._renderDone = new Promise<void>(r => (resolve = r));
    try {
      do {
        this._again = false;
        const text = this._text;
        const final = this._final;
        if (text === this._shownText && final === this._shownFinal) {
          continue;
        }
        const rm = this._rendermime;
        try {
          await renderMarkdown({
            host: this.node,
            source: text,
            trusted: false,
            sanitizer: this._sanitizer,
            resolver: null,
            linkHandler: null,
            shouldTypeset: final,
            latexTypesetter: final ? rm.latexTypesetter : null,
            markdownParser: rm.markdownParser,
            translator: this._translator
          });
        } catch (err) {
          // A parser failure must not lose the answer: show it as plain text.
          console.warn('jupyter-tutor: Markdown rendering failed', err);
          this.node.textContent = text;
        }
        if (this._disposed) {
          return;
        }
        decorateCodeBlocks(this.node, this._actions, this._trans);
        this._shownText = text;
        this._shownFinal = final;
        this._onRender?.();
      } while (this._again && !this._disposed);
    } finally {
      this._rendering = false;
      resolve();
    }
  }

  private readonly _rendermime: IRenderMimeRegistry;
  /** The app's sanitizer, hardened further (see `strictSanitizer`). */
  private readonly _sanitizer: IRenderMime.ISanitizer;
  private readonly _actions: ICodeActions;
  private readonly _translator: ITranslator | undefined;
  private readonly _trans: TranslationBundle;
  private readonly _onRender: (() => void) | undefined;
  /** The latest text given. */
  private _text = '';
  /** Whether the latest text is complete. */
  private _final = false;
  /** What is on screen. */
  private _shownText: string | null = null;
  private _shownFinal = false;
  /** The pending throttled render. */
  private _timer: number | null = null;
  /** A render is running (rendering is async). */
  private _rendering = false;
  /** Newer text arrived during a render. */
  private _again = false;
  private _renderDone: Promise<void> = Promise.resolve();
  private _disposed = false;
}

export namespace MarkdownView {
  export interface IOptions {
    rendermime: IRenderMimeRegistry;
    actions: ICodeActions;
    trans: TranslationBundle;
    translator?: ITranslator;
    /** Called after each render (the panel keeps the newest text in view). */
    onRender?: () => void;
  }
}

/**
 * Give every code block of rendered Markdown a toolbar with Copy and Insert.
 * The buttons read the block's text when clicked, so they are safe to add to a
 * block that is re-rendered later.
 */
export function decorateCodeBlocks(
  host: HTMLElement,
  actions: ICodeActions,
  trans: TranslationBundle
): void {
  host.querySelectorAll('pre').forEach(pre => {
    if (pre.parentElement?.classList.contains('jp-tutor-CodeBlock')) {
      return;
    }
    const wrapper = document.createElement('div');
    wrapper.className = 'jp-tutor-CodeBlock';
    pre.replaceWith(wrapper);
    wrapper.appendChild(pre);

    const toolbar = document.createElement('div');
    toolbar.className = 'jp-tutor-CodeBlock-toolbar';
    const code = () => (pre.textContent ?? '').replace(/\n$/, '');

    const copy = makeButton(trans.__('Copy'), trans.__('Copy code'), 'tutor-copy-code');
    copy.addEventListener('click', () => {
      actions.copy(code());
      copy.textContent = trans.__('Copied');
      window.setTimeout(() => (copy.textContent = trans.__('Copy')), 1500);
    });
    const insert = makeButton(
      trans.__('Insert below'),
      trans.__('Insert code in a new cell below the active cell'),
      'tutor-insert-code'
    );
    insert.addEventListener('click', () => actions.insert(code()));
    toolbar.append(copy, insert);
    wrapper.insertBefore(toolbar, pre);
  });
}
