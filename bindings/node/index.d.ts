// Types of the unmeta Node.js binding (lib/index.js).
/// <reference types="node" />
import { Duplex } from 'node:stream';

export type Input = Buffer | Uint8Array | string | URL;
export type Category = 'location' | 'device' | 'time' | 'people' | 'software' | 'embedded' | 'other';
export type Action = 'keep' | 'remove' | 'rewrite';

export interface Limits {
  maxBlockSize?: number;
  maxDepth?: number;
  maxItems?: number;
  maxMemory?: number;
  spoolLimit?: number;
  maxInflate?: number;
  maxSpool?: number;
  maxGrowth?: number;
}

export interface Options {
  /** 'keep' (default): the ICC profile stays with its identifying fields neutralised; 'strip' removes it. */
  icc?: 'keep' | 'strip';
  /** Rotate losslessly instead of keeping a minimal Orientation tag. */
  applyOrientation?: boolean;
  /** Keep HEIF depth maps (mattes still go). */
  keepDepth?: boolean;
  /** Keep a motion photo's video, cleaned as an MP4. */
  keepMotion?: boolean;
  limits?: Limits;
}

export interface StreamOptions extends Options {
  /** Where the input and output are spilled (default: os.tmpdir()). */
  tmpdir?: string;
  highWaterMark?: number;
}

export interface Block {
  kind: string;
  offset: number;
  size: number;
  action: Action;
}

export interface Finding {
  category: Category;
  name: string;
  value: string;
  block: number;
  offset: number;
  size: number;
}

/** docs/json.md */
export interface Report {
  format: string;
  dirty: boolean;
  blocks: Block[];
  findings: Finding[];
  notes: string[];
}

export function strip(input: Input, options?: Options): Promise<Buffer>;
export function stripWithReport(input: Input, options?: Options): Promise<{ data: Buffer; report: Report }>;
export function stripFile(inPath: string, outPath: string, options?: Options): Promise<Report>;
export function inspect(input: Input, options?: Options): Promise<Report>;
export function check(input: Input, options?: Options): Promise<boolean>;

export class StripStream extends Duplex {
  constructor(options?: StreamOptions);
  /** Set once the strip has run (also emitted as 'report'). */
  report: Report | undefined;
  on(event: 'report', listener: (report: Report) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}
export function createStripStream(options?: StreamOptions): StripStream;

export function formats(): string[];
export function libraryVersion(): string;
export function strerror(code: number): string;

export class UnmetaError extends Error {
  /** The ABI's UNMETA_E_* number (negative). */
  code: number;
}
export class InvalidArgumentError extends UnmetaError {}
export class OutOfMemoryError extends UnmetaError {}
export class InputOutputError extends UnmetaError {}
export class UnsupportedError extends UnmetaError {}
export class MalformedError extends UnmetaError {}
export class TruncatedError extends UnmetaError {}
export class LimitError extends UnmetaError {}
export class StateError extends UnmetaError {}
export class CanceledError extends UnmetaError {}
export class FeatureError extends UnmetaError {}
export class ExpiredError extends UnmetaError {}
export class CryptoError extends UnmetaError {}
export class NoKeyError extends UnmetaError {}
