/**
 * The panel's width when it opens: wide enough for code.
 *
 * JupyterLab 4.6 has no width setting for a side panel.  The shell splits its width
 * between the left side area, the main area and the right side area (a Lumino
 * `SplitPanel`, relative sizes 1 : 2.5 : 1, about 230–300 px for a side area), never
 * narrower than the widest `min-width` of a side area's panels, and the saved layout
 * restores that split at the next load.  A larger `min-width` would forbid the student
 * to make the panel narrower, so instead the panel widens its own side area through
 * that split panel's public API, after the saved layout is back, the first time it is
 * shown after each page load; the student can resize it freely afterwards.
 */

import { Message, MessageHook, MessageLoop } from '@lumino/messaging';
import { SplitPanel, Widget } from '@lumino/widgets';

/** The width the panel opens at (px), when the window allows. */
export const DEFAULT_PANEL_WIDTH = 420;

/** The share of the split's width the main area always keeps when the panel widens. */
export const MIN_MAIN_SHARE = 0.5;

/**
 * New widths for the areas of a split (`widths`, px; hidden areas 0) so that area
 * `index` is `target` px wide, the difference taken from the widest other area (the
 * main area), which keeps at least `minMainShare` of the total.  `null` when the area
 * is already that wide, or when nothing can be taken.
 */
export function widenedSizes(
  widths: readonly number[],
  index: number,
  target: number,
  minMainShare: number = MIN_MAIN_SHARE
): number[] | null {
  const current = widths[index];
  if (current === undefined || current <= 0 || current >= target) {
    return null;
  }
  let main = -1;
  widths.forEach((w, i) => {
    if (i !== index && (main < 0 || w > widths[main])) {
      main = i;
    }
  });
  if (main < 0) {
    return null;
  }
  const total = widths.reduce((sum, w) => sum + w, 0);
  const give = Math.min(target - current, widths[main] - minMainShare * total);
  if (give < 1) {
    return null;
  }
  const sizes = widths.slice();
  sizes[index] = current + give;
  sizes[main] = widths[main] - give;
  return sizes;
}

/**
 * Widen the side area holding `widget` to `target` px (see `widenedSizes`).  Returns
 * whether it changed anything; `false` when the widget is not in a horizontal split
 * (another shell, a test) or is already wide enough.
 */
export function widenSideArea(widget: Widget, target: number = DEFAULT_PANEL_WIDTH): boolean {
  let area: Widget = widget;
  while (area.parent && !(area.parent instanceof SplitPanel)) {
    area = area.parent;
  }
  const split = area.parent;
  if (!(split instanceof SplitPanel) || split.orientation !== 'horizontal') {
    return false;
  }
  const widths = split.widgets.map(w => (w.isVisible ? w.node.getBoundingClientRect().width : 0));
  const sizes = widenedSizes(widths, split.widgets.indexOf(area), target);
  if (!sizes) {
    return false;
  }
  split.setRelativeSizes(sizes);
  return true;
}

/**
 * Widen the side area of `widget` the next time it is shown (now, if it is visible),
 * once the layout of that showing is done.
 */
export function widenWhenShown(widget: Widget, target: number = DEFAULT_PANEL_WIDTH): void {
  const widen = () =>
    window.requestAnimationFrame(() => {
      MessageLoop.flush(); // the split has laid out the area it just showed
      if (!widget.isDisposed) {
        widenSideArea(widget, target);
      }
    });
  if (widget.isVisible) {
    widen();
    return;
  }
  const hook: MessageHook = (handler, msg: Message) => {
    if (msg.type === 'after-show') {
      MessageLoop.removeMessageHook(widget, hook);
      widen();
    }
    return true;
  };
  MessageLoop.installMessageHook(widget, hook);
}
