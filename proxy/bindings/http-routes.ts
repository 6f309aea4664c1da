import { appendMetadataHeaders } from '../http/header-safety.js';
import { fieldsOf, goJson, optionalString, parseBody, stringMap } from '../http/json-body.js';
import { answer } from '../http/reply.js';
import type { Router } from '../http/router.js';
import { DaprError } from '../runtime/errors.js';
import { OutputBindingError } from './errors.js';
import type { OutputBindings } from './output-bindings.js';

const JSON_TYPE = ['content-type', 'application/json'];

/**
 * `POST|PUT /v1.0/bindings/{name}` with `{data, metadata, operation}`. As in daprd, `data` reaches the binding as
 * its JSON encoding (Go's, so a string arrives quoted and an absent field as `null`).
 */
export function registerBindingsRoutes(router: Router, bindings: OutputBindings): void {
  router.add(['POST', 'PUT'], '/v1.0/bindings/:name', (req, reply) =>
    answer(reply, async () => {
      const body = fieldsOf(parseBody(req.body), 'binding request');
      const metadata = stringMap(body.metadata, 'metadata');
      const traceparent = req.header('traceparent');
      if (traceparent !== undefined) metadata['traceparent'] = traceparent;
      const tracestate = req.header('tracestate');
      if (tracestate !== undefined) metadata['tracestate'] = tracestate;
      const call = {
        operation: optionalString(body.operation, 'operation') ?? '',
        data: Buffer.from(body.data === undefined ? 'null' : goJson(body.data)),
        metadata,
      };
      try {
        const response = await bindings.invoke(req.params[0]!, call);
        if (response === null) {
          reply.noContent();
          return;
        }
        const headers = [...JSON_TYPE];
        appendMetadataHeaders(headers, response.metadata);
        reply.send(200, headers, response.data);
      } catch (err) {
        if (!(err instanceof OutputBindingError)) throw err;
        const headers = [...JSON_TYPE];
        appendMetadataHeaders(headers, err.metadata);
        reply.send(err.httpStatus, headers, JSON.stringify(err satisfies DaprError));
      }
    }),
  );
}
