import { InMemoryPubSub } from '../components/pubsub/in-memory.js';
import { describePubSubConformance } from './support/pubsub-conformance.js';
import { describeSidecarPubSubConformance } from './support/pubsub-sidecar-conformance.js';

describePubSubConformance({ name: 'pubsub.in-memory', durable: false, create: async () => new InMemoryPubSub() });

describeSidecarPubSubConformance({ type: 'pubsub.in-memory', metadata: () => ({}), durable: false });
