// Every component Pillion ships, registered by importing it. The sidecar imports this module once.
import './state/in-memory.js';
import './state/sqlite/store.js';
import './state/postgresql/postgresql-store.js';
import './state/redis/store.js';
