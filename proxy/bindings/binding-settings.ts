// The runtime's own reading of a binding component's metadata: `direction` (which sides the runtime uses) and
// `route` (the app path of input events). Components never see these decisions.

import type { Component } from '../resources/index.js';

export interface BindingSettings {
  /** The app path events are posted to: `route` metadata, default the component name. */
  route: string;
  /** Whether `direction` named the sides explicitly; an explicit input side skips the app probe. */
  explicitDirection: boolean;
  input: boolean;
  output: boolean;
}

export function bindingSettings(component: Component): BindingSettings {
  const route = metadataItem(component, 'route') || component.name;
  const direction = metadataItem(component, 'direction');
  if (direction === '') return { route, explicitDirection: false, input: true, output: true };
  const sides = direction.split(',').map((side) => side.trim().toLowerCase());
  for (const side of sides) {
    if (side !== 'input' && side !== 'output') {
      throw new Error(`component "${component.name}": metadata "direction" must be "input", "output" or "input, output", got "${direction}"`);
    }
  }
  return { route, explicitDirection: true, input: sides.includes('input'), output: sides.includes('output') };
}

function metadataItem(component: Component, name: string): string {
  return component.metadata.find((item) => item.name.toLowerCase() === name)?.value.trim() ?? '';
}
