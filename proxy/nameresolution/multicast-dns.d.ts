// Just the surface of the untyped `multicast-dns` package that the mdns resolver uses.
declare module 'multicast-dns' {
  import type { EventEmitter } from 'node:events';

  export interface MdnsQuestion {
    name: string;
    type: string;
    class?: string;
  }

  /** Decoded records are untrusted network input: `data` is checked before use. */
  export interface MdnsRecord {
    name: string;
    type: string;
    ttl?: number;
    class?: string;
    flush?: boolean;
    data?: unknown;
  }

  export interface MdnsPacket {
    type?: 'query' | 'response';
    flags?: number;
    questions?: MdnsQuestion[];
    answers?: MdnsRecord[];
    additionals?: MdnsRecord[];
    authorities?: MdnsRecord[];
  }

  /** The decoder always fills these lists, possibly empty. */
  export type ReceivedPacket = Required<Pick<MdnsPacket, 'questions' | 'answers' | 'additionals'>>;

  export interface MdnsOptions {
    multicast?: boolean;
    interface?: string;
    bind?: string | false;
    port?: number;
    ip?: string;
    ttl?: number;
    loopback?: boolean;
    reuseAddr?: boolean;
  }

  export interface MulticastDns extends EventEmitter {
    query(packet: MdnsPacket, callback?: (err: Error | null) => void): void;
    respond(packet: MdnsPacket, callback?: (err: Error | null) => void): void;
    destroy(callback?: () => void): void;
    on(event: 'query' | 'response', listener: (packet: ReceivedPacket) => void): this;
    on(event: 'ready', listener: () => void): this;
    on(event: 'error' | 'warning', listener: (err: Error) => void): this;
  }

  export default function multicastDns(options?: MdnsOptions): MulticastDns;
}
