import { describeStateConformance } from './support/state-conformance.js';
import { createComponent } from './support/components.js';

describeStateConformance({
  name: 'state.in-memory',
  persistent: false,
  create: async () => (await createComponent('state', 'state.in-memory', {})).instance,
});
