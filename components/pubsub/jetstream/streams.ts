// Which stream stores a topic's messages. A topic goes to the configured `streamName`, else to whichever stream
// already takes its subject (an operator's stream, say "orders.>"), else to a stream of its own that the
// component creates. One stream per topic never overlaps another, however many topics are created, and its name
// is derived from the topic alone, so every instance creating it concurrently agrees on it.

import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { JetStreamSettings } from './metadata.js';
import { natsName, subjectCovers } from './names.js';

/** Server error codes: a stream of that name exists with another configuration; another stream takes the subject. */
const STREAM_NAME_IN_USE = 10058;
const SUBJECTS_OVERLAP = 10065;
/** Another instance may add its own topic to a shared stream at the same time; the loser tries again. */
const SUBJECT_UPDATE_ATTEMPTS = 5;

/** Whether `err` is the server's answer with one of `codes`. */
export function isApiError(err: unknown, ...codes: number[]): boolean {
  return err instanceof JetStreamApiError && codes.includes(err.code);
}

interface Located {
  stream: Promise<string>;
  settled: boolean;
}

export class TopicStreams {
  private readonly byTopic = new Map<string, Located>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly settings: Pick<JetStreamSettings, 'streamName' | 'replicas'>,
  ) {}

  /** The name of the stream storing `topic`, creating or extending one as needed. */
  streamOf(topic: string): Promise<string> {
    let located = this.byTopic.get(topic);
    if (located === undefined) {
      const entry: Located = { stream: this.locate(topic), settled: false };
      entry.stream.then(
        () => {
          entry.settled = true;
        },
        () => {
          if (this.byTopic.get(topic) === entry) this.byTopic.delete(topic);
        },
      );
      this.byTopic.set(topic, entry);
      located = entry;
    }
    return located.stream;
  }

  /**
   * Drops the stream known for `topic`, after the server said it is gone. A look-up still under way is kept: the
   * many publishes that fail at once on a missing stream all wait for one.
   */
  forget(topic: string): void {
    if (this.byTopic.get(topic)?.settled === true) this.byTopic.delete(topic);
  }

  private async locate(topic: string): Promise<string> {
    const configured = this.settings.streamName;
    if (configured !== undefined) {
      await this.extend(configured, topic);
      return configured;
    }
    const existing = await this.find(topic);
    if (existing !== undefined) return existing;
    const name = natsName(topic);
    try {
      await this.jsm.streams.add(this.newStream(name, topic));
      return name;
    } catch (err) {
      // Someone else created a stream for the subject meanwhile.
      if (!isApiError(err, STREAM_NAME_IN_USE, SUBJECTS_OVERLAP)) throw err;
      const winner = await this.find(topic);
      if (winner === undefined) throw err;
      return winner;
    }
  }

  private async find(subject: string): Promise<string | undefined> {
    try {
      return await this.jsm.streams.find(subject);
    } catch (err) {
      if (isApiError(err, JetStreamApiCodes.StreamNotFound)) return undefined;
      throw err;
    }
  }

  /** Makes the named stream take `topic`: creates it, or adds the subject to it. */
  private async extend(name: string, topic: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let subjects: string[];
      try {
        subjects = (await this.jsm.streams.info(name)).config.subjects ?? [];
      } catch (err) {
        if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
        try {
          await this.jsm.streams.add(this.newStream(name, topic));
          return;
        } catch (addErr) {
          // Created by someone else meanwhile, perhaps for another topic: look again.
          if (!isApiError(addErr, STREAM_NAME_IN_USE) || attempt >= SUBJECT_UPDATE_ATTEMPTS) throw addErr;
          continue;
        }
      }
      if (subjects.some((subject) => subjectCovers(subject, topic))) return;
      if (attempt > SUBJECT_UPDATE_ATTEMPTS) throw new Error(`stream "${name}" kept losing subject "${topic}" to concurrent updates`);
      await this.jsm.streams.update(name, { subjects: [...subjects, topic] });
    }
  }

  private newStream(name: string, topic: string): Partial<StreamConfig> & { name: string } {
    return { name, subjects: [topic], ...(this.settings.replicas === undefined ? {} : { num_replicas: this.settings.replicas }) };
  }
}
