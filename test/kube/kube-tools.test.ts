import { describe, expect, it } from "vitest";
import { withoutCancelledWatches } from "./kube-tools.js";

describe("the clients' stderr", () => {
  it("drops only client-go's note of a watch it cancelled itself (seen from helm --wait)", () => {
    const cancelled =
      'I1129 06:54:47.552380   14064 reflector.go:578] "Warning: watch ended with error" reflector="k8s.io/client-go@v0.35.1/tools/cache/reflector.go:289" type="test.relayfleet.io/v1alpha1, Kind=Widget" err="an error on the server (\\"unable to decode an event from the watch stream: context canceled\\") has prevented the request from succeeding"\n';
    const other =
      'E1129 06:54:47.552380   14064 reflector.go:578] "Warning: watch ended with error" err="410 Gone"\n';
    expect(withoutCancelledWatches(cancelled)).toBe("");
    expect(withoutCancelledWatches(`Error: boom\n${cancelled}${other}`)).toBe(`Error: boom\n${other}`);
  });
});
