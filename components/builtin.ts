// Every component Pillion ships, registered by importing it. The sidecar imports this module once.
import './state/in-memory.js';
import './state/sqlite/store.js';
import './state/postgresql/postgresql-store.js';
import './state/redis/store.js';
import './pubsub/in-memory.js';
import './pubsub/redis/redis-streams.js';
import './pubsub/mqtt3/mqtt3-pubsub.js';
import './pubsub/jetstream/jetstream.js';
import './pubsub/rabbitmq/rabbitmq.js';
