// A pub/sub subscriber for the tour: subscribes to `orders` (big orders to their own route) and prints each event.
import { createServer } from 'node:http';

const port = Number(process.env.APP_PORT ?? 3003);
const subscriptions = [
  {
    pubsubname: 'pubsub',
    topic: 'orders',
    routes: { rules: [{ match: 'event.data.total > 100', path: '/orders/big' }], default: '/orders' },
  },
];

createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/dapr/subscribe') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(subscriptions));
      return;
    }
    const event = JSON.parse(body || '{}');
    console.log(`${req.url}: event ${event.id} from ${event.source}: ${JSON.stringify(event.data)}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'SUCCESS' }));
  });
}).listen(port, '127.0.0.1', () => console.log(`subscriber listening on ${port}`));
