// The caller of the quick tour: sends an order to the `checkout` app through its own sidecar once a second.
const sidecar = `http://127.0.0.1:${process.env.DAPR_HTTP_PORT ?? 3500}`;

for (let id = 1; id <= 5; id++) {
  const res = await fetch(`${sidecar}/v1.0/invoke/checkout/method/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, item: 'pillion seat' }),
  });
  console.log(`order ${id}: ${res.status} ${await res.text()}`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
