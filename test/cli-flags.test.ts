import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  FlagError,
  parseSidecarCommandLine,
  parseSidecarFlags,
  sidecarHelp,
  stableInternalGrpcPort,
} from '../proxy/cli/flags.js';
import { parseQuantity } from '../proxy/resources/quantity.js';

const parse = (...argv: string[]) => parseSidecarFlags(argv, {});

function rejects(argv: string[], message: string | RegExp): void {
  assert.throws(
    () => parseSidecarFlags(argv, {}),
    (err: unknown) => {
      assert.ok(err instanceof FlagError, `expected FlagError, got ${String(err)}`);
      assert.equal(err.exitCode, 2);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('sidecar flags', () => {
  test('defaults match daprd self-hosted', () => {
    assert.deepEqual(parse(), {
      appId: '',
      appPort: 0,
      appProtocol: 'http',
      appChannelAddress: '127.0.0.1',
      daprHttpPort: 3500,
      daprGrpcPort: 50001,
      daprInternalGrpcPort: 0,
      metricsPort: 9090,
      enableMetrics: true,
      listenAddress: '0.0.0.0',
      resourcesPaths: [],
      configPaths: [],
      logLevel: 'info',
      appMaxConcurrency: -1,
      maxBodySizeBytes: 4 * 1024 * 1024,
      readBufferSizeBytes: 4096,
      gracefulShutdownSeconds: 5,
      namespace: '',
      hostAddress: '127.0.0.1',
      apiToken: '',
      appApiToken: '',
      ignoredFlags: [],
    });
  });

  test('defaults are fresh objects on every parse', () => {
    const first = parse();
    first.resourcesPaths.push('mutated');
    assert.deepEqual(parse().resourcesPaths, []);
  });

  test('value flags take Go syntax: --a b, --a=b, -a b, -a=b', () => {
    for (const argv of [
      ['--app-id', 'orders'],
      ['--app-id=orders'],
      ['-app-id', 'orders'],
      ['-app-id=orders'],
    ]) {
      assert.equal(parseSidecarFlags(argv, {}).appId, 'orders', argv.join(' '));
    }
    assert.equal(parse('--app-channel-address=').appChannelAddress, '', 'explicit empty value');
    assert.equal(parse('--app-max-concurrency', '-1').appMaxConcurrency, -1, 'a value may start with a dash');
    assert.equal(parse('--log-level=debug').logLevel, 'debug');
  });

  test('booleans: --flag, -flag, --flag=true|false and Go spellings', () => {
    assert.equal(parse('--enable-metrics=false').enableMetrics, false);
    assert.equal(parse('-enable-metrics=0').enableMetrics, false);
    assert.equal(parse('--enable-metrics=F').enableMetrics, false);
    assert.equal(parse('--enable-metrics=false', '--enable-metrics').enableMetrics, true);
    assert.equal(parse('-enable-metrics=TRUE').enableMetrics, true);
    rejects(['--enable-metrics=yes'], '--enable-metrics: "yes" is not a valid boolean');
    rejects(['--enable-metrics=constructor'], /is not a valid boolean/);
    rejects(
      ['--enable-metrics', 'false'],
      'unexpected argument "false"; boolean flags take their value as --enable-metrics=false',
    );
  });

  test('a repeated scalar keeps the last value', () => {
    assert.equal(parse('--dapr-http-port', '1', '--dapr-http-port=2').daprHttpPort, 2);
  });

  test('paths are repeatable; --components-path is the older alias', () => {
    const o = parse('--resources-path', 'a', '--resources-path=b', '-resources-path', 'c', '--config', 'x.yaml', '--config=y.yaml');
    assert.deepEqual(o.resourcesPaths, ['a', 'b', 'c']);
    assert.deepEqual(o.configPaths, ['x.yaml', 'y.yaml']);
    assert.deepEqual(parse('--components-path', 'old', '--components-path', 'older').resourcesPaths, ['old', 'older']);
    assert.deepEqual(parse('--components-path', 'old', '--resources-path', 'new').resourcesPaths, ['new']);
    assert.deepEqual(parse('--resources-path', 'new', '--components-path', 'old').resourcesPaths, ['new']);
  });

  test('sizes are Kubernetes quantities', () => {
    assert.equal(parseQuantity('4Mi'), 4194304);
    assert.equal(parseQuantity('1Gi'), 1073741824);
    assert.equal(parseQuantity('512'), 512);
    assert.equal(parseQuantity('10M'), 10_000_000);
    assert.equal(parseQuantity('2k'), 2000);
    assert.equal(parseQuantity('512Ki'), 524288);
    assert.equal(parseQuantity('1.5Ki'), 1536);
    assert.equal(parseQuantity('0.1'), 1, 'fractions round up to whole bytes');
    for (const bad of ['4Xi', '', 'Mi', '-1', '4 Mi', '4mi', '4K', '1e3', '4MiB', '99999999999999Ti']) {
      assert.equal(parseQuantity(bad), undefined, bad);
    }
    assert.equal(parse('--max-body-size', '16Mi').maxBodySizeBytes, 16 * 2 ** 20);
    assert.equal(parse('--read-buffer-size=64Ki').readBufferSizeBytes, 65536);
    rejects(['--max-body-size', '4Xi'], '--max-body-size: "4Xi" is not a valid size (e.g. 4Mi, 512Ki, 10M, 1048576)');
    rejects(['--max-body-size', '0Mi'], '--max-body-size: "0" is not a valid size in bytes (1 or more)');
  });

  test('legacy size flags in MB/KB apply unless the quantity flag is given', () => {
    assert.equal(parse('--dapr-http-max-request-size', '8').maxBodySizeBytes, 8 * 2 ** 20);
    assert.equal(parse('--dapr-http-read-buffer-size', '16').readBufferSizeBytes, 16 * 1024);
    for (const argv of [
      ['--dapr-http-max-request-size', '8', '--max-body-size', '1Mi'],
      ['--max-body-size', '1Mi', '--dapr-http-max-request-size', '8'],
    ]) {
      assert.equal(parseSidecarFlags(argv, {}).maxBodySizeBytes, 2 ** 20, argv.join(' '));
    }
    assert.equal(parse('--read-buffer-size=1Ki', '--dapr-http-read-buffer-size=16').readBufferSizeBytes, 1024);
    rejects(['--dapr-http-max-request-size', '0'], '--dapr-http-max-request-size: "0" is not a valid size in MB (1 or more)');
    rejects(['--dapr-http-max-request-size', '4Mi'], '--dapr-http-max-request-size: "4Mi" is not a valid integer');
  });

  test('graceful shutdown: negative means the default', () => {
    assert.equal(parse('--dapr-graceful-shutdown-seconds', '12').gracefulShutdownSeconds, 12);
    assert.equal(parse('--dapr-graceful-shutdown-seconds', '-1').gracefulShutdownSeconds, 5);
    assert.equal(parse('--dapr-graceful-shutdown-seconds', '0').gracefulShutdownSeconds, 0);
  });

  test('unknown flags fail, with the closest known flag as a hint', () => {
    rejects(['--foo'], 'unknown flag: --foo');
    rejects(['--app-ip', 'x'], 'unknown flag: --app-ip (did you mean --app-id?)');
    rejects(['-dapr-http-prot=1'], 'unknown flag: --dapr-http-prot (did you mean --dapr-http-port?)');
    rejects(['--components=x'], 'unknown flag: --components (did you mean --components-path?)');
  });

  test('malformed command lines fail fast', () => {
    rejects(['---app-id', 'x'], 'bad flag syntax: ---app-id');
    rejects(['--=x'], 'bad flag syntax: --=x');
    rejects(['--app-id'], 'flag needs an argument: --app-id');
    rejects(['orders'], 'unexpected argument "orders"');
    rejects(['-'], 'unexpected argument "-"');
    rejects(['--app-id', 'a', '--', 'node'], 'unexpected argument "node"');
    assert.equal(parse('--app-id', 'a', '--').appId, 'a', 'a bare trailing -- is harmless');
  });

  test('ports: 0-65535, 0 picks a free one; the app port is 1-65535 when given', () => {
    rejects(['--app-port', 'abc'], '--app-port: "abc" is not a valid port (0-65535)');
    rejects(['--dapr-http-port', '65536'], '--dapr-http-port: "65536" is not a valid port (0-65535)');
    rejects(['--dapr-grpc-port=-1'], '--dapr-grpc-port: "-1" is not a valid port (0-65535)');
    rejects(['--metrics-port=80.5'], '--metrics-port: "80.5" is not a valid port (0-65535)');
    rejects(['--app-port', '0'], '--app-port: "0" is not a valid app port (1 or more)');
    assert.equal(parse('--dapr-http-port', '0').daprHttpPort, 0);
    assert.equal(parse('--app-port', '65535').appPort, 65535);
    assert.equal(parse('--dapr-grpc-port=1').daprGrpcPort, 1);
  });

  test('app id must not contain dots', () => {
    rejects(['--app-id', 'orders.prod'], '--app-id: "orders.prod" must not contain "." (dots separate the namespace)');
    assert.equal(parse('--app-id', 'orders-prod_1').appId, 'orders-prod_1');
  });

  test('enumerations and features not supported yet', () => {
    for (const protocol of ['grpc', 'https', 'grpcs', 'h2c']) {
      rejects(['--app-protocol', protocol], `--app-protocol: app protocol "${protocol}" is not supported yet`);
    }
    rejects(['--app-protocol', 'ftp'], '--app-protocol: "ftp" is not a valid app protocol (http, https, grpc, grpcs, h2c)');
    assert.equal(parse('--app-protocol=http').appProtocol, 'http');
    rejects(['--log-level', 'trace'], '--log-level: "trace" is not a valid log level (debug, info, warn, error)');
    rejects(['--mode', 'kubernetes'], '--mode: mode "kubernetes" is not supported yet');
    rejects(['--mode', 'cloud'], '--mode: "cloud" is not a valid mode (standalone, kubernetes)');
    rejects(['--enable-mtls'], '--enable-mtls: mTLS is not supported yet');
    rejects(['--unix-domain-socket', '/tmp'], '--unix-domain-socket: listening on a Unix domain socket is not supported yet');
    rejects(['--dapr-listen-addresses', '[::1],127.0.0.1'], /more than one listen address .* is not supported yet/);
    rejects(['--app-max-concurrency', '-2'], '--app-max-concurrency: "-2" is not a valid concurrency (-1 or more)');
    rejects(['--app-health-threshold', '0'], '--app-health-threshold: "0" is not a valid threshold (1 or more)');
    assert.equal(parse('--mode', 'standalone', '--enable-mtls=false', '--unix-domain-socket=').ignoredFlags?.length, 0);
    assert.equal(parse('--dapr-listen-addresses', '[::1]').listenAddress, '::1');
  });

  test('accepted flags without effect yet are listed', () => {
    const o = parse(
      '--enable-api-logging',
      '--placement-host-address', 'localhost:50005',
      '--app-health-probe-interval', '2',
      '--log-as-json',
      '--dapr-public-port', '3501',
    );
    assert.deepEqual(o.ignoredFlags, [
      '--log-as-json',
      '--placement-host-address',
      '--enable-api-logging',
      '--app-health-probe-interval',
      '--dapr-public-port',
    ]);
  });

  test('internal gRPC port: stable hash of the app id into 47300-49347', () => {
    assert.equal(stableInternalGrpcPort('myapp'), stableInternalGrpcPort('myapp'));
    // Frozen: peers remember this address across restarts and releases.
    assert.equal(stableInternalGrpcPort('myapp'), 47466);
    assert.equal(stableInternalGrpcPort(''), 0);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const port = stableInternalGrpcPort(`app-${i}`);
      assert.ok(port >= 47300 && port <= 49347, `${port} in range`);
      seen.add(port);
    }
    assert.ok(seen.size > 400, `spread: ${seen.size} distinct ports for 500 ids`);
    assert.equal(parse('--app-id', 'myapp').daprInternalGrpcPort, 47466);
    assert.equal(parse('--dapr-internal-grpc-port', '50002', '--app-id', 'myapp').daprInternalGrpcPort, 50002);
  });

  test('environment: NAMESPACE, DAPR_HOST_IP, DAPR_API_TOKEN, APP_API_TOKEN', () => {
    const o = parseSidecarFlags([], {
      NAMESPACE: 'prod',
      DAPR_HOST_IP: '10.0.0.7',
      DAPR_API_TOKEN: 'api-secret',
      APP_API_TOKEN: 'app-secret',
    });
    assert.equal(o.namespace, 'prod');
    assert.equal(o.hostAddress, '10.0.0.7');
    assert.equal(o.apiToken, 'api-secret');
    assert.equal(o.appApiToken, 'app-secret');
    assert.equal(parseSidecarFlags([], { DAPR_HOST_IP: '' }).hostAddress, '127.0.0.1');
  });

  test('help lists every flag; -h, -help and --help all ask for it', () => {
    const help = sidecarHelp();
    const flags = [
      'app-id', 'app-port', 'app-protocol', 'app-channel-address', 'dapr-http-port', 'dapr-grpc-port',
      'dapr-internal-grpc-port', 'metrics-port', 'enable-metrics', 'dapr-listen-addresses', 'resources-path',
      'components-path', 'config', 'log-level', 'log-as-json', 'app-max-concurrency', 'max-body-size',
      'dapr-http-max-request-size', 'read-buffer-size', 'dapr-http-read-buffer-size',
      'dapr-graceful-shutdown-seconds', 'mode', 'placement-host-address', 'scheduler-host-address',
      'enable-api-logging', 'enable-app-health-check', 'app-health-check-path', 'app-health-probe-interval',
      'app-health-probe-timeout', 'app-health-threshold', 'enable-mtls', 'sentry-address', 'dapr-public-port',
      'enable-profiling', 'profile-port', 'unix-domain-socket', 'allowed-origins',
    ];
    const validSample: Record<string, string> = {
      mode: 'standalone', 'enable-mtls': 'false', 'unix-domain-socket': '', 'log-level': 'warn', 'app-protocol': 'http',
    };
    for (const flag of flags) {
      assert.match(help, new RegExp(`^  --${flag}( |$)`, 'm'), flag);
      assert.doesNotThrow(() => parseSidecarFlags([`--${flag}=${validSample[flag] ?? '1'}`], {}), flag);
    }
    assert.equal(help.match(/^ {2}--/gm)?.length, flags.length + 1, 'no unlisted flags besides --version');
    assert.match(help, /--max-body-size quantity\n.*\(default 4Mi\)/);
    assert.match(help, /--dapr-http-port port\n.*\(default 3500\)/);
    for (const argv of [['-h'], ['-help'], ['--help'], ['--app-id', 'x', '--help', '--bogus']]) {
      assert.throws(
        () => parseSidecarFlags(argv, {}),
        (err: unknown) => err instanceof FlagError && err.exitCode === 0 && err.message === help,
        argv.join(' '),
      );
    }
  });

  test('--version answers the package version', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.throws(
      () => parse('--version'),
      (err: unknown) => err instanceof FlagError && err.exitCode === 0 && err.message === version,
    );
  });

  test('the run form returns the command after -- and the explicit flags', () => {
    const parsed = parseSidecarCommandLine(['--app-id', 'a', '--dapr-http-port=0', '--', 'node', '--app-id', 'x'], {}, {
      allowCommand: true,
    });
    assert.deepEqual(parsed.command, ['node', '--app-id', 'x']);
    assert.deepEqual([...parsed.explicit].sort(), ['app-id', 'dapr-http-port']);
    assert.equal(parsed.options.appId, 'a');
    assert.equal(parseSidecarCommandLine(['--app-id', 'a'], {}, { allowCommand: true }).command, undefined);
    assert.throws(
      () => parseSidecarCommandLine(['node', '--', 'x'], {}, { allowCommand: true }),
      /unexpected argument "node" \(put -- before the app command\)/,
    );
  });
});
