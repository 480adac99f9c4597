/**
 * @jest-environment jsdom
 *
 * The panel's default width: how much of the shell's split it takes, and from where.
 */

import { BoxPanel, SplitPanel, Widget } from '@lumino/widgets';

import { DEFAULT_PANEL_WIDTH, MIN_MAIN_SHARE, widenSideArea, widenedSizes } from '../sidebar';

describe('widenedSizes', () => {
  it('widens the side area to the default, taking from the main area', () => {
    // Left area collapsed (0), main area, right area at the shell's default share.
    expect(widenedSizes([0, 1100, 250], 2, DEFAULT_PANEL_WIDTH)).toEqual([0, 930, 420]);
    expect(widenedSizes([250, 850, 250], 2, 420)).toEqual([250, 680, 420]);
    expect(widenedSizes([250, 850, 250], 0, 420)).toEqual([420, 680, 250]);
  });

  it('keeps half of the width for the main area on a small screen', () => {
    const sizes = widenedSizes([200, 600, 200], 2, 420)!;
    expect(sizes).toEqual([200, 500, 300]);
    expect(sizes[1]).toBeGreaterThanOrEqual(MIN_MAIN_SHARE * 1000);
    expect(widenedSizes([250, 500, 250], 2, 420)).toBeNull();
  });

  it('leaves an area that is wide enough, hidden, or alone', () => {
    expect(widenedSizes([0, 900, 500], 2, 420)).toBeNull();
    expect(widenedSizes([0, 900, 0], 2, 420)).toBeNull();
    expect(widenedSizes([300], 0, 420)).toBeNull();
    expect(widenedSizes([300, 900], 5, 420)).toBeNull();
  });
});

describe('widenSideArea', () => {
  /** A shell-like split (left area, main area, right area holding `panel`), attached. */
  function shell(widths: number[], orientation: SplitPanel.Orientation = 'horizontal') {
    const split = new SplitPanel({ orientation });
    const panel = new Widget();
    const right = new BoxPanel();
    right.addWidget(panel);
    const areas = [new Widget(), new Widget(), right];
    areas.forEach((area, i) => {
      area.node.getBoundingClientRect = () => ({ width: widths[i] }) as DOMRect;
      split.addWidget(area);
    });
    Widget.attach(split, document.body);
    return { split, panel };
  }

  afterEach(() => {
    document.body.textContent = '';
  });

  it('sets the split so that the side area holding the panel gets the default width', () => {
    const { split, panel } = shell([250, 850, 250]);
    expect(widenSideArea(panel)).toBe(true);
    const sizes = split.relativeSizes();
    expect(sizes[2] * 1350).toBeCloseTo(420);
    expect(sizes[0] * 1350).toBeCloseTo(250);
  });

  it('changes nothing outside a horizontal split, or when wide enough', () => {
    expect(widenSideArea(new Widget())).toBe(false);
    expect(widenSideArea(shell([250, 850, 250], 'vertical').panel)).toBe(false);
    expect(widenSideArea(shell([250, 600, 500]).panel)).toBe(false);
  });
});
