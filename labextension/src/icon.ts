/** The panel's icon: three linked clusters. */
import { LabIcon } from '@jupyterlab/ui-components';

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
<g class="jp-icon3" fill="#616161">
<circle cx="12" cy="5" r="3"/><circle cx="5" cy="18" r="3"/><circle cx="19" cy="18" r="3"/>
<path d="M11 7.5h2v3.2l4.6 4.1-1.3 1.5L12 12.5l-4.3 3.8-1.3-1.5 4.6-4.1z"/>
</g></svg>`;

export const federationIcon = new LabIcon({ name: 'fedspawner:federation', svgstr: SVG });
