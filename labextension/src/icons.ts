/**
 * The tutor's icon: a speech bubble with a mortarboard, drawn with JupyterLab's icon
 * colour classes so it follows the theme.
 */

import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2h-7l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v10h6v2l2.5-2H20V5H4z"/>
    <path d="M12 6.5l5 2.2-5 2.2-5-2.2 5-2.2zm-3 3.6l3 1.3 3-1.3v1.7c0 .9-1.3 1.7-3 1.7s-3-.8-3-1.7v-1.7z"/>
  </g>
</svg>`;

export const tutorIcon = new LabIcon({ name: 'jupyter-tutor:tutor', svgstr: svg });
