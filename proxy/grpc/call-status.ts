// gRPC call status on the wire: the error type, grpc-message percent-encoding, grpc-timeout, and the
// mappings from HTTP status / RST_STREAM codes / framing problems to gRPC codes.

import { constants as h2 } from 'node:http2';
import { GrpcStatus } from '../runtime/errors.js';
import { FrameProblem, type FrameProblemCode } from './framing.js';

const STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

export class GrpcCallError extends Error {
  constructor(
    /** gRPC status code (see GrpcStatus). */
    readonly code: number,
    /** The status message as carried in grpc-message (decoded). */
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
    this.name = 'GrpcCallError';
  }
}

// grpc-message carries UTF-8 with every byte outside 0x20..0x7E, and '%' itself, written as %XX.
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  for (const b of bytes) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}` : String.fromCharCode(b);
  }
  return out;
}

// Malformed escapes are kept literally: the spec forbids failing a call over an undecodable message.
export function decodeGrpcMessage(value: string | undefined): string {
  if (value === undefined) return '';
  if (!value.includes('%')) return value;
  const bytes = Buffer.allocUnsafe(value.length);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && isHex(value.charCodeAt(i + 1)) && isHex(value.charCodeAt(i + 2))) {
      bytes[n++] = parseInt(value.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      bytes[n++] = c & 0xff;
    }
  }
  return bytes.toString('utf8', 0, n);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

const MAX_TIMEOUT_DIGITS_VALUE = 99_999_999;

/** Longer timers overflow in Node (and fire at once), so deadlines beyond this are treated as none. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** grpc-timeout for a relative deadline in milliseconds (at most 8 digits, so coarser units for long ones). */
export function encodeGrpcTimeout(ms: number): string {
  const whole = Math.ceil(ms);
  if (whole <= MAX_TIMEOUT_DIGITS_VALUE) return `${whole}m`;
  const seconds = Math.ceil(whole / 1000);
  if (seconds <= MAX_TIMEOUT_DIGITS_VALUE) return `${seconds}S`;
  return `${Math.min(Math.ceil(seconds / 3600), MAX_TIMEOUT_DIGITS_VALUE)}H`;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const TIMEOUT_PATTERN = /^(\d{1,8})([HMSmun])$/;

/** Milliseconds from a grpc-timeout header value, or -1 when it is malformed. */
export function parseGrpcTimeout(value: string): number {
  const match = TIMEOUT_PATTERN.exec(value);
  if (match === null) return -1;
  return Number(match[1]) * TIMEOUT_UNIT_MS[match[2]];
}

// gRPC's "HTTP to gRPC status code mapping" for responses whose :status is not 200.
export function grpcCodeForHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

// gRPC's mapping of an RST_STREAM code received after the response started.
export function grpcCodeForResetCode(rstCode: number): number {
  switch (rstCode) {
    case h2.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case h2.NGHTTP2_CANCEL:
      return GrpcStatus.CANCELLED;
    case h2.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case h2.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/** The error a receiver reports for a body that is not one acceptable message. */
export function frameProblemError(problem: FrameProblemCode, announcedLength: number, maxMessageBytes: number): GrpcCallError {
  switch (problem) {
    case FrameProblem.COMPRESSED:
      return new GrpcCallError(GrpcStatus.INTERNAL, 'received a compressed message but no compression was negotiated');
    case FrameProblem.TOO_LARGE:
      return new GrpcCallError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `received message larger than max (${announcedLength} vs. ${maxMessageBytes})`,
      );
    case FrameProblem.EXTRA_MESSAGE:
      return new GrpcCallError(GrpcStatus.UNIMPLEMENTED, 'received more than one message on a unary call');
    case FrameProblem.NO_MESSAGE:
      return new GrpcCallError(GrpcStatus.UNIMPLEMENTED, 'received no message on a unary call');
    default:
      return new GrpcCallError(GrpcStatus.INTERNAL, 'stream ended inside a message');
  }
}
