import { describe, expect, it } from "vitest";
import { BoundedLabel, labelLimitFromEnv, OTHER_LABEL } from "./labels";
import { isLoopbackClient } from "./metrics-access";
import { runSpanId, runTraceId, tracingConfigured } from "./tracing";

describe("bounded label values", () => {
  it("the first `max` distinct values keep their label, later ones are `other`; long values are cut", () => {
    const label = new BoundedLabel(2);
    expect([label.value("a"), label.value("b"), label.value("c"), label.value("a"), label.value("d")]).toEqual(["a", "b", OTHER_LABEL, "a", OTHER_LABEL]);
    expect(new BoundedLabel(5).value("x".repeat(10_000))).toHaveLength(128);
    expect(new BoundedLabel(5).value("")).toBe("unknown");
  });

  it("limits from the environment are whole numbers 1–10000, else the start fails naming the variable", () => {
    expect(labelLimitFromEnv("LIMIT", 50, {})).toBe(50);
    expect(labelLimitFromEnv("LIMIT", 50, { LIMIT: "7" })).toBe(7);
    for (const bad of ["0", "-1", "1.5", "abc", "10001", "9".repeat(400)])
      expect(() => labelLimitFromEnv("LIMIT", 50, { LIMIT: bad })).toThrow(/^LIMIT must be a whole number from 1 to 10000/);
  });
});

describe("metrics access before the setup", () => {
  it("loopback clients only (the client address server.ts puts on the request)", () => {
    for (const address of ["127.0.0.1", "127.8.9.10", "0:0:0:0::/64"]) expect(isLoopbackClient(address), address).toBe(true);
    for (const address of [null, "", "10.0.0.1", "192.168.1.1", "fe80:0:0:0::/64", "unknown", "x".repeat(1000)]) expect(isLoopbackClient(address), String(address)).toBe(false);
  });
});

describe("tracing configuration", () => {
  it("on with an OTLP endpoint, off without one or when disabled", () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/v1/traces" })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });

  it("a run's trace and root span ids derive from its id (W3C sizes, the same in every process)", () => {
    expect(runTraceId("run_1")).toMatch(/^[0-9a-f]{32}$/);
    expect(runSpanId("run_1")).toMatch(/^[0-9a-f]{16}$/);
    expect(runTraceId("run_1")).toBe(runTraceId("run_1"));
    expect(runTraceId("run_1")).not.toBe(runTraceId("run_2"));
  });
});
