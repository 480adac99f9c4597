/**
 * @jest-environment jsdom
 *
 * The hardening of sanitized answer HTML: whatever JupyterLab's sanitizer lets through,
 * nothing that runs, loads from elsewhere or triggers a JupyterLab command reaches the
 * page.  (The browser tests check the whole chain with the app's own sanitizer.)
 */

import type { IRenderMime } from '@jupyterlab/rendermime';

import { guardLinkClick, hardenHtml, isSafeUrl, strictSanitizer } from '../sanitize';

/** Harden `html` and parse the result, to ask questions of it. */
function harden(html: string): HTMLElement {
  const host = document.createElement('div');
  host.innerHTML = hardenHtml(html);
  return host;
}

describe('hardenHtml', () => {
  it.each([
    '<script>alert(1)</script>',
    '<iframe src="https://example.org"></iframe>',
    '<object data="x.swf"></object>',
    '<embed src="x.swf">',
    '<form action="https://example.org"><button>go</button></form>',
    '<base href="https://example.org/">',
    '<meta http-equiv="refresh" content="0;url=https://example.org">',
    '<link rel="stylesheet" href="https://example.org/x.css">',
    '<style>body { background: url(https://example.org/x) }</style>',
    '<template><img src=x onerror=alert(1)></template>',
    '<noscript><p>hi</p></noscript>'
  ])('removes active or loading elements: %s', html => {
    const host = harden(`<p>before</p>${html}<p>after</p>`);
    expect(host.querySelectorAll('p')).toHaveLength(2);
    expect(host.textContent).toBe('beforeafter');
  });

  it('removes event handlers and command links, keeping the element', () => {
    const host = harden(
      '<a href="#x" onclick="alert(1)" onmouseover="x()" data-commandlinker-command="notebook:run-all-cells" data-commandlinker-args="{}">run</a>'
    );
    const a = host.querySelector('a')!;
    expect(a.textContent).toBe('run');
    expect(a.getAttributeNames().sort()).toEqual(['href']);
  });

  it.each([
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    'java\tscript:alert(1)',
    ' javascript:alert(1)',
    '&#106;avascript:alert(1)',
    'vbscript:msgbox(1)',
    'data:text/html,<script>alert(1)</script>',
    'file:///etc/passwd'
  ])('drops a link to an unsafe URL: %s', url => {
    const host = harden(`<a href="${url}">x</a>`);
    expect(host.querySelector('a')!.hasAttribute('href')).toBe(false);
  });

  it.each([
    'https://docs.python.org/3/',
    'http://example.org',
    'mailto:a@b.c',
    'week1.ipynb',
    '#top'
  ])('keeps a link to a safe URL: %s', url => {
    expect(harden(`<a href="${url}">x</a>`).querySelector('a')!.getAttribute('href')).toBe(url);
  });

  it('turns an image into its alt text, so it loads nothing', () => {
    const host = harden('<p><img src="https://example.org/leak?code=x" alt="a plot"></p>');
    expect(host.querySelector('img')).toBeNull();
    const alt = host.querySelector('.jp-tutor-ImageAlt')!;
    expect(alt.textContent).toBe('[a plot]');
  });

  it('removes images without alt text and other media entirely', () => {
    const host = harden(
      '<img src="https://example.org/x"><video src="v.mp4"></video><audio src="a.mp3"></audio><picture><source srcset="x.png"></picture><svg><image href="https://example.org/x"></image></svg>'
    );
    expect(host.querySelector('img, video, audio, picture, source, image')).toBeNull();
  });

  it('removes styles that load something, keeps plain ones', () => {
    const host = harden(
      '<span style="background: url(https://example.org/x)">a</span><span style="color: red">b</span>'
    );
    const [loading, plain] = Array.from(host.querySelectorAll('span'));
    expect(loading.hasAttribute('style')).toBe(false);
    expect(plain.getAttribute('style')).toBe('color: red');
  });

  it('removes srcdoc and srcset', () => {
    const host = harden('<div srcdoc="<script>x</script>" srcset="x.png 1x">t</div>');
    expect(host.querySelector('div')!.getAttributeNames()).toEqual([]);
  });

  it('keeps ordinary Markdown HTML as it is', () => {
    const html =
      '<h2>Loops</h2><p>Use <code>range</code>:</p><pre><code>for i in range(3):\n    print(i)\n</code></pre>';
    expect(hardenHtml(html)).toBe(html);
  });
});

describe('isSafeUrl', () => {
  it.each([
    ['https://example.org', true],
    ['HTTP://EXAMPLE.ORG', true],
    ['mailto:x@y.z', true],
    ['notebook.ipynb', true],
    ['./a/b.ipynb#cell', true],
    ['', true],
    ['javascript:x', false],
    ['jav\u0000ascript:x', false],
    ['java\nscript:x', false],
    ['data:image/png;base64,AAAA', false],
    ['blob:https://example.org/1', false]
  ])('%j → %s', (url, safe) => {
    expect(isSafeUrl(url)).toBe(safe);
  });
});

describe('strictSanitizer', () => {
  const base: IRenderMime.ISanitizer = {
    // A permissive sanitizer, to show that the hardening does not rely on it.
    sanitize: dirty => dirty
  };

  it('hardens what the app sanitizer returns, and never allows command links', () => {
    const strict = strictSanitizer(base);
    expect(strict.sanitize('<a href="javascript:x" onclick="y()">z</a><script>1</script>')).toBe(
      '<a>z</a>'
    );
    expect(strict.allowCommandLinker).toBe(false);
    expect(strict.allowNamedProperties).toBe(false);
  });

  it('keeps autolinking as the app sanitizer has it (on by default)', () => {
    expect(strictSanitizer(base).getAutolink!()).toBe(true);
    expect(strictSanitizer({ ...base, getAutolink: () => false }).getAutolink!()).toBe(false);
  });
});

describe('guardLinkClick', () => {
  /** Click `a` inside a host that guards its links; whether the click went through. */
  function click(href: string): boolean {
    const host = document.createElement('div');
    host.innerHTML = `<a href="${href}"><span>x</span></a>`;
    host.addEventListener('click', guardLinkClick, true);
    document.body.appendChild(host);
    const event = new MouseEvent('click', { bubbles: true, cancelable: true });
    host.querySelector('span')!.dispatchEvent(event);
    host.remove();
    return !event.defaultPrevented;
  }

  it('stops a click on a link added after sanitizing with an unsafe URL', () => {
    expect(click('javascript:alert(1)')).toBe(false);
  });

  it('lets a click on a safe link through', () => {
    expect(click('https://example.org')).toBe(true);
  });
});
