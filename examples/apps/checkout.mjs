// The callee of the quick tour: answers POST /checkout with a receipt.
import { createServer } from 'node:http';

const port = Number(process.env.APP_PORT ?? 3001);
createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    console.log(`${req.method} ${req.url} from ${req.headers['dapr-caller-app-id']}: ${body}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ receipt: `r-${Date.now()}`, order: JSON.parse(body || 'null') }));
  });
}).listen(port, '127.0.0.1', () => console.log(`checkout listening on ${port}`));
