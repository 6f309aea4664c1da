// An input-binding app for the tour: subscribes to the `tick` cron binding and prints each event's time.
import { createServer } from 'node:http';

const port = Number(process.env.APP_PORT ?? 3004);

createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url !== '/tick') {
      res.writeHead(404).end();
      return;
    }
    // The sidecar's OPTIONS probe: any 2xx answer subscribes the app to the binding.
    if (req.method === 'POST') console.log(`tick at ${req.headers['readtimeutc']}`);
    res.writeHead(200).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`ticker listening on ${port}`));
