/**
 * Small DOM helpers shared by the panel's views: buttons with an accessible label and a
 * test id.  No JupyterLab code runs here (the icon is passed in), so the views that use
 * only these helpers are unit-testable without a browser.
 */

import type { LabIcon } from '@jupyterlab/ui-components';

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

/** A square icon button with an accessible label. */
export function iconButton(icon: LabIcon, label: string, testId: string): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jp-tutor-IconButton';
  button.setAttribute('aria-label', label);
  button.title = label;
  button.dataset.testid = testId;
  button.appendChild(icon.element({ tag: 'span', elementSize: 'normal' }));
  return button;
}
