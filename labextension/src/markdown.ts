/**
 * Answer Markdown rendered through JupyterLab's rendermime: the app's Markdown parser
 * (code highlighting), its LaTeX typesetter and its HTML sanitizer.
 *
 * Model text is never trusted: it is always rendered with `trusted: false`, so the
 * sanitizer strips scripts, event-handler attributes and other active content before
 * anything reaches the page.
 *
 * While an answer streams, its text changes many times a second; rendering is
 * throttled, never overlaps (a render that finds newer text waiting renders again),
 * and math is typeset only once the answer is complete.
 */

import { IRenderMime, IRenderMimeRegistry, renderMarkdown } from '@jupyterlab/rendermime';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';

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

/** A small text button with an accessible label and a test id. */
export function makeButton(label: string, ariaLabel: string, testId: string): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jp-tutor-Button';
  button.textContent = label;
  button.setAttribute('aria-label', ariaLabel);
  button.title = ariaLabel;
  button.dataset.testid = testId;
  return button;
}

/** Elements model text may never create, even where the app's sanitizer would allow them. */
const FORBIDDEN_ELEMENTS =
  'script, iframe, frame, frameset, object, embed, applet, form, base, meta, link, style, noscript, template';

/** URL attributes whose value is checked for a safe scheme. */
const URL_ATTRIBUTES = [
  'href',
  'src',
  'xlink:href',
  'action',
  'formaction',
  'poster',
  'background'
];

/** The schemes a link or image of an answer may use; relative URLs have none. */
const SAFE_SCHEMES = ['http', 'https', 'mailto'];

/**
 * Remove anything active from sanitized HTML: scripts and embedded documents, event
 * handler attributes, JupyterLab command links and `javascript:`-style URLs.  Images
 * become their alt text: an image URL written by the model could carry what it read
 * (the student's code) to another site the moment it loads.  The HTML is parsed in an
 * inert `<template>`, so nothing in it loads or runs here.
 */
export function hardenHtml(html: string): string {
  const template = document.createElement('template');
  template.innerHTML = html;
  const root = template.content;
  root.querySelectorAll(FORBIDDEN_ELEMENTS).forEach(el => el.remove());
  root.querySelectorAll('img, picture, video, audio, source, track, image').forEach(el => {
    const alt = (el.getAttribute('alt') ?? '').trim();
    if (alt && el.localName === 'img') {
      const span = document.createElement('span');
      span.className = 'jp-tutor-ImageAlt';
      span.textContent = `[${alt}]`;
      el.replaceWith(span);
    } else {
      el.remove();
    }
  });
  root.querySelectorAll('*').forEach(el => {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (
        name.startsWith('on') ||
        name.startsWith('data-commandlinker') ||
        name === 'srcdoc' ||
        name === 'srcset'
      ) {
        el.removeAttribute(attr.name);
      } else if (URL_ATTRIBUTES.includes(name) && !isSafeUrl(attr.value)) {
        el.removeAttribute(attr.name);
      } else if (name === 'style' && /url\s*\(|image-set|expression|@import/i.test(attr.value)) {
        el.removeAttribute(attr.name); // styles must not load anything either
      }
    }
  });
  return template.innerHTML;
}

/** Whether a URL uses a scheme an answer may link to (http, https, mailto, relative). */
export function isSafeUrl(url: string): boolean {
  // Browsers ignore control characters and whitespace inside a scheme ("java\tscript:").
  // eslint-disable-next-line no-control-regex
  const compact = url.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(compact);
  return !scheme || SAFE_SCHEMES.includes(scheme[1].toLowerCase());
}

/**
 * The app's sanitizer followed by `hardenHtml`, never allowing command links.  With
 * this, sanitized output never holds a `<script>`, so `renderHTML` never offers its
 * "Run" button for untrusted scripts either.
 */
export function strictSanitizer(base: IRenderMime.ISanitizer): IRenderMime.ISanitizer {
  return {
    sanitize: (dirty, options) => hardenHtml(base.sanitize(dirty, options)),
    getAutolink: () => base.getAutolink?.() ?? true,
    allowNamedProperties: false,
    allowCommandLinker: false
  };
}

/**
 * Clicks on links of an answer: a link whose URL is not safe (typeset math can add
 * links after sanitizing) does nothing.
 */
function guardLinkClick(event: MouseEvent): void {
  const target = event.target as Element | null;
  const anchor = target?.closest?.('a');
  if (anchor && !isSafeUrl(anchor.getAttribute('href') ?? '')) {
    event.preventDefault();
    event.stopPropagation();
  }
}
