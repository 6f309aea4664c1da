// MQTT topic filters, to route a received message to the subscription it was sent for: `+` stands for one level,
// `#` (last) for its own level and every one below. A shared subscription `$share/{group}/{filter}` receives
// messages under their real topic, so only its filter part is matched.

const SHARED_PREFIX = /^\$share\/[^/]+\//;

export class TopicFilter {
  private readonly filter: string;
  /** The filter's levels when it has wildcards; undefined when only the exact topic matches. */
  private readonly levels: readonly string[] | undefined;

  constructor(readonly subscribed: string) {
    this.filter = subscribed.replace(SHARED_PREFIX, '');
    this.levels = /[+#]/.test(this.filter) ? this.filter.split('/') : undefined;
  }

  matches(topic: string): boolean {
    const levels = this.levels;
    if (levels === undefined) return topic === this.filter;
    // Topics starting with `$` are the broker's own: a filter starting with a wildcard leaves them out.
    if (topic.startsWith('$') && (levels[0] === '+' || levels[0] === '#')) return false;
    const topicLevels = topic.split('/');
    for (let i = 0; i < levels.length; i++) {
      if (levels[i] === '#') return true;
      if (i >= topicLevels.length || (levels[i] !== '+' && levels[i] !== topicLevels[i])) return false;
    }
    return levels.length === topicLevels.length;
  }
}
