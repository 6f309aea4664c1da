// The Configuration's two pipelines as middleware chains over the loaded `middleware.http.*` components.

import type { ComponentSet } from '../../components/registry.js';
import '../../components/middleware/middleware.js';
import type { PipelineSpec } from '../resources/configuration.js';
import { MiddlewareChain } from './chain.js';

/**
 * The chain `spec` declares, or null for an empty one (the front then does no middleware work at all). A handler
 * naming no loaded middleware component of its type stops start-up: a missing stage may be an authorisation check.
 */
export function pipelineChain(spec: PipelineSpec, components: ComponentSet, path: string): MiddlewareChain | null {
  if (spec.handlers.length === 0) return null;
  const declared = components.ofKind('middleware');
  const stages = spec.handlers.map((handler, i) => {
    const found = declared.find(({ component }) => component.name === handler.name);
    const where = `${path}.handlers[${i}]`;
    if (found === undefined) {
      throw new Error(`${where}: no middleware component named "${handler.name}" is loaded (type ${handler.type}/${handler.version})`);
    }
    if (found.component.type.toLowerCase() !== handler.type.toLowerCase()) {
      throw new Error(`${where}: component "${handler.name}" is of type ${found.component.type}, not ${handler.type}`);
    }
    return found.instance;
  });
  return new MiddlewareChain(stages);
}
