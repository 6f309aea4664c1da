// `kind: Configuration` (dapr.io/v1alpha1), loaded from the --config files. Several files apply in order; a later
// file replaces an earlier one's top-level spec fields. As daprd does, `$VAR` / `${VAR}` in a file are replaced
// by environment variables before parsing.

import { ResourceError } from './errors.js';
import { LEAF, normalizeKeys, type FieldReader, type Shape } from './fields.js';
import { HEADER_FIELDS, readHeader } from './resource.js';
import { parseDocuments, readText } from './yaml-file.js';

export interface PipelineSpec {
  handlers: { name: string; type: string; version: string }[];
}

export interface TracingSpec {
  /** As written: a decimal in [0,1]; '' when not set. */
  samplingRate: string;
  stdout: boolean;
  otel: { endpointAddress: string; isSecure: boolean; protocol: string } | null;
  zipkin: { endpointAddress: string } | null;
}

export interface MetricSpec {
  enabled: boolean;
  rules: { name: string; labels: { name: string; regex: Record<string, string> }[] }[];
  latencyDistributionBuckets: number[];
  http: { increasedCardinality: boolean | null; pathMatching: string[]; excludeVerbs: boolean };
  recordErrorCodes: boolean;
}

export interface ApiAccessRule {
  name: string;
  version: string;
  protocol: string;
}

export interface SecretScope {
  storeName: string;
  /** 'allow', 'deny' or '' (allow). */
  defaultAccess: string;
  allowedSecrets: string[];
  deniedSecrets: string[];
}

export interface AccessControlSpec {
  defaultAction: string;
  trustDomain: string;
  policies: {
    appId: string;
    defaultAction: string;
    trustDomain: string;
    namespace: string;
    operations: { name: string; httpVerb: string[]; action: string }[];
  }[];
}

export interface Configuration {
  /** metadata.name of the last file; '' without --config. */
  name: string;
  nameResolution: { component: string; version: string; configuration: unknown } | null;
  tracing: TracingSpec | null;
  httpPipeline: PipelineSpec;
  appHttpPipeline: PipelineSpec;
  features: { name: string; enabled: boolean }[];
  secrets: { scopes: SecretScope[] };
  api: { allowed: ApiAccessRule[]; denied: ApiAccessRule[] };
  accessControl: AccessControlSpec;
  /** `spec.metrics` when given, else the older `spec.metric`. */
  metrics: MetricSpec;
  logging: { apiLogging: { enabled: boolean; obfuscateURLs: boolean; omitHealthChecks: boolean } };
  components: { deny: string[] };
  /** The merged spec as written (canonical key spelling), for fields not modelled above. */
  spec: Record<string, unknown>;
}

export function isFeatureEnabled(config: Configuration, feature: string): boolean {
  return config.features.find((f) => f.name === feature)?.enabled ?? false;
}

const pipelineShape: Shape = { fields: { handlers: { items: { fields: { name: LEAF, type: LEAF, version: LEAF } } } } };
const metricShape: Shape = {
  fields: {
    enabled: LEAF,
    rules: { items: { fields: { name: LEAF, labels: { items: { fields: { name: LEAF, regex: LEAF } } } } } },
    latencyDistributionBuckets: LEAF,
    http: { fields: { increasedCardinality: LEAF, pathMatching: LEAF, excludeVerbs: LEAF } },
    recordErrorCodes: LEAF,
  },
};
const apiRulesShape: Shape = { items: { fields: { name: LEAF, version: LEAF, protocol: LEAF } } };

const configurationShape: Shape = {
  fields: {
    ...HEADER_FIELDS,
    spec: {
      fields: {
        httpPipeline: pipelineShape,
        appHttpPipeline: pipelineShape,
        tracing: {
          fields: {
            samplingRate: LEAF,
            stdout: LEAF,
            otel: { fields: { endpointAddress: LEAF, isSecure: LEAF, protocol: LEAF } },
            zipkin: { fields: { endpointAddress: LEAF } },
          },
        },
        metric: metricShape,
        metrics: metricShape,
        mtls: LEAF,
        secrets: {
          fields: {
            scopes: {
              items: { fields: { storeName: LEAF, defaultAccess: LEAF, allowedSecrets: LEAF, deniedSecrets: LEAF } },
            },
          },
        },
        accessControl: {
          fields: {
            defaultAction: LEAF,
            trustDomain: LEAF,
            policies: {
              items: {
                fields: {
                  appId: LEAF,
                  defaultAction: LEAF,
                  trustDomain: LEAF,
                  namespace: LEAF,
                  operations: { items: { fields: { name: LEAF, httpVerb: LEAF, action: LEAF } } },
                },
              },
            },
          },
        },
        nameResolution: { fields: { component: LEAF, version: LEAF, configuration: LEAF } },
        features: { items: { fields: { name: LEAF, enabled: LEAF } } },
        api: { fields: { allowed: apiRulesShape, denied: apiRulesShape } },
        components: { fields: { deny: LEAF } },
        logging: { fields: { apiLogging: { fields: { enabled: LEAF, obfuscateURLs: LEAF, omitHealthChecks: LEAF } } } },
      },
    },
  },
};

type ModelledSpec = Omit<Configuration, 'name' | 'metrics' | 'spec'> & { metric: MetricSpec; metrics: MetricSpec };

export async function loadConfiguration(paths: readonly string[]): Promise<Configuration> {
  let name = '';
  let modelled: Partial<ModelledSpec> = {};
  let spec: Record<string, unknown> = {};
  for (const file of paths) {
    const documents = parseDocuments(expandEnv(await readText(file)), file);
    if (documents.length !== 1) {
      throw new ResourceError(file, '', `expected one Configuration document, found ${documents.length}`);
    }
    const { index, value } = documents[0]!;
    const { header, fields } = readHeader(value, file, index);
    if (header.kind !== 'Configuration' || header.apiVersion !== 'dapr.io/v1alpha1') {
      throw new ResourceError(
        file,
        '',
        `expected kind Configuration (apiVersion dapr.io/v1alpha1), found kind "${header.kind}" (apiVersion "${header.apiVersion}")`,
      );
    }
    const document = normalizeKeys(value, configurationShape) as Record<string, unknown>;
    const fileSpec = fields.mapping(document['spec'], 'spec');
    name = header.name;
    modelled = { ...modelled, ...parseSpec(fileSpec, fields) };
    spec = { ...spec, ...fileSpec };
  }
  return {
    name,
    nameResolution: modelled.nameResolution ?? null,
    tracing: modelled.tracing ?? null,
    httpPipeline: modelled.httpPipeline ?? { handlers: [] },
    appHttpPipeline: modelled.appHttpPipeline ?? { handlers: [] },
    features: modelled.features ?? [],
    secrets: modelled.secrets ?? { scopes: [] },
    api: modelled.api ?? { allowed: [], denied: [] },
    accessControl: modelled.accessControl ?? { defaultAction: 'allow', trustDomain: 'public', policies: [] },
    metrics: modelled.metrics ?? modelled.metric ?? defaultMetrics(),
    logging: modelled.logging ?? { apiLogging: { enabled: false, obfuscateURLs: false, omitHealthChecks: false } },
    components: modelled.components ?? { deny: [] },
    spec,
  };
}

/** Only the fields present in `spec`, so that spreading files in order lets the later one win per field. */
function parseSpec(spec: Record<string, unknown>, f: FieldReader): Partial<ModelledSpec> {
  const out: Partial<ModelledSpec> = {};
  const present = (key: string): boolean => spec[key] !== undefined && spec[key] !== null;
  if (present('nameResolution')) {
    const nr = f.mapping(spec['nameResolution'], 'spec.nameResolution');
    out.nameResolution = {
      component: f.string(nr['component'], 'spec.nameResolution.component'),
      version: f.string(nr['version'], 'spec.nameResolution.version'),
      configuration: nr['configuration'] ?? null,
    };
  }
  if (present('tracing')) out.tracing = parseTracing(f.mapping(spec['tracing'], 'spec.tracing'), f);
  if (present('httpPipeline')) out.httpPipeline = parsePipeline(spec['httpPipeline'], 'spec.httpPipeline', f);
  if (present('appHttpPipeline')) out.appHttpPipeline = parsePipeline(spec['appHttpPipeline'], 'spec.appHttpPipeline', f);
  if (present('features')) {
    out.features = f.list(spec['features'], 'spec.features').map((raw, i) => {
      const feature = f.mapping(raw, `spec.features[${i}]`);
      return {
        name: f.string(feature['name'], `spec.features[${i}].name`),
        enabled: f.bool(feature['enabled'], `spec.features[${i}].enabled`),
      };
    });
  }
  if (present('secrets')) out.secrets = { scopes: parseSecretScopes(f.mapping(spec['secrets'], 'spec.secrets')['scopes'], f) };
  if (present('api')) {
    const api = f.mapping(spec['api'], 'spec.api');
    out.api = { allowed: parseApiRules(api['allowed'], 'spec.api.allowed', f), denied: parseApiRules(api['denied'], 'spec.api.denied', f) };
  }
  if (present('accessControl')) out.accessControl = parseAccessControl(f.mapping(spec['accessControl'], 'spec.accessControl'), f);
  if (present('metric')) out.metric = parseMetric(spec['metric'], 'spec.metric', f);
  if (present('metrics')) out.metrics = parseMetric(spec['metrics'], 'spec.metrics', f);
  if (present('logging')) {
    const api = f.mapping(f.mapping(spec['logging'], 'spec.logging')['apiLogging'], 'spec.logging.apiLogging');
    out.logging = {
      apiLogging: {
        enabled: f.bool(api['enabled'], 'spec.logging.apiLogging.enabled'),
        obfuscateURLs: f.bool(api['obfuscateURLs'], 'spec.logging.apiLogging.obfuscateURLs'),
        omitHealthChecks: f.bool(api['omitHealthChecks'], 'spec.logging.apiLogging.omitHealthChecks'),
      },
    };
  }
  if (present('components')) {
    out.components = { deny: f.strings(f.mapping(spec['components'], 'spec.components')['deny'], 'spec.components.deny') };
  }
  return out;
}

function parseTracing(tracing: Record<string, unknown>, f: FieldReader): TracingSpec {
  const otel = tracing['otel'] == null ? null : f.mapping(tracing['otel'], 'spec.tracing.otel');
  const zipkin = tracing['zipkin'] == null ? null : f.mapping(tracing['zipkin'], 'spec.tracing.zipkin');
  return {
    samplingRate: f.string(tracing['samplingRate'], 'spec.tracing.samplingRate'),
    stdout: f.bool(tracing['stdout'], 'spec.tracing.stdout'),
    otel:
      otel === null
        ? null
        : {
            endpointAddress: f.string(otel['endpointAddress'], 'spec.tracing.otel.endpointAddress'),
            isSecure: f.bool(otel['isSecure'], 'spec.tracing.otel.isSecure', true),
            protocol: f.string(otel['protocol'], 'spec.tracing.otel.protocol'),
          },
    zipkin: zipkin === null ? null : { endpointAddress: f.string(zipkin['endpointAddress'], 'spec.tracing.zipkin.endpointAddress') },
  };
}

function parsePipeline(raw: unknown, path: string, f: FieldReader): PipelineSpec {
  const handlers = f.list(f.mapping(raw, path)['handlers'], `${path}.handlers`);
  return {
    handlers: handlers.map((item, i) => {
      const handler = f.mapping(item, `${path}.handlers[${i}]`);
      const name = f.string(handler['name'], `${path}.handlers[${i}].name`);
      const type = f.string(handler['type'], `${path}.handlers[${i}].type`);
      if (name === '' || type === '') f.fail(`${path}.handlers[${i}] needs a name and a type`);
      return { name, type, version: f.string(handler['version'], `${path}.handlers[${i}].version`) || 'v1' };
    }),
  };
}

function parseSecretScopes(raw: unknown, f: FieldReader): SecretScope[] {
  const seen = new Set<string>();
  return f.list(raw, 'spec.secrets.scopes').map((item, i) => {
    const path = `spec.secrets.scopes[${i}]`;
    const scope = f.mapping(item, path);
    const storeName = f.string(scope['storeName'], `${path}.storeName`);
    if (seen.has(storeName)) f.fail(`${path}: storeName "${storeName}" is repeated`);
    seen.add(storeName);
    const defaultAccess = f.string(scope['defaultAccess'], `${path}.defaultAccess`).toLowerCase();
    if (defaultAccess !== '' && defaultAccess !== 'allow' && defaultAccess !== 'deny') {
      f.fail(`${path}.defaultAccess must be allow or deny`);
    }
    return {
      storeName,
      defaultAccess,
      allowedSecrets: f.strings(scope['allowedSecrets'], `${path}.allowedSecrets`),
      deniedSecrets: f.strings(scope['deniedSecrets'], `${path}.deniedSecrets`),
    };
  });
}

function parseApiRules(raw: unknown, path: string, f: FieldReader): ApiAccessRule[] {
  return f.list(raw, path).map((item, i) => {
    const rule = f.mapping(item, `${path}[${i}]`);
    return {
      name: f.string(rule['name'], `${path}[${i}].name`),
      version: f.string(rule['version'], `${path}[${i}].version`),
      protocol: f.string(rule['protocol'], `${path}[${i}].protocol`),
    };
  });
}

function parseAccessControl(acl: Record<string, unknown>, f: FieldReader): AccessControlSpec {
  return {
    defaultAction: f.string(acl['defaultAction'], 'spec.accessControl.defaultAction', 'allow'),
    trustDomain: f.string(acl['trustDomain'], 'spec.accessControl.trustDomain', 'public'),
    policies: f.list(acl['policies'], 'spec.accessControl.policies').map((item, i) => {
      const path = `spec.accessControl.policies[${i}]`;
      const policy = f.mapping(item, path);
      return {
        appId: f.string(policy['appId'], `${path}.appId`),
        defaultAction: f.string(policy['defaultAction'], `${path}.defaultAction`),
        trustDomain: f.string(policy['trustDomain'], `${path}.trustDomain`),
        namespace: f.string(policy['namespace'], `${path}.namespace`),
        operations: f.list(policy['operations'], `${path}.operations`).map((op, j) => {
          const operation = f.mapping(op, `${path}.operations[${j}]`);
          return {
            name: f.string(operation['name'], `${path}.operations[${j}].name`),
            httpVerb: f.strings(operation['httpVerb'], `${path}.operations[${j}].httpVerb`),
            action: f.string(operation['action'], `${path}.operations[${j}].action`),
          };
        }),
      };
    }),
  };
}

function defaultMetrics(): MetricSpec {
  return {
    enabled: true,
    rules: [],
    latencyDistributionBuckets: [],
    http: { increasedCardinality: null, pathMatching: [], excludeVerbs: false },
    recordErrorCodes: false,
  };
}

function parseMetric(raw: unknown, path: string, f: FieldReader): MetricSpec {
  const metric = f.mapping(raw, path);
  const http = f.mapping(metric['http'], `${path}.http`);
  return {
    enabled: f.bool(metric['enabled'], `${path}.enabled`, true),
    rules: f.list(metric['rules'], `${path}.rules`).map((item, i) => {
      const rule = f.mapping(item, `${path}.rules[${i}]`);
      return {
        name: f.string(rule['name'], `${path}.rules[${i}].name`),
        labels: f.list(rule['labels'], `${path}.rules[${i}].labels`).map((l, j) => {
          const label = f.mapping(l, `${path}.rules[${i}].labels[${j}]`);
          const regex = f.mapping(label['regex'], `${path}.rules[${i}].labels[${j}].regex`);
          return {
            name: f.string(label['name'], `${path}.rules[${i}].labels[${j}].name`),
            regex: Object.fromEntries(Object.entries(regex).map(([k, v]) => [k, f.string(v, `${path}.rules[${i}].labels[${j}].regex.${k}`)])),
          };
        }),
      };
    }),
    latencyDistributionBuckets: f
      .list(metric['latencyDistributionBuckets'], `${path}.latencyDistributionBuckets`)
      .map((b, i) => f.number(b, `${path}.latencyDistributionBuckets[${i}]`, 0)),
    http: {
      increasedCardinality: http['increasedCardinality'] == null ? null : f.bool(http['increasedCardinality'], `${path}.http.increasedCardinality`),
      pathMatching: f.strings(http['pathMatching'], `${path}.http.pathMatching`),
      excludeVerbs: f.bool(http['excludeVerbs'], `${path}.http.excludeVerbs`),
    },
    recordErrorCodes: f.bool(metric['recordErrorCodes'], `${path}.recordErrorCodes`),
  };
}

const SHELL_SPECIAL = '*#$@!?-0123456789';

/** Go's os.ExpandEnv, which daprd applies to Configuration files. */
function expandEnv(text: string): string {
  if (!text.includes('$')) return text;
  let out = '';
  let literalStart = 0;
  for (let j = 0; j < text.length - 1; j++) {
    if (text[j] !== '$') continue;
    out += text.slice(literalStart, j);
    const [name, width] = shellName(text, j + 1);
    if (name !== '') out += process.env[name] ?? '';
    else if (width === 0) out += '$'; // "$" not followed by a name stays as written
    // otherwise malformed "${": Go drops it
    j += width;
    literalStart = j + 1;
  }
  return out + text.slice(literalStart);
}

function shellName(s: string, at: number): [name: string, width: number] {
  if (s[at] === '{') {
    if (at + 2 < s.length && SHELL_SPECIAL.includes(s[at + 1]!) && s[at + 2] === '}') return [s[at + 1]!, 3];
    const close = s.indexOf('}', at + 1);
    if (close === -1) return ['', 1];
    if (close === at + 1) return ['', 2];
    return [s.slice(at + 1, close), close - at + 1];
  }
  if (SHELL_SPECIAL.includes(s[at]!)) return [s[at]!, 1];
  let end = at;
  while (end < s.length && /[A-Za-z0-9_]/.test(s[end]!)) end++;
  return [s.slice(at, end), end - at];
}
