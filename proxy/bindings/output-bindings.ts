// Output bindings behind both API fronts: find the binding, check the operation against what it supports, invoke.

import { BindingInvokeError, type InvokeResponse, type OutputBinding } from '../../components/bindings/bindings.js';
import type { ComponentSet } from '../../components/registry.js';
import { bindingSettings } from './binding-settings.js';
import { OutputBindingError } from './errors.js';

export interface OutputBindingCall {
  operation: string;
  data: Uint8Array;
  metadata: Record<string, string>;
}

export class OutputBindings {
  private readonly bindings = new Map<string, OutputBinding>();

  constructor(components: ComponentSet) {
    for (const { component, instance } of components.ofKind('bindings')) {
      // Read for every binding, so a bad `direction` stops start-up whichever side the binding has.
      const settings = bindingSettings(component);
      if (instance.output !== undefined && settings.output) this.bindings.set(component.name, instance.output);
    }
  }

  /** Null when the binding had nothing to return. Failures are OutputBindingErrors. */
  async invoke(name: string, call: OutputBindingCall): Promise<InvokeResponse | null> {
    const binding = this.bindings.get(name);
    if (binding === undefined) throw new OutputBindingError(name, `couldn't find output binding ${name}`);
    const operations = binding.operations();
    if (!operations.includes(call.operation)) {
      throw new OutputBindingError(name, `binding ${name} does not support operation ${call.operation}. supported operations:${operations.join(' ')}`);
    }
    try {
      return await binding.invoke(call);
    } catch (err) {
      throw new OutputBindingError(name, (err as Error).message, err instanceof BindingInvokeError ? err.metadata : {});
    }
  }
}
