import { createServer } from 'node:net';

function onePort(): Promise<{ port: number; release: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('listening socket has no port'));
        return;
      }
      resolve({ port: address.port, release: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

/**
 * Distinct free loopback ports. All are held open until every one is chosen so
 * the kernel cannot hand out the same port twice; a port may still be taken by
 * someone else between release and use, which is acceptable for a benchmark.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held = [];
  try {
    for (let i = 0; i < count; i++) held.push(await onePort());
    return held.map((entry) => entry.port);
  } finally {
    await Promise.all(held.map((entry) => entry.release()));
  }
}
