import { describe, expect, it } from "vitest";
import { allowedHosts, isAllowedHost, isAllowedOrigin, parseHostEntry } from "./allowed-hosts";

describe("allowed hosts", () => {
  it("reads host, host:port and [v6]:port entries, and refuses what is not a host", () => {
    expect(parseHostEntry("Example.COM.")).toEqual({ hostname: "example.com" });
    expect(parseHostEntry("example.com:0443")).toEqual({ hostname: "example.com", port: "443" });
    expect(parseHostEntry("[::1]:3000")).toEqual({ hostname: "::1", port: "3000" });
    for (const bad of ["", "a b", "user@host", "host/path", "host:99999", "host:x", "[zz]", "fe80::1", "*.example.com"]) expect(parseHostEntry(bad), bad).toBeUndefined();
  });

  it("defaults to the loopback names on any port, plus the public URL's host and a concrete listen address", () => {
    const hosts = allowedHosts({ ORCHESTRATOR_PUBLIC_URL: "https://flows.example.com/base", HOST: "10.0.0.7" });
    for (const host of ["localhost:3000", "127.0.0.1", "[::1]:80", "flows.example.com", "flows.example.com:8443", "10.0.0.7:3000"]) expect(isAllowedHost(host, hosts), host).toBe(true);
    for (const host of ["example.com", "127.0.0.2", "localhost.attacker.example", undefined]) expect(isAllowedHost(host, hosts), String(host)).toBe(false);
    // A wildcard listen address is no name.
    expect(allowedHosts({ HOST: "0.0.0.0" })).toHaveLength(3);
  });

  it("refuses a malformed ORCHESTRATOR_ALLOWED_HOSTS naming the variable and the entries", () => {
    expect(() => allowedHosts({ ORCHESTRATOR_ALLOWED_HOSTS: "ok.example.com, bad host ,http://x" })).toThrow(
      /ORCHESTRATOR_ALLOWED_HOSTS: "bad host", "http:\/\/x" are not host names/,
    );
  });

  it("takes browser origins of allowed hosts (the scheme's default port when none is named) and nothing else", () => {
    const hosts = allowedHosts({ ORCHESTRATOR_ALLOWED_HOSTS: "app.example.com:443" });
    expect(isAllowedOrigin("https://app.example.com", hosts)).toBe(true);
    expect(isAllowedOrigin("http://app.example.com", hosts)).toBe(false); // port 80
    expect(isAllowedOrigin("http://localhost:3000", hosts)).toBe(true);
    for (const origin of ["null", "file://", "chrome-extension://abc", "https://app.example.com.attacker.example", "ws://localhost:3000"])
      expect(isAllowedOrigin(origin, hosts), origin).toBe(false);
  });
});
