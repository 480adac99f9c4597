/**
 * The last line of defence between model text and the page: HTML that JupyterLab's
 * sanitizer let through is hardened further, so an answer can neither run code, load
 * anything from another site (images, styles: they could carry the student's code
 * away), nor trigger JupyterLab commands.
 *
 * Pure DOM code with no JupyterLab runtime import, unit-tested in `__tests__`.
 */

import type { IRenderMime } from '@jupyterlab/rendermime';

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
export function guardLinkClick(event: MouseEvent): void {
  const target = event.target as Element | null;
  const anchor = target?.closest?.('a');
  if (anchor && !isSafeUrl(anchor.getAttribute('href') ?? '')) {
    event.preventDefault();
    event.stopPropagation();
  }
}
