// Every component Pillion ships, registered by importing it. The sidecar imports this module once.
import './state/in-memory.js';
