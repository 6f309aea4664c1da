// Alias paths as Dapr's routeralias takes them (gorilla/mux templates): literal segments and whole-segment
// variables such as `/hello/activity/{id}/info`, where `{id}` matches one non-empty segment. Variables with a
// pattern (`{id:[0-9]+}`) or inside a segment (`/file.{ext}`) are refused when the routes are read.

export class Route {
  private readonly segments: string[];
  /** Per segment: whether it is a variable, whose name is then in `segments`. */
  private readonly variables: bool[];
  /** Why the alias was refused, or null. */
  readonly error: string | null;

  constructor(readonly alias: string, readonly target: string) {
    const segments = alias.split("/");
    const variables = new Array<bool>(segments.length);
    let error: string | null = null;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i];
      const open = segment.indexOf("{");
      const close = segment.indexOf("}");
      if (open < 0 && close < 0) continue;
      const name = segment.substring(1, segment.length - 1);
      if (open != 0 || close != segment.length - 1 || name.length == 0 || name.includes("{") || name.includes(":")) {
        error = "alias " + alias + ": only whole-segment variables without a pattern, like {id}, are supported";
        break;
      }
      segments[i] = name;
      variables[i] = true;
    }
    this.segments = segments;
    this.variables = variables;
    this.error = error;
  }

  /**
   * The query parameters the variables bind for `pathSegments` ("name=value" pairs, empty when the alias has
   * none), or null when the path does not match.
   */
  match(pathSegments: string[]): string[] | null {
    if (pathSegments.length != this.segments.length) return null;
    const bound = new Array<string>(0);
    for (let i = 0; i < pathSegments.length; i++) {
      const actual = pathSegments[i];
      if (!this.variables[i]) {
        if (actual != this.segments[i]) return null;
      } else {
        if (actual.length == 0) return null;
        bound.push(this.segments[i]);
        bound.push(actual);
      }
    }
    return bound;
  }
}
